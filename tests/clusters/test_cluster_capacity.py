"""A cluster (or nodes added to one) that does not fit the hosts' vCPUs is refused before
anything is made, counted as the scheduler counts: physical vCPUs x the allocation ratio -
used, host by host. The cluster layer reads that from Placement (read-only here), as it would
from any OpenStack; the real ``os_cluster`` prints the refusal once.

One ``caas up`` (SQLite: the check reads, it claims nothing) with two fake hosts of 3 vCPUs
each at a CPU allocation ratio of 2.0: 6 vCPUs per host, 12 in all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import openstack
import pytest

from tests.clusters.common import API, body, create, delete, error, leftovers, set_quota, wait
from tests.compute.conftest import OwnServer
from tests.conftest import client_for, make_member

HOSTS = [{"name": "cap-a", "vcpus": 3, "memory_mb": 65536, "local_gb": 1000},
         {"name": "cap-b", "vcpus": 3, "memory_mb": 65536, "local_gb": 1000}]


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    env = {"CAAS_DRIVER": "fake", "CAAS_FAKE_HOSTS": json.dumps(HOSTS), "CAAS_CPU_ALLOCATION_RATIO": "2.0"}
    o = OwnServer(tmp_path_factory, "sqlite", env)
    yield o
    o.finish()


@pytest.fixture(scope="module")
def server(own):
    """This module's caas (the conftest's ``admin`` client is its admin)."""
    return own.srv


@pytest.fixture(scope="module")
def member(server, admin):
    m = make_member(server, admin)
    set_quota(admin, m["project_id"], instances=40, cores=200, ram=10**6)
    return m


@pytest.fixture(scope="module")
def A(server, member):
    with client_for(server, member["token"]) as c:
        yield c


def nothing_made(c) -> None:
    """No cluster, server, port, network, router, floating IP, group or keypair in the project."""
    assert c.get(f"{API}/clusters").json()["clusters"] == []
    assert leftovers(c) == {}
    assert c.get("/compute/v2.1/os-keypairs").json()["keypairs"] == []


def refusal(c, path: str, payload: dict) -> dict:
    """The 403 for ``payload``, with its one vCPU shortfall."""
    e = error(c.post(path, json=payload), 403)
    short = {s["resource"]: s for s in e["shortfalls"]}
    assert list(short) == ["capacity:vcpus"], e
    assert short["capacity:vcpus"]["message"] in e["message"]
    return short["capacity:vcpus"]


def sdk(server):
    return openstack.connect(auth={"auth_url": server.url + "/identity/v3", "username": "admin",
                                   "password": server.admin_password, "project_name": "admin",
                                   "user_domain_id": "default", "project_domain_id": "default"},
                             region_name="RegionOne", load_envvars=False, load_yaml_config=False)


def test_placement_publishes_each_hosts_vcpus_ratio_and_usage(server, admin, A):
    conn = sdk(server)
    providers = {p.name: p for p in conn.placement.resource_providers()}
    assert set(providers) == {"cap-a", "cap-b"}
    inventories = {i.resource_class: i for i in conn.placement.resource_provider_inventories(providers["cap-a"])}
    assert (inventories["VCPU"].total, inventories["VCPU"].allocation_ratio) == (3, 2.0)
    assert inventories["MEMORY_MB"].total == 65536 and inventories["DISK_GB"].total == 1000
    # usages follow the servers' claims
    v = create(A, "used", 0, node_flavor="m1.medium")
    host = admin.get(f"/compute/v2.1/servers/{v['nodes'][0]['server_id']}").json()["server"]["OS-EXT-SRV-ATTR:host"]
    r = conn.placement.get(f"/resource_providers/{providers[host].id}/usages")
    assert r.json()["usages"]["VCPU"] == 2
    delete(A, "used")
    assert conn.placement.get(f"/resource_providers/{providers[host].id}/usages").json()["usages"]["VCPU"] == 0
    # admin only, refused in Placement's format; an unknown provider is its 404
    r = A.get("/placement/resource_providers")
    assert r.status_code == 403 and r.json()["errors"][0]["status"] == 403
    r = admin.get("/placement/resource_providers/nope/inventories")
    assert r.status_code == 404 and r.json()["errors"][0]["title"] == "Not Found"
    version = admin.get("/placement/").json()["versions"][0]
    assert version["id"] == "v1.0" and version["status"] == "CURRENT"
    conn.close()


def test_a_cluster_beyond_the_hosts_vcpus_is_refused_and_nothing_made(A):
    # head and three nodes of m1.large (4 vCPUs): 16 > 2 x (3 x 2.0)
    short = refusal(A, f"{API}/clusters", body("big", 3, node_flavor="m1.large"))
    assert (short["needed"], short["available"]) == (16, 12)
    assert short["message"] == ("vCPUs: needs 16 (head 4 + 3 nodes x 4), the hosts have 12 free "
                                "(cap-a: 3 physical x ratio 2.0 - 0 used = 6; cap-b: 3 physical x ratio 2.0 - 0 used = 6)")
    nothing_made(A)
    r = A.post(f"{API}/clusters", json={**body("big", 3, node_flavor="m1.large"), "dry_run": True})
    assert r.status_code == 200 and [s["resource"] for s in r.json()["plan"]["shortfalls"]] == ["capacity:vcpus"]


def test_enough_vcpus_in_all_but_not_host_by_host_is_refused(A):
    # 12 vCPUs for 12 free, but a host's 6 take one 4-vCPU server: the third finds no host
    short = refusal(A, f"{API}/clusters", body("packed", 2, node_flavor="m1.large"))
    assert short["needed"] == 12 and "the hosts have 12 free" in short["message"]
    assert short["message"].endswith("but only 2 of the 3 servers fit host by host")
    nothing_made(A)
    # the same vCPUs in smaller servers fit, and the cluster is made
    v = create(A, "spread", 5, node_flavor="m1.medium")
    assert v["status"] == "ACTIVE", v["status_reason"]
    delete(A, "spread")


def test_nodes_beyond_the_hosts_vcpus_are_not_added(A):
    v = create(A, "grow", 1, node_flavor="m1.medium")  # 4 of 12 used
    assert v["status"] == "ACTIVE", v["status_reason"]
    servers = leftovers(A)["servers"]
    e = error(A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"count": 5}}), 403)
    assert e["message"].startswith("Cluster grow: node[002-006] do not fit, nothing was added: vCPUs: needs 10")
    assert [s["resource"] for s in e["shortfalls"]] == ["capacity:vcpus"]
    assert "the hosts have 8 free" in e["shortfalls"][0]["message"]
    v = wait(A, "grow")
    assert v["status"] == "ACTIVE" and v["node_count"] == 1 and leftovers(A)["servers"] == servers
    # what fits is added
    r = A.post(f"{API}/clusters/grow/nodes", json={"nodes": {"count": 4}})
    assert r.status_code == 202, r.text
    v = wait(A, "grow")
    assert v["status"] == "ACTIVE" and v["node_count"] == 5, v["status_reason"]
    delete(A, "grow")


def test_a_disabled_host_is_not_counted(admin, A):
    service = [s for s in admin.get("/compute/v2.1/os-services").json()["services"] if s["host"] == "cap-b"][0]
    r = admin.put("/compute/v2.1/os-services/disable", json={"host": "cap-b", "binary": "nova-compute"})
    assert r.status_code == 200, r.text
    try:
        short = refusal(A, f"{API}/clusters", body("half", 3, node_flavor="m1.medium"))  # 8 > 6 on cap-a
        assert short["message"] == ("vCPUs: needs 8 (head 2 + 3 nodes x 2), the host has 6 free "
                                    "(cap-a: 3 physical x ratio 2.0 - 0 used); not counted: cap-b (disabled)")
    finally:
        admin.put("/compute/v2.1/os-services/enable", json={"host": "cap-b", "binary": "nova-compute"})
    assert service["status"] == "enabled"
    nothing_made(A)


def test_os_cluster_prints_the_refusal_once(server, member, A, tmp_path):
    exe = shutil.which("os_cluster", path=str(Path(sys.executable).parent)) or shutil.which("os_cluster")
    assert exe, "the os_cluster command is not installed"
    env = {**server.os_env(member["name"], member["password"], member["name"]), "CAAS_CONFIG_DIR": str(tmp_path)}
    result = subprocess.run([exe, "create", "cli", "host", "base", "-n", "3", "--flavor", "m1.large"],
                            env=env, capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert out.count("vCPUs: needs 16") == 1 and out.count("does not fit") == 1, out
    assert "os_cluster: error: The cluster does not fit, nothing was created:\n  vCPUs: needs 16" in out
    nothing_made(A)


def test_how_the_capacity_is_checked_is_said(server, member, A):
    """Placement read: host by host, and the plan says so; a cloud that shows its caller
    neither Placement nor the hypervisor statistics (here: to a member, as on a real cloud's
    default policy) gets no capacity check, and ``SKIPPED`` says so, never silently."""
    from caas.clusters import capacity, quota

    plan = A.post(f"{API}/clusters", json={"cluster": {"name": "howcap", "node_count": 1, "node_flavor": "m1.nano"},
                                         "dry_run": True})
    assert plan.status_code == 200, plan.text
    assert plan.json()["plan"]["capacity"] == quota.PLACEMENT
    as_member = openstack.connect(auth={"auth_url": server.url + "/identity/v3", "username": member["name"],
                                        "password": member["password"], "project_name": member["name"],
                                        "user_domain_id": "default", "project_domain_id": "default"},
                                  region_name="RegionOne", load_envvars=False, load_yaml_config=False)

    class MemberAccess:
        def admin(self):
            return as_member

    try:
        short, how = quota._capacity(MemberAccess(), "spread", {"ram": 10**9}, {"servers": []},
                                     [capacity.Server("head", 10**4, 10**9)])
    finally:
        as_member.close()
    assert (short, how) == ([], quota.SKIPPED)
