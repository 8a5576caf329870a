"""Token format and key repository.

A token is a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``) over a compact
JSON payload: who (user id), how (methods), scope (project or domain id, or the system), when
(issued and expiry times, epoch seconds), the audit ids, and what it was delegated by (the
application credential, the trust or the OAuth1 access token, only when there is one). Nothing
is stored per token; revocation is by
events (see ``service``).

Keys live in ``<data dir>/fernet-keys`` as Keystone lays them out: file ``0`` is the staged
key, the highest number is the primary (used to encrypt), the others still decrypt. ``rotate``
promotes the staged key, stages a new one and keeps at most ``max_active`` keys; a running
server notices the change of the key directory and reloads.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from caas.errors import Unauthorized


@dataclass(frozen=True)
class TokenData:
    user_id: str
    methods: tuple[str, ...]
    issued_at: float
    expires_at: float
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    # an oauth1 token's (access token id, consumer id): its roles are those the access token holds
    oauth: tuple[str, str] | None = None
    app_cred_id: str | None = None
    trust_id: str | None = None
    system: bool = False  # scoped to the whole system

    def encode_payload(self) -> bytes:
        body = {"u": self.user_id, "m": list(self.methods), "i": self.issued_at, "e": self.expires_at,
                "a": list(self.audit_ids)}
        if self.project_id:
            body["p"] = self.project_id
        if self.domain_id:
            body["d"] = self.domain_id
        if self.oauth:
            body["o"] = list(self.oauth)
        if self.app_cred_id:
            body["c"] = self.app_cred_id
        if self.trust_id:
            body["t"] = self.trust_id
        if self.system:
            body["s"] = 1
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode_payload(cls, raw: bytes) -> "TokenData":
        body = json.loads(raw)
        return cls(user_id=body["u"], methods=tuple(body["m"]), issued_at=float(body["i"]),
                   expires_at=float(body["e"]), audit_ids=tuple(body["a"]),
                   project_id=body.get("p"), domain_id=body.get("d"),
                   oauth=tuple(body["o"]) if body.get("o") else None, app_cred_id=body.get("c"),
                   trust_id=body.get("t"), system=bool(body.get("s")))


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


class KeyRepository:
    """Fernet keys on disk (mode 0600 in a 0700 directory)."""

    def __init__(self, directory: Path, max_active: int = 3) -> None:
        self.directory = Path(directory)
        self.max_active = max(max_active, 2)
        self._fernet: MultiFernet | None = None
        self._loaded_mtime: int | None = None
        self.generation = 0  # bumped on every (re)load, so caches of validated tokens can follow

    def _indexes(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())

    def _write(self, index: int, key: bytes) -> None:
        tmp = self.directory / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, self.directory / str(index))

    def setup(self) -> None:
        """Create the staged (0) and a primary (1) key unless keys exist."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if not self._indexes():
            self._write(0, Fernet.generate_key())
            self._write(1, Fernet.generate_key())
        self._fernet = None

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a new key, prune the oldest. Returns the new
        primary's index. Tokens made with any kept key still validate."""
        indexes = self._indexes()
        if not indexes:
            self.setup()
            indexes = self._indexes()
        new_primary = max(indexes) + 1
        os.replace(self.directory / "0", self.directory / str(new_primary))
        self._write(0, Fernet.generate_key())
        secondaries = [i for i in self._indexes() if i not in (0, new_primary)]
        excess = len(secondaries) + 2 - self.max_active
        for index in sorted(secondaries)[: max(excess, 0)]:
            (self.directory / str(index)).unlink()
        self._fernet = None
        return new_primary

    def reload(self) -> None:
        self._fernet = None

    def fernet(self) -> MultiFernet:
        # A rotation (by ``caas token-keys rotate``, in another process) changes the
        # directory's mtime; pick the new keys up without a restart.
        mtime = self.directory.stat().st_mtime_ns
        if self._fernet is None or mtime != self._loaded_mtime:
            self._loaded_mtime = mtime
            self.generation += 1
            indexes = self._indexes()
            if not indexes:
                raise RuntimeError(f"no token keys in {self.directory}")
            # Primary (highest) first: MultiFernet encrypts with the first key.
            ordered = sorted(indexes, key=lambda i: (i == 0, -i))
            keys = [Fernet((self.directory / str(i)).read_bytes().strip()) for i in ordered]
            self._fernet = MultiFernet(keys)
        return self._fernet

    def encode(self, data: TokenData) -> str:
        return self.fernet().encrypt(data.encode_payload()).decode("ascii").rstrip("=")

    def decode(self, token: str) -> TokenData:
        """Authenticate, decrypt and parse. Raises Unauthorized for anything not ours."""
        if not token or len(token) > 1024 or not token.isascii():
            raise Unauthorized("The request you have made requires authentication.")
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self.fernet().decrypt(padded.encode("ascii"))
            return TokenData.decode_payload(raw)
        except (InvalidToken, ValueError, KeyError, TypeError):
            raise Unauthorized("The request you have made requires authentication.") from None
