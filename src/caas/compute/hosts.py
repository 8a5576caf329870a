"""Compute hosts as the API reads and changes them: hypervisors (paged, with their servers),
compute services (enable, disable, force down), aggregates and availability zones. The rows
are registered, snapshotted and claimed by ``compute.inventory.HostInventory``;
api/compute/hypervisors.py renders what this returns."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas import paging
from caas.compute.common import marker_not_found, require_admin
from caas.compute.inventory import HostInventory
from caas.compute.models import ComputeHost, Server
from caas.db.base import utcnow
from caas.errors import NotFound
from caas.context import AuthContext
from caas.numbers import INT32_MAX, decimal


@dataclass(frozen=True)
class HypervisorQuery:
    """Which hosts a hypervisor list wants: name ``pattern`` (a substring), one page of
    ``limit`` after the host ``marker`` (a uuid when ``by_uuid``, else a row id), and each host's
    servers when ``with_servers``."""

    pattern: str | None = None
    with_servers: bool = False
    limit: int | None = None
    marker: str | None = None
    by_uuid: bool = False


@dataclass(frozen=True)
class Hypervisor:
    """A host, and the (id, name) of its servers when they were asked for (else None)."""

    host: ComputeHost
    servers: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class ServiceRef:
    """A compute service: by its uuid, or by its host and binary (only nova-compute exists)."""

    uuid: str | None = None
    host: str | None = None
    binary: str | None = None


@dataclass(frozen=True)
class ServiceChange:
    """What to change of a compute service; None leaves it. A service disabled keeps
    ``disabled_reason``; one enabled has none."""

    enabled: bool | None = None
    disabled_reason: str | None = None
    forced_down: bool | None = None


def _service_row(s: Session, ref: ServiceRef, lock: bool = False) -> ComputeHost:
    if ref.uuid is not None:
        stmt = select(ComputeHost).where(ComputeHost.uuid == ref.uuid)
        missing = f"Service {ref.uuid} could not be found."
    else:
        stmt = select(ComputeHost).where(ComputeHost.name == ref.host)
        missing = f"Service {ref.binary} on host {ref.host} could not be found."
    row = s.scalar(stmt.with_for_update() if lock else stmt)
    if row is None or (ref.uuid is None and ref.binary != "nova-compute"):
        raise NotFound(missing)
    return row


class Hosts:
    """The hosts as os-hypervisors, os-services and os-availability-zone read and change them:
    rows in ``db``; a change of a service's state makes ``inventory`` read the hosts again."""

    def __init__(self, db, inventory: HostInventory) -> None:
        self.db = db
        self.inventory = inventory

    # ---- os-hypervisors ------------------------------------------------------------------
    def list_hypervisors(self, ctx: AuthContext, q: HypervisorQuery) -> tuple[list[Hypervisor], bool]:
        """One page of the hosts by id (with their servers when asked), and whether more follow."""
        require_admin(ctx, "os_compute_api:os-hypervisors:list")
        with self.db.read() as s:
            stmt = select(ComputeHost.id).order_by(ComputeHost.id)
            if q.pattern:
                stmt = stmt.where(ComputeHost.name.like(f"%{_like(q.pattern)}%", escape="\\"))
            ids, marker = list(s.scalars(stmt)), None
            if q.marker is not None:
                marked = self._host_by_id(s, q.marker, q.by_uuid)
                if marked is None:
                    raise marker_not_found(q.marker)
                marker = str(marked.id)
                if marked.id not in ids:  # filtered out: the page starts where it would be
                    ids = sorted([*ids, marked.id])
            window, more = paging.page(ids, marker, q.limit, key=str)
            rows = list(s.scalars(select(ComputeHost).where(ComputeHost.id.in_(window)).order_by(ComputeHost.id)))
            members = self._host_servers(s, [h.name for h in rows]) if q.with_servers else {}
        return [Hypervisor(h, members.get(h.name, []) if q.with_servers else None) for h in rows], more

    @staticmethod
    def _host_by_id(s: Session, hypervisor_id: str, by_uuid: bool) -> ComputeHost | None:
        """The host with that uuid, or row id (an id that is no 32-bit number marks nothing)."""
        if by_uuid:
            return s.scalar(select(ComputeHost).where(ComputeHost.uuid == hypervisor_id))
        number = decimal(hypervisor_id, 0, INT32_MAX)
        return s.get(ComputeHost, number) if number is not None else None

    def _host_servers(self, s: Session, names: list[str]) -> dict[str, list[tuple[str, str]]]:
        """The (id, name) of the servers on each of the hosts named."""
        out: dict[str, list[tuple[str, str]]] = {}
        for host, sid, name in s.execute(select(Server.host, Server.id, Server.name).where(Server.host.in_(names))):
            out.setdefault(host, []).append((sid, name))
        return out

    def show_hypervisor(self, ctx: AuthContext, hypervisor_id: str, by_uuid: bool,
                        with_servers: bool = False) -> Hypervisor:
        """One host by uuid (``by_uuid``) or row id; NotFound if there is none."""
        require_admin(ctx, "os_compute_api:os-hypervisors:show")
        with self.db.read() as s:
            row = self._host_by_id(s, hypervisor_id, by_uuid)
            if row is None:
                raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
            servers = self._host_servers(s, [row.name]).get(row.name, []) if with_servers else None
            return Hypervisor(row, servers)

    def hypervisor_uptime(self, ctx: AuthContext, hypervisor_id: str, by_uuid: bool) -> tuple[Hypervisor, str]:
        """The host and its ``uptime`` line, in the form of uptime(1) that clients parse (for the
        fake driver: since this process started)."""
        found = self.show_hypervisor(ctx, hypervisor_id, by_uuid)
        up = int(time.monotonic() - _STARTED)
        days, rest = divmod(up, 86400)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        line = (f" {utcnow().strftime('%H:%M:%S')} up {days} days, {rest // 3600:2d}:{rest % 3600 // 60:02d}, "
                f" 0 users,  load average: {load}")
        return found, line

    def list_aggregates(self, ctx: AuthContext) -> list[dict]:
        """os-aggregates: host aggregates are not modelled (a host is only in its zone), so the
        list is empty; ``hypervisor show`` lists them to name a host's aggregates."""
        require_admin(ctx, "os_compute_api:os-aggregates:index")
        return []

    def hypervisor_statistics(self, ctx: AuthContext) -> dict:
        require_admin(ctx, "os_compute_api:os-hypervisors:statistics")
        keys = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")
        with self.db.read() as s:
            rows = list(s.scalars(select(ComputeHost)))
        out = {k: sum(getattr(h, k) for h in rows) for k in keys}
        out.update({"count": len(rows), "free_ram_mb": out["memory_mb"] - out["memory_mb_used"],
                    "free_disk_gb": out["local_gb"] - out["local_gb_used"],
                    "disk_available_least": out["local_gb"] - out["local_gb_used"], "current_workload": 0})
        return out

    # ---- os-services (one nova-compute per host) ------------------------------------------
    def list_services(self, ctx: AuthContext, host: str | None = None, binary: str | None = None) -> list[ComputeHost]:
        """The nova-compute service of each host (of ``host`` only, if given)."""
        require_admin(ctx, "os_compute_api:os-services:list")
        if binary and binary != "nova-compute":
            return []
        with self.db.read() as s:
            stmt = select(ComputeHost).order_by(ComputeHost.id)
            if host:
                stmt = stmt.where(ComputeHost.name == host)
            return list(s.scalars(stmt))

    def find_service(self, ctx: AuthContext, ref: ServiceRef) -> ComputeHost:
        """The host of a compute service; NotFound if there is none."""
        require_admin(ctx, "os_compute_api:os-services:update")
        with self.db.read() as s:
            return _service_row(s, ref)

    def update_service(self, ctx: AuthContext, ref: ServiceRef, change: ServiceChange) -> ComputeHost:
        """Enable, disable (with a reason) or force down a compute service; the host after."""
        require_admin(ctx, "os_compute_api:os-services:update")
        with self.db.write() as s:
            row = _service_row(s, ref, lock=True)
            if change.forced_down is not None:
                row.forced_down = change.forced_down
            if change.enabled is not None:
                row.enabled = change.enabled
                row.disabled_reason = None if change.enabled else change.disabled_reason
            row.updated_at = utcnow()
        self.inventory.forget_snapshot()
        return row

    # ---- os-availability-zone ------------------------------------------------------------
    def availability_zones(self, ctx: AuthContext, detail: bool) -> list[dict]:
        if detail:
            require_admin(ctx, "os_compute_api:os-availability-zone:detail")
        with self.db.read() as s:
            rows = list(s.scalars(select(ComputeHost).order_by(ComputeHost.name)))
        zones: dict[str, list[ComputeHost]] = {}
        for h in rows:
            if h.enabled:
                zones.setdefault(h.availability_zone, []).append(h)
        out = []
        for name, hosts in sorted(zones.items()):
            item = {"zoneName": name, "zoneState": {"available": any(h.up for h in hosts)}, "hosts": None}
            if detail:
                now = _isoformat(utcnow())
                item["hosts"] = {h.name: {"nova-compute": {"available": h.up, "active": h.enabled,
                                                            "updated_at": now}} for h in hosts}
            out.append(item)
        return out


_STARTED = time.monotonic()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _isoformat(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


__all__ = ["Hosts", "Hypervisor", "HypervisorQuery", "ServiceChange", "ServiceRef"]
