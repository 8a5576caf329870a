"""The dashboard's way to the cloud: the caas APIs themselves, called in process.

Like Horizon, the dashboard is a client of the OpenStack APIs with the user's token; it never
reaches into a service. ``ApiClient`` sends each request through the ASGI app (no socket), so
policy, quotas and validation are exactly those of the API, and a refusal comes back with the
words the API used (``ApiError.message``), whichever service's error format carried them.
"""

from __future__ import annotations

import asyncio
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


class ApiClient:
    """Calls to the caas APIs with one token (``None`` before login)."""

    def __init__(self, app, token: str | None, base_url: str = "http://caas.dashboard") -> None:
        # imported by the first page, not at start: httpx brings rich and pygments (some 20 MiB)
        import httpx

        self._http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60)
        self.token = token

    async def close(self) -> None:
        await self._http.aclose()

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
        r = await self._http.request(method, path, json=json, params=params, headers=self._headers(headers),
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


def httpx_json(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
