"""What Placement publishes of the compute hosts, read-only: each host is a resource provider
(its uuid and name) with inventories (VCPU, MEMORY_MB, DISK_GB: total, reserved, allocation
ratio) and usages (what the servers on it claim).

This is where a real OpenStack publishes its hosts' allocation ratios (os-hypervisors does
not), so clients that must count capacity as the scheduler does (the cluster layer's
pre-check) read it here, from caas as from any cloud. The numbers are the scheduler's own:
capacity is ``(total - reserved) * allocation_ratio``, as the VCPUFilter, RamFilter and
DiskFilter count it (caas reserves nothing on a host).

Holds ``PlacementService``.
"""

from __future__ import annotations

from sqlalchemy import select

from caas.compute.common import require_admin
from caas.compute.models import ComputeHost
from caas.db import Database
from caas.errors import NotFound
from caas.context import AuthContext

# Placement does not version resource provider generations for reads; a host row has none, so
# every provider is at generation 1 (a client that writes would need more: there are no writes).
GENERATION = 1


def _links(uuid: str) -> list[dict]:
    base = f"/resource_providers/{uuid}"
    return [{"rel": "self", "href": base}] + [{"rel": rel, "href": f"{base}/{rel}"}
                                              for rel in ("inventories", "usages", "aggregates", "traits",
                                                          "allocations")]


def _provider(h: ComputeHost) -> dict:
    return {"uuid": h.uuid, "name": h.name, "generation": GENERATION, "links": _links(h.uuid),
            "parent_provider_uuid": None, "root_provider_uuid": h.uuid}


def _inventory(total: int, ratio: float) -> dict:
    return {"total": total, "reserved": 0, "min_unit": 1, "max_unit": max(1, total), "step_size": 1,
            "allocation_ratio": float(ratio)}


class PlacementService:
    """The hosts as Placement resource providers (admin only, as Placement's default policy)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def resource_providers(self, ctx: AuthContext, name: str | None = None, uuid: str | None = None) -> list[dict]:
        """Every host as a resource provider, by name; ``name``/``uuid`` filter exactly."""
        require_admin(ctx, "placement:resource_providers:list")
        stmt = select(ComputeHost).order_by(ComputeHost.name)
        if name is not None:
            stmt = stmt.where(ComputeHost.name == name)
        if uuid is not None:
            stmt = stmt.where(ComputeHost.uuid == uuid)
        with self.db.read() as s:
            return [_provider(h) for h in s.scalars(stmt)]

    def _host(self, ctx: AuthContext, uuid: str, action: str) -> ComputeHost:
        require_admin(ctx, action)
        with self.db.read() as s:
            row = s.scalar(select(ComputeHost).where(ComputeHost.uuid == uuid))
        if row is None:
            raise NotFound(f"No resource provider with uuid {uuid[:80]} found")
        return row

    def resource_provider(self, ctx: AuthContext, uuid: str) -> dict:
        return _provider(self._host(ctx, uuid, "placement:resource_providers:show"))

    def inventories(self, ctx: AuthContext, uuid: str) -> dict:
        """The provider's VCPU, MEMORY_MB and DISK_GB inventories, with its host's ratios."""
        h = self._host(ctx, uuid, "placement:resource_providers:inventories:list")
        return {"resource_provider_generation": GENERATION, "inventories": {
            "VCPU": _inventory(h.vcpus, h.cpu_allocation_ratio),
            "MEMORY_MB": _inventory(h.memory_mb, h.ram_allocation_ratio),
            "DISK_GB": _inventory(h.local_gb, h.disk_allocation_ratio)}}

    def usages(self, ctx: AuthContext, uuid: str) -> dict:
        """What the servers on the provider's host claim, in the inventories' classes."""
        h = self._host(ctx, uuid, "placement:resource_providers:usages")
        return {"resource_provider_generation": GENERATION,
                "usages": {"VCPU": h.vcpus_used, "MEMORY_MB": h.memory_mb_used, "DISK_GB": h.local_gb_used}}


__all__ = ["PlacementService"]
