"""The clusters' health check on the fake driver (both backends, its own ``caas up`` checking
every 0.2 s): a node whose server is stopped (``os-stop``, as a user or an admin would) is DOWN and
its cluster DEGRADED with the reason; nodes cannot be added then, but the down node can be
removed; started again, the node is ACTIVE and the cluster too. The same on real instances
killed behind caas's back: tests/e2e/test_netns_power.py."""

from __future__ import annotations

import time

import pytest

from tests.clusters.common import API, create, delete, error, leftovers, wait
from tests.compute.conftest import own_server
from tests.conftest import BACKENDS, client_for, issue_token

C = "/compute/v2.1"


@pytest.fixture(scope="module", params=BACKENDS)
def srv(request, tmp_path_factory):
    own = own_server(request, tmp_path_factory, {"CAAS_CLUSTER_CHECK_INTERVAL": "0.2"})
    yield own.srv
    own.finish()


def until(c, ref: str, predicate, what: str, timeout: float = 60) -> dict:
    """The cluster's view once ``predicate(view)`` holds (a wait, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        v = c.get(f"{API}/clusters/{ref}").json()["cluster"]
        if predicate(v):
            return v
        assert time.monotonic() < deadline, f"{what}: still {v['status']} {v['status_reason']!r} {v['nodes']}"
        time.sleep(0.1)


def power(c, server_id: str, action: str, status: str) -> None:
    r = c.post(f"{C}/servers/{server_id}/action", json={action: None})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while c.get(f"{C}/servers/{server_id}").json()["server"]["status"] != status:
        assert time.monotonic() < deadline, f"server {server_id} never {status}"
        time.sleep(0.05)


def node(v: dict, name: str) -> dict:
    return next(n for n in v["nodes"] if n["name"] == name)


def test_a_stopped_node_is_down_and_its_cluster_degraded_until_started(srv):
    with client_for(srv, issue_token(srv)) as c:
        v = create(c, "hl", 2)
        assert v["status"] == "ACTIVE" and v["nodes_ready"] == 2
        sid = node(v, "node002")["server_id"]
        power(c, sid, "os-stop", "SHUTOFF")
        v = until(c, "hl", lambda v: v["status"] == "DEGRADED", "a stopped node's cluster is DEGRADED")
        assert node(v, "node002")["status"] == "DOWN" and node(v, "node001")["status"] == "ACTIVE"
        assert v["nodes_ready"] == 1
        assert v["status_reason"] == "node002: its server is SHUTOFF (power state Shutdown)"
        events = [e["message"] for e in c.get(f"{API}/clusters/hl/events").json()["events"]]
        assert any(m.startswith("node002 is down: its server is SHUTOFF") for m in events)
        # the list says the same
        listed = next(x for x in c.get(f"{API}/clusters").json()["clusters"] if x["name"] == "hl")
        assert listed["status"] == "DEGRADED" and listed["nodes_ready"] == 1
        e = error(c.post(f"{API}/clusters/hl/nodes", json={"nodes": {"count": 1}}), 409)
        assert "DEGRADED" in e["message"] and "start" in e["message"]
        power(c, sid, "os-start", "ACTIVE")
        v = until(c, "hl", lambda v: v["status"] == "ACTIVE", "a started node's cluster is ACTIVE again")
        assert node(v, "node002")["status"] == "ACTIVE" and v["nodes_ready"] == 2 and v["status_reason"] == ""
        events = [e["message"] for e in c.get(f"{API}/clusters/hl/events").json()["events"]]
        assert "node002 is up again" in events and "cluster ACTIVE" in events


def test_the_down_node_of_a_degraded_cluster_can_be_removed(srv):
    with client_for(srv, issue_token(srv)) as c:
        v = c.get(f"{API}/clusters/hl").json()["cluster"]
        head = node(v, "hl-head")["server_id"]
        power(c, node(v, "node001")["server_id"], "os-stop", "SHUTOFF")
        power(c, head, "os-stop", "SHUTOFF")
        v = until(c, "hl", lambda v: v["status"] == "DEGRADED" and node(v, "hl-head")["status"] == "DOWN",
                  "the head and node001 are DOWN")
        assert v["status_reason"] == ("hl-head: its server is SHUTOFF (power state Shutdown); "
                                      "node001: its server is SHUTOFF (power state Shutdown)")
        assert c.delete(f"{API}/clusters/hl/nodes/node001").status_code == 202
        v = wait(c, "hl")
        # what is left still has a node down: DEGRADED, not ACTIVE
        assert v["status"] == "DEGRADED" and [n["name"] for n in v["nodes"]] == ["hl-head", "node002"]
        power(c, head, "os-start", "ACTIVE")
        v = until(c, "hl", lambda v: v["status"] == "ACTIVE", "the head is up again")
        assert v["status_reason"] == "" and v["nodes_ready"] == 1
        delete(c, "hl")
        assert leftovers(c) == {}
