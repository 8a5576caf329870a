"""Clusters on networks the cloud provides (``network``, ``external_network`` of a create;
``caas cluster create --network/--external-network``), on the fake driver: a member's cluster
on an admin's shared network makes no network, subnet or router, its nodes' ports get the
addresses Neutron chooses, and its delete, its rollback and its node add leave that network
as they found it; the external network chosen for the router and the floating IP; and every
refusal before anything exists (unknown, another project's, external given as the network and
the reverse, no subnet, not routed)."""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest

from tests.clusters.common import (A, API, NET, body, create, delete, error, made, member, network,  # noqa: F401
                                   project, routed, snapshot, wait)  # A, member: fixtures
from tests.conftest import client_for, make_member

# PostgreSQL too: the migration that made a cluster's cidr nullable, and many clusters without one
pytestmark = pytest.mark.backends("sqlite", "postgresql")

@pytest.fixture(scope="module")
def B(server, admin):
    with client_for(server, make_member(server, admin)["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def clouds(admin):
    """The admin's networks: ``public`` (the cloud's external network, first by name), a second
    external network ``zz-outside``, and ``provider``, shared, routed to ``zz-outside`` by an
    admin's router; ``lonely``, shared, routed nowhere."""
    public = admin.get(f"{NET}/networks", params={"router:external": "true", "name": "public"}).json()["networks"][0]
    outside = network(admin, "zz-outside", "198.51.100.0/24", **{"router:external": True})
    provider = network(admin, "provider", "192.168.50.0/24", shared=True)
    router = routed(admin, provider, outside["id"])
    lonely = network(admin, "lonely", "192.168.60.0/24", shared=True)
    return {"public": public, "outside": outside, "provider": provider, "router": router, "lonely": lonely}


def own(c: httpx.Client) -> dict:
    """What the caller's project holds in the cloud: servers, ports, floating IPs, routers,
    networks of its own, security groups but its default."""
    pid = project(c)
    out = {"servers": [s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]],
           "ports": [p["name"] for p in c.get(f"{NET}/ports", params={"project_id": pid}).json()["ports"]],
           "floatingips": [f["id"] for f in c.get(f"{NET}/floatingips").json()["floatingips"]],
           "routers": [r["name"] for r in c.get(f"{NET}/routers").json()["routers"]],
           "networks": [n["name"] for n in c.get(f"{NET}/networks", params={"project_id": pid}).json()["networks"]],
           "security_groups": [g["name"] for g in c.get(f"{NET}/security-groups").json()["security_groups"]
                               if g["name"] != "default"]}
    return {k: v for k, v in out.items() if v}


def plan(c: httpx.Client, name: str, n: int = 0, **kw) -> dict:
    r = c.post(f"{API}/clusters", json={**body(name, n, **kw), "dry_run": True})
    assert r.status_code == 200, r.text
    return r.json()["plan"]


def test_plan_on_a_shared_network(A, clouds):
    p = plan(A, "onshared", 2, network="provider", external_network="zz-outside")
    provider = clouds["provider"]
    assert p["network"] == {"id": provider["id"], "name": "provider", "subnet_id": provider["subnet"],
                            "cidr": "192.168.50.0/24", "given": True}
    assert p["cidr"] == "192.168.50.0/24"
    assert p["external_network"] == {"id": clouds["outside"]["id"], "name": "zz-outside"}
    assert "not visible" in p["routing"]  # the admin's router is not the member's to see
    kinds = [r["kind"] for r in p["resources"]]
    assert not {"network", "subnet", "router", "router_interface"} & set(kinds)
    assert kinds.count("port") == 3 and kinds.count("floating_ip") == 1
    assert all("fixed_ip" not in r for r in p["resources"])  # Neutron chooses them
    needed = {q["resource"] for q in p["quota"]}
    assert not {"network", "subnet", "router"} & needed and "floatingip" in needed
    # by id as well; the default plan still makes its own network, on the first external one
    assert plan(A, "byid", network=provider["id"])["network"]["id"] == provider["id"]
    default = plan(A, "ownnet")
    assert default["network"] is None and default["external_network"]["name"] == "public"
    assert [r["kind"] for r in default["resources"]][:4] == ["network", "subnet", "router", "router_interface"]


def test_cluster_on_a_shared_network_then_add_and_delete(A, admin, clouds):
    before = snapshot(admin)
    v = create(A, "shared", 2, network="provider", external_network="zz-outside")
    assert v["status"] == "ACTIVE", v["status_reason"]
    provider = clouds["provider"]
    assert v["network_given"] and v["network_id"] == provider["id"] and v["cidr"] == "192.168.50.0/24"
    assert v["external_network_id"] == clouds["outside"]["id"]
    assert ipaddress.ip_address(v["floating_ip"]) in ipaddress.ip_network("198.51.100.0/24")
    subnet = ipaddress.ip_network("192.168.50.0/24")
    assert all(ipaddress.ip_address(n["fixed_ip"]) in subnet for n in v["nodes"])
    ports = A.get(f"{NET}/ports", params={"project_id": project(A)}).json()["ports"]
    assert sorted(p["name"] for p in ports) == ["shared-head", "shared-node001", "shared-node002"]
    assert {p["network_id"] for p in ports} == {provider["id"]}
    assert {n["fixed_ip"] for n in v["nodes"]} == {p["fixed_ips"][0]["ip_address"] for p in ports}
    events = A.get(f"{API}/clusters/shared/events").json()["events"]
    said = {e["step"]: e["message"] for e in events if e["message"].startswith("done")}
    assert "given network" in said["network"] and "routing is used" in said["router"]
    assert snapshot(admin) == before  # nothing made on the admin's side
    # nodes added go on the same network
    r = A.post(f"{API}/clusters/shared/nodes", json={"nodes": {"count": 2}})
    assert r.status_code == 202, r.text
    v = wait(A, "shared")
    assert v["status"] == "ACTIVE" and v["node_count"] == 4, v["status_reason"]
    assert all(ipaddress.ip_address(n["fixed_ip"]) in subnet for n in v["nodes"])
    ports = A.get(f"{NET}/ports", params={"project_id": project(A)}).json()["ports"]
    assert len(ports) == 5 and {p["network_id"] for p in ports} == {provider["id"]}
    delete(A, "shared")
    assert own(A) == {} and snapshot(admin) == before


def test_a_refused_floating_ip_rolls_back_and_leaves_the_network(A, admin, clouds):
    """``lonely`` is routed nowhere, which the member cannot see (an admin's network): the
    floating IP's create is refused with Neutron's words, and the rollback leaves the network."""
    before = snapshot(admin)
    v = create(A, "alone", 1, network="lonely")
    assert v["status"] == "ERROR" and v["status_reason"].startswith("floating_ip: 404")
    assert "not reachable" in v["status_reason"] and "rolled back" in v["status_reason"]
    assert own(A) == {} and snapshot(admin) == before
    delete(A, "alone")


def test_ready_servers_goes_without_a_floating_ip(A, admin, clouds):
    """Two clusters of one project on the same network (neither has a network of its own)."""
    before = snapshot(admin)
    v = create(A, "nofip", 1, network="lonely", ready="servers")
    assert v["status"] == "ACTIVE" and v["floating_ip"] is None, v["status_reason"]
    note = [e["message"] for e in A.get(f"{API}/clusters/nofip/events").json()["events"] if e["step"] == "floating_ip"]
    assert "the cloud refused one" in note[-1]
    assert create(A, "nofip2", 1, network="lonely", ready="servers")["status"] == "ACTIVE"
    delete(A, "nofip")
    delete(A, "nofip2")
    assert own(A) == {} and snapshot(admin) == before


def test_own_network_routing_decides_the_external_network(A, clouds):
    """A network of the member's own, whose router it sees: its gateway's network is the
    external network; another one is refused; unrouted, only ready=servers is taken (and then
    the cluster has no floating IP)."""
    mine = network(A, "mine", "10.99.0.0/24")
    routed(A, mine, clouds["outside"]["id"])
    p = plan(A, "viamine", network="mine")
    assert p["external_network"]["name"] == "zz-outside" and "gateway" in p["routing"]
    e = error(A.post(f"{API}/clusters", json=body("viamine", network="mine", external_network="public")), 400)
    assert "not routed to external network 'public'" in e["message"] and "zz-outside" in e["message"]
    network(A, "bare", "10.98.0.0/24")
    e = error(A.post(f"{API}/clusters", json=body("bare", network="bare")), 400)
    assert "not routed to an external network" in e["message"] and "--ready servers" in e["message"]
    p = plan(A, "bare", 1, network="bare", ready="servers")
    assert p["external_network"] is None and "floating_ip" not in [r["kind"] for r in p["resources"]]
    assert "floatingip" not in {q["resource"] for q in p["quota"]}
    v = create(A, "bare", 1, network="bare", ready="servers")
    assert v["status"] == "ACTIVE" and v["floating_ip"] is None and v["external_network_id"] is None
    delete(A, "bare")
    assert [p["name"] for p in A.get(f"{NET}/ports", params={"device_owner": ""}).json()["ports"]
            if p["name"].startswith("bare-")] == []


def test_refusals_before_anything_exists(A, B, admin, clouds):
    before = own(A)
    theirs = network(B, "theirs", "10.97.0.0/24")
    network(A, "nosubnet", None)
    unknown = f"nothere-{uuid.uuid4().hex[:6]}"

    def refused(**kw) -> str:
        return error(A.post(f"{API}/clusters", json=body("refused", **kw)), 400)["message"]

    assert refused(network=unknown) == f"No network {unknown!r}: give the name or id of a network you can see " \
                                       "(openstack network list)."
    # another project's network: the same words as for one that does not exist
    assert refused(network=theirs["id"]) == refused(network=unknown).replace(unknown, theirs["id"])
    assert refused(network="theirs") == refused(network=unknown).replace(unknown, "theirs")
    assert "is an external network" in refused(network="public")
    assert "is not an external network" in refused(external_network="provider")
    assert "No external network 'nope'" in refused(external_network="nope")
    assert refused(external_network=theirs["id"]) == refused(external_network="nope").replace("nope", theirs["id"])
    assert "has no IPv4 subnet" in refused(network="nosubnet")
    network(A, "unrouted", "10.94.0.0/24")
    assert "not routed to an external network (no router of its subnet has a gateway), so the head can have " \
           "no floating IP on 'public'" in refused(network="unrouted", external_network="public")
    nogw = network(A, "nogw", None)
    made(A, "subnets", "subnet", network_id=nogw["id"], ip_version=4, cidr="10.93.0.0/24", gateway_ip=None)
    assert "(its subnet has no gateway)" in refused(network="nogw")
    tagged = network(A, "tagged", "10.92.0.0/24")
    assert A.put(f"{NET}/networks/{tagged['id']}/tags/caas-cluster-0123").status_code == 201
    assert "is a cluster's own network" in refused(network="tagged")
    shell = "x; rm -rf / #"
    assert repr(shell) in refused(network=shell)
    for bad in (5, "", "n" * 256, ["provider"], {"id": "x"}, True):
        error(A.post(f"{API}/clusters", json=body("refused", network=bad)), 400)
        error(A.post(f"{API}/clusters", json=body("refused", external_network=bad)), 400)
    # the admin too is refused another project's private network (it sees it, may not use it)
    assert refused_for(admin, theirs["id"]).startswith(f"No network {theirs['id']!r}")
    # two networks of one name: the id is asked for
    network(A, "twin", "10.96.0.0/24")
    network(A, "twin", "10.95.0.0/24")
    assert "More than one network is named 'twin'" in refused(network="twin")
    after = own(A)
    assert sorted(after.pop("networks")) == sorted(before.pop("networks", []) + ["nosubnet", "unrouted", "nogw",
                                                                                 "tagged", "twin", "twin"])
    assert after == before  # nothing else was made
    assert A.get(f"{API}/clusters", params={"name": "refused"}).json()["clusters"] == []


def refused_for(c: httpx.Client, net: str) -> str:
    return error(c.post(f"{API}/clusters", json=body("refused", network=net)), 400)["message"]
