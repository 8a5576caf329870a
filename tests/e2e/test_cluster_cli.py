"""The cluster commands (``caas cluster``, ``caas node``, ``os_cluster``, ``os_node``) as
subprocesses against a real ``caas up`` on the fake driver (SQLite), as a member of a project
with the usual OS_* variables: their output formats, exit codes, waiting, the key saved once,
quota refusals, a failed create (injected after its ready step), and the seed's syntax.
The same commands on real instances, with SSH: tests/e2e/test_netns_clusters.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.clusters.common import NET, leftovers, network, routed, set_quota, wait
from tests.conftest import CaasServer, client_for, issue_token, make_member
from tests.forkserver import FirstAnew

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster-cli")
    srv = CaasServer(base / "data", env={"CAAS_CLUSTER_FAIL_AT": "ready@broken",
                                                  "CAAS_CLUSTER_FLAVOR": "m1.nano"}).start()
    srv.base = base
    yield srv
    errors = srv.server_errors()
    assert srv.stop() == 0 and errors == 0


@pytest.fixture(scope="module")
def carol(cloud):
    with client_for(cloud, issue_token(cloud)) as admin:
        m = make_member(cloud, admin, "carol")
        set_quota(admin, m["project_id"], instances=8)
    env = cloud.os_env("carol", m["password"], "carol")
    env["CAAS_CONFIG_DIR"] = str(cloud.base / "config")
    m["env"] = env
    return m


_RUN = FirstAnew("caas")  # the first command a new process, the others forked from a warm caas


def run(env: dict, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    exe = shutil.which(args[0], path=str(BIN)) or args[0]
    out = _RUN([exe, *args[1:]], env, timeout=120)
    assert out.returncode == code, f"{' '.join(args)}: exit {out.returncode}, not {code}\n{out.stdout}\n{out.stderr}"
    return out


def test_dry_run_then_create(carol):
    out = run(carol["env"], "caas", "cluster", "create", "alpha", "--image", "host", "-n", "2", "--flavor",
              "m1.nano", "--dry-run").stdout
    assert "alpha-node002" in out and "floating_ip" in out and "instances" in out
    assert run(carol["env"], "caas", "cluster", "list", "-f", "json").stdout.strip() == "[]"
    out = run(carol["env"], "caas", "cluster", "create", "alpha", "--image", "host", "-n", "2", "--flavor",
              "m1.nano", "-f", "json")
    shown = json.loads(out.stdout)
    assert shown["status"] == "ACTIVE" and shown["node_count"] == 2
    key = Path(carol["env"]["CAAS_CONFIG_DIR"]) / "keys" / shown["id"]
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_list_in_every_format(carol):
    table = run(carol["env"], "caas", "cluster", "list").stdout
    assert "alpha" in table and "1+2" in table and "ACTIVE" in table
    as_json = json.loads(run(carol["env"], "caas", "cluster", "list", "-f", "json").stdout)
    assert [c["name"] for c in as_json] == ["alpha"]
    as_yaml = yaml.safe_load(run(carol["env"], "caas", "cluster", "list", "-f", "yaml").stdout)
    assert as_yaml[0]["floating_ip"] == as_json[0]["floating_ip"]
    value = run(carol["env"], "caas", "cluster", "list", "-f", "value").stdout
    assert value.split()[0] == "alpha" and as_json[0]["floating_ip"] in value
    assert "alpha" in run(carol["env"], "os_cluster", "list", "-e", "^al").stdout
    assert "alpha" not in run(carol["env"], "os_cluster", "list", "-e", "^z").stdout
    run(carol["env"], "os_cluster", "list", "-e", "([", code=2)


def test_events_and_show(carol):
    out = run(carol["env"], "caas", "cluster", "events", "alpha").stdout
    for step in ("network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "ready"):
        assert step in out
    shown = run(carol["env"], "os_cluster", "show", "alpha").stdout
    assert "node001" in shown and "node002" in shown and "alpha-head" in shown


def test_nodes_with_the_seed_syntax(carol):
    run(carol["env"], "os_node", "create", "alpha", "-r", "node0[04-05]")
    run(carol["env"], "os_node", "create", "alpha", "-n", "1")  # the lowest free name: node003
    names = run(carol["env"], "caas", "node", "list", "alpha", "-f", "value").stdout
    assert [line.split()[0] for line in names.splitlines()] == ["alpha-head", "node001", "node002", "node003",
                                                                "node004", "node005"]
    run(carol["env"], "caas", "node", "remove", "alpha", "node002", "node004")
    run(carol["env"], "os_node", "delete", "alpha", "-r", "node003..node003")
    nodes = json.loads(run(carol["env"], "caas", "node", "list", "alpha", "-f", "json").stdout)
    assert sorted(n["name"] for n in nodes if n["role"] == "compute") == ["node001", "node005"]
    out = run(carol["env"], "caas", "node", "remove", "alpha", "node009", code=1)
    assert "node009" in out.stdout + out.stderr
    run(carol["env"], "caas", "node", "add", "alpha", "-r", "node[5-1]", code=2)


def test_quota_refusal_lists_every_shortfall(carol):
    out = run(carol["env"], "os_cluster", "create", "toobig", "host", "base", "-n", "9", code=1)
    text = out.stdout + out.stderr
    assert "instances" in text and "nothing was created" in text
    assert "toobig" not in run(carol["env"], "os_cluster", "list").stdout


def test_network_options(carol, cloud):
    """--network and --external-network reach the plan (caas cluster create), and os_cluster
    create passes --network on: an unknown one is refused with its name, nothing created."""
    with client_for(cloud, issue_token(cloud)) as admin:
        campus = network(admin, "campus", "192.168.80.0/24", shared=True)
        public = admin.get(f"{NET}/networks", params={"router:external": "true"}).json()["networks"][0]
        router = routed(admin, campus, public["id"])
    out = run(carol["env"], "caas", "cluster", "create", "gamma", "--image", "host", "-n", "1", "--network", "campus",
              "--external-network", public["name"], "--dry-run", "-f", "json")
    plan = json.loads(out.stdout)
    assert plan["network"]["id"] == campus["id"] and plan["cidr"] == "192.168.80.0/24"
    assert plan["external_network"]["id"] == public["id"]
    assert "network" not in [r["kind"] for r in plan["resources"]]
    out = run(carol["env"], "os_cluster", "create", "delta", "host", "base", "--network", "nowhere", code=1)
    assert "No network 'nowhere'" in out.stdout + out.stderr
    assert "delta" not in run(carol["env"], "os_cluster", "list").stdout
    with client_for(cloud, issue_token(cloud)) as admin:  # the later tests count carol's networks
        admin.put(f"{NET}/routers/{router['id']}/remove_router_interface", json={"subnet_id": campus["subnet"]})
        for path in (f"routers/{router['id']}", f"networks/{campus['id']}"):
            assert admin.delete(f"{NET}/{path}").status_code == 204


def test_a_failed_create_exits_1_with_its_reason_and_leaves_no_key(carol, cloud):
    keys = Path(carol["env"]["CAAS_CONFIG_DIR"]) / "keys"
    before = sorted(keys.iterdir())
    out = run(carol["env"], "os_cluster", "create", "broken", "host", "base", "-n", "1", code=1)
    text = out.stdout + out.stderr
    assert "ready: injected failure" in text and "rolled back" in text
    assert "removed its generated private key" in text and "nothing of the cluster is left" in text
    assert sorted(keys.iterdir()) == before

    # not waited for: the key stays until a list (or a show) sees the create rolled back
    out = run(carol["env"], "caas", "cluster", "create", "broken", "--image", "host", "-n", "1", "--no-wait",
              "-f", "json")
    shown = json.loads(out.stdout)
    key = keys / shown["id"]
    assert key.is_file()
    with client_for(cloud, issue_token(cloud, "carol", carol["password"], "carol")) as c:
        assert wait(c, shown["id"])["status"] == "ERROR"
    out = run(carol["env"], "os_cluster", "list")
    assert f"cluster broken: removed its generated private key {key}" in out.stdout
    assert sorted(keys.iterdir()) == before
    run(carol["env"], "os_cluster", "delete", "broken")


def test_ssh_refuses_unknown_nodes(carol):
    run(carol["env"], "caas", "cluster", "ssh", "alpha", "node777", "--", "hostname", code=2)


def test_delete_waits_until_gone(carol, cloud):
    shown = json.loads(run(carol["env"], "caas", "cluster", "show", "alpha", "-f", "json").stdout)
    run(carol["env"], "os_cluster", "delete", "alpha")
    run(carol["env"], "caas", "cluster", "show", "alpha", code=1)
    assert not (Path(carol["env"]["CAAS_CONFIG_DIR"]) / "keys" / shown["id"]).exists()
    with client_for(cloud, issue_token(cloud, "carol", carol["password"], "carol")) as c:
        assert leftovers(c) == {}
