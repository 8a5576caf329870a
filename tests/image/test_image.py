"""Image metadata over Glance v2: version discovery, schemas, create/show/list/update/delete,
visibility and policy between projects, paging, sorting and filters, tags, deactivation,
members, and the ``host`` image that ``caas up`` registers."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import client_for
from tests.image.conftest import PATCH, V2, create, names, patch, show, uniq, upload

pytestmark = pytest.mark.inprocess  # API shapes: the app in process, no caas up


# ---- discovery and schemas ----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/image", "/image/"])
def test_version_discovery_needs_no_token(server, path):
    with client_for(server) as anon:
        r = anon.get(path)
    assert r.status_code == 300
    versions = r.json()["versions"]
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert len(current) == 1 and current[0]["id"].startswith("v2.")
    for v in versions:
        assert v["links"] == [{"rel": "self", "href": f"{server.url}/image/v2/"}]
    assert {"v2.0", "v2.1"} <= {v["id"] for v in versions}


def test_versions_path_is_200(server):
    with client_for(server) as anon:
        r = anon.get("/image/versions")
    assert r.status_code == 200 and r.json()["versions"]


def test_schemas(server, admin):
    image = admin.get(f"{V2}/schemas/image").json()
    assert image["name"] == "image" and image["additionalProperties"] == {"type": "string"}
    assert "raw" in image["properties"]["disk_format"]["enum"]
    assert image["properties"]["visibility"]["enum"] == ["community", "public", "private", "shared"]
    images = admin.get(f"{V2}/schemas/images").json()
    assert images["name"] == "images" and images["properties"]["images"]["items"]["name"] == "image"
    assert admin.get(f"{V2}/schemas/member").json()["properties"]["status"]["enum"] == ["pending", "accepted",
                                                                                        "rejected"]
    assert admin.get(f"{V2}/schemas/members").json()["name"] == "members"
    assert admin.get(f"{V2}/schemas/nothing").status_code == 404
    with client_for(server) as anon:
        assert anon.get(f"{V2}/schemas/image").status_code == 401


# ---- create, show ---------------------------------------------------------------------------------
def test_create_defaults_and_shape(server, admin, member):
    c = member["client"]
    name = uniq()
    r = c.post(f"{V2}/images", json={"name": name, "disk_format": "qcow2", "container_format": "bare",
                                      "os_distro": "debian", "hw_disk_bus": "virtio", "tags": ["a", "b", "a"]})
    assert r.status_code == 201, r.text
    img = r.json()
    assert r.headers["location"].endswith(f"/image/v2/images/{img['id']}")
    assert img["name"] == name and img["status"] == "queued" and img["visibility"] == "shared"
    assert img["owner"] == member["project_id"]
    assert img["protected"] is False and img["os_hidden"] is False
    assert img["min_ram"] == 0 and img["min_disk"] == 0
    for key in ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value"):
        assert img[key] is None, key
    assert img["os_distro"] == "debian" and img["hw_disk_bus"] == "virtio"  # properties, flat
    assert sorted(img["tags"]) == ["a", "b"]
    assert img["self"] == f"/v2/images/{img['id']}" and img["file"] == f"/v2/images/{img['id']}/file"
    assert img["schema"] == "/v2/schemas/image"
    assert img["created_at"].endswith("Z") and "T" in img["created_at"]
    assert len(img["id"]) == 36 and img["id"].count("-") == 4
    assert show(c, img["id"]) == img


def test_create_with_id_and_duplicate_id(admin):
    iid = "4a1b5c9e-2d3f-4e5a-8b6c-7d8e9f0a1b2c"
    img = create(admin, id=iid, name="with-id")
    assert img["id"] == iid
    r = admin.post(f"{V2}/images", json={"id": iid, "name": "again"})
    assert r.status_code == 409
    admin.delete(f"{V2}/images/{iid}")


def test_lookup_by_name_is_404_then_list(admin):
    """What every client does to resolve a name: GET /images/NAME (404), then ?name=NAME."""
    name = uniq("byname")
    img = create(admin, name=name)
    assert admin.get(f"{V2}/images/{name}").status_code == 404
    found = admin.get(f"{V2}/images", params={"name": name}).json()["images"]
    assert [i["id"] for i in found] == [img["id"]]


def test_name_with_shell_metacharacters_is_kept_verbatim(admin):
    name = "x; rm -rf / && $(reboot) `id` | cat > /etc/passwd ' \" \\ * ? <>"
    img = create(admin, name=name, **{"prop$(x)": "a;b|c"})
    assert show(admin, img["id"])["name"] == name
    assert show(admin, img["id"])["prop$(x)"] == "a;b|c"
    assert names(admin, name=name) == [name]
    name2 = "a:b in:c"  # colons are not filter operators unless the prefix is one
    create(admin, name=name2)
    assert names(admin, name=name2) == [name2]


# ---- visibility between projects ------------------------------------------------------------------
@pytest.fixture(scope="module")
def zoo(admin, member, other):
    """Images of every visibility, owned by admin and by member."""
    out = {}
    for vis in ("public", "private", "shared", "community"):
        out[f"admin-{vis}"] = create(admin, name=uniq(f"admin-{vis}"), visibility=vis)
    for vis in ("private", "shared", "community"):
        out[f"member-{vis}"] = create(member["client"], name=uniq(f"member-{vis}"), visibility=vis)
    out["hidden"] = create(admin, name=uniq("hidden"), visibility="public", os_hidden=True)
    return out


def _listed(c, **params) -> set[str]:
    ids, url = set(), f"{V2}/images"
    while url:
        body = c.get(url, params=params if url == f"{V2}/images" else None).json()
        ids |= {i["id"] for i in body["images"]}
        url = ("/image" + body["next"]) if "next" in body else None
    return ids


def test_member_sees_public_and_own_only(zoo, member, other):
    c = member["client"]
    seen = _listed(c)
    z = {k: v["id"] for k, v in zoo.items()}
    assert {z["admin-public"], z["member-private"], z["member-shared"], z["member-community"]} <= seen
    assert not {z["admin-private"], z["admin-shared"], z["admin-community"], z["hidden"]} & seen
    # Community images of others only when asked for; hidden ones only with os_hidden=true.
    assert z["admin-community"] in _listed(c, visibility="community")
    assert z["admin-public"] not in _listed(c, visibility="community")
    assert z["hidden"] in _listed(c, os_hidden="true")
    assert z["admin-private"] not in _listed(c, visibility="all")
    # Another project sees none of member's non-public images but the community one by id.
    o = other["client"]
    for key in ("member-private", "member-shared"):
        assert o.get(f"{V2}/images/{z[key]}").status_code == 404
    assert o.get(f"{V2}/images/{z['member-community']}").status_code == 200


def test_admin_sees_everything(zoo, admin):
    seen = _listed(admin)
    z = {k: v["id"] for k, v in zoo.items() if k not in ("hidden", "admin-community", "member-community")}
    assert set(z.values()) <= seen
    assert zoo["member-community"]["id"] not in seen  # not asked for
    assert zoo["member-community"]["id"] in _listed(admin, visibility="community")
    assert show(admin, zoo["member-private"]["id"])["owner"] != show(admin, zoo["admin-private"]["id"])["owner"]


def test_private_image_of_another_project_is_404_everywhere(zoo, member):
    c = member["client"]
    iid = zoo["admin-private"]["id"]
    assert c.get(f"{V2}/images/{iid}").status_code == 404
    assert c.patch(f"{V2}/images/{iid}", json=[], headers=PATCH).status_code == 404
    assert c.delete(f"{V2}/images/{iid}").status_code == 404
    assert c.put(f"{V2}/images/{iid}/file", content=b"x",
                 headers={"Content-Type": "application/octet-stream"}).status_code == 404
    assert c.get(f"{V2}/images/{iid}/file").status_code == 404
    assert c.put(f"{V2}/images/{iid}/tags/t").status_code == 404
    assert c.delete(f"{V2}/images/{iid}/tags/t").status_code == 404
    assert c.post(f"{V2}/images/{iid}/actions/deactivate").status_code == 404


def test_public_image_of_another_project_is_403_to_modify(zoo, member):
    c = member["client"]
    iid = zoo["admin-public"]["id"]
    assert c.get(f"{V2}/images/{iid}").status_code == 200
    ops = [{"op": "add", "path": "/k", "value": "v"}]
    assert c.patch(f"{V2}/images/{iid}", json=ops, headers=PATCH).status_code == 403
    assert c.delete(f"{V2}/images/{iid}").status_code == 403
    assert c.put(f"{V2}/images/{iid}/tags/t").status_code == 403
    assert c.put(f"{V2}/images/{iid}/file", content=b"x",
                 headers={"Content-Type": "application/octet-stream"}).status_code == 403


def test_only_admin_publicizes(admin, member):
    c = member["client"]
    r = c.post(f"{V2}/images", json={"name": uniq(), "visibility": "public"})
    assert r.status_code == 403
    img = create(c, visibility="private")
    patch(c, img["id"], [{"op": "replace", "path": "/visibility", "value": "public"}], status=403)
    assert patch(c, img["id"], [{"op": "replace", "path": "/visibility", "value": "community"}])["visibility"] \
        == "community"
    assert patch(admin, img["id"], [{"op": "replace", "path": "/visibility", "value": "public"}])["visibility"] \
        == "public"


def test_owner_rules(server, admin, member):
    c = member["client"]
    r = c.post(f"{V2}/images", json={"name": uniq(), "owner": "someone-else"})
    assert r.status_code == 403
    own = create(c, owner=member["project_id"])
    assert own["owner"] == member["project_id"]
    patch(c, own["id"], [{"op": "replace", "path": "/owner", "value": "x"}], status=403)
    given = create(admin, owner=member["project_id"], visibility="private")
    assert show(c, given["id"])["owner"] == member["project_id"]  # the admin made it member's


def test_reader_may_look_but_not_touch(server, admin):
    from tests.conftest import make_member

    r = make_member(server, admin, role="reader")
    with client_for(server, r["token"]) as c:
        assert c.get(f"{V2}/images").status_code == 200
        assert c.post(f"{V2}/images", json={"name": uniq()}).status_code == 403


def test_domain_scoped_token_is_refused(server, admin):
    from tests.conftest import issue_token

    with client_for(server, issue_token(server, project=None, domain="default")) as c:
        r = c.get(f"{V2}/images")
    assert r.status_code == 403 and r.json()["code"] == 403


# ---- update -----------------------------------------------------------------------------------------
def test_patch_properties_and_core(admin):
    img = create(admin, a="1", b="2")
    iid = img["id"]
    out = patch(admin, iid, [
        {"op": "add", "path": "/c", "value": "3"},
        {"op": "replace", "path": "/a", "value": "one"},
        {"op": "remove", "path": "/b"},
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "add", "path": "/min_disk", "value": 2},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/os_hidden", "value": True},
        {"op": "replace", "path": "/tags", "value": ["x", "y"]},
        {"op": "replace", "path": "/disk_format", "value": "qcow2"},
        {"op": "add", "path": "/a~1b~0c", "value": "escaped"},
    ])
    assert out["a"] == "one" and "b" not in out and out["c"] == "3" and out["a/b~c"] == "escaped"
    assert out["name"] == "renamed" and out["min_ram"] == 512 and out["min_disk"] == 2
    assert out["protected"] is True and out["os_hidden"] is True and sorted(out["tags"]) == ["x", "y"]
    assert out["disk_format"] == "qcow2"
    assert out["updated_at"] >= img["updated_at"]
    assert show(admin, iid) == out
    patch(admin, iid, [{"op": "replace", "path": "/protected", "value": False}])


def test_patch_errors(admin):
    iid = create(admin, a="1")["id"]
    cases = [
        ([{"op": "replace", "path": "/missing", "value": "x"}], 409),
        ([{"op": "remove", "path": "/missing"}], 409),
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/checksum", "value": "x"}], 403),
        ([{"op": "replace", "path": "/id", "value": "x"}], 403),
        ([{"op": "add", "path": "/deleted", "value": "x"}], 403),
        ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
        ([{"op": "move", "path": "/a", "value": "x"}], 400),
        ([{"path": "/a", "value": "x"}], 400),
        ([{"op": "add", "value": "x"}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ([{"op": "add", "path": "a", "value": "x"}], 400),
        ([{"op": "add", "path": "/a/b", "value": "x"}], 400),
        ([{"op": "add", "path": "/", "value": "x"}], 400),
        ([{"op": "add", "path": "/a~2", "value": "x"}], 400),
        ([{"op": "add", "path": 7, "value": "x"}], 400),
        ([{"op": "add", "path": "/a", "value": 5}], 400),
        ([{"op": "add", "path": "/a", "value": None}], 400),
        ([{"op": "replace", "path": "/min_ram", "value": "5"}], 400),
        ([{"op": "replace", "path": "/min_ram", "value": -1}], 400),
        ([{"op": "replace", "path": "/min_ram", "value": 2**40}], 400),
        ([{"op": "replace", "path": "/min_disk", "value": True}], 400),
        ([{"op": "replace", "path": "/protected", "value": "yes"}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "everyone"}], 400),
        ([{"op": "replace", "path": "/disk_format", "value": "exe"}], 400),
        ([{"op": "replace", "path": "/container_format", "value": "zip"}], 400),
        ([{"op": "replace", "path": "/name", "value": "n" * 256}], 400),
        ([{"op": "replace", "path": "/tags", "value": "notalist"}], 400),
        ([{"op": "replace", "path": "/tags", "value": ["t" * 256]}], 400),
        ({"op": "add", "path": "/a", "value": "x"}, 400),
        (["notanobject"], 400),
    ]
    for ops, status in cases:
        r = admin.patch(f"{V2}/images/{iid}", json=ops, headers=PATCH)
        assert r.status_code == status, (ops, r.text)
        assert r.json()["code"] == status
    # All or nothing: a bad operation after a good one changes nothing.
    r = admin.patch(f"{V2}/images/{iid}", headers=PATCH, json=[
        {"op": "replace", "path": "/a", "value": "changed"}, {"op": "remove", "path": "/missing"}])
    assert r.status_code == 409 and show(admin, iid)["a"] == "1"


def test_patch_tag_positions(admin):
    """jsonpatch writes /tags/N when it diffs two tag lists (openstacksdk does)."""
    iid = create(admin, tags=["b", "d"])["id"]
    assert patch(admin, iid, [{"op": "add", "path": "/tags/-", "value": "e"},
                              {"op": "add", "path": "/tags/0", "value": "a"}])["tags"] == ["a", "b", "d", "e"]
    assert patch(admin, iid, [{"op": "replace", "path": "/tags/2", "value": "c"},
                              {"op": "remove", "path": "/tags/3"}])["tags"] == ["a", "b", "c"]
    patch(admin, iid, [{"op": "remove", "path": "/tags/3"}], status=409)
    patch(admin, iid, [{"op": "replace", "path": "/tags/-", "value": "x"}], status=400)
    patch(admin, iid, [{"op": "add", "path": "/tags/one", "value": "x"}], status=400)
    patch(admin, iid, [{"op": "add", "path": "/tags/0/1", "value": "x"}], status=400)
    patch(admin, iid, [{"op": "add", "path": "/tags/0", "value": 5}], status=400)


def test_patch_draft4_media_type(admin):
    iid = create(admin, a="1")["id"]
    v20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}
    r = admin.patch(f"{V2}/images/{iid}", json=[{"add": "/b", "value": "2"}, {"replace": "/a", "value": "x"}],
                    headers=v20)
    assert r.status_code == 200 and r.json()["a"] == "x" and r.json()["b"] == "2"
    r = admin.patch(f"{V2}/images/{iid}", json=[{"add": "/b", "value": "again"}], headers=v20)
    assert r.status_code == 409
    r = admin.patch(f"{V2}/images/{iid}", json=[{"add": "/b", "remove": "/a", "value": "x"}], headers=v20)
    assert r.status_code == 400


def test_formats_only_change_while_queued(admin):
    img = create(admin)
    upload(admin, img["id"], b"data")
    patch(admin, img["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}], status=403)
    patch(admin, img["id"], [{"op": "replace", "path": "/disk_format", "value": "raw"}])  # unchanged is fine


def test_empty_patch_changes_nothing(admin):
    img = create(admin)
    assert patch(admin, img["id"], []) == img


# ---- delete -----------------------------------------------------------------------------------------
def test_delete_and_protected(admin):
    img = create(admin, protected=True)
    r = admin.delete(f"{V2}/images/{img['id']}")
    assert r.status_code == 403 and "protected" in r.json()["message"]
    patch(admin, img["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert admin.delete(f"{V2}/images/{img['id']}").status_code == 204
    assert admin.get(f"{V2}/images/{img['id']}").status_code == 404
    assert admin.delete(f"{V2}/images/{img['id']}").status_code == 404


# ---- tags -------------------------------------------------------------------------------------------
def test_tags(admin):
    iid = create(admin)["id"]
    for tag in ("one", "two", "one", "with space", "sym;$(x)"):
        assert admin.put(f"{V2}/images/{iid}/tags/{tag}").status_code == 204
    assert sorted(show(admin, iid)["tags"]) == ["one", "sym;$(x)", "two", "with space"]
    assert admin.delete(f"{V2}/images/{iid}/tags/one").status_code == 204
    assert admin.delete(f"{V2}/images/{iid}/tags/one").status_code == 404
    assert admin.put(f"{V2}/images/{iid}/tags/{'t' * 256}").status_code == 400
    assert iid in {i["id"] for i in admin.get(f"{V2}/images", params={"tag": "two"}).json()["images"]}
    assert iid not in {i["id"] for i in admin.get(f"{V2}/images", params=[("tag", "two"), ("tag", "x")]).json()[
        "images"]}


def test_tag_quota(admin):
    iid = create(admin, tags=[f"t{i}" for i in range(128)])["id"]
    r = admin.put(f"{V2}/images/{iid}/tags/one-more")
    assert r.status_code == 413
    r = admin.post(f"{V2}/images", json={"name": "x", "tags": [f"t{i}" for i in range(129)]})
    assert r.status_code == 413


# ---- listing: paging, sorting, filters --------------------------------------------------------------
@pytest.fixture(scope="module")
def series(admin):
    tag = uniq("series")
    made = []
    for i, (name, fmt) in enumerate([("s-c", "raw"), ("s-a", "qcow2"), ("s-e", "raw"), ("s-b", "iso"), ("s-d", None)]):
        made.append(create(admin, name=f"{name}-{tag}", tags=[tag], disk_format=fmt, kind=f"k{i % 2}"))
    return tag, made


def _pages(c: httpx.Client, **params) -> tuple[list[str], int]:
    out, url, pages = [], f"{V2}/images", 0
    first = True
    while url:
        r = c.get(url, params=params if first else None)
        assert r.status_code == 200, r.text
        body = r.json()
        first = False
        pages += 1
        out += [i["name"].split("-")[1] for i in body["images"]]
        assert body["schema"] == "/v2/schemas/images" and body["first"].startswith("/v2/images")
        url = "/image" + body["next"] if "next" in body else None
        assert pages < 20
    return out, pages


def test_paging_and_sorting(admin, series):
    tag, made = series
    # Default: newest first.
    got, pages = _pages(admin, tag=tag, limit=2)
    assert got == ["d", "b", "e", "a", "c"] and pages == 3
    assert _pages(admin, tag=tag, sort_key="name", sort_dir="asc", limit=2)[0] == ["a", "b", "c", "d", "e"]
    assert _pages(admin, tag=tag, sort="name:desc", limit=3)[0] == ["e", "d", "c", "b", "a"]
    # Two keys, NULL disk format sorting lowest.
    got = _pages(admin, tag=tag, sort="disk_format:asc,name:desc", limit=1)[0]
    assert got == ["d", "b", "a", "e", "c"]
    body = admin.get(f"{V2}/images", params={"tag": tag, "limit": 5}).json()
    assert "next" not in body and len(body["images"]) == 5
    assert admin.get(f"{V2}/images", params={"tag": tag, "limit": 0}).json()["images"] == []


def test_filters(admin, series):
    tag, made = series
    assert sorted(_pages(admin, tag=tag, disk_format="raw")[0]) == ["c", "e"]
    assert sorted(_pages(admin, tag=tag, disk_format="in:iso,qcow2")[0]) == ["a", "b"]
    assert sorted(_pages(admin, tag=tag, kind="k1")[0]) == ["a", "b"]  # a property
    assert _pages(admin, tag=tag, name=made[0]["name"])[0] == ["c"]
    assert sorted(_pages(admin, tag=tag, status="queued")[0]) == ["a", "b", "c", "d", "e"]
    assert _pages(admin, tag=tag, status="active")[0] == []
    assert sorted(_pages(admin, tag=tag, visibility="shared")[0]) == ["a", "b", "c", "d", "e"]
    assert _pages(admin, tag=tag, visibility="public")[0] == []
    owner = made[0]["owner"]
    assert len(_pages(admin, tag=tag, owner=owner)[0]) == 5
    assert _pages(admin, tag=tag, owner="nobody")[0] == []
    assert len(_pages(admin, tag=tag, protected="false")[0]) == 5
    assert _pages(admin, tag=tag, id=made[1]["id"])[0] == ["a"]
    assert len(_pages(admin, tag=tag, created_at=f"gte:{made[0]['created_at']}")[0]) == 5
    assert _pages(admin, tag=tag, created_at="lt:2000-01-01T00:00:00Z")[0] == []


def test_list_errors(admin):
    for params in ({"limit": "x"}, {"limit": "-1"}, {"sort_key": "owner"}, {"sort_dir": "up"},
                   {"sort": "name:sideways"}, {"sort": "name", "sort_key": "id"}, {"visibility": "everyone"},
                   {"member_status": "maybe"}, {"marker": "0f9d8e7c-6b5a-4a3b-9c2d-1e0f9a8b7c6d"},
                   {"marker": "not-an-id"}, {"os_hidden": "perhaps"}, {"protected": "1"}, {"size_min": "big"},
                   {"created_at": "gt:yesterday"}, {"changes-since": "2020-01-01"}, {"name": 'in:"a'}):
        r = admin.get(f"{V2}/images", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["code"] == 400
    r = admin.get(f"{V2}/images", params=[("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc"),
                                            ("sort_dir", "desc"), ("sort_dir", "asc")])
    assert r.status_code == 400


# ---- deactivate / reactivate ------------------------------------------------------------------------
def test_deactivate_reactivate(admin, member):
    c = member["client"]
    img = create(c, visibility="private")
    assert c.post(f"{V2}/images/{img['id']}/actions/deactivate").status_code == 403  # queued
    upload(c, img["id"], b"payload")
    assert c.post(f"{V2}/images/{img['id']}/actions/deactivate").status_code == 204
    assert show(c, img["id"])["status"] == "deactivated"
    assert c.post(f"{V2}/images/{img['id']}/actions/deactivate").status_code == 204  # idempotent
    assert c.get(f"{V2}/images/{img['id']}/file").status_code == 403
    assert admin.get(f"{V2}/images/{img['id']}/file").content == b"payload"
    assert c.post(f"{V2}/images/{img['id']}/actions/reactivate").status_code == 204
    assert c.get(f"{V2}/images/{img['id']}/file").content == b"payload"


# ---- members ----------------------------------------------------------------------------------------
def test_members(admin, member, other):
    owner, guest = member["client"], other["client"]
    img = create(owner, visibility="shared")
    iid = img["id"]
    r = owner.post(f"{V2}/images/{iid}/members", json={"member": other["project_id"]})
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["status"] == "pending" and m["image_id"] == iid and m["member_id"] == other["project_id"]
    assert owner.post(f"{V2}/images/{iid}/members", json={"member": other["project_id"]}).status_code == 409
    # Pending: visible by id, not listed; accepted: listed.
    assert guest.get(f"{V2}/images/{iid}").status_code == 200
    assert iid not in _listed(guest)
    assert iid in _listed(guest, member_status="pending")
    assert owner.put(f"{V2}/images/{iid}/members/{other['project_id']}", json={"status": "accepted"}).status_code \
        == 403  # only the member decides
    r = guest.put(f"{V2}/images/{iid}/members/{other['project_id']}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert iid in _listed(guest)
    assert guest.put(f"{V2}/images/{iid}/members/{other['project_id']}", json={"status": "maybe"}).status_code == 400
    assert [x["member_id"] for x in guest.get(f"{V2}/images/{iid}/members").json()["members"]] == [other["project_id"]]
    assert guest.get(f"{V2}/images/{iid}/members/{other['project_id']}").status_code == 200
    assert guest.post(f"{V2}/images/{iid}/members", json={"member": "x"}).status_code == 403
    assert guest.get(f"{V2}/images/{iid}/file").status_code == 204  # may download; no data yet
    assert guest.patch(f"{V2}/images/{iid}", json=[], headers=PATCH).status_code == 403  # but not modify
    assert owner.delete(f"{V2}/images/{iid}/members/{other['project_id']}").status_code == 204
    assert owner.delete(f"{V2}/images/{iid}/members/{other['project_id']}").status_code == 404
    assert guest.get(f"{V2}/images/{iid}").status_code == 404
    private = create(owner, visibility="private")
    assert owner.post(f"{V2}/images/{private['id']}/members", json={"member": "x"}).status_code == 403
    assert owner.post(f"{V2}/images/{iid}/members", json={"nobody": "x"}).status_code == 400
    assert owner.post(f"{V2}/images/{iid}/members", json={"member": 5}).status_code == 400


# ---- the host image ---------------------------------------------------------------------------------
def _os_release() -> dict:
    from caas.image.service import read_os_release

    return read_os_release()


def test_host_image(server, admin, member):
    (host,) = [i for i in admin.get(f"{V2}/images", params={"name": "host"}).json()["images"]]
    admin_project = admin.get("/identity/v3/projects", params={"name": "admin"}).json()["projects"][0]["id"]
    assert host["status"] == "active" and host["visibility"] == "public" and host["owner"] == admin_project
    assert host["disk_format"] == "raw" and host["container_format"] == "bare"
    assert host["caas_rootfs"] == "host" and host["protected"] is True
    release = _os_release()
    assert host["os_distro"] == release["ID"]
    if "VERSION_ID" in release:
        assert host["os_version"] == release["VERSION_ID"]
    assert host["size"] is None and host["checksum"] is None
    c = member["client"]
    assert host["id"] in {i["id"] for i in c.get(f"{V2}/images").json()["images"]}
    assert c.get(f"{V2}/images/{host['id']}/file").status_code == 204
    assert admin.get(f"{V2}/images/{host['id']}/file").status_code == 204
    assert c.delete(f"{V2}/images/{host['id']}").status_code == 403
    assert admin.delete(f"{V2}/images/{host['id']}").status_code == 403  # protected


def test_unknown_paths_and_methods(admin):
    r = admin.get(f"{V2}/nothing")
    assert r.status_code == 404 and r.json()["code"] == 404
    r = admin.post(f"{V2}/images/{uniq()}", json={})
    assert r.status_code == 405 and "allow" in r.headers
    assert urlsplit(admin.get("/").json()["services"]["image"]).path == "/image"
