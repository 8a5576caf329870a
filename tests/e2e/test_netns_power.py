"""Instances that die behind caas's back, on real instances (the netns driver), through the real
``openstack`` CLI, the cluster commands and ``ssh``; power states synced every second and the
clusters checked every second:

- a cluster node's init killed (by the pid caas recorded): its server turns SHUTOFF with power
  state Crashed, the node is DOWN and the cluster DEGRADED; ``openstack server start`` brings it
  back, SSH answers from the head by name, and the cluster is ACTIVE again;
- the head's init killed, then ``openstack server reboot --hard``: the same, SSH through the
  floating IP;
- caas stopped, ``caas cleanup --all``, caas started: every server is listed SHUTOFF (power
  state Shutdown), not ACTIVE, and the cluster DEGRADED; ``openstack server start`` boots the
  head again from its record (a fresh disk: its first-boot setup runs again) and SSH answers;
- the cluster deleted, nothing is left (``kernel.stop_and_clean``).

SQLite only, as the other netns tests; the tests run in order and share one ``caas up``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import caas_command
from tests.e2e import kernel
from tests.e2e.test_netns_cli import ssh_eventually
from tests.e2e.test_netns_clusters import on_head, run, show, start_cloud, user
from tests.e2e.test_openstack_cli import OPENSTACK, osc, osc_json

pytestmark = [pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed"),
              pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing()))]

WAIT = 60  # seconds: a dead instance is SHUTOFF within a minute (here the syncs run every second)
# Nova's power states; the CLI's JSON gives the number, its table the name
RUNNING, SHUTDOWN, CRASHED = (1, "Running"), (4, "Shutdown"), (6, "Crashed")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    srv = start_cloud(tmp_path_factory, "netns-power", CAAS_POWER_SYNC_INTERVAL="1", CAAS_CLUSTER_CHECK_INTERVAL="1")
    yield srv
    kernel.stop_and_clean(srv, srv.before)


@pytest.fixture(scope="module")
def carol(cloud):
    return user(cloud, "carol")


def until(what: str, probe, timeout: float = WAIT):
    """``probe()``'s first true answer; fails after ``timeout`` seconds (a wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.5)


def server(env: dict, name: str) -> dict:
    return osc_json(env, "server", "show", name)


def server_in(env: dict, name: str, status: str) -> dict | None:
    shown = server(env, name)
    return shown if shown["status"] == status else None


def node(view: dict, name: str) -> dict:
    return next(n for n in view["nodes"] if n["name"] == name)


def cluster_in(env: dict, status: str) -> dict | None:
    v = show(env, "pw")
    return v if v["status"] == status else None


def kill_init(cloud, server_id: str) -> None:
    """SIGKILL to the instance's PID 1, read from the pid file caas keeps for it."""
    pid = int((cloud.data_dir / "instances" / server_id / "init.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)


def test_a_killed_node_is_shutoff_and_down_until_started(cloud, carol):
    env = carol["env"]
    run(env, "os_cluster", "create", "pw", "host", "base", "-n", "2")
    v = show(env, "pw")
    assert v["status"] == "ACTIVE" and v["nodes_ready"] == 2
    kill_init(cloud, node(v, "node002")["server_id"])
    shown = until("the killed node's server is SHUTOFF", lambda: server_in(env, "pw-node002", "SHUTOFF"))
    assert shown["OS-EXT-STS:power_state"] in CRASHED and shown["OS-EXT-STS:vm_state"] == "stopped"
    v = until("the cluster is DEGRADED", lambda: cluster_in(env, "DEGRADED"))
    assert node(v, "node002")["status"] == "DOWN" and node(v, "node001")["status"] == "ACTIVE"
    assert v["nodes_ready"] == 1
    assert v["status_reason"] == "node002: its server is SHUTOFF (power state Crashed)"
    osc(env, "server", "start", "pw-node002")
    shown = until("the started server is ACTIVE", lambda: server_in(env, "pw-node002", "ACTIVE"))
    assert shown["OS-EXT-STS:power_state"] in RUNNING
    assert on_head(env, "pw", "ssh node002 hostname").strip() == "node002"
    v = until("the cluster is ACTIVE again", lambda: cluster_in(env, "ACTIVE"))
    assert node(v, "node002")["status"] == "ACTIVE" and v["nodes_ready"] == 2 and v["status_reason"] == ""


def test_a_killed_head_comes_back_with_a_hard_reboot(cloud, carol):
    env = carol["env"]
    kill_init(cloud, node(show(env, "pw"), "pw-head")["server_id"])
    until("the killed head's server is SHUTOFF", lambda: server_in(env, "pw-head", "SHUTOFF"))
    v = until("the cluster is DEGRADED", lambda: cluster_in(env, "DEGRADED"))
    assert node(v, "pw-head")["status"] == "DOWN"
    assert v["status_reason"] == "pw-head: its server is SHUTOFF (power state Crashed)"
    osc(env, "server", "reboot", "--hard", "pw-head")
    until("the rebooted head is ACTIVE", lambda: server_in(env, "pw-head", "ACTIVE"))
    assert run(env, "caas", "cluster", "ssh", "pw", "--", "hostname").stdout.strip() == "pw-head"
    v = until("the cluster is ACTIVE again", lambda: cluster_in(env, "ACTIVE"))
    assert node(v, "pw-head")["status"] == "ACTIVE"


def test_after_cleanup_all_a_restarted_caas_lists_servers_shutoff(cloud, carol):
    env = carol["env"]
    cluster_id = show(env, "pw")["id"]
    assert cloud.stop() == 0
    out = subprocess.run(caas_command() + ["cleanup", "--all", "--data-dir", str(cloud.data_dir)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not {n for n in kernel.namespaces() if n.startswith("cs-i")}  # no instance is left
    cloud.start(90)
    listed = json.loads(subprocess.run([OPENSTACK, "server", "list", "--long", "-f", "json"], env=env,
                                       capture_output=True, text=True, check=True).stdout)
    assert sorted(s["Name"] for s in listed) == ["pw-head", "pw-node001", "pw-node002"]
    assert all(s["Status"] == "SHUTOFF" and s["Power State"] in SHUTDOWN for s in listed), listed
    v = until("the cluster is DEGRADED", lambda: cluster_in(env, "DEGRADED"))
    assert {n["status"] for n in v["nodes"]} == {"DOWN"} and v["nodes_ready"] == 0
    # started, the head is booted again from its record: a fresh disk, its setup runs again
    osc(env, "server", "start", "pw-head")
    until("the head is ACTIVE", lambda: server_in(env, "pw-head", "ACTIVE"))
    key = Path(env["CAAS_CONFIG_DIR"]) / "keys" / cluster_id
    assert ssh_eventually(key, v["floating_ip"], "hostname", timeout=60).strip() == "pw-head"
    run(env, "os_cluster", "delete", "pw")
    assert json.loads(subprocess.run([OPENSTACK, "server", "list", "-f", "json"], env=env, capture_output=True,
                                     text=True, check=True).stdout) == []
