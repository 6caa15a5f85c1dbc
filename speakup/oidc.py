"""OpenID Connect for staff: configuration, the provider's metadata and keys, ID-token checks.

Plain functions and one cached client, no Flask: speakup/oidc_views.py does the HTTP.
Tokens are verified with joserfc (Authlib's JOSE library); PKCE and random values come
from Authlib. Reporters and respondents never reach any of this (DESIGN.md rule 1).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from speakup.settings import Settings, SettingsError

ALGORITHMS = ("RS256", "ES256")
# Seconds of clock difference tolerated between us and the provider for exp/iat.
LEEWAY_SECONDS = 60
# How long discovery and keys are reused before being fetched again (rotation is also
# caught at once by an unknown key id).
CACHE_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10
ROLES = ("admin", "handler", "reviewer")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class OidcError(Exception):
    """Sign-in through the provider was refused; `reason` is a short code for the audit."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    role_claim: str
    # Ordered (group, role) pairs: the first group the person is in decides their role.
    role_map: tuple[tuple[str, str], ...]
    required_amr: frozenset[str]
    required_acr: frozenset[str]

    @property
    def provider_mfa_required(self) -> bool:
        """Whether the provider must prove a second factor (then the local code is skipped)."""
        return bool(self.required_amr or self.required_acr)

    def role_for(self, groups: Sequence[str]) -> str | None:
        held = set(groups)
        return next((role for group, role in self.role_map if group in held), None)


