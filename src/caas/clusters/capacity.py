"""Whether a cluster's servers fit the cloud's hosts, counted as the compute scheduler counts.

The hosts are read through openstacksdk from what any OpenStack publishes: Placement's
resource providers (each host's VCPU, MEMORY_MB and DISK_GB inventory, with its allocation
ratio and reserved amount, and its usages) and os-hypervisors (which hosts are enabled and
up). The servers are then placed one by one, as the scheduler will place them, with the same
filters (ComputeFilter, VCPUFilter, RamFilter, DiskFilter: ``used + need <= (total - reserved)
* ratio`` on one host) and weighers: a cluster fits only if every server fits on some host, not
just in the hosts' sum. A refusal names the resource, what is needed, what is free and why
(physical x ratio - used, host by host).

Holds ``Server``, ``read_hosts`` and ``shortfalls``.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import math
from dataclasses import dataclass

from caas.compute.scheduler import HostState, RequestSpec, Scheduler
from caas.compute.scheduler.filters import ComputeFilter, DiskFilter, RamFilter, VCPUFilter

log = logging.getLogger("caas.clusters")

# The hosts a message lists one by one; the others are summed up.
LISTED_HOSTS = 6
# Hosts read from Placement at a time.
READERS = 8


@dataclass(frozen=True)
class Server:
    """One server to place: what its flavor takes (``disk`` in GB: root + ephemeral + swap)."""

    role: str  # "head", "node", or "held" (a node of a cluster being made, no server yet)
    vcpus: int
    ram: int
    disk: int = 0


@dataclass(frozen=True)
class _Resource:
    key: str  # the shortfall's resource: "capacity:<key>"
    label: str
    unit: str  # after a number: " MB", " GB", or "" (vCPUs)
    physical: str  # after a host's total: " physical" for vCPUs, the unit otherwise
    filter: object
    need: str  # the Server field
    total: str  # the HostState fields
    used: str
    ratio: str


RESOURCES = (
    _Resource("vcpus", "vCPUs", "", " physical", VCPUFilter(), "vcpus", "vcpus", "vcpus_used", "cpu_allocation_ratio"),
    _Resource("ram", "RAM", " MB", " MB", RamFilter(), "ram", "memory_mb", "memory_mb_used", "ram_allocation_ratio"),
    _Resource("disk", "disk", " GB", " GB", DiskFilter(), "disk", "local_gb", "local_gb_used",
              "disk_allocation_ratio"),
)


def read_hosts(conn) -> list[HostState] | None:
    """The cloud's compute hosts (``conn``: an admin openstacksdk connection), or None when
    the cloud does not publish them (no Placement, or not to this user): then nothing can be
    counted as the scheduler counts. A provider without a VCPU inventory is no compute host."""
    def provider(p: dict) -> HostState | None:
        inventories = conn.placement.get(f"/resource_providers/{p['uuid']}/inventories").json()["inventories"]
        if "VCPU" not in inventories:
            return None
        usages = conn.placement.get(f"/resource_providers/{p['uuid']}/usages").json()["usages"]
        return _host(p["name"], inventories, usages)

    try:
        providers = conn.placement.get("/resource_providers").json()["resource_providers"]
        # two calls per host: a few at a time (the connection is shared by threads already)
        with cf.ThreadPoolExecutor(max_workers=max(1, min(READERS, len(providers)))) as pool:
            hosts = [h for h in pool.map(provider, providers) if h is not None]
    except Exception as exc:  # noqa: BLE001 - a cloud that hides its hosts gets the other checks only
        log.info("clusters: the cloud's hosts are not readable from Placement (%s); vCPUs are not checked", exc)
        return None
    try:  # Placement names a host as os-hypervisors does; a host missing there counts as usable
        states = {h["hypervisor_hostname"]: h for h in conn.compute.get("/os-hypervisors").json()["hypervisors"]}
    except Exception:  # noqa: BLE001
        states = {}
    for h in hosts:
        state = states.get(h.name, {})
        h.enabled, h.up = state.get("status", "enabled") == "enabled", state.get("state", "up") == "up"
    return hosts


def _host(name: str, inventories: dict, usages: dict) -> HostState:
    """A host's scheduler snapshot from its Placement inventories and usages: what it
    reserves is not there to be used, as in Placement's capacity."""
    def usable(rc: str) -> tuple[int, float]:
        inv = inventories.get(rc) or {}
        return max(0, int(inv.get("total", 0)) - int(inv.get("reserved", 0))), float(inv.get("allocation_ratio", 1.0))

    (vcpus, cpu_r), (ram, ram_r), (disk, disk_r) = usable("VCPU"), usable("MEMORY_MB"), usable("DISK_GB")
    return HostState(name=name, vcpus=vcpus, vcpus_used=int(usages.get("VCPU", 0)), memory_mb=ram,
                     memory_mb_used=int(usages.get("MEMORY_MB", 0)), local_gb=disk,
                     local_gb_used=int(usages.get("DISK_GB", 0)), cpu_allocation_ratio=cpu_r,
                     ram_allocation_ratio=ram_r, disk_allocation_ratio=disk_r)


