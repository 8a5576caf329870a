"""Shared File Systems v2 on bad input: every refusal has the right status and Manila's fault
format; malformed JSON, wrong types, missing fields, oversized bodies, unknown ids and other
projects' ids; names with shell metacharacters are kept verbatim and never reach a path. No
request may give a 5xx (the clients and the server fixture check)."""

from __future__ import annotations

import uuid

import pytest

from tests.share import LATEST, V2, action, allow, available, delete, fault, show

pytestmark = pytest.mark.inprocess


@pytest.fixture(scope="module")
def sh(A):
    s = available(A)
    yield s
    delete(A, s["id"])


@pytest.mark.parametrize("share,status", [
    ({"size": 1}, 400), ({"size": 1, "share_proto": "CIFS"}, 400), ({"size": 1, "share_proto": "CEPHFS"}, 400),
    ({"size": 1, "share_proto": 7}, 400), ({"size": 1, "share_proto": None}, 400),
    ({"share_proto": "NFS"}, 400), ({"size": 0, "share_proto": "NFS"}, 400), ({"size": -1, "share_proto": "NFS"}, 400),
    ({"size": 1.5, "share_proto": "NFS"}, 400), ({"size": True, "share_proto": "NFS"}, 400),
    ({"size": "one", "share_proto": "NFS"}, 400), ({"size": [1], "share_proto": "NFS"}, 400),
    ({"size": 2 ** 31, "share_proto": "NFS"}, 400), ({"size": 10 ** 30, "share_proto": "NFS"}, 400),
    ({"size": None, "share_proto": "NFS"}, 400),
    ({"size": 1, "share_proto": "NFS", "name": 5}, 400), ({"size": 1, "share_proto": "NFS", "name": "x" * 256}, 400),
    ({"size": 1, "share_proto": "NFS", "description": ["d"]}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": ["a"]}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": {"k": 1}}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": {"": "v"}}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": {"k": ""}}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": {"k" * 256: "v"}}, 400),
    ({"size": 1, "share_proto": "NFS", "metadata": {"k": "v" * 1024}}, 400),
    ({"size": 1, "share_proto": "NFS", "is_public": True}, 400),
    ({"size": 1, "share_proto": "NFS", "is_public": "maybe"}, 400),
    ({"size": 1, "share_proto": "NFS", "availability_zone": "elsewhere"}, 400),
    ({"size": 1, "share_proto": "NFS", "availability_zone": 3}, 400),
    ({"size": 1, "share_proto": "NFS", "snapshot_id": str(uuid.uuid4())}, 400),
    ({"size": 1, "share_proto": "NFS", "share_network_id": str(uuid.uuid4())}, 400),
    ({"size": 1, "share_proto": "NFS", "share_type": 3}, 400),
    ({"size": 1, "share_proto": "NFS", "share_type": "gold"}, 404),
])
def test_create_refusals(A, share, status):
    before = A.get(f"{V2}/shares").json()["shares"]
    fault(A.post(f"{V2}/shares", json={"share": share}), status)
    assert A.get(f"{V2}/shares").json()["shares"] == before


