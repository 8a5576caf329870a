"""The seed document's cluster commands on real instances (the netns driver), as a user of
their own project, with the flavor the seed creates (m1.xsmall) and the seed's syntax:

- ``os_cluster create demo host base -n 3`` ends ACTIVE; ``caas cluster ssh demo -- hostname``
  prints the head's name, ``caas cluster ssh demo node002 -- hostname`` prints node002, and
  from the head ``ssh node003 hostname`` works by name;
- ``os_node create demo -r node0[04-05]`` gives five nodes, each in every node's /etc/hosts,
  without restarting anything on the nodes that stay; ``caas node remove demo node002``
  removes exactly that one;
- a second user's cluster cannot reach the first's private network;
- ``os_cluster list -e 'de.*'`` shows it with its node count and floating IP;
- ``os_cluster delete demo`` leaves no server, port, network, router, floating IP, security
  group or kernel object.

SQLite only, as the other netns tests; the tests run in order and share one ``caas up``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clusters.common import leftovers
from tests.conftest import CaasServer, client_for, issue_token, make_member
from tests.forkserver import FirstAnew
from tests.e2e import kernel
from tests.e2e.test_openstack_cli import OPENSTACK, osc

pytestmark = [pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed"),
              pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing()))]

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return shutil.which(name, path=str(BIN)) or name


def start_cloud(tmp_path_factory, name: str, **env: str) -> CaasServer:
    """A netns ``caas up`` (with ``env``) and the seed's default flavor for nodes, created as
    the seed says; ``before`` is what the machine had (for ``kernel.stop_and_clean``)."""
    base = tmp_path_factory.mktemp(name)
    before = kernel.cs_objects()
    srv = CaasServer(base / "data", env={"CAAS_DRIVER": "netns", "CAAS_CPU_ALLOCATION_RATIO": "16", **env}).start(90)
    srv.before = before
    srv.base = base
    osc(srv.os_env(), "flavor", "create", "--vcpus", "1", "--ram", "1024", "--disk", "10", "--ephemeral", "10",
        "--public", "m1.xsmall")
    return srv


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    srv = start_cloud(tmp_path_factory, "netns-clusters")
    yield srv
    kernel.stop_and_clean(srv, srv.before)


def user(cloud, name: str) -> dict:
    with client_for(cloud, issue_token(cloud)) as admin:
        m = make_member(cloud, admin, name)
    env = cloud.os_env(m["name"], m["password"], m["name"])
    env["CAAS_CONFIG_DIR"] = str(cloud.base / f"config-{name}")
    m["env"] = env
    return m


@pytest.fixture(scope="module")
def alice(cloud):
    return user(cloud, "alice")


@pytest.fixture(scope="module")
def bob(cloud):
    return user(cloud, "bob")


_RUN = FirstAnew("caas")  # the first command a new process, the others forked from a warm caas


def run(env: dict, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    out = _RUN([tool(args[0]), *args[1:]], env, timeout=timeout)
    if check:
        assert out.returncode == 0, f"{' '.join(args)}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def on_head(env: dict, cluster: str, script: str) -> str:
    return run(env, "caas", "cluster", "ssh", cluster, "--", script, timeout=60).stdout


def show(env: dict, cluster: str) -> dict:
    return json.loads(run(env, "caas", "cluster", "show", cluster, "-f", "json").stdout)


def computes(view: dict) -> list[str]:
    return sorted(n["name"] for n in view["nodes"] if n["role"] == "compute")


def test_create_demo(alice):
    t0 = time.monotonic()
    run(alice["env"], "os_cluster", "create", "demo", "host", "base", "-n", "3")
    print(f"os_cluster create demo host base -n 3: {time.monotonic() - t0:.1f} s")
    v = show(alice["env"], "demo")
    assert v["status"] == "ACTIVE" and computes(v) == ["node001", "node002", "node003"] and v["nodes_ready"] == 3
    assert v["node_flavor"] == "m1.xsmall" and v["floating_ip"]
    keys = list((Path(alice["env"]["CAAS_CONFIG_DIR"]) / "keys").iterdir())
    assert len(keys) == 1 and oct(keys[0].stat().st_mode & 0o777) == "0o600"


def test_ssh_to_head_and_nodes(alice):
    assert run(alice["env"], "caas", "cluster", "ssh", "demo", "--", "hostname").stdout.strip() == "demo-head"
    assert run(alice["env"], "caas", "cluster", "ssh", "demo", "node002", "--", "hostname").stdout.strip() == "node002"
    assert on_head(alice["env"], "demo", "ssh node003 hostname").strip() == "node003"
    # every node reaches every other by name, with the cluster's key
    assert on_head(alice["env"], "demo", "ssh node001 ssh node002 hostname").strip() == "node002"


def test_add_nodes_by_range_updates_every_hosts_file(alice):
    before = on_head(alice["env"], "demo", "ssh node001 cat /proc/1/stat | cut -d' ' -f22").strip()
    run(alice["env"], "os_node", "create", "demo", "-r", "node0[04-05]")
    v = show(alice["env"], "demo")
    assert v["status"] == "ACTIVE" and not v["status_reason"]
    assert computes(v) == ["node001", "node002", "node003", "node004", "node005"]
    names = ["demo-head"] + computes(v)
    script = "; ".join(f"echo == {n}; ssh {n} cat /etc/hosts" if n != "demo-head" else "echo == demo-head; cat /etc/hosts"
                       for n in names)
    out = on_head(alice["env"], "demo", script)
    files = {part.split("\n", 1)[0].strip(): part for part in out.split("== ")[1:]}
    assert set(files) == set(names)
    for n, text in files.items():
        for other in computes(v):
            assert f"\t{other} " in text, f"{other} missing from {n}'s /etc/hosts:\n{text}"
    # node001 was not restarted: its init started at the same time as before
    assert on_head(alice["env"], "demo", "ssh node001 cat /proc/1/stat | cut -d' ' -f22").strip() == before
    assert on_head(alice["env"], "demo", "ssh node005 hostname").strip() == "node005"


def test_remove_exactly_one_node(alice, cloud):
    run(alice["env"], "caas", "node", "remove", "demo", "node002")
    v = show(alice["env"], "demo")
    assert computes(v) == ["node001", "node003", "node004", "node005"]
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        servers = sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"])
    assert servers == ["demo-head", "demo-node001", "demo-node003", "demo-node004", "demo-node005"]
    hosts = on_head(alice["env"], "demo", "ssh node004 cat /etc/hosts")
    assert "node002" not in hosts and "\tnode005 " in hosts


def test_a_second_users_cluster_cannot_reach_the_first(alice, bob):
    run(bob["env"], "os_cluster", "create", "other", "host", "base", "-n", "1")
    demo, other = show(alice["env"], "demo"), show(bob["env"], "other")
    assert computes(other) == ["node001"]
    # node005 exists only in alice's cluster (each project numbers its own networks, so the
    # address may be one bob's network also has: it must lead nowhere from bob's cluster)
    target = next(n["fixed_ip"] for n in demo["nodes"] if n["name"] == "node005")
    assert on_head(bob["env"], "other", "ssh node001 hostname").strip() == "node001"
    out = on_head(bob["env"], "other", f"ping -c 2 -W 1 {target} >/dev/null && echo reached || echo unreachable; "
                                       f"ssh -o ConnectTimeout=2 {target} true 2>/dev/null && echo ssh || echo nossh")
    assert out.split() == ["unreachable", "nossh"], out
    out = on_head(alice["env"], "demo", f"ping -c 1 -W 1 {target} >/dev/null && echo reached")
    assert out.strip() == "reached"  # while alice's own head does reach it
    # and alice can neither see nor touch bob's cluster
    r = run(alice["env"], "caas", "cluster", "show", "other", check=False)
    assert r.returncode != 0 and "other" in (r.stdout + r.stderr)
    r = run(alice["env"], "os_cluster", "delete", "other", check=False)
    assert r.returncode != 0 and show(bob["env"], "other")["status"] == "ACTIVE"


def test_list_with_a_regex(alice):
    out = run(alice["env"], "os_cluster", "list", "-e", "de.*").stdout
    v = show(alice["env"], "demo")
    line = next(line for line in out.splitlines() if "demo" in line)
    assert "1+4" in line and v["floating_ip"] in line and "ACTIVE" in line
    assert "other" not in out
    assert "demo" not in run(alice["env"], "os_cluster", "list", "-e", "^x").stdout


def test_delete_leaves_nothing(alice, bob, cloud):
    run(alice["env"], "os_cluster", "delete", "demo")
    run(bob["env"], "os_cluster", "delete", "other")
    for who in (alice, bob):
        with client_for(cloud, issue_token(cloud, who["name"], who["password"], who["name"])) as c:
            assert leftovers(c) == {}
            assert c.get("/caas/v1/clusters").json()["clusters"] == []
    with client_for(cloud, issue_token(cloud)) as admin:
        public = [n["id"] for n in admin.get("/network/v2.0/networks").json()["networks"] if n["router:external"]]
    assert kernel.beyond_the_clouds_own(cloud, public) == {}
    assert kernel.cgroups() <= cloud.before["cgroups"]
