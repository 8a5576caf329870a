"""Tokens of another cloud's Keystone, for caas as the portal of that cloud (``caas up --cloud``).

``RemoteTokens.validate`` does what keystonemiddleware does in front of an OpenStack service:
it asks the cloud's Identity API about a token (``GET /v3/auth/tokens`` with the token as
both ``X-Auth-Token`` and ``X-Subject-Token``: Keystone lets a token validate itself, so the
portal needs no service account to do it) and turns the answer into the ``AuthContext`` every
caas service takes. An answer is kept ``cache_seconds`` (``CACHE_SECONDS`` unless the portal's
settings say otherwise; keystonemiddleware's ``token_cache_time``, 300 s by default, is longer),
and never past the token's expiry: a
token revoked in the cloud stops working in the portal within that time, and at once when it
is revoked through the portal (``forget``, the dashboard's logout). ``endpoints`` gives the
token's catalog (the validated body's, as cached) as URLs of the portal's region and interface:
where the portal's dashboard reaches the cloud's other services with the user's token.

Refusals are the cloud's: a token it does not know is 401 ``Unauthorized``; a cloud that does
not answer is 503 ``ServiceUnavailable``, saying where it was asked. Nothing here stores a
token anywhere but in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections import OrderedDict

from caas.context import AccessRule, AppCredential, AuthContext, Ref, TrustRef
from caas.errors import ServiceUnavailable, Unauthorized

CACHE_SECONDS = 30.0
CACHE_MAX = 10000
TIMEOUT = 30.0  # seconds a validation may take
MAX_TOKEN = 8192  # characters: Keystone's fernet and JWS tokens are some hundreds
AUTH_REQUIRED = "The request you have made requires authentication."


def _ref(obj: dict | None) -> Ref | None:
    if not isinstance(obj, dict) or not obj.get("id"):
        return None
    return Ref(str(obj["id"]), str(obj.get("name") or ""))


def _expires(body: dict) -> float:
    """The token's expiry as epoch seconds (now, when Keystone gave none we can read)."""
    text = str(body.get("expires_at") or "")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def context(token_id: str, body: dict) -> AuthContext:
    """The caller a Keystone v3 token body (``{"token": {...}}``'s inside) describes."""
    user = body.get("user") or {}
    app = body.get("application_credential")
    app_cred = None
    if isinstance(app, dict) and app.get("id"):
        rules = app.get("access_rules")
        app_cred = AppCredential(
            id=app["id"], name=str(app.get("name") or ""), unrestricted=not app.get("restricted", True),
            access_rules=None if rules is None else tuple(
                AccessRule(str(r.get("id") or ""), str(r.get("service") or ""), str(r.get("method") or ""),
                           str(r.get("path") or "")) for r in rules if isinstance(r, dict)))
    trust = body.get("OS-TRUST:trust")
    trust_ref = None
    if isinstance(trust, dict) and trust.get("id"):
        trust_ref = TrustRef(trust["id"], (trust.get("trustor_user") or {}).get("id", ""),
                             (trust.get("trustee_user") or {}).get("id", ""), bool(trust.get("impersonation")))
    project = body.get("project")
    domain = body.get("domain")
    if not isinstance(body.get("roles") or [], list):
        raise TypeError("roles is not a list")
    return AuthContext(
        token_id=token_id, token=None, user=_ref(user) or Ref("", ""), user_domain=_ref(user.get("domain")) or Ref("", ""),
        project=_ref(project), project_domain=_ref((project or {}).get("domain")) if project else None,
        domain=_ref(domain), roles=tuple(r for r in (_ref(x) for x in body.get("roles") or []) if r is not None),
        app_cred=app_cred, trust=trust_ref, system=bool((body.get("system") or {}).get("all")))


def _well_formed(token: str) -> bool:
    """Could ``token`` be a token at all (printable ASCII, no space, at most MAX_TOKEN long)?
    Anything else is refused here rather than put in a header to the cloud."""
    return 0 < len(token) <= MAX_TOKEN and token.isascii() and token.isprintable() and " " not in token


