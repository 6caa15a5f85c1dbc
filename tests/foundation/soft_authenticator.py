"""A software WebAuthn authenticator: real "none" attestations and ES256 assertions.

It builds the bytes a browser and authenticator would send (clientDataJSON, CBOR
authenticator data, DER signatures) with `cryptography`, so the server's checks run
on the real formats; tests can then bend one thing at a time (origin, challenge,
counter).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftKey:
    """One credential on the software authenticator."""

    rp_id: str
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0

    def _cose_public(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, flags: int, attested: bytes = b"", rp_id: str | None = None) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    def register(self, options: dict, origin: str) -> str:
        """The JSON a browser sends back from navigator.credentials.create()."""
        client_data = json.dumps({
            "type": "webauthn.create", "challenge": options["challenge"], "origin": origin,
            "crossOrigin": False,
        }).encode()
        attested = (b"\0" * 16 + struct.pack(">H", len(self.credential_id))
                    + self.credential_id + self._cose_public())
        auth_data = self._auth_data(FLAG_UP | FLAG_UV | FLAG_AT, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(attestation),
                         "transports": ["internal"]},
        })

    def assert_(self, options: dict, origin: str, *, count: int | None = None,
                rp_id: str | None = None) -> str:
        """The JSON a browser sends back from navigator.credentials.get().

        The counter goes up by one unless `count` sets it (to make it go backwards).
        """
        self.sign_count = self.sign_count + 1 if count is None else count
        client_data = json.dumps({
            "type": "webauthn.get", "challenge": options["challenge"], "origin": origin,
            "crossOrigin": False,
        }).encode()
        auth_data = self._auth_data(FLAG_UP | FLAG_UV, rp_id=rp_id)
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(),
                                      ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature)},
        })
