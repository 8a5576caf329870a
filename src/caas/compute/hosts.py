"""Compute hosts (hypervisors): registered from the driver on every start, read as scheduler
snapshots, claimed and released under a row lock; read and changed as hypervisors, compute
services and availability zones (api/compute/hypervisors.py renders them)."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.compute.common import require_admin
from caas.compute.models import ComputeHost, Server
from caas.compute.scheduler import HostState, RequestSpec
from caas.db.base import utcnow
from caas.errors import BadRequest, NotFound
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


def free_pci(devices) -> dict[tuple[str, str], int]:
    """How many devices of each (vendor, product) a host has free."""
    free: dict[tuple[str, str], int] = {}
    for dev in devices or ():
        if not dev.get("instance_id"):
            key = (dev["vendor_id"], dev["product_id"])
            free[key] = free.get(key, 0) + 1
    return free


def host_state(h: ComputeHost) -> HostState:
    return HostState(name=h.name, availability_zone=h.availability_zone, enabled=h.enabled,
                     up=h.up and not h.forced_down,
                     vcpus=h.vcpus, vcpus_used=h.vcpus_used, memory_mb=h.memory_mb, memory_mb_used=h.memory_mb_used,
                     local_gb=h.local_gb, local_gb_used=h.local_gb_used, cpu_allocation_ratio=h.cpu_allocation_ratio,
                     ram_allocation_ratio=h.ram_allocation_ratio, disk_allocation_ratio=h.disk_allocation_ratio,
                     pci_free=free_pci(h.pci_devices), running_vms=h.running_vms)


class HostsMixin:
    # ---- registration --------------------------------------------------------------------
    def sync_hosts(self) -> None:
        """Make the host rows match the driver: new hosts added, capacities and zones updated
        (claims kept), PCI devices kept by address with their owners; a host the driver no
        longer reports is marked down (its servers stay recorded)."""
        reported = {h.name: h for h in self.driver.hosts()}
        st = self.settings
        with self.db.write() as s:
            rows = {h.name: h for h in s.scalars(select(ComputeHost))}
            for name, info in reported.items():
                row = rows.get(name)
                if row is None:
                    row = ComputeHost(name=name)
                    s.add(row)
                owners = {d["address"]: d.get("instance_id") for d in (row.pci_devices or [])}
                row.pci_devices = [{"address": d.address, "vendor_id": d.vendor_id, "product_id": d.product_id,
                                    "instance_id": owners.get(d.address)} for d in info.pci_devices]
                row.vcpus, row.memory_mb, row.local_gb = info.vcpus, info.memory_mb, info.local_gb
                row.availability_zone = info.availability_zone
                row.hypervisor_type, row.hypervisor_version = info.hypervisor_type, info.hypervisor_version
                row.host_ip, row.cpu_info = info.host_ip, dict(info.cpu_info)
                row.cpu_allocation_ratio = st.cpu_allocation_ratio
                row.ram_allocation_ratio = st.ram_allocation_ratio
                row.disk_allocation_ratio = st.disk_allocation_ratio
                row.up = True
                row.updated_at = utcnow()
            for name, row in rows.items():
                if name not in reported:
                    row.up = False
        self.forget_snapshot()

    # The scheduler reads hosts from a snapshot at most SNAPSHOT_TTL seconds old, kept up to date
    # with this process's own claims and releases. The snapshot only ranks hosts: every claim
    # re-checks the host's locked row, so a stale snapshot (another process's claims) can cost a
    # retry on the next host, never an over-commitment.
    SNAPSHOT_TTL = 1.0

    def host_snapshot(self, s: Session) -> list[HostState]:
        cached = getattr(self, "_snapshot", None)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.SNAPSHOT_TTL:
            return cached[1]
        states = self._read_hosts(s)
        self._snapshot = (now, states)
        return states

    def forget_snapshot(self) -> None:
        self._snapshot = None

    def _adjust_snapshot(self, host: str, sign: int, vcpus: int, ram: int, disk: int, pci: dict) -> None:
        cached = getattr(self, "_snapshot", None)
        if cached is None:
            return
        for st in cached[1]:
            if st.name == host:
                st.vcpus_used += sign * vcpus
                st.memory_mb_used += sign * ram
                st.local_gb_used += sign * disk
                st.running_vms += sign
                for key, n in pci.items():
                    st.pci_free[key] = st.pci_free.get(key, 0) - sign * n
                return

    def _read_hosts(self, s: Session) -> list[HostState]:
        """Every host as a HostState, read as plain rows (no ORM objects: this may run once per
        scheduling decision, over thousands of hosts)."""
        H = ComputeHost
        out = []
        for (name, zone, enabled, up, forced, vcpus, vcpus_used, ram, ram_used, disk, disk_used, cpu_r, ram_r, disk_r,
             devices, vms) in s.execute(select(
                H.name, H.availability_zone, H.enabled, H.up, H.forced_down, H.vcpus, H.vcpus_used, H.memory_mb,
                H.memory_mb_used, H.local_gb, H.local_gb_used, H.cpu_allocation_ratio, H.ram_allocation_ratio,
                H.disk_allocation_ratio, H.pci_devices, H.running_vms).order_by(H.name)):
            out.append(HostState(name=name, availability_zone=zone, enabled=enabled, up=up and not forced,
                                 vcpus=vcpus, vcpus_used=vcpus_used, memory_mb=ram, memory_mb_used=ram_used,
                                 local_gb=disk, local_gb_used=disk_used, cpu_allocation_ratio=cpu_r,
                                 ram_allocation_ratio=ram_r, disk_allocation_ratio=disk_r, pci_free=free_pci(devices),
                                 running_vms=vms))
        return out

    # ---- claims --------------------------------------------------------------------------
    def claim_on(self, s: Session, host_name: str, spec: RequestSpec, server_id: str) -> list[str] | None:
        """Claim ``spec`` on one host under its row lock, re-checking every filter against the
        fresh row. Returns the PCI addresses taken ([] for none), or None if it no longer fits."""
        # populate_existing: the row as locked, even if this session loaded it before.
        row = s.scalar(select(ComputeHost).where(ComputeHost.name == host_name).with_for_update()
                       .execution_options(populate_existing=True))
        if row is None or not self.scheduler.fits(host_state(row), spec):
            return None
        taken: list[str] = []
        devices = [dict(d) for d in row.pci_devices or ()]
        for req in spec.pci_requests:
            need = req.count
            for dev in devices:
                if need and not dev.get("instance_id") and (dev["vendor_id"], dev["product_id"]) in req.specs:
                    dev["instance_id"] = server_id
                    taken.append(dev["address"])
                    need -= 1
            if need:
                return None  # fits() said yes, so this cannot happen; refuse rather than over-claim
        row.pci_devices = devices
        row.vcpus_used += spec.vcpus
        row.memory_mb_used += spec.memory_mb
        row.local_gb_used += spec.disk_gb
        row.running_vms += 1
        self._adjust_snapshot(host_name, +1, spec.vcpus, spec.memory_mb, spec.disk_gb, _pci_counts(devices, taken))
        return taken

    def release_on(self, s: Session, server: Server) -> None:
        """Give back what ``server`` holds on its host (idempotent: the server's host is cleared)."""
        if not server.host:
            return
        row = s.scalar(select(ComputeHost).where(ComputeHost.name == server.host).with_for_update()
                       .execution_options(populate_existing=True))
        if row is not None:
            self._adjust_snapshot(row.name, -1, server.vcpus, server.memory_mb, server.disk_gb,
                                  _pci_counts(row.pci_devices or (), server.pci_devices or ()))
            row.vcpus_used = max(0, row.vcpus_used - server.vcpus)
            row.memory_mb_used = max(0, row.memory_mb_used - server.memory_mb)
            row.local_gb_used = max(0, row.local_gb_used - server.disk_gb)
            row.running_vms = max(0, row.running_vms - 1)
            if any(d.get("instance_id") == server.id for d in row.pci_devices or ()):
                row.pci_devices = [{**d, "instance_id": None} if d.get("instance_id") == server.id else d
                                   for d in row.pci_devices]
        server.host = None
        server.pci_devices = []

    # ---- os-hypervisors ------------------------------------------------------------------
    def list_hypervisors(self, ctx: AuthContext, q: HypervisorQuery) -> tuple[list[Hypervisor], bool]:
        """One page of the hosts by id (with their servers when asked), and whether more follow."""
        require_admin(ctx, "os_compute_api:os-hypervisors:list")
        with self.db.read() as s:
            stmt = select(ComputeHost).order_by(ComputeHost.id)
            if q.pattern:
                stmt = stmt.where(ComputeHost.name.like(f"%{_like(q.pattern)}%", escape="\\"))
            if q.marker is not None:
                marked = self._host_by_id(s, q.marker, q.by_uuid)
                if marked is None:
                    raise BadRequest(f"marker [{q.marker}] not found")
                stmt = stmt.where(ComputeHost.id > marked.id)
            rows = list(s.scalars(stmt.limit(q.limit + 1) if q.limit is not None else stmt))
            more = q.limit is not None and len(rows) > q.limit
            rows = rows[:q.limit] if q.limit is not None else rows
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
        self.forget_snapshot()
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

    def zone_names(self, s: Session) -> set[str]:
        return set(s.scalars(select(ComputeHost.availability_zone).where(ComputeHost.enabled.is_(True))))


def _pci_counts(devices, addresses) -> dict[tuple[str, str], int]:
    """How many of each (vendor, product) the given device addresses are."""
    wanted = set(addresses)
    out: dict[tuple[str, str], int] = {}
    for dev in devices:
        if dev["address"] in wanted:
            key = (dev["vendor_id"], dev["product_id"])
            out[key] = out.get(key, 0) + 1
    return out


_STARTED = time.monotonic()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _isoformat(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


__all__ = ["HostsMixin", "Hypervisor", "HypervisorQuery", "ServiceChange", "ServiceRef", "host_state"]
