"""Two clouds on one machine with separate identities: a caas with the netns driver as "the
real cloud" (its own Keystone and project ids, real instances) and a portal (``caas up --cloud
caas``) in front of it, registered in the cloud's catalog as its ``caas`` service. A member of
a project of the cloud (not an admin), with only the cloud's OS_* settings:

- ``os_cluster create demo host base -n 3`` through the portal ends ACTIVE with SSH answering
  on the head and the nodes; every resource it made is in the user's project;
- ``os_node create`` and ``caas node remove`` add and remove a node;
- a portal stopped (SIGTERM) and started again on its data dir while a create runs resumes it
  with the cluster's application credential (the user's token was revoked after the request):
  the create is made again from its start and ends ACTIVE, SSH answering;
- ``os_cluster create hpc host slurm -n 2`` through the portal: Slurm runs alice's job on both
  nodes, her /home shared (a share of the cloud's), and its delete takes the share too;
- ``os_cluster delete demo`` leaves nothing in the cloud: no server, port, network, router,
  floating IP, security group or application credential of the user, nothing in any other
  project, and no cs- kernel object beyond the cloud's own.

One cloud and one portal for the module; the tests run in order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from caas.cli.local import save_private_key
from tests.clusters.common import API, error, everything, leftovers, wait
from tests.conftest import client_for, finish_server, issue_token, start_portal
from tests.e2e import kernel
from tests.e2e.osc import osc, osc_json
from tests.e2e.test_netns_clusters import computes, on_head, run, show, start_cloud, user
from tests.e2e.test_openstack_cli import OPENSTACK

pytestmark = [pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed"),
              pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing()))]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    srv = start_cloud(tmp_path_factory, "netns-portal")
    yield srv
    kernel.stop_and_clean(srv, srv.before)


@pytest.fixture(scope="module")
def admin(cloud):
    with client_for(cloud, issue_token(cloud)) as c:
        yield c


@pytest.fixture(scope="module")
def portal(cloud, admin):
    """The portal, and the cloud's ``caas`` public endpoint pointed at it (by the cloud's
    admin, as an operator registers any service); ``before``: the cloud's resources then."""
    srv = start_portal(cloud, cloud.base / "portal")
    operator = cloud.os_env()
    endpoint = osc_json(operator, "endpoint", "list", "--service", "caas", "--interface", "public")[0]
    osc(operator, "endpoint", "set", "--url", srv.url + "/caas/v1", endpoint["ID"])
    srv.before = everything(admin)
    yield srv
    finish_server(srv)


@pytest.fixture(scope="module")
def alice(cloud, portal):
    m = user(cloud, "alice")
    m["env"].pop("CAAS_URL", None)  # the catalog, only
    return m


def credentials(cloud, m: dict) -> list[dict]:
    with client_for(cloud, issue_token(cloud, m["name"], m["password"], m["name"])) as c:
        return c.get(f"/identity/v3/users/{m['user_id']}/application_credentials").json()["application_credentials"]


def test_create_demo_through_the_portal(alice, cloud, portal, admin):
    t0 = time.monotonic()
    run(alice["env"], "os_cluster", "create", "demo", "host", "base", "-n", "3")
    print(f"os_cluster create demo host base -n 3 through the portal: {time.monotonic() - t0:.1f} s")
    v = show(alice["env"], "demo")
    assert v["status"] == "ACTIVE" and computes(v) == ["node001", "node002", "node003"] and v["nodes_ready"] == 3
    assert v["project_id"] == alice["project_id"] and v["ready"] == "ssh"
    assert run(alice["env"], "caas", "cluster", "ssh", "demo", "--", "hostname").stdout.strip() == "demo-head"
    assert on_head(alice["env"], "demo", "ssh node003 hostname").strip() == "node003"
    # the portal keeps the cluster; the cloud's own cluster service knows nothing of it
    with client_for(portal, issue_token(cloud, "alice", alice["password"], "alice")) as p:
        assert [c["name"] for c in p.get(f"{API}/clusters").json()["clusters"]] == ["demo"]
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        assert c.get(f"{API}/clusters").json()["clusters"] == []
    new = everything(admin) - portal.before
    assert new and {project for _, _, project in new} == {alice["project_id"]}, new
    creds = credentials(cloud, alice)
    assert len(creds) == 1 and creds[0]["project_id"] == alice["project_id"] and not creds[0]["unrestricted"]


