"""Join tokens and host credentials, as text.

A join token is ``caas1.`` followed by the base64url (unpadded) of a JSON object: the host's
``name``, the controller's agent ``url`` (https), the SHA-256 ``fingerprint`` of the
controller's TLS certificate (64 hex digits) and a random ``secret``. The controller keeps only
the secret's SHA-256; the agent trusts no controller whose certificate has another fingerprint
(as ``incus cluster add`` tokens pin theirs). ``decode`` refuses anything else with a
``TokenError`` saying what is wrong."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

PREFIX = "caas1."
# A host name is a DNS label (RFC 1123), lower case: it names the hypervisor and the service.
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{64}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MAX_TOKEN = 2048


class TokenError(ValueError):
    """Not a join token; the message says why."""


@dataclass(frozen=True)
class JoinToken:
    name: str
    url: str
    fingerprint: str
    secret: str

    def encode(self) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_secret() -> str:
    """A random secret (256 bits), for a join token or a host credential."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the controller keeps of a secret: its SHA-256, in hex (the secrets are random and
    long, so a fast hash is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret(value) -> bool:
    return isinstance(value, str) and SECRET_RE.fullmatch(value) is not None


def decode(text: str) -> JoinToken:
    """The token ``text`` holds; TokenError if it is not one."""
    text = text.strip()
    if not text.startswith(PREFIX) or len(text) > MAX_TOKEN:
        raise TokenError("not a caas join token (it starts with caas1.; make one with caas host add NAME)")
    body = text[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("the join token is damaged (copy it whole)") from None
    if not isinstance(data, dict) or set(data) != {"name", "url", "fingerprint", "secret"}:
        raise TokenError("the join token is damaged (copy it whole)")
    token = JoinToken(**data)
    if not (isinstance(token.name, str) and NAME_RE.fullmatch(token.name)):
        raise TokenError("the join token's host name is not a DNS label")
    if not (isinstance(token.fingerprint, str) and FINGERPRINT_RE.fullmatch(token.fingerprint)):
        raise TokenError("the join token's certificate fingerprint is not 64 hex digits")
    if not is_secret(token.secret):
        raise TokenError("the join token's secret is malformed")
    check_url(token.url)
    return token


def check_url(url) -> str:
    """``url`` if it is an https URL with a host and port (what an agent connects to)."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        ok = parts is not None and parts.scheme == "https" and parts.hostname and parts.port
    except ValueError:
        ok = False
    if not ok or parts.path not in ("", "/") or parts.query or parts.username:
        raise TokenError(f"the controller's agent URL must be https://HOST:PORT, not {url!r}")
    return url.rstrip("/")
