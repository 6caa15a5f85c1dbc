"""Passkeys and security keys (WebAuthn) as a staff second factor: the ceremonies.

Plain functions over a SQLAlchemy session, as in accounts.py; the HTTP side is
passkey_views.py. The relying party is the host of SPEAKUP_BASE_URL and the only
origin accepted is that URL's scheme, host and port, so a key registered here signs
nothing for a look-alike site. Challenges are random, single use, and expire after
CHALLENGE_SECONDS; the views keep them in the staff member's session (never in a
page the server trusts back).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from speakup import accounts, audit
from speakup.clock import Clock
from speakup.models import User, WebAuthnCredential
from speakup.translatable import N_, TranslatableError

RP_NAME = "Speak Up"
CHALLENGE_SECONDS = 300
MAX_NAME_LENGTH = 60
MAX_KEYS = 10
# A response bigger than this is no authenticator's (attestation certificates included).
MAX_RESPONSE_BYTES = 64 * 1024


class PasskeyError(TranslatableError, ValueError):
    """A passkey ceremony was refused; the message is safe to show."""


KEY_REFUSED = N_("That key could not be checked. Try again, or use your authenticator code.")


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str

    @classmethod
    def from_base_url(cls, base_url: str) -> RelyingParty:
        parts = urlsplit(base_url)
        if not parts.hostname:
            raise ValueError(f"SPEAKUP_BASE_URL has no host: {base_url!r}")
        return cls(id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True)
class Challenge:
    """One ceremony's challenge, as kept in the session between the page and its answer."""

    purpose: str
    value: str  # base64url
    user_id: int
    expires: float

    @classmethod
    def new(cls, purpose: str, user_id: int, now: dt.datetime) -> Challenge:
        return cls(purpose, _b64(secrets.token_bytes(32)), user_id,
                   now.timestamp() + CHALLENGE_SECONDS)

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "value": self.value, "user_id": self.user_id,
                "expires": self.expires}

    @classmethod
    def taken(cls, raw: object, purpose: str, user_id: int, now: dt.datetime) -> bytes:
        """The challenge bytes if `raw` is a live challenge for this purpose and person.

        The caller has already removed `raw` from the session: a challenge is used once,
        whether the answer turns out right or wrong.
        """
        if not isinstance(raw, Mapping):
            raise PasskeyError(KEY_REFUSED)
        try:
            challenge = cls(str(raw["purpose"]), str(raw["value"]), int(raw["user_id"]),
                            float(raw["expires"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PasskeyError(KEY_REFUSED) from exc
        if (challenge.purpose != purpose or challenge.user_id != user_id
                or now.timestamp() > challenge.expires):
            raise PasskeyError(KEY_REFUSED)
        return _unb64(challenge.value)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keys_of(session: Session, user: User) -> list[WebAuthnCredential]:
    return list(session.scalars(
        select(WebAuthnCredential).where(WebAuthnCredential.account_id == user.id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
    ))


def has_keys(session: Session, user: User) -> bool:
    return session.scalar(
        select(WebAuthnCredential.id).where(WebAuthnCredential.account_id == user.id).limit(1)
    ) is not None


def _user_handle(user: User) -> bytes:
    # Not the e-mail address: the handle is stored on the authenticator.
    return f"speakup-{user.id}".encode()


def registration_options(
    session: Session, rp: RelyingParty, user: User, challenge: Challenge
) -> str:
    """The JSON the page hands to navigator.credentials.create()."""
    options = generate_registration_options(
        rp_id=rp.id, rp_name=RP_NAME, user_name=user.email, user_id=_user_handle(user),
        user_display_name=user.email, challenge=_unb64(challenge.value),
        timeout=CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # The same authenticator twice would only look like two keys.
        exclude_credentials=[PublicKeyCredentialDescriptor(id=key.credential_id)
                             for key in keys_of(session, user)],
    )
    return options_to_json(options)


def authentication_options(
    session: Session, rp: RelyingParty, user: User, challenge: Challenge
) -> str:
    """The JSON the page hands to navigator.credentials.get(): only this person's keys."""
    options = generate_authentication_options(
        rp_id=rp.id, challenge=_unb64(challenge.value), timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=key.credential_id)
                           for key in keys_of(session, user)],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise PasskeyError(N_("Give the key a name, such as “work laptop” or “blue key”."))
    if len(cleaned) > MAX_NAME_LENGTH:
        raise PasskeyError(N_("Use a name of at most %(length)s characters."),
                           length=MAX_NAME_LENGTH)
    return cleaned


def _parse(response: str) -> dict[str, Any]:
    if not response or len(response) > MAX_RESPONSE_BYTES:
        raise PasskeyError(KEY_REFUSED)
    try:
        data = json.loads(response)
    except ValueError as exc:
        raise PasskeyError(KEY_REFUSED) from exc
    if not isinstance(data, dict):
        raise PasskeyError(KEY_REFUSED)
    return data


def register(
    session: Session, clock: Clock, rp: RelyingParty, user: User, *, challenge: bytes,
    response: str, name: str,
) -> WebAuthnCredential:
    """Verify a new key's attestation and store it; every session of the account ends.

    A new second factor must not leave open a session that never proved it (as a new
    authenticator app does not): the caller signs this browser in again.
    """
    name = clean_name(name)
    if len(keys_of(session, user)) >= MAX_KEYS:
        raise PasskeyError(N_("An account can have at most %(most)s keys. Remove one first."),
                           most=MAX_KEYS)
    try:
        verified = verify_registration_response(
            credential=_parse(response), expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, KeyError, TypeError,
            ValueError) as exc:
        audit.record(session, clock, actor=user.email, action="passkey.register_failed",
                     subject=user.email, detail={"why": str(exc)[:200]})
        raise PasskeyError(KEY_REFUSED) from exc
    if session.scalar(select(WebAuthnCredential.id).where(
            WebAuthnCredential.credential_id == verified.credential_id)) is not None:
        raise PasskeyError(N_("That key is already registered."))
    now = clock.now()
    key = WebAuthnCredential(
        account_id=user.id, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
        name=name, created_at=now, last_used_at=None,
    )
    session.add(key)
    session.flush()
    user.session_token = secrets.token_hex(16)
    accounts.end_all_sessions(session, user)
    audit.record(session, clock, actor=user.email, action="passkey.register",
                 subject=user.email, detail={"key": key.id, "name": name})
    return key


def verify(
    session: Session, clock: Clock, rp: RelyingParty, user: User, *, challenge: bytes,
    response: str,
) -> WebAuthnCredential:
    """Check an assertion made with one of `user`'s keys; note its use.

    A key that is not this account's (removed, or someone else's) is refused. So is a
    signature counter that did not go up when the key keeps one: two authenticators
    answering for one key means it was copied.
    """
    data = _parse(response)
    raw_id = data.get("rawId") or data.get("id")
    try:
        credential_id = _unb64(str(raw_id))
    except ValueError as exc:
        raise PasskeyError(KEY_REFUSED) from exc
    key = session.scalar(select(WebAuthnCredential).where(
        WebAuthnCredential.credential_id == credential_id,
        WebAuthnCredential.account_id == user.id,
    ))
    if key is None:
        _failed(session, clock, user, "unknown key")
    try:
        # The counter is compared below, after the signature, so that only the key
        # itself (or its clone) can trigger the "went backwards" audit entry.
        verified = verify_authentication_response(
            credential=data, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=key.public_key,
            credential_current_sign_count=0,
        )
    except (InvalidAuthenticationResponse, InvalidJSONStructure, KeyError, TypeError,
            ValueError) as exc:
        _failed(session, clock, user, str(exc), key)
    new_count = verified.new_sign_count
    if (new_count or key.sign_count) and new_count <= key.sign_count:
        audit.record(session, clock, actor=user.email, action="passkey.counter_backwards",
                     subject=user.email,
                     detail={"key": key.id, "stored": key.sign_count, "sent": new_count})
        raise PasskeyError(N_(
            "That key answered with a signature count that did not go up, which is what a "
            "copied key does. It has been refused and the refusal recorded; tell your "
            "administrator."
        ))
    key.sign_count = new_count
    key.last_used_at = clock.now()
    return key


def _failed(session: Session, clock: Clock, user: User, why: str,
            key: WebAuthnCredential | None = None) -> Any:
    audit.record(session, clock, actor=user.email, action="passkey.failed", subject=user.email,
                 detail={"why": why[:200], **({"key": key.id} if key else {})})
    raise PasskeyError(KEY_REFUSED)


def remove(session: Session, clock: Clock, user: User, key_id: int) -> str:
    """Delete one of `user`'s keys (the caller has re-checked their password); its name."""
    key = session.get(WebAuthnCredential, key_id)
    if key is None or key.account_id != user.id:
        raise PasskeyError(N_("That key is not one of yours."))
    name = key.name
    session.delete(key)
    session.flush()
    audit.record(session, clock, actor=user.email, action="passkey.remove", subject=user.email,
                 detail={"key": key_id, "name": name})
    return name
