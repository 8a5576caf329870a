"""The dashboard's way to the cloud: the caas APIs themselves, called in process.

Like Horizon, the dashboard is a client of the OpenStack APIs with the user's token; it never
reaches into a service. ``ApiClient`` sends each request through the ASGI app (no socket), so
policy, quotas and validation are exactly those of the API, and a refusal comes back with the
words the API used (``ApiError.message``), whichever service's error format carried them.

In a portal (``caas up --cloud NAME``) only ``/caas`` is served here: ``client_for`` gives a
client whose ``Remote`` sends the other paths the pages use to the cloud's own services, over
HTTP, with the same token: ``/identity/v3`` to the cloud's Keystone (where the portal validates
tokens), ``/compute/v2.1``, ``/image`` and ``/network`` to the endpoints of the token's catalog
(the portal's region and interface). Any other path is a 404 there; a service that does not
answer is a 503 saying which.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

# What the dashboard asks for: the newest shapes of each API that it renders.
COMPUTE_MICROVERSION = "2.60"  # caas's maximum
VOLUME_MICROVERSION = "3.0"


class ApiError(Exception):
    """A refusal by the API: its status and the reason it gave."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail  # the whole error body (caas's quota refusal lists shortfalls)

    @property
    def shortfalls(self) -> list[dict]:
        if isinstance(self.detail, dict):
            inner = self.detail.get("error")
            if isinstance(inner, dict) and isinstance(inner.get("shortfalls"), list):
                return inner["shortfalls"]
        return []


def error_message(status: int, body: Any, text: str) -> str:
    """The reason in any of the formats: Keystone/caas ``{"error": {"message"}}``, Nova and
    Cinder ``{"badRequest": {"message"}}``, Neutron ``{"NeutronError": {"message"}}``, Glance's
    plain ``{"message"}``, else the text itself."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    text = (text or "").strip()
    return text[:500] if text else f"The request failed with status {status}."


# The prefixes a portal's pages reach the cloud under, and the catalog type serving each. A
# catalog URL stands for its prefix: compute's is versioned (``.../v2.1``), like the prefix;
# Glance's and Neutron's are not, like theirs.
REMOTE = {"/compute/v2.1": "compute", "/image": "image", "/network": "network"}
SERVICE_NAMES = {"identity": "Identity", "compute": "Compute", "image": "Image", "network": "Network"}


class Remote:
    """Where a portal's dashboard sends the paths that are not ``/caas``: ``identity``, the
    cloud's Keystone v3 root; ``endpoints``, the token's catalog by type; ``verify``, TLS
    verification as the portal's clouds.yaml entry says."""

    def __init__(self, identity: str, endpoints: dict[str, str], verify: bool | str) -> None:
        self.identity = identity.rstrip("/")
        self.endpoints = endpoints
        self.verify = verify

    def url(self, path: str) -> tuple[str, str] | None:
        """The cloud's URL for a dashboard path and the service's name, or None when the path
        stays here (``/caas``); ApiError 404 for a path a portal does not reach."""
        if path == "/caas" or path.startswith("/caas/"):
            return None
        if path.startswith("/identity/v3/"):
            return self.identity + path[len("/identity/v3"):], "identity"
        for prefix, kind in REMOTE.items():
            if path.startswith(prefix + "/"):
                if kind not in self.endpoints:
                    raise ApiError(404, f"The cloud's catalog has no {SERVICE_NAMES[kind]} service for this project.")
                return self.endpoints[kind] + path[len(prefix):], kind
        raise ApiError(404, "This dashboard is a portal: it shows the cloud's clusters, not its other resources.")


async def client_for(request, token: str | None) -> ApiClient:
    """The client of ``request``'s pages with ``token``: in process for the embedded cloud; in
    a portal, ``/caas`` in process and the rest to the cloud (``Remote``), with the endpoints
    of ``token``'s catalog (validated already by the page's guard: cached). ApiError when the
    cloud refuses the token (revoked since) or does not answer."""
    from starlette.concurrency import run_in_threadpool

    from caas.errors import CaasError

    cloud = request.app.state.cloud
    if cloud.embedded:
        return ApiClient(request.scope["app"], token)
    tokens = cloud.tokens
    try:
        endpoints = await run_in_threadpool(tokens.endpoints, token) if token else {}
    except CaasError as exc:
        raise ApiError(exc.status, exc.message) from None
    return ApiClient(request.scope["app"], token, remote=Remote(tokens.auth_url, endpoints, tokens.verify))


class ApiClient:
    """Calls to the caas APIs with one token (``None`` before login); with ``remote`` (a
    portal), calls outside ``/caas`` go to the cloud's own services."""

    def __init__(self, app, token: str | None, base_url: str = "http://caas.dashboard",
                 remote: Remote | None = None) -> None:
        # imported by the first page, not at start: httpx brings rich and pygments (some 20 MiB)
        import httpx

        self._http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60)
        self._cloud = httpx.AsyncClient(verify=tls(remote.verify), timeout=60) if remote else None
        self.remote = remote
        self.token = token

    async def close(self) -> None:
        await self._http.aclose()
        if self._cloud is not None:
            await self._cloud.aclose()

    async def _send(self, method: str, path: str, **kw) -> httpx.Response:
        import httpx

        where = self.remote.url(path) if self.remote else None
        if where is None:
            return await self._http.request(method, path, **kw)
        url, kind = where
        try:
            return await self._cloud.request(method, url, **kw)
        except httpx.TransportError:
            raise ApiError(503, f"The cloud's {SERVICE_NAMES[kind]} service does not answer; try again later.") \
                from None

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Accept": "application/json", "OpenStack-API-Version": f"compute {COMPUTE_MICROVERSION}",
                   "X-OpenStack-Nova-API-Version": COMPUTE_MICROVERSION}
        if self.token:
            headers["X-Auth-Token"] = self.token
        headers.update(extra or {})
        return headers

    async def request(self, method: str, path: str, json: Any = None, params: dict | None = None,
                      headers: dict | None = None, content: Any = None) -> httpx.Response:
        """The response of a call that succeeded (2xx or 3xx); ``ApiError`` otherwise."""
        r = await self._send(method, path, json=json, params=params, headers=self._headers(headers),
                             content=content)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = None
            raise ApiError(r.status_code, error_message(r.status_code, body, r.text), body)
        return r

    async def get(self, path: str, **params) -> Any:
        r = await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        return r.json()

    async def post(self, path: str, body: Any = None, **kw) -> Any:
        r = await self.request("POST", path, json=body, **kw)
        return r.json() if r.content else None

    async def put(self, path: str, body: Any = None, **kw) -> Any:
        r = await self.request("PUT", path, json=body, **kw)
        return r.json() if r.content else None

    async def patch(self, path: str, body: Any, content_type: str) -> Any:
        r = await self.request("PATCH", path, content=httpx_json(body), headers={"Content-Type": content_type})
        return r.json() if r.content else None

    async def delete(self, path: str, **kw) -> None:
        await self.request("DELETE", path, **kw)

    async def gather(self, *calls) -> list:
        """Several calls at once (a page's independent lists)."""
        return list(await asyncio.gather(*calls))


@functools.cache
def tls(verify: bool | str):
    """httpx's ``verify`` for clouds.yaml's: a context trusting the CA file, or httpx's default
    one; made once (loading a CA bundle takes some 30 ms of CPU: not on every page)."""
    import httpx

    if verify is False:
        return False
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context()


def httpx_json(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
