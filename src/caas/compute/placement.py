"""What Placement publishes of the compute hosts, read-only: each host is a resource provider
(its uuid and name) with inventories (VCPU, MEMORY_MB, DISK_GB: total, reserved, allocation
ratio) and usages (what the servers on it claim).

This is where a real OpenStack publishes its hosts' allocation ratios (os-hypervisors does
not), so clients that must count capacity as the scheduler does (the cluster layer's
pre-check) read it here, from caas as from any cloud. The numbers are the scheduler's own:
capacity is ``(total - reserved) * allocation_ratio``, as the VCPUFilter, RamFilter and
DiskFilter count it (caas reserves nothing on a host).

Holds ``PlacementService``, which returns ``Provider`` records (api/placement.py renders them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from caas.compute.common import require_admin
from caas.compute.models import ComputeHost
from caas.db import Database
from caas.errors import NotFound
from caas.context import AuthContext


@dataclass(frozen=True)
class Provider:
    """A compute host as a resource provider: its identity, and per resource class (VCPU,
    MEMORY_MB, DISK_GB) its total, allocation ratio and usage."""

    uuid: str
    name: str
    totals: dict[str, int]
    ratios: dict[str, float]
    used: dict[str, int]


def _provider(h: ComputeHost) -> Provider:
    return Provider(uuid=h.uuid, name=h.name,
                    totals={"VCPU": h.vcpus, "MEMORY_MB": h.memory_mb, "DISK_GB": h.local_gb},
                    ratios={"VCPU": h.cpu_allocation_ratio, "MEMORY_MB": h.ram_allocation_ratio,
                            "DISK_GB": h.disk_allocation_ratio},
                    used={"VCPU": h.vcpus_used, "MEMORY_MB": h.memory_mb_used, "DISK_GB": h.local_gb_used})


class PlacementService:
    """The hosts as Placement resource providers (admin only, as Placement's default policy)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def resource_providers(self, ctx: AuthContext, name: str | None = None, uuid: str | None = None) -> list[Provider]:
        """Every host as a resource provider, by name; ``name``/``uuid`` filter exactly."""
        require_admin(ctx, "placement:resource_providers:list")
        stmt = select(ComputeHost).order_by(ComputeHost.name)
        if name is not None:
            stmt = stmt.where(ComputeHost.name == name)
        if uuid is not None:
            stmt = stmt.where(ComputeHost.uuid == uuid)
        with self.db.read() as s:
            return [_provider(h) for h in s.scalars(stmt)]

    def resource_provider(self, ctx: AuthContext, uuid: str, action: str = "show") -> Provider:
        """One provider by uuid, under Placement's policy ``action`` (show, inventories:list,
        usages); NotFound if no host has that uuid."""
        require_admin(ctx, f"placement:resource_providers:{action}")
        with self.db.read() as s:
            row = s.scalar(select(ComputeHost).where(ComputeHost.uuid == uuid))
            if row is None:
                raise NotFound(f"No resource provider with uuid {uuid[:80]} found")
            return _provider(row)


__all__ = ["PlacementService", "Provider"]
