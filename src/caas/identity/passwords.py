"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes; longer passwords are first reduced to the base64 of their
SHA-256 so that every byte counts (and bcrypt >= 5 does not refuse them).
"""

from __future__ import annotations

import base64
import hashlib
import functools

import bcrypt

MAX_PASSWORD_LENGTH = 4096


def _prepare(password: str) -> bytes:
    raw = password.encode("utf-8")
    if len(raw) > 72:
        raw = base64.b64encode(hashlib.sha256(raw).digest())
    return raw


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prepare(password), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, hashed: str | None, rounds: int) -> bool:
    """True if ``password`` matches ``hashed``. With no hash (unknown user, no password set)
    a dummy hash of the same cost is checked, so the answer takes the same time."""
    if not hashed:
        bcrypt.checkpw(_prepare(password), _dummy_hash(rounds).encode("ascii"))
        return False
    try:
        return bcrypt.checkpw(_prepare(password), hashed.encode("ascii"))
    except ValueError:
        return False


@functools.lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    return hash_password("caas-no-such-user", rounds)
