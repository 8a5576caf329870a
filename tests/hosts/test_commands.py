"""The command queue's restart rules, in process on a real (migrated) SQLite database and the
real fake driver: the controller's side (``CommandQueue``: a result sent twice counts once,
fetched commands come again after the agent's restart, unsent ones are cancelled at the
controller's start, a down host fails at once) and the agent's (``CommandRunner``: a command
delivered again is answered from the journal, also after a restart, never run twice)."""

from __future__ import annotations

import shutil
import threading

import pytest

from caas.compute.models import ComputeHost
from caas.db import Database
from caas.hosts.commands import CommandQueue
from caas.hosts.remote import spec_data
from caas.hosts.runner import CommandRunner
from caas.virt.driver import DriverError, InstanceSpec, NicSpec
from caas.virt.fake import FakeDriver
from tests.conftest import sqlite_template


@pytest.fixture
def queue(tmp_path):
    shutil.copyfile(sqlite_template(), tmp_path / "caas.db")
    db = Database(f"sqlite:///{tmp_path / 'caas.db'}")
    with db.write() as s:
        s.add(ComputeHost(name="h2", agent=True, up=True))
    yield CommandQueue(db, timeout=30)
    db.dispose()


def spec(instance_id: str = "i-1") -> InstanceSpec:
    nic = NicSpec(port_id="p", mac_address="fa:16:3e:00:00:01", network_id="n", mtu=1450,
                  fixed_ips=({"ip_address": "10.0.0.5", "subnet_id": "s", "cidr": "10.0.0.0/24", "gateway_ip": None},))
    return InstanceSpec(id=instance_id, name="vm", hostname="vm", host="h2", vcpus=1, memory_mb=512, disk_gb=1,
                        image={"id": "img"}, nics=(nic,))


def answer_in_background(queue: CommandQueue, runner: CommandRunner, times: int = 1) -> threading.Thread:
    """An agent's loop: fetch, answer, complete (``times`` fetches that find a command)."""
    def run():
        done = 0
        while done < times:
            for command in queue.fetch("h2", 5):
                queue.complete("h2", runner.answer(command))
                done += 1
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_call_runs_once_on_the_agents_driver(queue, tmp_path):
    driver = FakeDriver('[{"name": "agent-local"}]')
    runner = CommandRunner(driver, tmp_path, "agent-local")
    thread = answer_in_background(queue, runner)
    assert queue.call("h2", "spawn", {"spec": spec_data(spec())}) is None
    thread.join(5)
    assert driver.running() == {"i-1"}
    assert "booting i-1 on agent-local" in driver.console_output("i-1")


def test_a_command_delivered_again_is_answered_from_the_journal(queue, tmp_path):
    driver = FakeDriver('[{"name": "agent-local"}]')
    runner = CommandRunner(driver, tmp_path, "agent-local")
    command = {"id": "c-1", "kind": "spawn", "args": {"spec": spec_data(spec())}}
    first = runner.answer(command)
    driver.destroy("i-1")  # were it run again, it would run again
    restarted = CommandRunner(driver, tmp_path, "agent-local")  # the agent restarted: the journal is read
    assert restarted.answer(command) == first and driver.running() == set()
    assert restarted.unacked() == [first]
    restarted.acked("c-1")
    assert restarted.unacked() == []
    bad = restarted.answer({"id": "c-2", "kind": "format_disk", "args": {}})
    assert bad["ok"] is False and "does not know the command 'format_disk'" in bad["error"]
    broken = restarted.answer({"id": "c-3", "kind": "spawn", "args": {"spec": {"id": 1}}})
    assert broken["ok"] is False and "the agent of agent-local failed" in broken["error"]


def test_results_count_once_and_restarts_requeue_or_cancel(queue):
    with queue.db.write() as s:
        from caas.hosts.models import HostCommand

        s.add(HostCommand(id="sent-1", host="h2", kind="running", args={}, status="pending"))
        s.add(HostCommand(id="pending-1", host="h2", kind="running", args={}, status="pending"))
    assert [c["id"] for c in queue.fetch("h2", 0)] == ["sent-1", "pending-1"]
    assert queue.fetch("h2", 0) == []  # fetched ones are not handed out twice to the running agent
    queue.requeue("h2")  # the agent restarted
    assert sorted(c["id"] for c in queue.fetch("h2", 0)) == ["pending-1", "sent-1"]
    queue.complete("h2", {"id": "sent-1", "ok": True, "value": ["a"]})
    queue.complete("h2", {"id": "sent-1", "ok": False, "error": "late repeat"})
    assert queue.wait("sent-1", "h2") == ["a"]
    with queue.db.write() as s:
        s.add(HostCommand(id="unsent", host="h2", kind="running", args={}, status="pending"))
    assert queue.reset() == 1  # the controller's start: "unsent" is cancelled, h2 down until heard from
    with pytest.raises(DriverError, match="compute host h2 is down"):
        queue.call("h2", "running", {})
    with pytest.raises(DriverError, match="not joined"):
        queue.call("h9", "running", {})
