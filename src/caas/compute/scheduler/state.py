"""The scheduler's inputs: plain snapshots, no database rows.

Holds:
- ``HostState``: one compute host's capacity and usage at the moment of scheduling.
- ``RequestSpec``: what one instance needs (resources, zone, PCI, server group, hints).
- ``PciAlias``: one entry of Nova's ``[pci] alias`` configuration.
- ``PciRequest``: one parsed ``pci_passthrough:alias`` item.

The caller (the compute service) builds these from its tables; the scheduler never mutates
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class HostState:
    """A snapshot of one compute host. Usable capacity is ``total * ratio - used``."""

    name: str
    availability_zone: str = "nova"
    enabled: bool = True  # the nova-compute service is enabled
    up: bool = True  # the host answers (state "up")
    vcpus: int = 0
    vcpus_used: int = 0
    memory_mb: int = 0
    memory_mb_used: int = 0
    local_gb: int = 0
    local_gb_used: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # (vendor_id, product_id) -> free devices; ids are lower-case hex.
    pci_free: dict[tuple[str, str], int] = field(default_factory=dict)
    running_vms: int = 0


@dataclass(frozen=True, slots=True)
class PciAlias:
    """Nova's ``[pci] alias`` entry, e.g. name "K20m", vendor_id "10de", product_id "1028"."""

    name: str
    vendor_id: str
    product_id: str


@dataclass(frozen=True, slots=True)
class PciRequest:
    """``count`` devices of any of the acceptable ``specs`` (lower-case (vendor_id,
    product_id) pairs); an alias name may be declared more than once, hence several."""

    alias: str
    count: int
    specs: tuple[tuple[str, str], ...]


def disk_gb(disk: int, ephemeral: int, swap_mb: int) -> int:
    """The local disk a flavor takes, as the scheduler counts it: root + ephemeral (GB) + swap
    (MB, rounded up to GB)."""
    return disk + ephemeral + (swap_mb + 1023) // 1024


@dataclass(slots=True)
class RequestSpec:
    """What one instance needs. ``disk_gb`` is root + ephemeral + swap rounded up to GB
    (``disk_gb``), computed by the caller; ``same_host``/``different_host`` are already resolved to host
    names; ``force_host`` is the HOST of an "AZ:HOST" zone (the caller checks policy)."""

    vcpus: int
    memory_mb: int
    disk_gb: int
    availability_zone: str | None = None
    force_host: str | None = None
    pci_requests: tuple[PciRequest, ...] = ()
    # "affinity" | "anti-affinity" | "soft-affinity" | "soft-anti-affinity" | None
    group_policy: str | None = None
    # host name -> number of the group's members already there
    group_hosts: dict[str, int] = field(default_factory=dict)
    max_server_per_host: int = 1  # anti-affinity rule (Nova's rules.max_server_per_host)
    same_host: frozenset[str] | None = None  # None: no same_host hint
    different_host: frozenset[str] = frozenset()
