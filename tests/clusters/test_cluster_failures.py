"""Failure injection on the fake driver (SQLite; each case its own ``caas up``): a create that
fails at each step in turn rolls back to nothing and gives its name up at once; a failed add
rolls back only the new nodes; boots that fail; --keep-on-failure; caas killed or stopped in
the middle of a create makes it again (rolls it back when its user's key was not kept); and the cluster layer pointed at a cloud of
clouds.yaml (OS_CLOUD-style) instead of the embedded default."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.clusters.common import (API, NET, body, crash, create, delete, error, leftovers, network, routed, snapshot,
                                   wait, wait_for_step)
from tests.conftest import CaasServer, client_for, issue_token

STEPS = ["network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "ready"]


def start(tmp_path_factory, **env) -> CaasServer:
    return CaasServer(tmp_path_factory.mktemp("caas") / "data", env={k: str(v) for k, v in env.items()}).start()


def stop(srv: CaasServer) -> None:
    errors = srv.server_errors()
    assert srv.stop() == 0
    assert errors == 0, f"5xx answers; see {srv.log_path}"


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """One caas whose cluster ``fail-STEP`` fails right after STEP, for every step."""
    srv = start(tmp_path_factory, CAAS_CLUSTER_FAIL_AT=",".join(
        [f"{s}@fail-{s.replace('_', '-')}" for s in STEPS] + ["nodes@given-fail"]))
    yield srv
    stop(srv)


@pytest.mark.parametrize("step", STEPS)
def test_create_fails_at_each_step_and_rolls_back(failing, step):
    name = f"fail-{step.replace('_', '-')}"
    with client_for(failing, issue_token(failing)) as c:
        v = create(c, name, 2)
        assert v["status"] == "ERROR"
        assert v["status_reason"].startswith(f"{step}: injected failure") and "rolled back" in v["status_reason"]
        assert v["floating_ip"] is None
        events = c.get(f"{API}/clusters/{name}/events").json()["events"]
        done = [e["step"] for e in events if e["message"].startswith("done")]
        assert done == STEPS[:STEPS.index(step) + 1]
        assert any(e["step"] == "rollback" and e["message"].startswith("removed") for e in events)
        assert any(e["level"] == "error" and "injected" in e["message"] for e in events)
        assert leftovers(c) == {}
        # the name is free at once (this one fails again, the same way)
        r = c.post(f"{API}/clusters", json=body(name, 2))
        assert r.status_code == 202, r.text
        assert wait(c, name)["status"] == "ERROR"
        delete(c, name)  # an ERROR cluster that owns nothing deletes at once
        assert leftovers(c) == {}
        # and a cluster of another name on the same cloud is not touched by the injection
        if step == STEPS[-1]:
            assert create(c, "fine", 1)["status"] == "ACTIVE"
            delete(c, "fine")


def test_on_a_given_network_rollback_and_restart_leave_it_as_it_was(failing):
    """A create on an admin's shared network that fails after its nodes step rolls back to
    nothing and leaves the network, its subnet and its router as they were; a cluster on it
    keeps its network across a restart: the nodes added after go on it, and its delete leaves
    the network as it was."""
    with client_for(failing, issue_token(failing)) as c:
        prov = network(c, "prov", "192.168.70.0/24", shared=True)
        public = c.get(f"{NET}/networks", params={"router:external": "true"}).json()["networks"][0]
        routed(c, prov, public["id"])
        before = snapshot(c)
        v = create(c, "given-fail", 2, network="prov")
        assert v["status"] == "ERROR" and v["status_reason"].startswith("nodes: injected failure"), v
        assert "rolled back" in v["status_reason"] and snapshot(c) == before
        assert not [p for p in c.get(f"{NET}/ports").json()["ports"] if p["name"].startswith("given-fail-")]
        assert c.get("/compute/v2.1/servers", params={"name": "given-fail"}).json()["servers"] == []
        delete(c, "given-fail")
        assert create(c, "given-ok", 1, network="prov")["status"] == "ACTIVE"
    assert failing.stop() == 0
    failing.start()
    with client_for(failing, issue_token(failing)) as c:
        assert c.post(f"{API}/clusters/given-ok/nodes", json={"nodes": {"count": 1}}).status_code == 202
        v = wait(c, "given-ok")
        assert v["status"] == "ACTIVE" and v["node_count"] == 2 and v["network_id"] == prov["id"], v
        ports = [p for p in c.get(f"{NET}/ports").json()["ports"] if p["name"].startswith("given-ok-")]
        assert len(ports) == 3 and {p["network_id"] for p in ports} == {prov["id"]}
        delete(c, "given-ok")
        assert snapshot(c) == before
        assert c.get("/compute/v2.1/servers").json()["servers"] == []


def test_failed_add_rolls_back_only_the_new_nodes(tmp_path_factory):
    srv = start(tmp_path_factory, CAAS_CLUSTER_FAIL_AT="add:ready")
    try:
        with client_for(srv, issue_token(srv)) as c:
            v = create(c, "grow", 2)
            assert v["status"] == "ACTIVE"
            servers = sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"])
            r = c.post(f"{API}/clusters/grow/nodes", json={"nodes": {"names": "node0[03-04]"}})
            assert r.status_code == 202
            v = wait(c, "grow")
            assert v["status"] == "ACTIVE" and "adding nodes failed" in v["status_reason"]
            assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001", "node002"]
            assert sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]) == servers
            ports = c.get("/network/v2.0/ports", params={"name": "grow-node003"}).json()["ports"]
            assert ports == []
            # removing still works, and clears the reason
            c.delete(f"{API}/clusters/grow/nodes/node002")
            v = wait(c, "grow")
            assert v["status_reason"] == "" and [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001"]
            delete(c, "grow")
            assert leftovers(c) == {}
    finally:
        stop(srv)


def test_boots_that_fail_and_keep_on_failure(tmp_path_factory):
    srv = start(tmp_path_factory, CAAS_FAKE_FAILURE_RATE=1)
    try:
        with client_for(srv, issue_token(srv)) as c:
            v = create(c, "broken", 1)
            assert v["status"] == "ERROR" and v["status_reason"].startswith("head: the server of head went to ERROR")
            assert "injected failure" in v["status_reason"] and leftovers(c) == {}
            v = create(c, "kept", 1, keep_on_failure=True)
            assert v["status"] == "ERROR" and "resources kept" in v["status_reason"]
            left = leftovers(c)
            assert left["networks"] == ["kept-net"] and left["routers"] == ["kept-router"]
            assert left["servers"] == ["kept-head"]
            e = error(c.post(f"{API}/clusters", json=body("kept", 1)), 409)  # it still owns resources
            assert "delete it first" in e["message"]
            delete(c, "kept")
            assert leftovers(c) == {}
    finally:
        stop(srv)


@pytest.mark.parametrize("how", ["kill", "term"])
def test_restart_during_create_makes_it_again(tmp_path_factory, how):
    """kill -9 or SIGTERM in the create's nodes step: the restart removes what the create had
    made and makes the cluster again from its start, with the user's key it kept: ACTIVE, with
    exactly its own servers."""
    srv = start(tmp_path_factory, CAAS_FAKE_BOOT_DELAY=1.5)
    try:
        with client_for(srv, issue_token(srv)) as c:
            r = c.post(f"{API}/clusters", json=body("midway", 3))
            assert r.status_code == 202
            wait_for_step(c, "midway", "nodes")
        if how == "kill":
            crash(srv)
        else:
            assert srv.stop() == 0
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            v = wait(c, "midway")
            assert v["status"] == "ACTIVE" and v["node_count"] == 3, v
            assert sorted(leftovers(c)["servers"]) == ["midway-head", "midway-node001", "midway-node002",
                                                       "midway-node003"]
            assert len(leftovers(c)["networks"]) == 1
            messages = [e["message"] for e in c.get(f"{API}/clusters/midway/events").json()["events"]]
            assert any("interrupted (caas stopped)" in m and "creating the cluster again" in m for m in messages)
            delete(c, "midway")
            assert leftovers(c) == {}
    finally:
        stop(srv)


def test_a_cloud_that_gives_the_project_no_network_says_to_give_one(tmp_path_factory):
    """Neutron refuses a project's network create when it may make none of its own (503 "No
    project network is available for allocation"; caas, out of segmentation ids, 409): the
    create rolls back with the cloud's words and the way out, --network, which then works."""
    srv = start(tmp_path_factory, CAAS_SEGMENTATION_RANGE="1:2")
    try:
        with client_for(srv, issue_token(srv)) as c:
            provided = network(c, "provided", "10.99.0.0/24", shared=True)  # the cloud's network: id 1
            assert create(c, "first", 1)["status"] == "ACTIVE"  # takes the last segmentation id
            v = create(c, "second", 1)
            assert v["status"] == "ERROR" and "network: 409: " in v["status_reason"], v
            assert "No tenant network is available for allocation" in v["status_reason"]
            assert "give the cluster one of the cloud's networks with --network NAME" in v["status_reason"]
            delete(c, "second")
            v = create(c, "third", 1, network="provided", ready="servers")
            assert v["status"] == "ACTIVE", v
            for name in ("third", "first"):
                delete(c, name)
            assert c.delete(f"{NET}/subnets/{provided['subnet']}").status_code == 204
            assert c.delete(f"{NET}/networks/{provided['id']}").status_code == 204
            assert leftovers(c) == {}
    finally:
        stop(srv)


