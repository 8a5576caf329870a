"""What a cluster request names, found as openstacksdk's cloud layer finds it (``get_image``,
``get_flavor``, ``get_keypair``), with the caller's own token: an image by id that the listing
leaves out (another project's community image), a private flavor (for an admin, any; for a
member, those its project may use), and the caller's own keypair (another user's of the same
name is not found)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.clusters.common import A, API, body, error, member  # noqa: F401 - A, member: fixtures
from tests.conftest import client_for, make_member

C = "/compute/v2.1"


def plan(c: httpx.Client, **kw) -> httpx.Response:
    return c.post(f"{API}/clusters", json={**body("resolved", 1, **kw), "dry_run": True})


def public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_an_image_by_id_that_the_listing_leaves_out(A, admin):
    name = f"community-{uuid.uuid4().hex[:6]}"
    r = admin.post("/image/v2/images", json={"name": name, "visibility": "community", "disk_format": "raw",
                                             "container_format": "bare"})
    assert r.status_code == 201, r.text
    image = r.json()
    r = admin.put(f"/image/v2/images/{image['id']}/file", content=b"\0" * 1024,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = plan(A, image=image["id"])
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["image_id"] == image["id"] and r.json()["plan"]["image"] == name
    # by name it is not found: openstacksdk's find_image lists without community images too
    assert f"No active image named {name!r}" in error(plan(A, image=name), 400)["message"]
    # an id of no image, and one that is not active
    error(plan(A, image=str(uuid.uuid4())), 400)
    queued = admin.post("/image/v2/images", json={"name": "queued", "visibility": "public", "disk_format": "raw",
                                                  "container_format": "bare"}).json()
    error(plan(A, image=queued["id"]), 400)


def test_private_flavors(A, member, admin):
    def flavor(name: str) -> dict:
        r = admin.post(f"{C}/flavors", json={"flavor": {"name": name, "vcpus": 1, "ram": 128, "disk": 1,
                                                        "os-flavor-access:is_public": False}})
        assert r.status_code == 200, r.text
        return r.json()["flavor"]

    theirs, ours = flavor(f"p.theirs-{uuid.uuid4().hex[:4]}"), flavor(f"p.ours-{uuid.uuid4().hex[:4]}")
    r = admin.post(f"{C}/flavors/{ours['id']}/action", json={"addTenantAccess": {"tenant": member["project_id"]}})
    assert r.status_code == 200, r.text
    # the member: by name and by id, the private flavor its project may use; not the other
    for ref in (ours["name"], ours["id"]):
        r = plan(A, node_flavor=ref)
        assert r.status_code == 200 and r.json()["plan"]["node_flavor"] == ours["name"], r.text
    e = error(plan(A, node_flavor=theirs["name"]), 400)
    assert e["message"].startswith(f"No flavor {theirs['name']!r}") and theirs["name"] not in e["message"][30:]
    # an admin: any flavor, as openstacksdk lists them (is_public=None)
    r = plan(admin, node_flavor=theirs["name"])
    assert r.status_code == 200 and r.json()["plan"]["node_flavor"] == theirs["name"], r.text


def test_the_callers_own_keypair(A, server, admin):
    r = A.post(f"{C}/os-keypairs", json={"keypair": {"name": "shared-name", "public_key": public_key()}})
    assert r.status_code in (200, 201), r.text
    assert plan(A, key_name="shared-name").json()["plan"]["keypair"] == "shared-name"
    with client_for(server, make_member(server, admin)["token"]) as other:
        e = error(plan(other, key_name="shared-name"), 400)  # A's keypair is A's alone
        assert "You have no keypair 'shared-name'" in e["message"]
