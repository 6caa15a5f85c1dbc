"""Which Speak Up account a verified ID token signs in, with its role re-read every time."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from speakup import accounts, audit
from speakup.clock import Clock
from speakup.models import ROLES_REQUIRING_TOTP, Role, User
from speakup.oidc import OidcConfig, OidcError, groups_in

# Who the audit names for changes the provider's answer made.
ACTOR = "identity provider"


def email_of(claims: Mapping[str, Any]) -> str:
    email = claims.get("email")
    # An address the provider says it has not verified could be anyone's to type in.
    if not isinstance(email, str) or claims.get("email_verified") is False:
        raise OidcError("no_email", "no verified email claim")
    try:
        return accounts.normalise_email(email)
    except accounts.AccountError as exc:
        raise OidcError("no_email", "email claim is not an address") from exc


def account_for(
    session: Session, clock: Clock, config: OidcConfig, claims: Mapping[str, Any]
) -> User:
    """Return the account to sign in, creating or updating it from the provider's groups.

    No mapped group: an existing account is disabled (its sessions end) and sign-in is
    refused. Handlers are never created here: their key is locked under a Speak Up
    password (DESIGN.md rule 2), which only a locally created account has. Nor are
    admins created unless the provider proves a second factor, since a new account
    has no authenticator code yet.
    """
    email = email_of(claims)
    role = config.role_for(groups_in(claims, config.role_claim))
    user = accounts.find_user(session, email)
    if role is None:
        if user is not None and not user.disabled:
            user.disabled = True
            user.session_token = secrets.token_hex(16)
            accounts.end_all_sessions(session, user)
            audit.record(session, clock, actor=ACTOR, action="account.update", subject=email,
                         detail={"disabled": [False, True], "reason": "no mapped group"})
        raise OidcError("no_role", f"{config.role_claim} holds no mapped group")
    if user is not None and user.disabled:
        raise OidcError("disabled", "the account is disabled")
    unproven = Role(role) in ROLES_REQUIRING_TOTP and not config.provider_mfa_required
    if user is None:
        if role == Role.HANDLER.value:
            raise OidcError("handler_needs_account", "handlers are created by an admin")
        if unproven:
            raise OidcError("needs_local_account", f"a new {role} needs a second factor")
        return accounts.create_user(
            session, clock, email=email, role=role, password=secrets.token_urlsafe(32),
            actor=ACTOR, with_totp=False,
        )
    if user.role != role:
        if unproven and not user.totp_secret:
            raise OidcError("needs_local_account", f"{role} needs a second factor")
        audit.record(session, clock, actor=ACTOR, action="account.update", subject=email,
                     detail={"role": [user.role, role]})
        user.role = role
        # Sessions opened under the old role end: the new one starts at this sign-in.
        user.session_token = secrets.token_hex(16)
        accounts.end_all_sessions(session, user)
    return user
