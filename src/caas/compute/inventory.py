"""The compute hosts as the scheduler sees them: registered from the driver, read as snapshots,
claimed and released under a row lock. One ``HostInventory`` per process, given its
collaborators explicitly (the database, settings, driver and scheduler); it holds the state
that placement decisions share (the snapshot, and the lock that makes them one at a time)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.compute.models import ComputeHost, Server
from caas.compute.scheduler import HostState, RequestSpec, Scheduler
from caas.db.base import utcnow


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


class HostInventory:
    """The hosts, their capacity and claims (see the module's docstring)."""

    def __init__(self, db, settings, driver, scheduler: Scheduler) -> None:
        self.db = db
        self.settings = settings
        self.driver = driver
        self.scheduler = scheduler
        # One placement at a time in this process (see BuildMixin._schedule).
        self.placement_lock = threading.Lock()
        self._snapshot: tuple[float, list[HostState]] | None = None

    def sync(self) -> None:
        """Make the host rows match the driver: new hosts added, capacities and zones updated
        (claims kept), PCI devices kept by address with their owners; a host the driver no
        longer reports is marked down (its servers stay recorded). Hosts of compute agents
        (``agent``) are not the local driver's: their heartbeats say whether they are up."""
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
                if name not in reported and not row.agent:
                    row.up = False
        self.forget_snapshot()

    # The scheduler reads hosts from a snapshot at most SNAPSHOT_TTL seconds old, kept up to date
    # with this process's own claims and releases. The snapshot only ranks hosts: every claim
    # re-checks the host's locked row, so a stale snapshot (another process's claims) can cost a
    # retry on the next host, never an over-commitment.
    SNAPSHOT_TTL = 1.0

    def snapshot(self, s: Session) -> list[HostState]:
        """Every host's state, from the snapshot while it is fresh (read in ``s`` otherwise)."""
        cached = self._snapshot
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.SNAPSHOT_TTL:
            return cached[1]
        states = self._read(s)
        self._snapshot = (now, states)
        return states

    def forget_snapshot(self) -> None:
        """The next ``snapshot`` reads the hosts again."""
        self._snapshot = None

    def _adjust(self, host: str, sign: int, vcpus: int, ram: int, disk: int, pci: dict) -> None:
        """Count a claim (``sign`` +1) or a release (-1) on ``host`` in the snapshot held."""
        cached = self._snapshot
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

    def _read(self, s: Session) -> list[HostState]:
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
        self._adjust(host_name, +1, spec.vcpus, spec.memory_mb, spec.disk_gb, _pci_counts(devices, taken))
        return taken

    def release_on(self, s: Session, server: Server) -> None:
        """Give back what ``server`` holds on its host (idempotent: the server's host is cleared)."""
        if not server.host:
            return
        row = s.scalar(select(ComputeHost).where(ComputeHost.name == server.host).with_for_update()
                       .execution_options(populate_existing=True))
        if row is not None:
            self._adjust(row.name, -1, server.vcpus, server.memory_mb, server.disk_gb,
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

    @staticmethod
    def zone_names(s: Session) -> set[str]:
        """The zones of the enabled hosts."""
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


__all__ = ["HostInventory", "free_pci", "host_state"]
