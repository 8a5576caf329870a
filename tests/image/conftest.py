"""Helpers for the image tests: Glance-style calls on a client, a member of another project."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import client_for, make_member

V2 = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTET = {"Content-Type": "application/octet-stream"}


def uniq(prefix: str = "img") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(c: httpx.Client, status: int = 201, **attrs) -> dict:
    attrs.setdefault("name", uniq())
    attrs.setdefault("disk_format", "raw")
    attrs.setdefault("container_format", "bare")
    r = c.post(f"{V2}/images", json=attrs)
    assert r.status_code == status, r.text
    return r.json()


def upload(c: httpx.Client, image_id: str, data, status: int = 204, headers: dict | None = None) -> httpx.Response:
    r = c.put(f"{V2}/images/{image_id}/file", content=data, headers={**OCTET, **(headers or {})})
    assert r.status_code == status, r.text
    return r


def patch(c: httpx.Client, image_id: str, ops: list, status: int = 200) -> dict:
    r = c.patch(f"{V2}/images/{image_id}", json=ops, headers=PATCH)
    assert r.status_code == status, r.text
    return r.json()


def show(c: httpx.Client, image_id: str) -> dict:
    r = c.get(f"{V2}/images/{image_id}")
    assert r.status_code == 200, r.text
    return r.json()


def names(c: httpx.Client, **params) -> list[str]:
    r = c.get(f"{V2}/images", params=params)
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["images"]]


def _member_with_client(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        m["client"] = c
        yield m


@pytest.fixture(scope="module")
def member(server, admin) -> dict:
    """A user with the member role on a project of its own, and a client for it."""
    yield from _member_with_client(server, admin)


@pytest.fixture(scope="module")
def other(server, admin) -> dict:
    """A second member, in another project."""
    yield from _member_with_client(server, admin)