def _place(hosts: list[HostState], servers: list[Server], filters: list, strategy: str) -> list[Server]:
    """The servers that find no host when placed one by one, in order, as the scheduler places
    them (best host first, each taking its share of it). ``hosts`` are not changed."""
    states = [dataclasses.replace(h) for h in hosts]
    scheduler = Scheduler(filters=[ComputeFilter(), *filters], strategy=strategy)
    left = []
    for server in servers:
        decision = scheduler.select(states, RequestSpec(vcpus=server.vcpus, memory_mb=server.ram,
                                                        disk_gb=server.disk))
        if not decision.hosts:
            left.append(server)
            continue
        best = decision.hosts[0]
        best.vcpus_used += server.vcpus
        best.memory_mb_used += server.ram
        best.local_gb_used += server.disk
    return left


def _free(h: HostState, r: _Resource) -> int:
    """What one more server may take of ``r`` on ``h`` (the filter's ``total * ratio - used``)."""
    return max(0, math.floor(getattr(h, r.total) * getattr(h, r.ratio) - getattr(h, r.used)))


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _composition(servers: list[Server], r: _Resource) -> str:
    """How the need adds up: "head 2 + 3 nodes x 2"."""
    parts = []
    for role in ("head", "node"):
        sizes = [getattr(s, r.need) for s in servers if s.role == role]
        if sizes:
            each = f"{sizes[0]}" if len(set(sizes)) == 1 else "..."
            parts.append(f"head {each}" if role == "head" else f"{len(sizes)} node{'s' if len(sizes) != 1 else ''} x {each}")
    return " + ".join(parts)


def _hosts_text(usable: list[HostState], r: _Resource) -> str:
    """Host by host: "small: 2 physical x ratio 4.0 - 5 used" (with "= N" when several)."""
    several = len(usable) > 1
    parts = [f"{h.name}: {getattr(h, r.total)}{r.physical} x ratio {float(getattr(h, r.ratio))} - "
             f"{getattr(h, r.used)} used" + (f" = {_free(h, r)}" if several else "") for h in usable[:LISTED_HOSTS]]
    if len(usable) > LISTED_HOSTS:
        rest = usable[LISTED_HOSTS:]
        parts.append(f"{len(rest)} more host{'s' if len(rest) != 1 else ''} = {sum(_free(h, r) for h in rest)}")
    return "; ".join(parts)


def _shortfall(r: _Resource, hosts: list[HostState], usable: list[HostState], wanted: list[Server],
               held: list[Server], left: list[Server]) -> dict:
    """The shortfall of ``r``: ``wanted`` (this request's servers, after ``held``) do not all
    fit; ``left`` of them (or of ``held``) found no host."""
    needed = sum(getattr(s, r.need) for s in wanted)
    held_amount = sum(getattr(s, r.need) for s in held)
    free = max(0, sum(_free(h, r) for h in usable) - held_amount)
    where = _hosts_text(usable, r)
    host_word = "host has" if len(usable) == 1 else "hosts have"
    text = f"{r.label}: needs {needed}{r.unit} ({_composition(wanted, r)}), the {host_word} {free}{r.unit} free ({where})"
    if held_amount:
        text += f", after {held_amount}{r.unit} held by the project's clusters being made"
    unused = [h for h in hosts if not (h.enabled and h.up)]
    if unused:
        text += "; not counted: " + ", ".join(f"{h.name} ({'disabled' if not h.enabled else 'down'})"
                                              for h in unused[:LISTED_HOSTS])
    available = free
    if free >= needed:  # enough in all, but not host by host
        fit = len(wanted) - sum(1 for s in left if s.role != "held")
        text += f", but only {max(0, fit)} of the {len(wanted)} servers fit host by host"
        available = sum(getattr(s, r.need) for s in wanted[:max(0, fit)])
    return {"resource": f"capacity:{r.key}", "needed": needed, "available": available, "message": text}


def shortfalls(hosts: list[HostState], wanted: list[Server], held: list[Server], strategy: str = "spread") -> list[dict]:
    """What keeps ``wanted`` (in the order they will be made) from fitting on ``hosts`` after
    ``held`` (servers promised but not made yet): one shortfall per resource that does not fit
    on its own, else one for the resources together; [] when everything fits."""
    if not wanted:
        return []
    servers = held + wanted
    usable = [h for h in hosts if h.enabled and h.up]
    if not usable:
        names = ", ".join(h.name for h in hosts[:LISTED_HOSTS]) or "none"
        return [{"resource": "capacity:hosts", "needed": len(wanted), "available": 0,
                 "message": f"hosts: no compute host is enabled and up to take the {len(wanted)} servers "
                            f"(hosts: {names})"}]
    out = []
    for r in RESOURCES:
        left = _place(hosts, servers, [r.filter], strategy)
        if left:
            out.append(_shortfall(r, hosts, usable, wanted, held, left))
    if out:
        return out
    left = _place(hosts, servers, [r.filter for r in RESOURCES], strategy)
    if not left:
        return []
    fit = len(wanted) - sum(1 for s in left if s.role != "held")
    return [{"resource": "capacity:hosts", "needed": len(wanted), "available": max(0, fit),
             "message": f"hosts: each resource suffices, but no host has room for the vCPUs, RAM and disk of every "
                        f"server together: only {max(0, fit)} of the {len(wanted)} servers fit host by host"}]


__all__ = ["Server", "read_hosts", "shortfalls"]
