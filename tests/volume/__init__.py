"""Helpers for the block storage tests: Cinder calls on an HTTP client, bounded polling, and the
check of Cinder's fault format."""

from __future__ import annotations

import time
import uuid

import httpx

V3 = "/volume/v3"


def uniq(prefix: str = "vol") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fault(r: httpx.Response, status: int, name: str | None = None) -> str:
    """Assert ``r`` is a Cinder fault with ``status`` (``{name: {"code", "message"}}``); return
    the message."""
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url}: expected {status}, got {r.status_code}: {r.text}")
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers.get("content-type")
    body = r.json()
    assert isinstance(body, dict) and len(body) == 1, body
    key, err = next(iter(body.items()))
    expected = name or {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                        405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType"}[status]
    assert key == expected, body
    assert err["code"] == status and isinstance(err["message"], str) and err["message"], body
    return err["message"]


def create(c: httpx.Client, size: int = 1, status: int = 202, **attrs) -> dict:
    attrs.setdefault("name", uniq())
    r = c.post(f"{V3}/volumes", json={"volume": {"size": size, **attrs}})
    assert r.status_code == status, r.text
    return r.json().get("volume", r.json())


def show(c: httpx.Client, volume_id: str) -> dict:
    r = c.get(f"{V3}/volumes/{volume_id}")
    assert r.status_code == 200, r.text
    return r.json()["volume"]


def wait_status(c: httpx.Client, volume_id: str, *statuses: str, timeout: float = 30) -> dict:
    """Poll the volume until its status is one of ``statuses`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        vol = show(c, volume_id)
        if vol["status"] in statuses:
            return vol
        assert time.monotonic() < deadline, f"volume {volume_id} stayed {vol['status']}, wanted {statuses}"
        time.sleep(0.05)


def wait_gone(c: httpx.Client, volume_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while c.get(f"{V3}/volumes/{volume_id}").status_code != 404:
        assert time.monotonic() < deadline, f"volume {volume_id} was not deleted"
        time.sleep(0.05)


def available(c: httpx.Client, size: int = 1, **attrs) -> dict:
    """A new volume, once available."""
    return wait_status(c, create(c, size, **attrs)["id"], "available")


def action(c: httpx.Client, volume_id: str, body: dict) -> httpx.Response:
    return c.post(f"{V3}/volumes/{volume_id}/action", json=body)


def delete(c: httpx.Client, volume_id: str) -> None:
    r = c.delete(f"{V3}/volumes/{volume_id}")
    assert r.status_code == 202, r.text
    wait_gone(c, volume_id)


def set_quota(admin: httpx.Client, project_id: str, **limits) -> dict:
    r = admin.put(f"{V3}/os-quota-sets/{project_id}", json={"quota_set": limits})
    assert r.status_code == 200, r.text
    return r.json()["quota_set"]
