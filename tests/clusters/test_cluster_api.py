"""The cluster REST API (/caas/v1) over HTTP on both backends, on the fake driver (the guest
checks are off there: ACTIVE servers are ready). Lifecycle, nodes by count and by range,
scale to zero and back, quota refusals that create nothing, project isolation, and bad input
in every shape: each refusal is a 4xx in the API's format, never a 5xx (the clients check)."""

from __future__ import annotations

import json

import pytest

from tests.clusters.common import A, API, body, create, delete, error, leftovers, member, set_quota, wait  # noqa: F401 - A, member: fixtures
from tests.conftest import NOT_NUMBERS, client_for, make_member


@pytest.fixture(scope="module")
def other(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        yield c


def names(view: dict) -> list[str]:
    return [n["name"] for n in view["nodes"] if n["role"] == "compute"]


def test_version_and_openapi(A):
    v = A.get(API).json()["version"]
    assert v["id"] == "v1" and v["status"] == "CURRENT" and any(link["rel"] == "self" for link in v["links"])
    doc = A.get(f"{API}/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/clusters/{ref}/nodes" in doc["paths"]
    profiles = {p["name"]: p for p in A.get(f"{API}/profiles").json()["profiles"]}
    assert profiles["base"]["compute_nodes"] and not profiles["none"]["compute_nodes"]


def test_catalog_names_the_cluster_service(server, A):
    token = A.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": A.headers["X-Auth-Token"]}).json()["token"]
    caas = [s for s in token["catalog"] if s["type"] == "caas"]
    assert caas and caas[0]["endpoints"][0]["url"].endswith("/caas/v1")


def test_lifecycle(A):
    v = create(A, "life", 3)
    assert v["status"] == "ACTIVE", v["status_reason"]
    assert names(v) == ["node001", "node002", "node003"] and v["node_count"] == 3 and v["nodes_ready"] == 3
    assert v["floating_ip"] and v["head_name"] == "life-head" and v["keypair_generated"]
    head = [n for n in v["nodes"] if n["role"] == "head"][0]
    assert head["fixed_ip"].endswith(".0.10") and head["status"] == "ACTIVE"
    servers = sorted(s["name"] for s in A.get("/compute/v2.1/servers").json()["servers"])
    assert servers == ["life-head", "life-node001", "life-node002", "life-node003"]
    listed = A.get(f"{API}/clusters").json()["clusters"]
    assert [c["name"] for c in listed] == ["life"]
    assert A.get(f"{API}/clusters", params={"name": "life"}).json()["clusters"][0]["id"] == v["id"]
    assert A.get(f"{API}/clusters", params={"status": "error"}).json()["clusters"] == []
    events = A.get(f"{API}/clusters/life/events").json()["events"]
    steps = [e["step"] for e in events if e["message"].startswith("done")]
    assert steps == ["network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "ready"]
    assert all(e["duration"] is not None and e["duration"] >= 0 for e in events if e["message"].startswith("done"))
    later = A.get(f"{API}/clusters/life/events", params={"since": events[-2]["seq"]}).json()["events"]
    assert [e["seq"] for e in later] == [events[-1]["seq"]]
    # the same cluster by id and by name
    assert A.get(f"{API}/clusters/{v['id']}").json()["cluster"]["name"] == "life"
    delete(A, "life")
    assert leftovers(A) == {}
    error(A.get(f"{API}/clusters/life"), 404)
    r = A.delete(f"{API}/clusters/life")  # deleting again: it is gone
    error(r, 404)


def test_generated_key_is_handed_over_once(A):
    r = A.post(f"{API}/clusters", json=body("keyed", 0))
    assert r.status_code == 202
    assert r.json()["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "private_key" not in A.get(f"{API}/clusters/keyed").text
    assert "PRIVATE KEY" not in A.get(f"{API}/clusters").text
    wait(A, "keyed")
    delete(A, "keyed")


def test_user_keypair(A, server):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    r = A.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "mine", "public_key": pub}})
    assert r.status_code in (200, 201), r.text
    r = A.post(f"{API}/clusters", json=body("withkey", 1, key_name="mine"))
    assert r.status_code == 202 and "private_key" not in r.json()
    v = wait(A, "withkey")
    assert v["status"] == "ACTIVE" and v["key_name"] == "mine" and not v["keypair_generated"]
    error(A.post(f"{API}/clusters", json=body("nokey", 1, key_name="absent")), 400)
    delete(A, "withkey")


def test_nodes_by_count_and_range_and_scale_to_zero(A):
    v = create(A, "grow", 2)
    r = A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"names": "node0[04-05]"}})
    assert r.status_code == 202 and r.json()["nodes"] == ["node004", "node005"]
    assert r.json()["cluster"]["status"] == "UPDATING"
    v = wait(A, "grow")
    assert v["status"] == "ACTIVE" and not v["status_reason"]
    assert names(v) == ["node001", "node002", "node004", "node005"]
    r = A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"count": 2}})  # the lowest free names
    assert r.json()["nodes"] == ["node003", "node006"]
    v = wait(A, "grow")
    r = A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"names": "node007..node008,node010"}})
    assert r.json()["nodes"] == ["node007", "node008", "node010"]
    v = wait(A, "grow")
    assert len(names(v)) == 9
    r = A.delete(f"{API}/clusters/grow/nodes/node002")
    assert r.status_code == 202 and r.json()["nodes"] == ["node002"]
    v = wait(A, "grow")
    assert "node002" not in names(v) and len(names(v)) == 8
    servers = {s["name"] for s in A.get("/compute/v2.1/servers").json()["servers"]}
    assert "grow-node002" not in servers and "grow-node001" in servers
    r = A.delete(f"{API}/clusters/grow/nodes/node0[05-08]")
    assert r.json()["nodes"] == ["node005", "node006", "node007", "node008"]
    v = wait(A, "grow")
    assert names(v) == ["node001", "node003", "node004", "node010"]
    # to zero and back
    A.delete(f"{API}/clusters/grow/nodes/node001,node003,node004,node010")
    v = wait(A, "grow")
    assert names(v) == [] and v["status"] == "ACTIVE"
    assert {s["name"] for s in A.get("/compute/v2.1/servers").json()["servers"]} == {"grow-head"}
    A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"count": 1}})
    v = wait(A, "grow")
    assert names(v) == ["node001"] and v["nodes_ready"] == 1
    delete(A, "grow")
    assert leftovers(A) == {}