class RemoteTokens:
    """Validation of the cloud's tokens against its Keystone at ``auth_url`` (its ``/v3``
    root), cached. ``verify``: TLS verification as keystoneauth takes it (a CA file or a bool).
    ``cache_max``: how many answers are kept (the least recently used go first); ``clock``: the
    monotonic clock the cache times are read on."""

    def __init__(self, auth_url: str, verify: bool | str = True, region: str | None = None,
                 interface: str = "public", cache_seconds: float = CACHE_SECONDS, *, cache_max: int = CACHE_MAX,
                 clock=time.monotonic) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.cache_seconds = cache_seconds
        self.cache_max = cache_max
        self.clock = clock
        self.verify = verify
        self.region = region
        self.interface = interface
        self._lock = threading.Lock()
        # sha256(token) -> (cached until, monotonic; the caller; the token's catalog)
        self._cache: OrderedDict[str, tuple[float, AuthContext, list]] = OrderedDict()
        self._session = None

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def _http(self):
        if self._session is None:
            from keystoneauth1 import session

            self._session = session.Session(verify=self.verify, timeout=TIMEOUT)
        return self._session

    def validate(self, token: str) -> AuthContext:
        """The caller ``token`` stands for; Unauthorized when the cloud does not know it (or it
        has expired), ServiceUnavailable when the cloud's Keystone does not answer."""
        return self._entry(token)[1]

    def endpoints(self, token: str) -> dict[str, str]:
        """The URL of each service type of ``token``'s catalog, for this cloud's interface and
        region (an entry of another region is left out; without a region, the first); refused
        as ``validate`` refuses."""
        found: dict[str, str] = {}
        for service in self._entry(token)[2]:
            if not isinstance(service, dict) or not isinstance(service.get("type"), str):
                continue
            for ep in service.get("endpoints") or []:
                if not isinstance(ep, dict) or ep.get("interface") != self.interface \
                        or not isinstance(ep.get("url"), str):
                    continue
                if self.region and (ep.get("region_id") or ep.get("region")) not in (self.region, None):
                    continue
                found.setdefault(service["type"], ep["url"].rstrip("/"))
        return found

    def _entry(self, token: str) -> tuple[float, AuthContext, list]:
        if not _well_formed(token):  # never sent: no Keystone token has such characters
            raise Unauthorized(AUTH_REQUIRED)
        key, now = self._key(token), self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return hit
            self._cache.pop(key, None)  # stale: asked again below
        body = self._ask(token)
        try:
            ctx = context(token, body)
        except (AttributeError, TypeError, KeyError, ValueError):
            raise ServiceUnavailable(f"The cloud's Identity service at {self.auth_url} gave a token body caas "
                                     "cannot read.") from None
        expiry = _expires(body) - time.time()
        if expiry <= 0:
            raise Unauthorized(AUTH_REQUIRED)
        catalog = body.get("catalog")
        entry = (now + min(self.cache_seconds, expiry), ctx, catalog if isinstance(catalog, list) else [])
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_max:
                self._cache.popitem(last=False)
        return entry

    def _ask(self, token: str) -> dict:
        """The token body the cloud's Keystone gives for ``token``."""
        from keystoneauth1 import exceptions as ks_exc

        url = self.auth_url + "/auth/tokens"
        try:
            r = self._http().get(url, headers={"X-Auth-Token": token, "X-Subject-Token": token,
                                               "Accept": "application/json"}, authenticated=False, raise_exc=False)
        except ks_exc.ClientException as exc:
            raise ServiceUnavailable(f"The cloud's Identity service at {self.auth_url} does not answer: "
                                     f"{' '.join(str(exc).split())[:200]}") from None
        if r.status_code in (401, 403, 404):
            raise Unauthorized(AUTH_REQUIRED)
        if r.status_code != 200:
            raise ServiceUnavailable(f"The cloud's Identity service at {self.auth_url} answered HTTP "
                                     f"{r.status_code} to a token validation.")
        try:
            body = r.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise ServiceUnavailable(f"The cloud's Identity service at {self.auth_url} gave no token body.") from None
        if not isinstance(body, dict):
            raise ServiceUnavailable(f"The cloud's Identity service at {self.auth_url} gave no token body.")
        return body

    def forget(self, token: str) -> None:
        """Drop what is cached of ``token`` (it was revoked through the portal)."""
        with self._lock:
            self._cache.pop(self._key(token), None)

    def __len__(self) -> int:
        """How many answers are cached."""
        with self._lock:
            return len(self._cache)

    def close(self) -> None:
        if self._session is not None:
            self._session.session.close()
            self._session = None
