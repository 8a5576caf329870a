"""``RemoteDriver``: the controller's driver when hosts have joined. It composes the local
driver (the controller's own hosts, the network, cleanup) and the agent hosts: a call for an
instance on an agent host becomes a command its agent runs on its own driver (hosts/commands.py).
Compute receives it from the composition root in place of the local driver and sees one driver.

Which host runs an instance is recorded (``host_instance``) before its spawn is sent; an
instance without a record is the local driver's. A call to a host that is down fails at once
with a DriverError saying so; a power state asked of a down host is the one recorded (the
instance is taken to keep running out of sight, and nothing is synced from a guess)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

from sqlalchemy import select

from caas.compute.models import Server
from caas.hosts.commands import CommandQueue
from caas.virt.driver import DriverError, HostInfo, InstanceSpec, Owned
from caas.virt.topology import Topology


def spec_data(spec: InstanceSpec) -> dict:
    """``spec`` as JSON-able data (the agent rebuilds it with ``caas.hosts.agent.spec_from``)."""
    return dataclasses.asdict(spec)


class RemoteDriver:
    """The local driver plus the agent hosts (see the module)."""

    name = "remote"

    def __init__(self, local, queue: CommandQueue, db) -> None:
        self.local = local
        self.queue = queue
        self.db = db
        self.name = local.name
        self.capabilities = local.capabilities

    # ---- the local driver's alone ---------------------------------------------------------------
    def start(self) -> None:
        self.queue.reset()
        self.local.start()

    def stop(self) -> None:
        self.local.stop()

    def hosts(self) -> list[HostInfo]:
        return self.local.hosts()

    def apply_network(self, topology: Topology) -> None:
        self.local.apply_network(topology)

    def network(self) -> Topology:
        return self.local.network()

    def owned(self) -> list[Owned]:
        return self.local.owned()

    def cleanup(self, everything: bool = False) -> list[str]:
        return self.local.cleanup(everything)

    # ---- routed by the instance's host ----------------------------------------------------------
    def spawn(self, spec: InstanceSpec) -> None:
        if not self.queue.is_agent_host(spec.host):
            self.local.spawn(spec)
            return
        self.queue.check_up(spec.host)
        self.queue.place(spec.id, spec.host)  # recorded before the agent can run it
        self.queue.call(spec.host, "spawn", {"spec": spec_data(spec)})

    def destroy(self, instance_id: str) -> None:
        host = self.queue.host_of(instance_id)
        if host is None:
            self.local.destroy(instance_id)
            return
        self.queue.call(host, "destroy", {"instance_id": instance_id})
        self.queue.forget(instance_id)

    def power_off(self, instance_id: str) -> None:
        self._by_id(instance_id, "power_off")

    def power_on(self, spec: InstanceSpec) -> None:
        self._by_spec(spec, "power_on", {})

    def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        self._by_spec(spec, "reboot", {"hard": bool(hard)})

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        host = self.queue.host_of(instance_id)
        if host is None:
            return self.local.console_output(instance_id, length)
        return str(self.queue.call(host, "console_output", {"instance_id": instance_id, "length": length}))

    def attach_volume(self, instance_id: str, path: Path, device: str) -> None:
        if self.queue.host_of(instance_id) is not None:
            raise DriverError("volumes on joined compute hosts are not supported yet")
        self.local.attach_volume(instance_id, path, device)

    def detach_volume(self, instance_id: str, device: str) -> None:
        if self.queue.host_of(instance_id) is not None:
            raise DriverError("volumes on joined compute hosts are not supported yet")
        self.local.detach_volume(instance_id, device)

    def power_states(self, instance_ids: Iterable[str]) -> dict[str, int]:
        ids = list(instance_ids)
        where = self.queue.hosts_of(ids)
        out = self.local.power_states([i for i in ids if i not in where]) if len(where) < len(ids) else {}
        by_host: dict[str, list[str]] = {}
        for iid, host in where.items():
            by_host.setdefault(host, []).append(iid)
        for host, hids in by_host.items():
            try:
                got = self.queue.call(host, "power_states", {"instance_ids": hids})
                out.update({i: int(got.get(i, 0)) for i in hids})
            except (DriverError, AttributeError, TypeError, ValueError):
                out.update(self._recorded(hids))
        return out

    def running(self) -> set[str]:
        """The local driver's, and those recorded on agent hosts (they run out of this
        machine's sight; their agents answer for them)."""
        return self.local.running() | set(self.queue.instances())

    # ---- helpers --------------------------------------------------------------------------------
    def _by_id(self, instance_id: str, kind: str) -> None:
        host = self.queue.host_of(instance_id)
        if host is None:
            getattr(self.local, kind)(instance_id)
        else:
            self.queue.call(host, kind, {"instance_id": instance_id})

    def _by_spec(self, spec: InstanceSpec, kind: str, extra: dict) -> None:
        host = self.queue.host_of(spec.id)
        if host is None:
            getattr(self.local, kind)(spec, **extra)
        else:
            self.queue.call(host, kind, {"spec": spec_data(spec), **extra})

    def _recorded(self, instance_ids: list[str]) -> dict[str, int]:
        with self.db.read() as s:
            return dict(s.execute(select(Server.id, Server.power_state).where(Server.id.in_(instance_ids))).all())