def test_restart_during_a_create_without_its_key_rolls_back(tmp_path_factory):
    """A create recorded before caas kept the user's key (none in its row) cannot be made
    again after a restart: it is rolled back, and its name is free again."""
    srv = start(tmp_path_factory, CAAS_FAKE_BOOT_DELAY=1.5)
    try:
        with client_for(srv, issue_token(srv)) as c:
            r = c.post(f"{API}/clusters", json=body("oldrow", 2))
            assert r.status_code == 202
            wait_for_step(c, "oldrow", "nodes")
        crash(srv)
        with sqlite3.connect(srv.data_dir / "caas.db") as db:
            db.execute("UPDATE cluster SET user_public_key = '' WHERE name = 'oldrow'")
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            v = wait(c, "oldrow")
            assert v["status"] == "ERROR" and "restarted during the create" in v["status_reason"], v
            assert "rolled back" in v["status_reason"]
            assert leftovers(c) == {}
            assert create(c, "oldrow", 1)["status"] == "ACTIVE"  # the name is free again
            delete(c, "oldrow")
    finally:
        stop(srv)


def test_cluster_layer_on_a_cloud_from_clouds_yaml(tmp_path_factory):
    """CAAS_CLUSTER_CLOUD names a cloud in clouds.yaml: here caas's own, as a user would."""
    base = tmp_path_factory.mktemp("caas")
    srv = CaasServer(base / "data", env={"CAAS_CLUSTER_CLOUD": "caas", "CAAS_CLUSTER_GUEST": "none",
                                         "OS_CLIENT_CONFIG_FILE": str(base / "data" / "clouds.yaml")}).start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            v = create(c, "viayaml", 1)
            assert v["status"] == "ACTIVE", v["status_reason"]
            delete(c, "viayaml")
            assert leftovers(c) == {}
    finally:
        stop(srv)


