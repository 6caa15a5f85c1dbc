"""Keys derived from SPEAKUP_SECRET_KEY, one per purpose (HKDF-SHA256 from `cryptography`).

Each purpose gets its own key, so a key learned or misused in one place (say the audit
chain) tells nothing about another.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

AUDIT_CHAIN = b"speakup audit-chain v1"
TOTP_SEAL = b"speakup totp-secret seal v1"
SIGNING_SEAL = b"speakup signing-key seal v1"


def derive_key(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


def session_keys(secret: str) -> dict[str, bytes]:
    """What every database session carries in its info (see speakup/db.py)."""
    return {"audit_key": derive_key(secret, AUDIT_CHAIN), "totp_key": derive_key(secret, TOTP_SEAL),
            "signing_seal_key": derive_key(secret, SIGNING_SEAL)}
