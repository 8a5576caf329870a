"""Bad input on the Image v2 API. Every error is Glance-style JSON,
``{"code": N, "title": "...", "message": "..."}`` with ``code`` equal to the HTTP status, and
nothing is ever a 5xx (the clients fail the test on one; the ``server`` fixture checks the
server's counters)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import NOT_NUMBERS, client_for
from tests.image.conftest import OCTET, PATCH, V2, create, show, uniq, upload

pytestmark = pytest.mark.inprocess  # bad input: the app in process, no caas up

MIB = 1024 * 1024
UNKNOWN = "0f9d8e7c-6b5a-4a3b-9c2d-1e0f9a8b7c6d"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type"}


def assert_error(r: httpx.Response, status: int) -> dict:
    where = f"{r.request.method} {r.request.url}"
    assert r.status_code == status, f"{where}: expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"].split(";")[0] == "application/json", where
    body = r.json()
    assert set(body) == {"code", "title", "message"}, f"{where}: {body}"
    assert body["code"] == status and body["title"] == TITLES[status], f"{where}: {body}"
    assert isinstance(body["message"], str) and body["message"].strip(), f"{where}: {body}"
    return body


@pytest.fixture(scope="module")
def image(admin) -> dict:
    return create(admin, name=uniq("bad-input"))


def test_unknown_ids_are_404(admin):
    calls = [
        ("GET", f"{V2}/images/{UNKNOWN}", {}),
        ("GET", f"{V2}/images/not-a-uuid", {}),
        ("PATCH", f"{V2}/images/{UNKNOWN}", {"json": [], "headers": PATCH}),
        ("DELETE", f"{V2}/images/{UNKNOWN}", {}),
        ("PUT", f"{V2}/images/{UNKNOWN}/file", {"content": b"x", "headers": OCTET}),
        ("GET", f"{V2}/images/{UNKNOWN}/file", {}),
        ("PUT", f"{V2}/images/{UNKNOWN}/tags/t", {}),
        ("DELETE", f"{V2}/images/{UNKNOWN}/tags/t", {}),
        ("POST", f"{V2}/images/{UNKNOWN}/actions/deactivate", {}),
        ("POST", f"{V2}/images/{UNKNOWN}/actions/reactivate", {}),
        ("GET", f"{V2}/images/{UNKNOWN}/members", {}),
        ("POST", f"{V2}/images/{UNKNOWN}/members", {"json": {"member": "x"}}),
        ("GET", f"{V2}/images/{UNKNOWN}/members/x", {}),
        ("PUT", f"{V2}/images/{UNKNOWN}/members/x", {"json": {"status": "accepted"}}),
        ("DELETE", f"{V2}/images/{UNKNOWN}/members/x", {}),
        ("GET", f"{V2}/nothing", {}),
    ]
    for method, url, kw in calls:
        assert_error(admin.request(method, url, **kw), 404)


def test_malformed_json_is_400(admin, image):
    for method, url, headers in (("POST", f"{V2}/images", {"Content-Type": "application/json"}),
                                 ("PATCH", f"{V2}/images/{image['id']}", PATCH),
                                 ("POST", f"{V2}/images/{image['id']}/members", {"Content-Type": "application/json"})):
        for raw in (b"{", b'{"name": }', b"[1, 2", b"\xff\xfe", b'{"name": "x"} trailing'):
            assert_error(admin.request(method, url, content=raw, headers=headers), 400)


def test_create_wrong_types_and_values_are_400(admin):
    bodies = [
        [], "name", 5,
        {"name": 5}, {"name": ["x"]}, {"name": "n" * 256},
        {"protected": "yes"}, {"protected": 1}, {"os_hidden": "false"},
        {"min_ram": "1"}, {"min_ram": 1.5}, {"min_ram": True}, {"min_ram": -1}, {"min_disk": 2**31},
        {"visibility": "everyone"}, {"visibility": None}, {"visibility": 1},
        {"disk_format": "exe"}, {"disk_format": "RAW"}, {"container_format": "zip"}, {"container_format": 1},
        {"tags": "x"}, {"tags": [1]}, {"tags": ["t" * 256]}, {"tags": None},
        {"owner": 5}, {"owner": "o" * 256},
        {"id": "not-a-uuid"}, {"id": 5},
        {"prop": 5}, {"prop": None}, {"prop": ["a"]}, {"prop": {"a": "b"}}, {"prop": True},
        {"p" * 256: "x"},
        {"name": "nul\u0000inside"}, {"nul\u0000key": "x"},
    ]
    for body in bodies:
        r = admin.post(f"{V2}/images", json=body)
        assert_error(r, 400)
    assert_error(admin.post(f"{V2}/images"), 400)  # no body at all


def test_create_read_only_and_reserved_are_403(admin):
    for key, value in (("status", "active"), ("checksum", "x"), ("size", 5), ("virtual_size", 5),
                       ("created_at", "2020-01-01T00:00:00Z"), ("updated_at", "x"), ("os_hash_value", "x"),
                       ("os_hash_algo", "md5"), ("self", "x"), ("file", "x"), ("schema", "x"), ("direct_url", "x"),
                       ("locations", []), ("location", "x"), ("deleted", "x"), ("deleted_at", "x"),
                       ("os_glance_import_task", "x")):
        assert_error(admin.post(f"{V2}/images", json={"name": "ro", key: value}), 403)


def test_too_many_properties_is_413(admin):
    props = {f"p{i}": "v" for i in range(129)}
    assert_error(admin.post(f"{V2}/images", json={"name": "many", **props}), 413)
    img = create(admin, **{f"p{i}": "v" for i in range(128)})
    r = admin.patch(f"{V2}/images/{img['id']}", json=[{"op": "add", "path": "/p128", "value": "v"}], headers=PATCH)
    assert_error(r, 413)


def test_wrong_content_type_is_415(admin, image):
    iid = image["id"]
    ops = json.dumps([{"op": "add", "path": "/k", "value": "v"}]).encode()
    for ctype in ("application/json", "text/plain", "application/json-patch+json", None):
        headers = {"Content-Type": ctype} if ctype else {}
        assert_error(admin.patch(f"{V2}/images/{iid}", content=ops, headers=headers), 415)
        assert_error(admin.put(f"{V2}/images/{iid}/file", content=b"data", headers=headers), 415)
    assert_error(admin.patch(f"{V2}/images/{iid}", headers={"Content-Type": "application/json"}), 415)
    assert show(admin, iid)["status"] == "queued" and "k" not in show(admin, iid)


@pytest.mark.parametrize("ctype", ["text/plain", "text/html", None], ids=["text-plain", "text-html", "none"])
def test_create_reads_json_whatever_the_content_type(admin, ctype):
    """Glance's image create (like its member calls) reads the body as JSON without looking at
    the Content-Type; only PATCH and the upload name theirs."""
    name = uniq("ctype")
    r = admin.post(f"{V2}/images", content=json.dumps({"name": name}), headers={"Content-Type": ctype} if ctype else {})
    assert r.status_code == 201 and r.json()["name"] == name, r.text


@pytest.mark.parametrize("body", [b"{}", b'{"name": "bom"}'], ids=["empty-object", "named"])
def test_a_byte_order_mark_before_the_json_is_400(admin, image, body):
    """Glance decodes plain UTF-8 (oslo's jsonutils): "Malformed JSON in request body." (caas
    made an image without a name.)"""
    before = admin.get(f"{V2}/images", params={"limit": 1000}).json()["images"]
    r = admin.post(f"{V2}/images", content=b"\xef\xbb\xbf" + body, headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    ops = b"\xef\xbb\xbf" + json.dumps([{"op": "add", "path": "/k", "value": "v"}]).encode()
    assert_error(admin.patch(f"{V2}/images/{image['id']}", content=ops, headers=PATCH), 400)
    assert admin.get(f"{V2}/images", params={"limit": 1000}).json()["images"] == before


def test_upload_to_active_image_is_409(admin):
    img = create(admin)
    upload(admin, img["id"], b"first")
    assert_error(admin.put(f"{V2}/images/{img['id']}/file", content=b"second", headers=OCTET), 409)
    assert admin.get(f"{V2}/images/{img['id']}/file").content == b"first"


def test_oversized_json_is_413_but_uploads_are_not_limited(admin, image):
    big = {"name": "big", "prop": "x" * (2 * MIB)}
    assert_error(admin.post(f"{V2}/images", json=big), 413)

    def chunked():  # no Content-Length
        yield json.dumps(big).encode()
    assert_error(admin.post(f"{V2}/images", content=chunked(), headers={"Content-Type": "application/json"}), 413)
    ops = [{"op": "add", "path": "/k", "value": "x" * (2 * MIB)}]
    assert_error(admin.patch(f"{V2}/images/{image['id']}", json=ops, headers=PATCH), 413)
    img = create(admin)
    upload(admin, img["id"], b"x" * (3 * MIB))  # a file is not JSON: no 1 MiB limit
    assert show(admin, img["id"])["size"] == 3 * MIB


def test_numbers_in_plain_decimal_only(admin):
    """Every number read from a query, a header or a JSON pointer is plain ASCII decimal: "١٢"
    was a page of 12, "/tags/١" the second tag, and "²" in X-OpenStack-Image-Size (a header is
    Latin-1) was taken for a bad size only by luck."""
    img = create(admin, tags=["a", "b"])
    for text in NOT_NUMBERS:
        for params in ({"limit": text}, {"size_min": text}, {"size_max": text}):
            assert_error(admin.get(f"{V2}/images", params=params), 400)
        if text.strip() == text:  # a pointer's tokens are trimmed
            ops = [{"op": "replace", "path": f"/tags/{text}", "value": "c"}]
            assert_error(admin.patch(f"{V2}/images/{img['id']}", json=ops, headers=PATCH), 400)
    for size in ("²".encode("latin-1"), "¹".encode("latin-1"), b"+3", b"3_0", b"0x3", b"9" * 30):
        r = admin.put(f"{V2}/images/{img['id']}/file", content=b"abc", headers={**OCTET, "X-OpenStack-Image-Size": size})
        assert_error(r, 400)
    after = show(admin, img["id"])
    assert after["status"] == "queued" and after["tags"] == ["a", "b"]


def test_bad_json_patch_is_400(admin, image):
    for ops in ({"op": "add"}, [1], [{"op": "copy", "from": "/a", "path": "/b"}], [{"op": "add", "path": "/x/y",
                                                                                  "value": "v"}]):
        assert_error(admin.patch(f"{V2}/images/{image['id']}", json=ops, headers=PATCH), 400)


def test_member_visibility_and_policy(server, admin, member):
    c = member["client"]
    assert_error(c.post(f"{V2}/images", json={"name": uniq(), "visibility": "public"}), 403)
    private = create(admin, visibility="private")
    assert_error(c.get(f"{V2}/images/{private['id']}"), 404)
    protected = create(admin, protected=True)
    assert_error(admin.delete(f"{V2}/images/{protected['id']}"), 403)


def test_tokens(server):
    with client_for(server) as anon:
        r = anon.get(f"{V2}/images")
        assert_error(r, 401)
        assert r.headers["www-authenticate"].startswith("Keystone uri=")
        assert_error(anon.put(f"{V2}/images/{UNKNOWN}/file", content=b"x", headers=OCTET), 401)
    with client_for(server, "garbage") as bad:
        assert_error(bad.get(f"{V2}/images"), 401)
        assert_error(bad.post(f"{V2}/images", json={"name": "x"}), 401)


def test_methods_are_405_with_allow(admin, image):
    r = admin.post(f"{V2}/images/{image['id']}", json={})
    assert_error(r, 405)
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    assert_error(admin.delete(f"{V2}/images"), 405)
    assert_error(admin.post(f"{V2}/images/{image['id']}/file", content=b"x", headers=OCTET), 405)


def test_nul_in_path_and_query_is_400(admin):
    assert_error(admin.get(f"{V2}/images/a%00b"), 400)
    assert_error(admin.get(f"{V2}/images", params={"name": "a\u0000b"}), 400)
