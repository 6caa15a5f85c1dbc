"""A small but real OpenID Connect provider for tests, served over HTTP from a thread.

It signs real RS256 and ES256 ID tokens (joserfc), publishes its keys as a JWKS that
can be rotated, checks PKCE, the client secret and the redirect URI, and hands out
single-use codes. Knobs let a test make it misbehave the way an attacker or a broken
provider would (wrong issuer, foreign key, old nonce ...).
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

CLIENT_ID = "speakup-test-client"
CLIENT_SECRET = "provider-test-secret-" + "y" * 20  # noqa: S105 - a test fixture's value
ROLE_MAP = "speakup-admins=admin,speakup-handlers=handler,speakup-reviewers=reviewer"


def new_key(alg: str) -> RSAKey | ECKey:
    kid = f"{alg.lower()}-{secrets.token_hex(4)}"
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg, "use": "sig"})
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": alg, "use": "sig"})


class Provider:
    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.signing_key = new_key("RS256")
        self.published = [self.signing_key]
        self.codes: dict[str, dict[str, Any]] = {}
        # Who "signs in" at the next authorization request, as ID-token claims.
        self.user: dict[str, Any] = {}
        # Applied to the next ID tokens after the usual claims (None deletes a claim).
        self.overrides: dict[str, Any] = {}
        self.sign_with: RSAKey | ECKey | None = None  # a key that is not published
        self.nonce_from: str | None = None  # replay an earlier sign-in's nonce
        self.issued: list[dict[str, Any]] = []
        self.fetches = {"discovery": 0, "jwks": 0, "token": 0}
        self.end_session = True  # publish an end_session_endpoint (RP-initiated logout)
        self.logouts: list[dict[str, str]] = []  # the RP-initiated logouts received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def rotate(self, alg: str = "ES256", keep_old: bool = False) -> None:
        self.signing_key = new_key(alg)
        self.published = ([*self.published] if keep_old else []) + [self.signing_key]

    def discovery(self) -> dict[str, Any]:
        logout = {"end_session_endpoint": self.issuer + "/logout"} if self.end_session else {}
        return {
            **logout,
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return KeySet(self.published).as_dict(private=False)

    def authorize(self, params: dict[str, str]) -> str:
        """Return where the browser goes next: back to the client, with a code."""
        assert params.get("client_id") == CLIENT_ID
        assert params.get("response_type") == "code"
        assert params.get("code_challenge_method") == "S256"
        assert "openid" in params.get("scope", "").split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": params["redirect_uri"], "challenge": params["code_challenge"],
            "nonce": params.get("nonce"), "user": dict(self.user),
        }
        query = urllib.parse.urlencode({"code": code, "state": params.get("state", "")})
        return f"{params['redirect_uri']}?{query}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.fetches["token"] += 1
        grant = self.codes.pop(form.get("code", ""), None)  # single use
        if (grant is None or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or form.get("redirect_uri") != grant["redirect_uri"]
                or create_s256_code_challenge(form.get("code_verifier", ""))
                != grant["challenge"]):
            return 400, {"error": "invalid_grant"}
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": grant["user"].get("email", "x"),
            "iat": now, "exp": now + 300, "nonce": self.nonce_from or grant["nonce"],
            "email_verified": True, **grant["user"],
        }
        for name, value in self.overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or self.signing_key
        alg = key.alg or "RS256"
        # A foreign key may claim a published key id: that is what a forger would do.
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        self.issued.append(claims)
        id_token = jwt.encode(header, claims, key, algorithms=[alg])
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                     "expires_in": 300, "id_token": id_token}


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:  # keep test output quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                provider.fetches["discovery"] += 1
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                provider.fetches["jwks"] += 1
                self._json(200, provider.jwks())
            elif url.path == "/logout" and provider.end_session:
                # RP-initiated logout: end "the provider's session", go back where asked.
                params = dict(urllib.parse.parse_qsl(url.query))
                provider.logouts.append(params)
                if params.get("client_id") != CLIENT_ID:
                    self._json(400, {"error": "invalid_request"})
                    return
                self.send_response(302)
                self.send_header("Location", params["post_logout_redirect_uri"])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif url.path == "/authorize":
                params = dict(urllib.parse.parse_qsl(url.query))
                self.send_response(302)
                self.send_header("Location", provider.authorize(params))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if urllib.parse.urlsplit(self.path).path == "/token":
                self._json(*provider.token(form))
            else:
                self._json(404, {"error": "not_found"})

    return Handler


def follow_authorize(location: str) -> str:
    """GET the provider's authorization URL as a browser would; return where it sends us."""
    url = urllib.parse.urlsplit(location)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", f"{url.path}?{url.query}")
        response = conn.getresponse()
        response.read()
        assert response.status == 302, response.status
        return response.getheader("Location") or ""
    finally:
        conn.close()