def test_restart_rolls_back_a_server_whose_id_was_never_noted(tmp_path_factory):
    """A crash between a node's server being asked for and its id being noted (the window of a
    kill -9 in the nodes step, the server still building): the restart finds the server by
    name, deletes it, and waits until it is gone before the cluster is ACTIVE again. (Its build
    restarts with caas, and a delete waits for the build, as in Nova.)"""
    srv = start(tmp_path_factory, CAAS_FAKE_BOOT_DELAY=2)
    try:
        with client_for(srv, issue_token(srv)) as c:
            assert create(c, "lost", 2)["status"] == "ACTIVE"
        crash(srv)
        with sqlite3.connect(srv.data_dir / "caas.db") as db:
            cid = db.execute("SELECT id FROM cluster WHERE name = 'lost'").fetchone()[0]
            db.execute("UPDATE cluster SET status = 'UPDATING', operation = 'add', step = 'nodes', "
                       "operation_nodes = ? WHERE id = ?", (json.dumps(["node002"]), cid))
            assert db.execute("UPDATE cluster_resource SET cloud_id = NULL WHERE cluster_id = ? "
                              "AND node = 'node002'", (cid,)).rowcount == 2
            assert db.execute("UPDATE server SET status = 'building', task_state = 'spawning' "
                              "WHERE name = 'lost-node002'").rowcount == 1
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            v = wait(c, "lost")
            assert v["status"] == "ACTIVE" and "restarted while nodes were added" in v["status_reason"]
            assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001"]
            assert sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]) == [
                "lost-head", "lost-node001"]
            delete(c, "lost")
            assert leftovers(c) == {}
    finally:
        stop(srv)