def test_node_refusals(A):
    create(A, "nodes", 1)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"names": "node001"}}), 409)  # exists
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"names": "node1"}}), 409)  # same number
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"names": "gpu001"}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"names": "node[5-1]"}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"names": "node$(reboot)"}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"count": 0}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"count": 2, "names": "node002"}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"count": "2"}}), 400)
    error(A.post(f"{API}/clusters/nodes/nodes", json={"nodes": {"count": 1, "flavor": "nope"}}), 400)
    error(A.delete(f"{API}/clusters/nodes/nodes/node009"), 404)
    error(A.delete(f"{API}/clusters/nodes/nodes/;rm -rf"), 400)
    assert names(wait(A, "nodes")) == ["node001"]
    delete(A, "nodes")


def test_head_only_profile(A):
    v = create(A, "solo", 0, profile="none")
    assert v["status"] == "ACTIVE" and v["node_count"] == 0 and v["profile"] == "none"
    error(A.post(f"{API}/clusters/solo/nodes", json={"nodes": {"count": 1}}), 400)
    error(A.post(f"{API}/clusters", json=body("solo2", 2, profile="none")), 400)
    delete(A, "solo")


def test_image_by_os_distro_and_default(A, admin):
    r = admin.patch(f"/image/v2/images/{admin.get('/image/v2/images', params={'name': 'host'}).json()['images'][0]['id']}",
                    headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                    json=[{"op": "add", "path": "/os_distro", "value": "HostLinux"}])
    assert r.status_code in (200, 409), r.text  # 409: an earlier run of the module set it
    r = A.post(f"{API}/clusters", json={"cluster": {"name": "distro", "image": "hostlinux", "node_flavor": "m1.nano"},
                                        "dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["image"] == "host"
    r = A.post(f"{API}/clusters", json={"cluster": {"name": "distro", "node_flavor": "m1.nano"}, "dry_run": True})
    assert r.json()["plan"]["image"] == "host"  # no image: CAAS_CLUSTER_IMAGE (host)
    error(A.post(f"{API}/clusters", json=body("distro", image="centos7u1")), 400)


def test_dry_run_plans_and_creates_nothing(A):
    r = A.post(f"{API}/clusters", json={**body("plan", 3), "dry_run": True})
    assert r.status_code == 200
    plan = r.json()["plan"]
    kinds = [x["kind"] for x in plan["resources"]]
    assert kinds.count("server") == 4 and kinds.count("port") == 4 and "floating_ip" in kinds and "router" in kinds
    assert plan["nodes"] == ["node001", "node002", "node003"] and plan["shortfalls"] == []
    quota = {q["resource"]: q for q in plan["quota"]}
    assert quota["instances"]["needed"] == 4 and quota["ram"]["needed"] == 4 * 128
    assert A.get(f"{API}/clusters").json()["clusters"] == [] and leftovers(A) == {}


def test_flavors_by_id_and_by_name_alike(A, admin):
    """A flavor is found by its id or by its name, among those the caller lists: a private
    flavor of another project is no flavor to the caller, whether named or given by id."""
    nano = next(f for f in A.get("/compute/v2.1/flavors").json()["flavors"] if f["name"] == "m1.nano")
    plans = [A.post(f"{API}/clusters", json={**body("plan", 2, node_flavor=ref), "dry_run": True}) for ref in
             (nano["id"], "m1.nano")]
    assert [r.status_code for r in plans] == [200, 200]
    assert plans[0].json()["plan"]["quota"] == plans[1].json()["plan"]["quota"]
    private = admin.post("/compute/v2.1/flavors", json={"flavor": {
        "name": "hidden.one", "ram": 64, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": False}}).json()["flavor"]
    try:
        for ref in (private["id"], "hidden.one"):
            e = error(A.post(f"{API}/clusters", json={**body("plan", 1, node_flavor=ref), "dry_run": True}), 400)
            choices = e["message"].split("--flavor NAME:")[1]
            assert "m1.nano" in choices and "hidden.one" not in choices, e
    finally:
        admin.delete(f"/compute/v2.1/flavors/{private['id']}")


def test_quota_one_instance_short_creates_nothing(server, admin):
    m = make_member(server, admin)
    set_quota(admin, m["project_id"], instances=3, cores=2)
    with client_for(server, m["token"]) as c:
        e = error(c.post(f"{API}/clusters", json=body("big", 3)), 403)
        short = {s["resource"]: s for s in e["shortfalls"]}
        assert short["instances"]["needed"] == 4 and short["instances"]["available"] == 3
        assert short["cores"]["needed"] == 4 and short["cores"]["available"] == 2
        assert "instances" in e["message"] and "cores" in e["message"]
        assert c.get(f"{API}/clusters").json()["clusters"] == [] and leftovers(c) == {}
        r = c.post(f"{API}/clusters", json={**body("big", 3), "dry_run": True})
        assert r.status_code == 200 and len(r.json()["plan"]["shortfalls"]) == 2
        # a cluster that fits, then nodes that do not
        v = create(c, "fits", 1)
        e = error(c.post(f"{API}/clusters/fits/nodes", json={"nodes": {"count": 2}}), 403)
        assert e["shortfalls"][0]["resource"] == "instances"
        assert names(wait(c, "fits")) == ["node001"]
        delete(c, "fits")
        assert v["status"] == "ACTIVE"


def test_capacity_of_the_cloud(A):
    # m1.xlarge (16 GB) x 1000 is more RAM than the fake host has: the capacity line says so
    r = A.post(f"{API}/clusters", json={**body("huge", 1000, node_flavor="m1.xlarge"), "dry_run": True})
    assert r.status_code == 200
    assert any(s["resource"] == "capacity:ram" for s in r.json()["plan"]["shortfalls"])


def test_names_are_unique_and_reusable(A):
    create(A, "twin", 0)
    e = error(A.post(f"{API}/clusters", json=body("twin", 0)), 409)
    assert "already exists" in e["message"]
    r = A.delete(f"{API}/clusters/twin")
    assert r.status_code == 202
    assert A.delete(f"{API}/clusters/twin").status_code in (202, 404)  # repeating is harmless
    wait(A, "twin")
    v = create(A, "twin", 0)  # at once
    assert v["status"] == "ACTIVE"
    delete(A, "twin")


def test_delete_while_creating(A):
    r = A.post(f"{API}/clusters", json=body("hasty", 4))
    assert r.status_code == 202
    assert A.delete(f"{API}/clusters/hasty").status_code == 202
    assert wait(A, "hasty") is None
    assert leftovers(A) == {}


def test_projects_are_isolated(A, other, admin):
    v = create(A, "mine", 0)
    error(other.get(f"{API}/clusters/mine"), 404)
    error(other.get(f"{API}/clusters/{v['id']}"), 404)
    error(other.delete(f"{API}/clusters/{v['id']}"), 404)
    error(other.get(f"{API}/clusters/{v['id']}/events"), 404)
    error(other.post(f"{API}/clusters/{v['id']}/nodes", json={"nodes": {"count": 1}}), 404)
    error(other.delete(f"{API}/clusters/{v['id']}/nodes/node001"), 404)
    assert other.get(f"{API}/clusters").json()["clusters"] == []
    error(other.get(f"{API}/clusters", params={"all_projects": "true"}), 403)
    everyone = admin.get(f"{API}/clusters", params={"all_projects": "true"}).json()["clusters"]
    assert v["id"] in [c["id"] for c in everyone]
    assert admin.get(f"{API}/clusters/{v['id']}").json()["cluster"]["name"] == "mine"  # admins by id
    assert wait(A, "mine")["status"] == "ACTIVE"
    # the same name in another project is another cluster
    w = create(other, "mine", 0)
    assert w["id"] != v["id"]
    delete(other, "mine")
    delete(A, "mine")


def test_unauthenticated(server):
    with client_for(server) as c:
        error(c.get(f"{API}/clusters"), 401)
        error(c.post(f"{API}/clusters", json=body("x")), 401)
    with client_for(server, "not-a-token") as c:
        error(c.get(f"{API}/clusters"), 401)


@pytest.mark.parametrize("cluster", [
    {}, {"name": 5}, {"name": ""}, {"name": "Upper"}, {"name": "a" * 41}, {"name": "-x"}, {"name": "x_y"},
    {"name": "x;rm -rf /"}, {"name": "$(id)"}, {"name": "a b"}, {"name": "ok", "node_count": "3"},
    {"name": "ok", "node_count": -1}, {"name": "ok", "node_count": 1001}, {"name": "ok", "node_count": 2.5},
    {"name": "ok", "node_count": True}, {"name": "ok", "profile": "gpu"}, {"name": "ok", "profile": 1},
    {"name": "ok", "profile_version": "9"}, {"name": "ok", "node_flavor": "nope"}, {"name": "ok", "head_flavor": 3},
    {"name": "ok", "image": "no-such-image"}, {"name": "ok", "image": ""}, {"name": "ok", "keep_on_failure": "yes"},
    {"name": "ok", "unknown": 1}, {"name": "ok", "key_name": "x" * 300},
    {"name": "ok", "ready": "ping"}, {"name": "ok", "ready": None}, {"name": "ok", "ready": ["servers"]},
], ids=lambda c: repr(c)[:40])
def test_create_refusals(A, cluster):
    cluster = {"node_flavor": "m1.nano", **cluster} if "node_flavor" not in cluster else cluster
    error(A.post(f"{API}/clusters", json={"cluster": cluster}), 400)
    assert A.get(f"{API}/clusters").json()["clusters"] == []


def test_body_shapes(A):
    error(A.post(f"{API}/clusters", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    error(A.post(f"{API}/clusters", content=b"", headers={"Content-Type": "application/json"}), 400)
    error(A.post(f"{API}/clusters", json=[1, 2]), 400)
    error(A.post(f"{API}/clusters", json={"cluster": "demo"}), 400)
    error(A.post(f"{API}/clusters", json={**body("ok"), "dry_run": "yes"}), 400)
    error(A.post(f"{API}/clusters", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}),
          413)
    error(A.post(f"{API}/clusters", content=b'{"cluster": {"name": "a\\u0000b"}}',
                 headers={"Content-Type": "application/json"}), 400)
    error(A.post(f"{API}/clusters", content=b"<x/>", headers={"Content-Type": "application/xml"}), 415)
    error(A.get(f"{API}/clusters/nope"), 404)
    error(A.get(f"{API}/clusters/nope/events"), 404)
    error(A.get(f"{API}/clusters/nope/nodes"), 404)
    error(A.get(f"{API}/nothing-here"), 404)
    error(A.put(f"{API}/clusters", json={}), 405)
    error(A.get(f"{API}/clusters", params={"all_projects": "maybe"}), 400)
    assert A.get(f"{API}/clusters").json()["clusters"] == []


def test_json_only_as_json(A):
    """/caas/v1 reads JSON media types (or a body with no Content-Type) only: text/plain was
    read as JSON and made a cluster. A UTF-8 byte order mark is no JSON either."""
    raw = json.dumps(body("typed")).encode()
    for ctype in ("text/plain", "text/html", "application/x-www-form-urlencoded"):
        error(A.post(f"{API}/clusters", content=raw, headers={"Content-Type": ctype}), 415)
    error(A.post(f"{API}/clusters", content=b"\xef\xbb\xbf" + raw, headers={"Content-Type": "application/json"}), 400)
    assert A.get(f"{API}/clusters").json()["clusters"] == []


def test_events_since_is_a_plain_number(A):
    """``since`` was read with str.isdigit() then int(): "²" was a 500 and "١٢" was 12."""
    create(A, "since", 0)
    for text in NOT_NUMBERS + ["-1"]:
        error(A.get(f"{API}/clusters/since/events", params={"since": text}), 400)
        error(A.get(f"{API}/clusters/nope/events", params={"since": text}), 400)
    assert A.get(f"{API}/clusters/since/events", params={"since": "0"}).json()["events"]
    delete(A, "since")


def test_each_cluster_has_its_own_network(A):
    one, two = create(A, "net-one", 1), create(A, "net-two", 1)
    assert one["cidr"] != two["cidr"] and one["cidr"].endswith("/22") and two["cidr"].endswith("/22")
    subnets = {s["name"]: s for s in A.get("/network/v2.0/subnets").json()["subnets"]}
    assert subnets["net-one-subnet"]["cidr"] == one["cidr"] and subnets["net-two-subnet"]["cidr"] == two["cidr"]
    import ipaddress
    for v in (one, two):
        for n in v["nodes"]:
            assert ipaddress.ip_address(n["fixed_ip"]) in ipaddress.ip_network(v["cidr"])
    delete(A, "net-one")
    three = create(A, "net-three", 0)  # the freed network is the lowest free one again
    assert three["cidr"] == one["cidr"]
    delete(A, "net-two")
    delete(A, "net-three")
