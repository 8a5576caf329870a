"""Host devices for instances: PCI discovery from sysfs, the device nodes that belong to a PCI
device (for passthrough into an instance's /dev), and loop devices backing attached volumes."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from caas.virt.driver import DriverError, PciDevice

SYS = Path("/sys")
_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_DEVNAME = re.compile(r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")
_LOOP = re.compile(r"^/dev/loop[0-9]+$")
LOSETUP = "losetup"


@dataclass(frozen=True)
class DeviceNode:
    """A device node to create in an instance's /dev: ``path`` like "/dev/hwrng"."""

    path: str
    kind: str  # "c" or "b"
    major: int
    minor: int

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "DeviceNode":
        return cls(str(data["path"]), str(data["kind"]), int(data["major"]), int(data["minor"]))


def valid_dev_path(path: str) -> str:
    """``path`` if it is a plain node path under /dev (no "..", no odd characters)."""
    rel = path[len("/dev/"):] if path.startswith("/dev/") else ""
    if not rel or not _DEVNAME.match(rel) or ".." in rel.split("/"):
        raise DriverError(f"not a device path: {path!r}")
    return path


def _hex_id(path: Path) -> str:
    return path.read_text().strip().lower().removeprefix("0x").zfill(4)


def discover_pci(sys_root: Path = SYS) -> list[PciDevice]:
    """Every PCI device of the host, vendor/product as lower-case 4-digit hex."""
    found = []
    for dev in sorted((sys_root / "bus/pci/devices").glob("*")):
        try:
            found.append(PciDevice(dev.name, _hex_id(dev / "vendor"), _hex_id(dev / "device")))
        except OSError:
            continue
    return found


def _uevent(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _nodes_in(kind: str, pci: Path, sys_root: Path) -> list[DeviceNode]:
    """Nodes of /sys/dev/<char|block> whose device chain lies under the PCI device's sysfs dir."""
    nodes = []
    for entry in sorted((sys_root / "dev" / kind).glob("*:*")):
        real = entry.resolve()
        if real != pci and pci not in real.parents:
            continue
        name = _uevent(real / "uevent").get("DEVNAME")
        if not name or not _DEVNAME.match(name):
            continue
        major, minor = entry.name.split(":")
        nodes.append(DeviceNode(f"/dev/{name}", "c" if kind == "char" else "b", int(major), int(minor)))
    return nodes


def _bound_drivers(pci: Path) -> set[str]:
    """Driver names bound to the PCI device and its direct children (e.g. virtio_rng)."""
    names = set()
    for d in [pci, *[c for c in pci.iterdir() if c.is_dir()]]:
        link = d / "driver"
        if link.is_symlink():
            names.add(os.path.basename(os.readlink(link)))
    return names


def _node_of(path: str, kind: str) -> DeviceNode | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return DeviceNode(path, kind, os.major(st.st_rdev), os.minor(st.st_rdev))


def pci_device_nodes(address: str, sys_root: Path = SYS) -> list[DeviceNode]:
    """The device nodes that give access to one PCI device.

    Nodes whose sysfs device sits under the PCI device (GPUs' /dev/dri/*, NVMe, serial ...);
    for a device bound to vfio-pci, its IOMMU group node and /dev/vfio/vfio; for a virtio-rng,
    the hardware RNG /dev/hwrng (a "virtual" misc device in sysfs, so the walk misses it).
    """
    if not _PCI_ADDRESS.match(address):
        raise DriverError(f"not a PCI address: {address!r}")
    pci = (sys_root / "bus/pci/devices" / address).resolve()
    if not pci.is_dir():
        raise DriverError(f"no PCI device {address} on this host")
    nodes = _nodes_in("char", pci, sys_root) + _nodes_in("block", pci, sys_root)
    drivers = _bound_drivers(pci)
    extra: list[DeviceNode | None] = []
    if "vfio-pci" in drivers and (pci / "iommu_group").is_symlink():
        group = os.path.basename(os.readlink(pci / "iommu_group"))
        extra += [_node_of(f"/dev/vfio/{group}", "c"), _node_of("/dev/vfio/vfio", "c")]
    if "virtio_rng" in drivers:
        extra.append(_node_of("/dev/hwrng", "c"))
    nodes += [n for n in extra if n and n not in nodes]
    return nodes


# --- loop devices -------------------------------------------------------------------------

def _losetup(*args: str) -> str:
    try:
        done = subprocess.run([LOSETUP, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DriverError(f"losetup failed: {e}") from e
    if done.returncode != 0:
        raise DriverError(f"losetup {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def loop_backing_file(loop: str) -> str | None:
    """The file behind /dev/loopN, None when it is not attached."""
    try:
        return (SYS / "block" / os.path.basename(loop) / "loop/backing_file").read_text().strip()
    except OSError:
        return None


def attach_loop(source: Path, records, owner_id: str, attempts: int = 5) -> DeviceNode:
    """Attach ``source`` to a free loop device, recorded (kind "loop") before it is attached.

    ``losetup --find`` names the next free device first so that the record can be written before
    the device is bound; another user may grab it in between, hence the retries.
    """
    if not source.exists():
        raise DriverError(f"volume file {source} does not exist")
    last: DriverError | None = None
    for _ in range(attempts):
        loop = _losetup("--find")
        if not _LOOP.match(loop):
            raise DriverError(f"losetup --find printed {loop!r}")
        records.add("loop", loop, "server", owner_id)
        try:
            _losetup(loop, str(source))
        except DriverError as e:
            records.remove("loop", loop)
            last = e
            time.sleep(0.01)
            continue
        node = _node_of(loop, "b")
        if node is None:
            raise DriverError(f"{loop} vanished after attaching it")
        return node
    raise DriverError(f"cannot attach {source} to a loop device: {last}")


def detach_loop(loop: str, records) -> None:
    """Detach ``loop`` (when attached) and forget its record. Idempotent."""
    if not _LOOP.match(loop):
        raise DriverError(f"not a loop device: {loop!r}")
    if loop_backing_file(loop) is not None:
        try:
            _losetup("-d", loop)
        except DriverError:
            if loop_backing_file(loop) is not None:
                raise
    records.remove("loop", loop)
