"""The hypervisor driver protocol: what the compute service asks of a driver, and the data it
passes. A driver runs instances on the hosts it reports; every method is synchronous, called
from a compute worker thread, and raises ``DriverError`` (with a message fit for a server's
fault) when it cannot do what it was asked. Everything crossing the protocol is plain data
(dataclasses of ids, addresses and numbers; the network's in ``caas.virt.topology``), so the
same calls can later cross a network to an agent on another host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Protocol, runtime_checkable

from caas.virt.topology import Topology

# Nova's power states (nova/compute/power_state.py): what a driver reports of an instance.
NOSTATE = 0  # the hypervisor has no such instance
RUNNING = 1
SHUTDOWN = 4  # stopped because it was asked to (power_off)
CRASHED = 6  # stopped without being asked: killed, out of memory, the host rebooted
POWER_STATE_NAMES = {NOSTATE: "NOSTATE", RUNNING: "Running", SHUTDOWN: "Shutdown", CRASHED: "Crashed"}


class DriverError(Exception):
    """The driver could not do it; the message says why (it becomes the server's fault)."""


@dataclass(frozen=True)
class PciDevice:
    address: str  # e.g. "0000:81:00.0"
    vendor_id: str  # lower-case hex, e.g. "10de"
    product_id: str


@dataclass(frozen=True)
class HostInfo:
    """A compute host as the driver sees it (capacity before allocation ratios)."""

    name: str
    vcpus: int
    memory_mb: int
    local_gb: int
    availability_zone: str = "nova"
    pci_devices: tuple[PciDevice, ...] = ()
    hypervisor_type: str = "fake"
    hypervisor_version: int = 1000
    host_ip: str = "127.0.0.1"
    cpu_info: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class NicSpec:
    port_id: str
    mac_address: str
    network_id: str
    mtu: int
    fixed_ips: tuple[Mapping, ...]  # {"ip_address", "subnet_id", "cidr", "gateway_ip"}


@dataclass(frozen=True)
class ShareMount:
    """A share the instance may mount: ``export`` is its export location (what the guest names
    in cloud-config ``mounts``), ``source`` the directory on the host that holds it, bound
    read-only when ``read_only``."""

    export: str
    source: str
    read_only: bool = False


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a driver needs to run one instance."""

    id: str
    name: str
    hostname: str
    host: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    image: Mapping  # the image's view (id, name, disk_format, properties ...)
    nics: tuple[NicSpec, ...] = ()
    key_data: str | None = None
    user_data: str | None = None  # base64, as the API received it
    metadata: Mapping = field(default_factory=dict)
    config_drive: bool = False
    pci_devices: tuple[PciDevice, ...] = ()
    # The shares the instance's addresses are allowed (given again at every start and reboot).
    shares: tuple[ShareMount, ...] = ()


@dataclass(frozen=True)
class Owned:
    """One thing a driver made outside caas's database and answers for (a namespace, a link, a
    firewall table, an instance's files ...), as ``owned`` lists it: what it is, its name (in
    ``netns``, "" for the host's), and the cloud object it is for (``owner_kind`` "server",
    "network", "port", "router" or "host", and that object's id)."""

    kind: str
    name: str
    owner_kind: str
    owner_id: str
    netns: str = ""


@runtime_checkable
class Driver(Protocol):
    """One-line contracts; see virt/fake.py for the reference implementation."""

    name: str
    # What the driver can do, as data: {"real_instances", "console_output", "volumes", "pci", ...}.
    capabilities: Mapping[str, bool]

    def start(self) -> None:
        """Called once at start, after the first ``apply_network`` and before any other call:
        adopt or remove what a previous run left (the kernel converged with that topology)."""

    def stop(self) -> None:
        """Called at shutdown: stop background work; running instances may keep running."""

    def hosts(self) -> list[HostInfo]:
        """The compute hosts this driver runs instances on (called at start)."""

    def apply_network(self, topology: Topology) -> None:
        """Make the host's networks match ``topology`` (the whole desired state; soon, maybe in
        the background); a topology of a lower generation than the one held is ignored."""

    def network(self) -> Topology:
        """The topology held now: the newest given (an empty one before the first)."""

    def spawn(self, spec: InstanceSpec) -> None:
        """Start the instance on ``spec.host``; on return it is running. DriverError if not."""

    def destroy(self, instance_id: str) -> None:
        """Stop the instance and remove everything of it; idempotent (unknown ids are fine)."""

    def power_off(self, instance_id: str) -> None:
        """Stop the instance, keeping its files and addresses."""

    def power_on(self, spec: InstanceSpec) -> None:
        """Start a stopped instance again, remaking from ``spec`` (as Nova passes its network
        info) what it needs that is gone, such as its network namespace after a host reboot."""

    def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        """Restart the instance (soft: ask it to; hard: power-cycle, remaking as power_on)."""

    def power_states(self, instance_ids: Iterable[str]) -> dict[str, int]:
        """The power state of each of ``instance_ids`` as the hypervisor sees it now (RUNNING,
        SHUTDOWN, CRASHED, or NOSTATE when it has no such instance); read, never remembered."""

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        """The instance's console log, the last ``length`` lines when given."""

    def attach_volume(self, instance_id: str, path: Path, device: str) -> None:
        """Make the block device at ``path`` visible in the instance as ``device``."""

    def detach_volume(self, instance_id: str, device: str) -> None:
        """Remove ``device`` from the instance; idempotent."""

    def running(self) -> set[str]:
        """Ids of the instances the driver runs now (for reconciliation at start)."""

    def owned(self) -> list[Owned]:
        """Everything the driver made and has not removed yet, as it recorded it (read now)."""

    def cleanup(self, everything: bool = False) -> list[str]:
        """Remove the instances and objects the topology held no longer owns (its ``servers``,
        networks, routers ...), or all of them with ``everything`` (the driver's own host-wide
        objects included: only while no cloud uses it). Returns what was removed, one name
        each, for the user to read; idempotent."""
