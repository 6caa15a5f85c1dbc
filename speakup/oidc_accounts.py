"""Which Speak Up account a verified ID token signs in, with its role re-read every time."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup import accounts, audit
from speakup.clock import Clock
from speakup.models import ROLES_REQUIRING_TOTP, OidcSubject, Role, User
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


def matched_account(
    session: Session, claims: Mapping[str, Any], email: str
) -> User | None:
    """The account these claims belong to: by the provider's (iss, sub) first, then e-mail.

    The subject is the provider's stable id for a person; an e-mail address can be given
    to someone else later. So an account already linked to a subject is only ever
    signed in by that subject, and an address that now reaches a different account
    than the subject's is refused (OidcError "subject_mismatch").
    """
    link = session.scalar(select(OidcSubject).where(
        OidcSubject.issuer == claims["iss"], OidcSubject.subject == claims["sub"]))
    by_email = accounts.find_user(session, email)
    if link is not None:
        user = session.get(User, link.user_id)
        if by_email is not None and by_email is not user:
            raise OidcError("subject_mismatch", "the address belongs to another account")
        return user
    if by_email is not None and session.get(OidcSubject, by_email.id) is not None:
        raise OidcError("subject_mismatch", "the account is linked to another subject")
    return by_email


def link_subject(
    session: Session, clock: Clock, user: User, issuer: str, subject: str
) -> None:
    """Remember whose account this is at the provider, once its first sign-in there is done.

    Only a finished sign-in links (after the authenticator code, when one is asked):
    someone who got hold of the address but not the code claims nothing.
    """
    if session.get(OidcSubject, user.id) is None:
        session.add(OidcSubject(user_id=user.id, issuer=issuer, subject=subject,
                                created_at=clock.now()))
        session.flush()


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
    # Before anything else: the groups of someone holding another person's old address
    # must not disable or change that person's account.
    user = matched_account(session, claims, email)
    role = config.role_for(groups_in(claims, config.role_claim))
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
        user = accounts.create_user(
            session, clock, email=email, role=role, password=secrets.token_urlsafe(32),
            actor=ACTOR, with_totp=False,
        )
        return user
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
