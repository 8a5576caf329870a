"""The netns driver: the Driver protocol on real Linux containers. The local machine is the one
hypervisor; the network side (``network.dataplane``) makes each instance's namespace and ports
and keeps bridges, routers, NAT and security groups in step with the topology the network
service hands it (``apply_network``); ``instance`` runs the container in that namespace."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Iterable, Mapping

from caas.db.engine import Database
from caas.lockfile import Held, hold
from caas.virt.driver import DriverError, HostInfo, InstanceSpec, Owned
from caas.virt.topology import Topology
from caas.virt.netns import devices, names, rootfs
from caas.virt.netns.instance import Instances
from caas.virt.netns.network.dataplane import Dataplane
from caas.virt.netns.records import Records

log = logging.getLogger("caas.netns")

NEEDED = ("nsenter", "unshare", "nft", "ip")
# One netns driver per machine owns the cs- prefix (as one nova-compute per host): a second one
# would take the first one's objects for leftovers.
HOST_LOCK = Path("/run/caas-netns.lock")


def _host_name() -> str:
    """The hypervisor's name: this machine's, made safe for a host name."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:63].strip("-.") or "localhost"
    return name if name[0].isalnum() else f"h{name}"[:63]


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise DriverError("cannot read MemTotal from /proc/meminfo")


def lock_host(data_dir: Path):
    """Take the machine's netns lock for this process's lifetime; DriverError if another caas
    holds it (the message names it)."""
    try:
        return hold(HOST_LOCK, f"pid {os.getpid()}, data dir {data_dir}")
    except Held as held:
        raise DriverError(f"another caas with the netns driver runs on this machine ({held.holder}); the cs- "
                          "kernel objects belong to one caas per machine: stop it first") from None


def check_host() -> None:
    """Refuse to start without root or the programs the driver runs; the message says what."""
    if os.geteuid() != 0:
        raise DriverError("the netns driver needs root")
    missing = [p for p in NEEDED if shutil.which(p) is None]
    if missing:
        raise DriverError(f"the netns driver needs {', '.join(missing)} "
                          "(apt-get install nftables iproute2 util-linux openssh-server)")
    if not Path("/proc/self/ns/net").exists():
        raise DriverError("this kernel has no network namespaces")


class NetnsDriver:
    name = "netns"
    capabilities = {"real_instances": True, "console_output": True, "volumes": True, "pci": True,
                    "power": True}

    def __init__(self, settings, db: Database) -> None:
        check_host()
        self._host_lock = lock_host(settings.data_dir)
        self.settings = settings
        self.db = db
        self.records = Records(db)
        # Topologies come debounced already (the network service's feed): only coalesce the
        # ones that arrive together.
        self.dataplane = Dataplane(self.records, debounce=0.01)
        self.instances = Instances(settings.instance_dir, settings.rootfs_cache_dir,
                                   hidden=[settings.data_dir], records=self.records)

    # ---- start and stop --------------------------------------------------------------------
    def start(self) -> None:
        """Converge the kernel with the topology given (after a crash: finish or remove
        half-made objects) and keep it converged."""
        self.dataplane.start()

    def stop(self) -> None:
        """Stop the reconciler; instances keep running (a restart adopts them)."""
        self.dataplane.stop()
        self._host_lock.close()

    # ---- the protocol ----------------------------------------------------------------------
    def hosts(self) -> list[HostInfo]:
        disk = shutil.disk_usage(self.settings.data_dir if self.settings.data_dir.exists() else "/")
        return [HostInfo(name=_host_name(), vcpus=os.cpu_count() or 1, memory_mb=_memory_mb(),
                         local_gb=max(1, disk.total // 1024**3), pci_devices=tuple(devices.discover_pci()),
                         hypervisor_type="netns", hypervisor_version=1000, host_ip="127.0.0.1",
                         cpu_info={"arch": os.uname().machine, "model": "host", "vendor": "linux",
                                   "topology": {"cores": os.cpu_count() or 1, "threads": 1, "sockets": 1}})]

    def apply_network(self, topology: Topology) -> None:
        """Make the kernel match ``topology`` soon (in the background; a newer one wins)."""
        self.dataplane.apply(topology)

    def network(self) -> Topology:
        return self.dataplane.topology

    def spawn(self, spec: InstanceSpec) -> None:
        # A build resumed after a crash may find half of an instance: start from nothing.
        if self._leftovers(spec.id):
            self.destroy(spec.id)
        lower = self._lower(spec.image)
        try:
            netns = self.dataplane.plug(spec.id, spec.nics)
            self.instances.create(spec, lower, netns)
        except BaseException as exc:
            self.destroy(spec.id)
            if isinstance(exc, DriverError):
                raise
            log.exception("spawn of %s failed", spec.id)
            raise DriverError(f"the netns driver could not start the instance: {exc}") from exc

    def _leftovers(self, server_id: str) -> bool:
        """Whether anything of the instance exists already (a record, its state dir or its
        namespace); checked without the dataplane's lock, which a reconcile may hold."""
        return bool(self.records.owned_by("server", server_id)
                    or (self.settings.instance_dir / server_id).exists()
                    or Path("/run/netns", names.instance_ns(server_id)).exists())

    def _lower(self, image: Mapping) -> Path:
        """The lower layer of the instance's root from the spec's image view; an image given by
        its id alone no longer exists."""
        image_id = str(image.get("id") or "")
        if "disk_format" not in image:
            raise DriverError(f"image {image_id} no longer exists")
        path = self.settings.image_dir / image_id
        return rootfs.lower_for(image, path if path.is_file() else None, self.settings.rootfs_cache_dir)

    def destroy(self, instance_id: str) -> None:
        self.instances.destroy(instance_id)
        self.dataplane.unplug(instance_id)

    def power_off(self, instance_id: str) -> None:
        self.instances.stop(instance_id)

    def power_on(self, spec: InstanceSpec) -> None:
        # plug is idempotent: it remakes the namespace and links a host reboot (or a cleanup)
        # removed, and leaves those that exist as they are.
        self.dataplane.plug(spec.id, spec.nics)
        self.instances.set_shares(spec.id, spec.shares)  # what its addresses are allowed now
        self.instances.start(spec.id)

    def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        self.instances.stop(spec.id, timeout=0 if hard else 10)
        self.power_on(spec)

    def power_states(self, instance_ids: Iterable[str]) -> dict[str, int]:
        return {i: self.instances.power_state(i) for i in instance_ids}

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        return self.instances.console(instance_id, length)

    def attach_volume(self, instance_id: str, path: Path, device: str) -> None:
        self.instances.attach_block(instance_id, path, device)

    def detach_volume(self, instance_id: str, device: str) -> None:
        self.instances.detach_block(instance_id, device)

    def running(self) -> set[str]:
        return self.instances.running()

    # ---- what the driver holds, and cleanup -----------------------------------------------
    def owned(self) -> list[Owned]:
        """The records of the kernel objects and files made (``Records``: each written before
        its object is made, removed after it is gone)."""
        return self.records.all()

    def cleanup(self, everything: bool = False) -> list[str]:
        """Remove instances and kernel objects the topology given no longer holds (all of
        them with ``everything``); the names removed."""
        keep = set() if everything else set(self.dataplane.topology.servers)
        # The dataplane's cleanup removes the namespaces of the servers removed here, too.
        return self.instances.cleanup(keep) + self.dataplane.cleanup(everything)