def test_add_and_remove_a_node(alice):
    run(alice["env"], "os_node", "create", "demo", "-n", "1")
    v = show(alice["env"], "demo")
    assert v["status"] == "ACTIVE" and computes(v) == ["node001", "node002", "node003", "node004"], v
    assert on_head(alice["env"], "demo", "ssh node004 hostname").strip() == "node004"
    run(alice["env"], "caas", "node", "remove", "demo", "node002")
    v = show(alice["env"], "demo")
    assert v["status"] == "ACTIVE" and computes(v) == ["node001", "node003", "node004"], v
    assert "node002" not in on_head(alice["env"], "demo", "cat /etc/hosts")


def test_a_restart_of_the_portal_during_a_create_goes_on_with_the_credential(alice, cloud, portal, admin):
    token = issue_token(cloud, "alice", alice["password"], "alice")
    with client_for(portal, token) as p:
        r = p.post(f"{API}/clusters", json={"cluster": {"name": "midway", "image": "host", "node_count": 1}})
        assert r.status_code == 202, r.text
    # kept where the CLI keeps a generated key, for caas cluster ssh below
    save_private_key(Path(alice["env"]["CAAS_CONFIG_DIR"]), r.json()["cluster"]["id"], r.json()["private_key"])
    # the request is answered: the user's token is no longer needed (nor valid)
    assert admin.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 204
    with client_for(portal, issue_token(cloud, "alice", alice["password"], "alice")) as p:
        deadline = time.monotonic() + 60
        while (v := p.get(f"{API}/clusters/midway").json()["cluster"])["step"] not in ("head", "floating_ip", "nodes"):
            assert v["status"] == "CREATING" and time.monotonic() < deadline, v
            time.sleep(0.05)
    assert portal.stop() == 0
    portal.start()
    with client_for(portal, issue_token(cloud, "alice", alice["password"], "alice")) as p:
        v = wait(p, "midway")
        assert v["status"] == "ACTIVE" and computes(v) == ["node001"], v
        events = [e["message"] for e in p.get(f"{API}/clusters/midway/events").json()["events"]]
        assert any("creating the cluster again" in m for m in events), events
        servers = [s["name"] for s in admin.get("/compute/v2.1/servers/detail", params={"all_tenants": "1"}).json()[
            "servers"] if s["name"].startswith("midway-")]
        assert sorted(servers) == ["midway-head", "midway-node001"]  # the first attempt's are gone
        assert on_head(alice["env"], "midway", "ssh node001 hostname").strip() == "node001"
        r = p.delete(f"{API}/clusters/midway")
        assert r.status_code == 202, r.text
        assert wait(p, "midway") is None
        error(p.get(f"{API}/clusters/midway"), 404)
    assert sorted(s["name"] for s in admin.get("/compute/v2.1/servers/detail", params={
        "all_tenants": "1"}).json()["servers"]) == ["demo-head", "demo-node001", "demo-node003", "demo-node004"]
    assert len(credentials(cloud, alice)) == 1  # demo's


def test_a_slurm_cluster_through_the_portal(alice, cloud):
    """The slurm profile unchanged on "the real cloud": its Shared File Systems for /home, Slurm
    across the nodes, as alice's own login."""
    run(alice["env"], "os_cluster", "create", "hpc", "host", "slurm", "-n", "2", timeout=300)
    v = show(alice["env"], "hpc")
    assert v["status"] == "ACTIVE" and v["users"] == ["alice"] and computes(v) == ["node001", "node002"]
    as_alice = ["caas", "cluster", "ssh", "hpc", "-l", "alice", "--"]
    assert sorted(run(alice["env"], *as_alice, "srun -N 2 hostname").stdout.split()) == ["node001", "node002"]
    run(alice["env"], "caas", "cluster", "ssh", "hpc", "node001", "-l", "alice", "--", "echo via-portal > ~/f")
    assert run(alice["env"], "caas", "cluster", "ssh", "hpc", "node002", "-l", "alice", "--",
               "cat ~/f").stdout.strip() == "via-portal"
    run(alice["env"], "os_cluster", "delete", "hpc", timeout=300)
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        assert c.get(f"/share/v2/{alice['project_id']}/shares").json()["shares"] == []


def test_delete_leaves_nothing(alice, cloud, portal, admin):
    run(alice["env"], "os_cluster", "delete", "demo")
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        assert leftovers(c) == {}
    assert credentials(cloud, alice) == []
    assert everything(admin) == portal.before
    public = [n["id"] for n in admin.get("/network/v2.0/networks").json()["networks"] if n["router:external"]]
    assert kernel.beyond_the_clouds_own(cloud, public) == {}
    assert kernel.cgroups() <= cloud.before["cgroups"]
