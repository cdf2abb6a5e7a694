"""Password hashes for forward-proxy Basic authentication (``pbkdf2_sha256$ITER$SALT$HASH``).

Config files hold only these hashes, never plain passwords; ``workbench hash-password`` makes one.
Salt and hash are standard base64 so the string survives YAML without quoting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

__all__ = ["HASH_FORMAT", "hash_password", "is_password_hash", "verify_password"]

ALGORITHM = "pbkdf2_sha256"
HASH_FORMAT = "pbkdf2_sha256$ITERATIONS$SALT$HASH"
_HASH = re.compile(
    r"pbkdf2_sha256\$([1-9][0-9]{0,8})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})"
)


def hash_password(password: str, iterations: int = 200_000) -> str:
    """A salted PBKDF2-SHA256 hash of ``password`` in the ``pbkdf2_sha256$ITER$SALT$HASH`` form."""
    if iterations < 1:
        raise ValueError("iterations must be ≥ 1")
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"{ALGORITHM}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def _split(stored: str) -> tuple[int, bytes, bytes] | None:
    m = _HASH.fullmatch(stored)
    if m is None:
        return None
    try:
        salt = base64.b64decode(m.group(2), validate=True)
        digest = base64.b64decode(m.group(3), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not salt or not digest:
        return None
    return int(m.group(1)), salt, digest


def is_password_hash(stored: str) -> bool:
    """Whether ``stored`` is a well-formed hash that :func:`verify_password` can check."""
    return _split(stored) is not None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash; a malformed hash never matches."""
    parts = _split(stored)
    if parts is None:
        return False
    iterations, salt, digest = parts
    candidate = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8"), salt, iterations, len(digest)
    )
    # Constant-time comparison so response timing does not reveal how much of the hash matched.
    return hmac.compare_digest(candidate, digest)
