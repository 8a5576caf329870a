"""Block Storage v3 on bad input, over both backends: every refusal has the right status and
Cinder's fault format ``{"badRequest": {"code": 400, "message": ...}}``; strict types; foreign
ids look exactly like unknown ones; oversized bodies, malformed JSON and odd paths are refused
cleanly. No request may give a 5xx (the clients and the server fixture check)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import NOT_NUMBERS, client_for, make_member
from tests.volume import V3, action, available, delete, fault, wait_status

pytestmark = pytest.mark.inprocess  # bad input: the app in process, no caas up


@pytest.fixture(scope="module")
def vol(A):
    v = available(A)
    yield v
    delete(A, v["id"])


def post_volume(c, body) -> "object":
    return c.post(f"{V3}/volumes", json=body)


@pytest.mark.parametrize("volume", [
    {"size": "1"}, {"size": 1.5}, {"size": True}, {"size": None}, {}, {"size": 0}, {"size": -1},
    {"size": 2 ** 31}, {"size": 10 ** 30}, {"size": [1]},
    {"size": 1, "name": 5}, {"size": 1, "name": "x" * 256}, {"size": 1, "description": ["d"]},
    {"size": 1, "description": "d" * 256},
    {"size": 1, "metadata": ["a"]}, {"size": 1, "metadata": {"k": 1}}, {"size": 1, "metadata": {"k": None}},
    {"size": 1, "metadata": {"bad key!": "v"}}, {"size": 1, "metadata": {"": "v"}},
    {"size": 1, "metadata": {"k": "v" * 256}},
    {"size": 1, "availability_zone": "elsewhere"}, {"size": 1, "availability_zone": ""},
    {"size": 1, "availability_zone": 3},
    {"size": 1, "multiattach": True}, {"size": 1, "multiattach": "yes"},
    {"size": 1, "imageRef": str(uuid.uuid4())}, {"size": 1, "snapshot_id": str(uuid.uuid4())},
    {"size": 1, "source_volid": "not-a-uuid"}, {"size": 1, "backup_id": str(uuid.uuid4())},
    {"size": 1, "consistencygroup_id": str(uuid.uuid4())}, {"size": 1, "volume_type": 7},
])
def test_create_refusals(A, volume):
    fault(post_volume(A, {"volume": volume}), 400)


def test_create_body_shapes(A):
    fault(post_volume(A, []), 400)
    fault(post_volume(A, "volume"), 400)
    fault(post_volume(A, {"volume": "x"}), 400)
    fault(post_volume(A, {"volumes": {"size": 1}}), 400)
    fault(post_volume(A, {"volume": {"size": 1}, "extra": 1}), 400)  # the top level is closed
    fault(A.post(f"{V3}/volumes"), 400)
    fault(A.post(f"{V3}/volumes", content=b'{"volume": {"size": 1', headers={"Content-Type": "application/json"}), 400)
    fault(A.post(f"{V3}/volumes", content=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400)
    fault(A.post(f"{V3}/volumes", content=b"size=1", headers={"Content-Type": "application/x-www-form-urlencoded"}),
          415)
    fault(post_volume(A, {"volume": {"size": 1, "name": "nul\u0000"}}), 400)


def test_content_types_as_cinder(A, vol):
    """Cinder reads only its two JSON types: any other is 415 ("Unsupported Content-Type"), and
    a body sent without a Content-Type is not read at all (so a create misses its volume: 400).
    A UTF-8 byte order mark is malformed JSON (oslo's jsonutils decodes plain UTF-8). Nothing is
    made by any of these."""
    before = {v["id"] for v in A.get(f"{V3}/volumes").json()["volumes"]}
    raw = json.dumps({"volume": {"size": 1, "name": "ctype"}}).encode()
    for ctype in ("text/plain", "text/html", "application/vnd.other+json"):
        fault(A.post(f"{V3}/volumes", content=raw, headers={"Content-Type": ctype}), 415)
        fault(A.post(f"{V3}/volumes/{vol['id']}/action", content=json.dumps({"os-extend": {"new_size": 2}}),
                     headers={"Content-Type": ctype}), 415)
    fault(A.post(f"{V3}/volumes", content=raw), 400)
    fault(A.post(f"{V3}/volumes", content=b"\xef\xbb\xbf" + raw, headers={"Content-Type": "application/json"}), 400)
    assert {v["id"] for v in A.get(f"{V3}/volumes").json()["volumes"]} == before
    assert A.get(f"{V3}/volumes/{vol['id']}").json()["volume"]["size"] == vol["size"]
    r = A.post(f"{V3}/volumes", content=raw, headers={"Content-Type": "application/vnd.openstack.volume+json"})
    assert r.status_code == 202, r.text
    wait_status(A, r.json()["volume"]["id"], "available")  # a volume still creating may not be deleted
    delete(A, r.json()["volume"]["id"])


def test_unknown_volume_attributes_are_ignored_as_cinder_3_0_does(A):
    r = post_volume(A, {"volume": {"size": 1, "future_field": {"x": 1}, "OS-SCH-HNT:scheduler_hints": None},
                        "OS-SCH-HNT:scheduler_hints": {"same_host": []}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    wait_status(A, vid, "available")
    delete(A, vid)


def test_absurd_but_valid_sizes_fail_cleanly(A):
    """2**31-1 GiB passes the schema and an unlimited quota; the file system then decides: the
    volume ends in 'error' (or, where sparse files may be that big, 'available'), never a 5xx."""
    vol = A.post(f"{V3}/volumes", json={"volume": {"size": 2 ** 31 - 1}}).json()["volume"]
    vol = wait_status(A, vol["id"], "error", "available")
    assert vol["size"] == 2 ** 31 - 1
    small = available(A)
    r = action(A, small["id"], {"os-extend": {"new_size": 2 ** 31 - 1}})
    assert r.status_code == 202
    assert wait_status(A, small["id"], "error_extending", "available")["status"] in ("error_extending", "available")
    for v in (vol, small):
        delete(A, v["id"])


def test_unknown_volume_type_is_404(A):
    assert fault(post_volume(A, {"volume": {"size": 1, "volume_type": "gold"}}), 404) == \
        "Volume type with name gold could not be found."
    other = str(uuid.uuid4())
    assert fault(post_volume(A, {"volume": {"size": 1, "volume_type": other}}), 404) == \
        f"Volume type {other} could not be found."
    fault(A.get(f"{V3}/types/{other}"), 404)


def test_oversized_bodies(server, A, vol):
    big = {"volume": {"size": 1, "metadata": {f"k{i}": "v" * 200 for i in range(6000)}}}
    fault(post_volume(A, big), 413)
    fault(A.put(f"{V3}/volumes/{vol['id']}", json=big), 413)

    def chunks():
        yield b'{"volume": {"size": 1, "name": "'
        for _ in range(2048):
            yield b"x" * 1024
        yield b'"}}'

    # Without a Content-Length (chunked), the limit holds too.
    fault(A.post(f"{V3}/volumes", content=chunks(), headers={"Content-Type": "application/json"}), 413)


def test_update_refusals(A, vol):
    url = f"{V3}/volumes/{vol['id']}"
    for body in ({"volume": {"size": 2}}, {"volume": {"name": 1}}, {"volume": {"metadata": None}},
                 {"volume": {"metadata": {"k": 2}}}, {"volume": {"status": "error"}}, {"volume": None}, {"vol": {}},
                 {"volume": {"name": "x" * 300}}, [], {"volume": {}, "x": 1}):
        fault(A.put(url, json=body), 400)
    fault(A.put(url), 400)


@pytest.mark.parametrize("body", [
    {"os-extend": {"new_size": "2"}}, {"os-extend": {"new_size": 0}}, {"os-extend": {}}, {"os-extend": None},
    {"os-extend": {"new_size": 2, "x": 1}}, {"os-extend": {"new_size": 1}}, {"os-extend": {"new_size": 2 ** 31}},
    {"os-bogus": {}}, {}, {"os-extend": {"new_size": 2}, "os-reset_status": {"status": "error"}},
    {"os-set_bootable": {"bootable": "yes"}}, {"os-set_bootable": {}}, [], "os-extend",
])
def test_action_refusals(A, vol, body):
    fault(action(A, vol["id"], body), 400)


def test_admin_action_refusals(admin, vol):
    for body in ({"os-reset_status": {"status": 1}}, {"os-reset_status": {"attach_status": "glued"}},
                 {"os-reset_status": {"migration_status": "moving"}}, {"os-reset_status": {"x": "y"}},
                 {"os-reset_status": "error"}):
        fault(action(admin, vol["id"], body), 400)


def test_metadata_refusals(A, vol):
    base = f"{V3}/volumes/{vol['id']}/metadata"
    for body in ({}, {"metadata": None}, {"metadata": ["a"]}, {"metadata": {"k": 1}}, {"metadata": {"bad\tkey": "v"}},
                 {"meta": {"k": "v"}}, {"metadata": {"k": "v"}, "x": 1}):
        fault(A.post(base, json=body), 400)
        fault(A.put(base, json=body), 400)
    for body in ({"meta": {}}, {"meta": {"k": 1}}, {"metadata": {"k": "v"}}, {"meta": None}):
        fault(A.put(f"{base}/k", json=body), 400)


def test_unknown_and_foreign_ids_look_alike(server, admin, A, vol):
    other = make_member(server, admin)
    with client_for(server, other["token"]) as B:
        for target in (vol["id"], str(uuid.uuid4()), "not-a-uuid", "x" * 300, "%2e%2e"):
            for r in (B.get(f"{V3}/volumes/{target}"), B.delete(f"{V3}/volumes/{target}"),
                      B.put(f"{V3}/volumes/{target}", json={"volume": {"name": "n"}}),
                      action(B, target, {"os-extend": {"new_size": 9}}),
                      B.get(f"{V3}/volumes/{target}/metadata/k")):
                fault(r, 404)


def test_paths_methods_and_tokens(server, A, member_a, vol):
    fault(A.get(f"{V3}/nothing-here"), 404)
    fault(A.get("/volume/v2/volumes"), 404)
    r = A.patch(f"{V3}/volumes/{vol['id']}", json={})
    fault(r, 405)
    assert "GET" in r.headers["Allow"]
    fault(A.post(f"{V3}/volumes/detail", json={}), 405)
    fault(A.delete(f"{V3}/volumes"), 405)
    with client_for(server) as anonymous:
        fault(anonymous.get(f"{V3}/volumes"), 401)
    with client_for(server, "garbage-token") as bad:
        fault(bad.get(f"{V3}/volumes"), 401)
        fault(bad.get(f"{V3}/{member_a['project_id']}/volumes"), 401)
    fault(A.get(f"{V3}/{uuid.uuid4().hex}/limits"), 400)
    fault(A.get(f"{V3}/volumes", params={"name": "a\u0000b"}), 400)


@pytest.mark.parametrize("params", [
    {"limit": "x"}, {"limit": "-1"}, {"limit": "1.5"}, {"limit": "\u0663"}, {"offset": "x"},
    {"offset": "-1"}, {"offset": "\u0663"}, {"offset": str(2**31)}, {"sort": "id:sideways"},
    {"sort": "nonsense"}, {"sort_key": "description"}, {"sort_dir": "up"}, {"sort": "id", "sort_key": "id"},
    *({key: text} for key in ("limit", "offset") for text in NOT_NUMBERS),
])
def test_list_refusals(A, params):
    fault(A.get(f"{V3}/volumes/detail", params=params), 400)


def test_odd_list_filters_match_nothing_rather_than_fail(A, vol):
    for params in ({"size": "abc"}, {"size": "['x']"}, {"metadata": "not-a-dict"}, {"metadata": "{'k': [1]}"},
                   {"size": "9" * 40}, {"status": "{'a': 1}"}, {"metadata": "{" * 200}):
        r = A.get(f"{V3}/volumes/detail", params=params)
        assert r.status_code == 200 and r.json()["volumes"] == [], (params, r.text)
    # The largest page asked for is cut to the maximum, as Cinder does (a larger number is refused).
    assert vol["id"] in {v["id"] for v in A.get(f"{V3}/volumes", params={"limit": str(2**63 - 1)}).json()["volumes"]}
    for size in ("[1, 2]", "[1, 'x']", "(1,)"):
        got = A.get(f"{V3}/volumes/detail", params={"size": size}).json()["volumes"]
        assert vol["id"] in {v["id"] for v in got}, size


def test_quota_refusals(admin, A, member_a):
    url = f"{V3}/os-quota-sets/{member_a['project_id']}"
    for body in ({"quota_set": {"volumes": "5"}}, {"quota_set": {"volumes": 1.5}}, {"quota_set": {"volumes": True}},
                 {"quota_set": {"volumes": -2}}, {"quota_set": {"volumes": 2 ** 31}}, {"quota_set": {"bogus": 1}},
                 {"quota_set": {}}, {"quota_set": None}, {"quota": {"volumes": 1}},
                 {"quota_set": {"volumes": 1}, "x": 1}, [], None):
        r = admin.put(url, json=body) if body is not None else admin.put(url)
        fault(r, 400)
    assert "Bad key(s) in quota set: bogus" in fault(admin.put(url, json={"quota_set": {"bogus": 1}}), 400)
    fault(A.get(url, params={"usage": "perhaps"}), 400)
    fault(A.put(url, content=json.dumps({"quota_set": {"volumes": 1}}), headers={"Content-Type": "text/xml"}), 415)