def test_restart_removes_network_resources_made_but_never_tagged(tmp_path_factory):
    """A crash between a network resource's create and its tag (real Neutron takes no tags in a
    create, so the cluster layer tags through the tags API just after) and before its id is
    noted: the restart, which removes what the create made before making it again, finds each
    by name and description: the cluster ends with one of each, and its delete leaves nothing."""
    srv = start(tmp_path_factory)
    try:
        with client_for(srv, issue_token(srv)) as c:
            assert create(c, "untagged", 1)["status"] == "ACTIVE"
            assert c.get("/network/v2.0/networks", params={"tags": f"caas-cluster-{project_cluster(c)}"}).json()[
                "networks"], "the cluster's network carries its tag"
            counts = {kind: len(items) for kind, items in leftovers(c).items()}
        crash(srv)
        with sqlite3.connect(srv.data_dir / "caas.db") as db:
            cid = db.execute("SELECT id FROM cluster WHERE name = 'untagged'").fetchone()[0]
            db.execute("UPDATE cluster SET status = 'BUILDING', operation = 'create', step = 'nodes' "
                       "WHERE id = ?", (cid,))
            assert db.execute("UPDATE cluster_resource SET cloud_id = NULL WHERE cluster_id = ? AND kind IN "
                              "('network', 'subnet', 'router', 'security_group', 'floating_ip', 'port')",
                              (cid,)).rowcount >= 8
            for table in ("network", "subnet", "router", "security_group", "floating_ip", "port"):
                db.execute(f"UPDATE {table} SET tags = '[]'")  # noqa: S608 - the test's own table names
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            v = wait(c, "untagged")
            assert v["status"] == "ACTIVE", v
            left = leftovers(c)
            assert left["networks"] == ["untagged-net"] and left["routers"] == ["untagged-router"], left
            assert len(left["floatingips"]) == 1 and sorted(left["security_groups"]) == [
                "untagged-cluster", "untagged-head"], left
            assert {kind: len(items) for kind, items in left.items()} == counts  # no second of anything
            delete(c, "untagged")
            assert leftovers(c) == {}
    finally:
        stop(srv)


def project_cluster(c) -> str:
    return c.get(f"{API}/clusters/untagged").json()["cluster"]["id"]


def test_ready_servers_needs_no_guest_while_ready_ssh_does(tmp_path_factory):
    """With the guest checks on (CAAS_CLUSTER_GUEST=ssh) on the fake driver, whose servers boot
    nothing: a cluster with ready=servers is ACTIVE once every server is ACTIVE with its
    addresses; one with the default (ssh) waits for the head to answer SSH and fails, rolled back."""
    srv = start(tmp_path_factory, CAAS_CLUSTER_GUEST="ssh", CAAS_CLUSTER_TIMEOUT=2)
    try:
        with client_for(srv, issue_token(srv)) as c:
            v = create(c, "byservers", 2, ready="servers")
            assert v["status"] == "ACTIVE" and v["ready"] == "servers", v["status_reason"]
            assert v["nodes_ready"] == 2 and all(n["status"] == "ACTIVE" for n in v["nodes"])
            events = c.get(f"{API}/clusters/byservers/events").json()["events"]
            ready = [e["message"] for e in events if e["step"] == "ready"]
            assert ready == ["ready=servers: every server ACTIVE with its addresses: ACTIVE servers count as ready",
                             "done"]
            servers = c.get("/compute/v2.1/servers/detail").json()["servers"]
            assert len(servers) == 3 and all(s["status"] == "ACTIVE" and s["addresses"] for s in servers)
            delete(c, "byservers")
            v = create(c, "byssh", 0)
            assert v["ready"] == "ssh" and v["status"] == "ERROR", v
            assert "rolled back, nothing is left" in v["status_reason"], v["status_reason"]
            assert leftovers(c) == {}
            delete(c, "byssh")
    finally:
        stop(srv)


def test_restart_during_add_and_delete(tmp_path_factory):
    """kill -9 while nodes are added: the restart removes just those; kill -9 right after a
    delete is asked for: the restart finishes it (or it had finished)."""
    srv = start(tmp_path_factory, CAAS_FAKE_BOOT_DELAY=1.5)
    try:
        with client_for(srv, issue_token(srv)) as c:
            assert create(c, "busy", 1)["status"] == "ACTIVE"
            assert c.post(f"{API}/clusters/busy/nodes", json={"nodes": {"count": 2}}).status_code == 202
            wait_for_step(c, "busy", "nodes")
        crash(srv)
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            v = wait(c, "busy")
            assert v["status"] == "ACTIVE" and "restarted while nodes were added" in v["status_reason"]
            assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001"]
            assert sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]) == [
                "busy-head", "busy-node001"]
            assert c.delete(f"{API}/clusters/busy").status_code == 202
        crash(srv)
        srv.start()
        with client_for(srv, issue_token(srv)) as c:
            assert wait(c, "busy") is None
            assert leftovers(c) == {}
    finally:
        stop(srv)
