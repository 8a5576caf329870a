"""Servers on a joined host (issue 20, first part): the controller's driver sends the calls
for an instance on an agent host to its agent (a real ``caas host join`` process on the fake
driver), through the real ``openstack`` CLI: boot, stop, start, reboot, console and delete on
h2; h2's agent killed: new servers land on the first host and h2's server keeps its state;
the agent restarted, or the controller restarted: nothing lost or duplicated.

The tests run in order and share the module's controller and agent."""

from __future__ import annotations

import sqlite3

import pytest

from tests.compute.conftest import wait_until
from tests.conftest import CaasServer, free_port
from tests.e2e.osc import osc, osc_json, requires_cli
from tests.hosts.agents import Agent, add_host, caas

pytestmark = requires_cli
ENV = {"CAAS_HOST_DOWN_AFTER": "3", "CAAS_POWER_SYNC_INTERVAL": "1"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("hosts-instances")
    # A fixed agent port: the agent finds the controller again after its restart.
    srv = CaasServer(base / "controller", env=ENV, args=["--agent-port", str(free_port())]).start()
    agent = Agent(base / "agent-h2", add_host(srv.data_dir, "h2")).start().joined()
    srv.agent = agent
    yield srv
    if srv.agent.proc.poll() is None:
        srv.agent.kill()
    assert srv.server_errors() == 0
    srv.stop()


def state(env: dict, host: str) -> str:
    return {s["Host"]: s["State"] for s in osc_json(env, "compute", "service", "list")}[host]


def boot(env: dict, name: str, *extra: str) -> dict:
    return osc_json(env, "server", "create", "--flavor", "m1.small", "--image", "host", "--nic", "none", *extra,
                    "--wait", name)


def host_of(env: dict, name: str) -> str:
    return osc_json(env, "server", "show", name)["OS-EXT-SRV-ATTR:host"]


def status(env: dict, name: str) -> str:
    return osc_json(env, "server", "show", name)["status"]


def commands(cloud) -> list[tuple]:
    with sqlite3.connect(cloud.data_dir / "caas.db") as db:
        return db.execute("SELECT kind, status, args FROM host_command ORDER BY created_at").fetchall()


def instances(cloud) -> set[str]:
    """The instances the controller records on joined hosts."""
    with sqlite3.connect(cloud.data_dir / "caas.db") as db:
        return {i for (i,) in db.execute("SELECT instance_id FROM host_instance")}


def spawns(cloud, server_id: str) -> int:
    """How many spawn commands the controller recorded for ``server_id``."""
    return sum(1 for kind, _, args in commands(cloud) if kind == "spawn" and server_id in args)


def test_a_server_boots_on_the_joined_host_and_its_agent_runs_it(cloud):
    env = cloud.os_env()
    made = boot(env, "on-h2", "--availability-zone", "nova:h2")
    assert made["status"] == "ACTIVE" and host_of(env, "on-h2") == "h2"
    # The console is the agent's fake driver's: it booted the instance on its own host.
    log = osc(env, "console", "log", "show", "on-h2").stdout
    assert f"booting {made['id']} on agent-local" in log
    with sqlite3.connect(cloud.data_dir / "caas.db") as db:
        assert db.execute("SELECT instance_id, host FROM host_instance").fetchall() == [(made["id"], "h2")]


def test_stop_start_reboot_go_through_the_agent(cloud):
    env = cloud.os_env()
    osc(env, "server", "stop", "on-h2")
    wait_until(lambda: status(env, "on-h2") == "SHUTOFF", 60, "on-h2 SHUTOFF")
    osc(env, "server", "start", "on-h2")
    wait_until(lambda: status(env, "on-h2") == "ACTIVE", 60, "on-h2 ACTIVE")
    osc(env, "server", "reboot", "--wait", "on-h2")
    log = osc(env, "console", "log", "show", "on-h2").stdout
    assert "reboot: Power down" in log and "power on" in log and "Restarting system (soft)" in log
    kinds = [k for k, st, _ in commands(cloud)]
    assert {"spawn", "power_off", "power_on", "reboot", "console_output"} <= set(kinds)
    assert spawns(cloud, osc_json(env, "server", "show", "on-h2")["id"]) == 1


def test_the_scheduler_chooses_the_joined_host_when_the_first_is_disabled(cloud):
    env = cloud.os_env()
    osc(env, "compute", "service", "set", "--disable", "fake-host-1", "nova-compute")
    try:
        boot(env, "chosen")
        assert host_of(env, "chosen") == "h2"
    finally:
        osc(env, "compute", "service", "set", "--enable", "fake-host-1", "nova-compute")
    osc(env, "server", "delete", "--wait", "chosen")


def test_a_host_with_servers_cannot_be_removed(cloud):
    proc = caas("host", "remove", "h2", "--data-dir", str(cloud.data_dir), check=False)
    assert proc.returncode == 1 and "has 1 server(s)" in proc.stderr and "not there yet" in proc.stderr


def host_status(env: dict, server: str) -> str:
    """The server's host_status (compute 2.16, as an admin sees it)."""
    return osc_json(env, "--os-compute-api-version", "2.16", "server", "show", server)["host_status"]


def test_with_the_agent_killed_servers_land_on_the_first_host_and_h2s_keep_their_state(cloud):
    env = cloud.os_env()
    doomed = boot(env, "doomed", "--availability-zone", "nova:h2")
    cloud.doomed = doomed["id"]
    cloud.agent.kill()
    wait_until(lambda: state(env, "h2") == "down", 60, "h2 down")
    # Deleted while its host is down: the server goes; its instance is destroyed once the agent is back.
    osc(env, "server", "delete", "--wait", "doomed")
    assert cloud.doomed in instances(cloud)
    boot(env, "while-down")
    assert host_of(env, "while-down") == "fake-host-1"
    forced = osc(env, "server", "create", "--flavor", "m1.small", "--image", "host", "--nic", "none",
                 "--availability-zone", "nova:h2", "--wait", "forced-down", check=False)
    assert forced.returncode != 0
    shown = osc_json(env, "server", "show", "forced-down")
    assert shown["status"] == "ERROR" and "ComputeFilter removed 1 of 2 hosts" in shown["fault"]["message"]
    # A call for h2's server fails at once, saying why (never a 500).
    console = osc(env, "console", "log", "show", "on-h2", check=False)
    assert console.returncode != 0 and "compute host h2 is down" in console.stderr, console.stderr
    # Power syncs ran meanwhile (every second): h2's server is still what it was.
    assert status(env, "on-h2") == "ACTIVE"
    assert host_status(env, "on-h2") == "UNKNOWN"  # its host is silent, not forced down
    osc(env, "server", "delete", "--wait", "forced-down")


def test_the_agent_restarted_finds_everything_as_it_was(cloud):
    env = cloud.os_env()
    cloud.agent = Agent(cloud.agent.data_dir).start().joined()  # the same data dir, no token
    wait_until(lambda: state(env, "h2") == "up", 60, "h2 up")
    assert [h["Hypervisor Hostname"] for h in osc_json(env, "hypervisor", "list")] == ["fake-host-1", "h2"]
    assert status(env, "on-h2") == "ACTIVE" and host_status(env, "on-h2") == "UP"
    wait_until(lambda: cloud.doomed not in instances(cloud), 60, "the orphan's destroy")
    assert [(k, st) for k, st, args in commands(cloud) if cloud.doomed in args and k == "destroy"] == [
        ("destroy", "done")]
    osc(env, "server", "stop", "on-h2")
    wait_until(lambda: status(env, "on-h2") == "SHUTOFF", 60, "on-h2 SHUTOFF")
    assert spawns(cloud, osc_json(env, "server", "show", "on-h2")["id"]) == 1


def test_the_controller_restarted_finds_its_agent_again(cloud):
    env = cloud.os_env()
    assert cloud.stop() == 0
    cloud.start()
    wait_until(lambda: state(env, "h2") == "up", 60, "h2 up")
    osc(env, "server", "start", "on-h2")
    wait_until(lambda: status(env, "on-h2") == "ACTIVE", 60, "on-h2 ACTIVE")
    server_id = osc_json(env, "server", "show", "on-h2")["id"]
    osc(env, "server", "delete", "--wait", "on-h2")
    assert spawns(cloud, server_id) == 1
    with sqlite3.connect(cloud.data_dir / "caas.db") as db:
        assert db.execute("SELECT count(*) FROM host_instance").fetchone() == (0,)
    assert {st for _, st, _ in commands(cloud)} <= {"done", "cancelled"}
    caas("host", "remove", "h2", "--data-dir", str(cloud.data_dir))
    assert cloud.agent.exited() == 1