def _list(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def parse_role_map(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in raw.split(","):
        if not part.strip():
            continue
        group, sep, role = part.rpartition("=")
        if not sep or not group.strip() or role.strip() not in ROLES:
            raise SettingsError(
                f"SPEAKUP_OIDC_ROLE_MAP entry {part.strip()!r} must read group=role, the role "
                "being admin, handler or reviewer."
            )
        pairs.append((group.strip(), role.strip()))
    if not pairs:
        raise SettingsError("SPEAKUP_OIDC_ROLE_MAP must map at least one group to a role.")
    return tuple(pairs)


def config_from(settings: Settings) -> OidcConfig | None:
    """Return the provider configuration, None when OIDC is off; refuse a half-done one."""
    if not settings.oidc_issuer:
        return None
    if not is_safe_url(settings.oidc_issuer):
        raise SettingsError("SPEAKUP_OIDC_ISSUER must be an https:// address.")
    if not settings.oidc_client_id:
        raise SettingsError("SPEAKUP_OIDC_CLIENT_ID is needed with SPEAKUP_OIDC_ISSUER.")
    if settings.oidc_client_secret_file is None:
        raise SettingsError(
            "SPEAKUP_OIDC_CLIENT_SECRET_FILE is needed with SPEAKUP_OIDC_ISSUER."
        )
    try:
        secret = settings.oidc_client_secret_file.read_text().strip()
    except OSError as exc:
        raise SettingsError(
            f"SPEAKUP_OIDC_CLIENT_SECRET_FILE {settings.oidc_client_secret_file} cannot be "
            f"read ({exc.strerror})."
        ) from exc
    if not secret:
        raise SettingsError("SPEAKUP_OIDC_CLIENT_SECRET_FILE is empty.")
    return OidcConfig(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=secret,
        role_claim=settings.oidc_role_claim or "groups",
        role_map=parse_role_map(settings.oidc_role_map),
        required_amr=_list(settings.oidc_required_amr),
        required_acr=_list(settings.oidc_required_acr),
    )


@dataclass(frozen=True)
class PendingSignIn:
    """What one browser's sign-in attempt must match when the provider sends it back."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> PendingSignIn:
        return cls(state=generate_token(43), nonce=generate_token(43),
                   verifier=generate_token(64))

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier}

    @classmethod
    def from_dict(cls, raw: object) -> PendingSignIn | None:
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), str) and raw.get(k) for k in ("state", "nonce", "verifier")
        ):
            return None
        return cls(raw["state"], raw["nonce"], raw["verifier"])


def is_safe_url(url: str) -> bool:
    """https, or plain http to this machine (a provider under test); nothing else."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme == "https" or (
        parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS
    )


def _request(url: str, **kwargs: Any) -> urllib.request.Request:
    if not is_safe_url(url):
        raise OidcError("provider_unreachable", f"{url!r} is not an https address")
    return urllib.request.Request(url, **kwargs)  # noqa: S310 - scheme checked above


def _get_json(url: str) -> dict[str, Any]:
    request = _request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked
            data = json.loads(response.read(1024 * 1024))
    except (OSError, ValueError) as exc:
        raise OidcError("provider_unreachable", f"{url}: {exc}") from exc
    if not isinstance(data, dict):
        raise OidcError("provider_unreachable", f"{url}: not a JSON object")
    return data


class ProviderClient:
    """The provider's discovery document and keys, cached and shared by all requests."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata and time.monotonic() - self._metadata[0] < CACHE_SECONDS:
                return self._metadata[1]
        data = _get_json(self.config.issuer + "/.well-known/openid-configuration")
        # OpenID Connect Discovery §4.3: the document must name the issuer we asked.
        if data.get("issuer") != self.config.issuer:
            raise OidcError("wrong_issuer", f"discovery names {data.get('issuer')!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise OidcError("provider_unreachable", f"discovery lacks {key}")
        with self._lock:
            self._metadata = (time.monotonic(), data)
        return data

    def key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            if (not refresh and self._keys
                    and time.monotonic() - self._keys[0] < CACHE_SECONDS):
                return self._keys[1]
        raw = _get_json(self.metadata()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(raw)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError("provider_unreachable", f"bad key set: {exc}") from exc
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    def authorization_url(self, pending: PendingSignIn, redirect_uri: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        if self.config.required_acr:
            params["acr_values"] = " ".join(sorted(self.config.required_acr))
        endpoint = self.metadata()["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)

    def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """Where the browser ends its session at the provider too, or None if it cannot.

        OpenID Connect RP-Initiated Logout: the discovery's `end_session_endpoint`, with
        our client id and where to come back to. A provider that names no endpoint, or
        cannot be reached, leaves sign-out as it was (Speak Up's own session has ended).
        """
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcError:
            return None
        if not isinstance(endpoint, str) or not is_safe_url(endpoint):
            return None
        params = {"client_id": self.config.client_id,
                  "post_logout_redirect_uri": post_logout_redirect_uri}
        return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)

    def exchange_code(self, code: str, pending: PendingSignIn, redirect_uri: str) -> str:
        """Trade the code for tokens at the token endpoint; return the raw ID token."""
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "code_verifier": pending.verifier,
        }).encode()
        request = _request(
            self.metadata()["token_endpoint"], data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked
                data = json.loads(response.read(1024 * 1024))
        except urllib.error.HTTPError as exc:
            raise OidcError("token_refused", f"token endpoint answered {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise OidcError("provider_unreachable", f"token endpoint: {exc}") from exc
        token = data.get("id_token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            raise OidcError("token_refused", "no id_token in the answer")
        return token

    def verify_id_token(self, token: str, nonce: str, now: dt.datetime) -> dict[str, Any]:
        """Check signature, issuer, audience, expiry, nonce and (if set) amr/acr."""
        try:
            decoded = self._decode(token, self.key_set())
        except InvalidKeyIdError:
            # The provider may have rotated its keys since we cached them: fetch once more.
            try:
                decoded = self._decode(token, self.key_set(refresh=True))
            except InvalidKeyIdError as exc:
                raise OidcError("unknown_key", str(exc)) from exc
        return check_claims(decoded.claims, self.config, nonce, now)

    @staticmethod
    def _decode(token: str, keys: KeySet) -> jwt.Token:
        try:
            return jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:
            raise
        except BadSignatureError as exc:
            raise OidcError("bad_signature", str(exc)) from exc
        except (JoseError, ValueError) as exc:
            raise OidcError("bad_token", str(exc)) from exc


def check_claims(
    claims: Mapping[str, Any], config: OidcConfig, nonce: str, now: dt.datetime
) -> dict[str, Any]:
    """OpenID Connect Core §3.1.3.7 checks on a token whose signature has been verified."""
    if claims.get("iss") != config.issuer:
        raise OidcError("wrong_issuer", f"iss is {claims.get('iss')!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if config.client_id not in audiences:
        raise OidcError("wrong_audience", f"aud is {aud!r}")
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise OidcError("wrong_audience", f"azp is {claims.get('azp')!r}")
    seconds = now.timestamp()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + LEEWAY_SECONDS < seconds:
        raise OidcError("expired", f"exp is {exp!r}")
    if not isinstance(iat, int | float) or iat - LEEWAY_SECONDS > seconds:
        raise OidcError("bad_token", f"iat is {iat!r}")
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise OidcError("nonce_mismatch", "the token was not issued for this sign-in")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise OidcError("bad_token", "no sub")
    if config.required_amr:
        amr = claims.get("amr")
        methods = set(amr) if isinstance(amr, list) else set()
        if not methods & config.required_amr:
            raise OidcError("no_mfa", f"amr is {amr!r}")
    if config.required_acr and claims.get("acr") not in config.required_acr:
        raise OidcError("no_mfa", f"acr is {claims.get('acr')!r}")
    return dict(claims)


def groups_in(claims: Mapping[str, Any], claim: str) -> list[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
