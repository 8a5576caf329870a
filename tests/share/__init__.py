"""Helpers for the shared file system tests: Manila calls on an HTTP client (at a microversion),
bounded polling, and the check of Manila's fault format."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.volume import fault as cinder_fault

V2 = "/share/v2"
LATEST = {"X-OpenStack-Manila-API-Version": "2.65"}


def uniq(prefix: str = "share") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fault(r: httpx.Response, status: int, name: str | None = None) -> str:
    """Assert ``r`` is a Manila fault with ``status`` (Cinder's shape: both keep Nova's fault
    names; ``computeFault`` for 406 and 422); return the message."""
    return cinder_fault(r, status, name or ("computeFault" if status in (406, 422) else None))


def create(c: httpx.Client, size: int = 1, status: int = 200, **attrs) -> dict:
    attrs.setdefault("name", uniq())
    attrs.setdefault("share_proto", "NFS")
    r = c.post(f"{V2}/shares", json={"share": {"size": size, **attrs}}, headers=LATEST)
    assert r.status_code == status, r.text
    return r.json().get("share", r.json())


def show(c: httpx.Client, share_id: str, headers: dict = LATEST) -> dict:
    r = c.get(f"{V2}/shares/{share_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["share"]


def wait_status(c: httpx.Client, share_id: str, *statuses: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sh = show(c, share_id)
        if sh["status"] in statuses:
            return sh
        assert time.monotonic() < deadline, f"share {share_id} stayed {sh['status']}, wanted {statuses}"
        time.sleep(0.05)


def available(c: httpx.Client, size: int = 1, **attrs) -> dict:
    return wait_status(c, create(c, size, **attrs)["id"], "available")


def action(c: httpx.Client, share_id: str, body: dict, headers: dict = LATEST) -> httpx.Response:
    return c.post(f"{V2}/shares/{share_id}/action", json=body, headers=headers)


def allow(c: httpx.Client, share_id: str, access_to: str, level: str = "rw") -> dict:
    r = action(c, share_id, {"allow_access": {"access_type": "ip", "access_to": access_to, "access_level": level}})
    assert r.status_code == 200, r.text
    return r.json()["access"]


def delete(c: httpx.Client, share_id: str) -> None:
    r = c.delete(f"{V2}/shares/{share_id}", headers=LATEST)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while c.get(f"{V2}/shares/{share_id}", headers=LATEST).status_code != 404:
        assert time.monotonic() < deadline, f"share {share_id} was not deleted"
        time.sleep(0.05)