def test_create_body_shapes(A):
    for body in ([], "share", {"share": "x"}, {"shares": {"size": 1, "share_proto": "NFS"}}, {"share": None}):
        fault(A.post(f"{V2}/shares", json=body), 422)
    fault(A.post(f"{V2}/shares"), 422)
    fault(A.post(f"{V2}/shares", content=b'{"share": {"size": 1', headers={"Content-Type": "application/json"}), 400)
    fault(A.post(f"{V2}/shares", content=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400)
    fault(A.post(f"{V2}/shares", content=b"size=1", headers={"Content-Type": "application/x-www-form-urlencoded"}),
          415)
    fault(A.post(f"{V2}/shares", json={"share": {"size": 1, "share_proto": "NFS", "name": "nul\u0000"}}), 400)
    big = {"share": {"size": 1, "share_proto": "NFS", "description": "x" * (2 * 1024 * 1024)}}
    fault(A.post(f"{V2}/shares", json=big), 413)
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    fault(A.post(f"{V2}/shares", json={"share": {"size": 1, "share_proto": "NFS", "metadata": deep}}), 400)


def test_metacharacter_names_are_kept_verbatim(server, A):
    for name in ("a; rm -rf /", "$(reboot)", "`id`", "../../../../etc/passwd", "x\ny", "&& | > < *", "-rf", "~root"):
        s = available(A, name=name, description=name)
        assert show(A, s["id"])["name"] == name
        assert [x["id"] for x in A.get(f"{V2}/shares", params={"name": name}).json()["shares"]] == [s["id"]]
        root = server.cloud.settings.share_dir
        assert (root / s["id"]).is_dir() and all(len(p.name) == 36 for p in root.iterdir())
        delete(A, s["id"])


@pytest.mark.parametrize("path", [
    "/shares/{x}", "/shares/{x}/metadata", "/shares/{x}/metadata/k", "/shares/{x}/export_locations",
    "/share-access-rules/{x}",
])
@pytest.mark.parametrize("x", ["nope", "0b5e4a8c-9d17-4c36-a8f2-63cc4e0c1f7a", "x" * 300, "%00", "a%2Fb", "..%2F..%2Fetc"])
def test_unknown_ids_are_404(A, path, x):
    r = A.get(V2 + path.format(x=x), headers=LATEST)
    fault(r, 404 if x != "%00" else 400)


def test_unknown_ids_on_writes(A, sh):
    x = str(uuid.uuid4())
    fault(A.put(f"{V2}/shares/{x}", json={"share": {"name": "n"}}), 404)
    fault(A.delete(f"{V2}/shares/{x}"), 404)
    fault(action(A, x, {"allow_access": {"access_type": "ip", "access_to": "10.0.0.1"}}), 404)
    fault(action(A, sh["id"], {"deny_access": {"access_id": x}}), 404)
    fault(A.get(f"{V2}/shares/{sh['id']}/export_locations/{x}", headers=LATEST), 404)
    fault(A.get(f"{V2}/share-access-rules", params={"share_id": x}, headers=LATEST), 400)


@pytest.mark.parametrize("args,status", [
    ({"access_type": "user", "access_to": "alice"}, 400), ({"access_type": "cert", "access_to": "cn"}, 400),
    ({"access_type": "cephx", "access_to": "alice"}, 400), ({"access_type": "ip"}, 400), ({"access_to": "1.2.3.4"}, 400),
    ({"access_type": "ip", "access_to": "10.0.0.1/24"}, 400),  # host bits set
    ({"access_type": "ip", "access_to": "10.0.0.0/33"}, 400), ({"access_type": "ip", "access_to": "999.1.1.1"}, 400),
    ({"access_type": "ip", "access_to": "10.0.0.1; rm -rf /"}, 400), ({"access_type": "ip", "access_to": ""}, 400),
    ({"access_type": "ip", "access_to": 167772161}, 400), ({"access_type": "ip", "access_to": ["10.0.0.1"]}, 400),
    ({"access_type": "ip", "access_to": "10.0.0.1", "access_level": "rx"}, 400),
    ({"access_type": "ip", "access_to": "10.0.0.1", "access_level": 1}, 400),
    ({"access_type": 5, "access_to": "10.0.0.1"}, 400),
])
def test_allow_access_refusals(A, sh, args, status):
    fault(action(A, sh["id"], {"allow_access": args}), status)
    rules = A.get(f"{V2}/share-access-rules", params={"share_id": sh["id"]}, headers=LATEST).json()["access_list"]
    assert rules == []


def test_action_shapes(A, sh):
    for body in ({}, [], "allow_access", {"allow_access": None, "deny_access": None}):
        fault(action(A, sh["id"], body), 400)
    fault(action(A, sh["id"], {"allow_access": "10.0.0.1"}), 400)
    fault(action(A, sh["id"], {"deny_access": {}}), 400)
    fault(action(A, sh["id"], {"deny_access": {"access_id": 5}}), 400)
    fault(action(A, sh["id"], {"extend": {"new_size": 2}}), 400)  # not served here
    fault(action(A, sh["id"], {"no-such-action": {}}), 400)
    fault(A.post(f"{V2}/shares/{sh['id']}/action", content=b"{", headers={"Content-Type": "application/json"}), 400)
    fault(A.get(f"{V2}/share-access-rules", headers=LATEST), 400)  # share_id is required


def test_update_and_metadata_refusals(A, sh):
    base = f"{V2}/shares/{sh['id']}"
    for body in ({"share": {"name": 5}}, {"share": {"display_description": "x" * 256}},
                 {"share": {"is_public": True}}):
        fault(A.put(base, json=body), 400)
    for body in ([], {"shares": {}}, {"share": "x"}):
        fault(A.put(base, json=body), 422)
    for body in ({}, {"metadata": []}, {"metadata": {"k": 1}}, {"metadata": {"": "v"}}, {"meta": {"k": "v"}}):
        fault(A.post(f"{base}/metadata", json=body), 400)
        fault(A.put(f"{base}/metadata", json=body), 400)
    fault(A.put(f"{base}/metadata/k", json={"meta": {"k": "v", "j": "w"}}), 400)
    fault(A.put(f"{base}/metadata/k", json={"meta": "v"}), 400)
    assert show(A, sh["id"])["metadata"] == {}


def test_list_query_refusals(A):
    for params in ({"limit": "x"}, {"limit": "-1"}, {"offset": "x"}, {"offset": "-1"}, {"sort_key": "evil"},
                   {"sort_dir": "up"}, {"all_tenants": "maybe"}):
        fault(A.get(f"{V2}/shares", params=params), 400)
    assert A.get(f"{V2}/shares", params={"name": "'; DROP TABLE share; --"}).json()["shares"] == []
    assert A.get(f"{V2}/shares", params={"unknown": "1"}).status_code == 200


def test_other_projects_rules_and_ids(A, B, sh):
    rule = allow(A, sh["id"], "10.20.0.0/16")
    mine = available(B)
    fault(action(B, sh["id"], {"deny_access": {"access_id": rule["id"]}}), 404)
    fault(action(A, mine["id"], {"deny_access": {"access_id": rule["id"]}}), 404)  # A's rule, B's share
    fault(action(B, mine["id"], {"deny_access": {"access_id": rule["id"]}}), 404)  # a rule of another share
    fault(B.get(f"{V2}/share-access-rules/{rule['id']}", headers=LATEST), 404)
    fault(A.delete(f"{V2}/shares/{mine['id']}"), 404)
    assert action(A, sh["id"], {"deny_access": {"access_id": rule["id"]}}).status_code == 202
    delete(B, mine["id"])


def test_wrong_methods_and_paths(A, sh):
    fault(A.patch(f"{V2}/shares/{sh['id']}", json={}), 405)
    fault(A.post(f"{V2}/shares/detail", json={}), 405)
    fault(A.delete(f"{V2}/shares"), 405)
    fault(A.get(f"{V2}/no-such-collection"), 404)
    fault(A.get(f"{V2}/shares", headers={"X-OpenStack-Manila-API-Version": "2.x"}), 400)
    fault(A.get(f"{V2}/shares", headers={"X-Auth-Token": "bogus"}), 401)
