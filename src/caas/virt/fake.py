"""The fake hypervisor driver: hosts declared in configuration, instances that exist only in
memory (and in the database). A configurable boot delay and failure rate exercise the compute
service's asynchronous paths.

Host configuration (``CAAS_FAKE_HOSTS``: a file, or the text itself), YAML or JSON, a list of::

    - name: gpu{n:02d}        # with count, a template: gpu01, gpu02 ...
      count: 2
      vcpus: 40
      memory_mb: 262144
      local_gb: 2000
      availability_zone: nova
      pci_devices: [{vendor_id: "10de", product_id: "1028", count: 2}]

Unset, there is one host, ``fake-host-1`` (96 vCPUs, 256 GiB, 4 TiB: the seed's largest flavor
fits it).
"""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import yaml

from caas.virt.driver import RUNNING, SHUTDOWN, DriverError, HostInfo, InstanceSpec, Owned, PciDevice
from caas.virt.topology import EMPTY, Topology

DEFAULT_HOSTS = [{"name": "fake-host-1", "vcpus": 96, "memory_mb": 262144, "local_gb": 4096}]
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HEX4 = re.compile(r"^[0-9a-f]{4}$")


def _load(text_or_path: str | None) -> Any:
    if not text_or_path:
        return DEFAULT_HOSTS
    text = Path(text_or_path).read_text() if _is_file(text_or_path) else text_or_path
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"CAAS_FAKE_HOSTS is not valid YAML or JSON: {exc}") from None


def _is_file(text: str) -> bool:
    """Whether ``text`` names a file (one-line JSON text may be too long to be a path at all)."""
    if "\n" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def parse_hosts(text_or_path: str | None) -> list[HostInfo]:
    """The declared hosts; ValueError with the reason for a bad declaration."""
    raw = _load(text_or_path)
    if isinstance(raw, dict) and "hosts" in raw:
        raw = raw["hosts"]
    if not isinstance(raw, list) or not raw:
        raise ValueError("CAAS_FAKE_HOSTS must be a non-empty list of hosts")
    hosts: list[HostInfo] = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"every fake host needs a name: {entry!r}")
        count = entry.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 100000:
            raise ValueError(f"fake host count must be 1..100000: {entry!r}")
        for n in range(1, count + 1):
            name = entry["name"].format(n=n) if "count" in entry else entry["name"]
            if not HOST_NAME_RE.match(name):
                raise ValueError(f"invalid fake host name {name!r}")
            hosts.append(_host(name, entry, n))
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise ValueError("fake host names must be unique")
    return hosts


def _host(name: str, entry: dict, n: int) -> HostInfo:
    def number(key: str, default: int) -> int:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"fake host {name}: {key} must be a non-negative integer")
        return value

    devices = []
    for i, dev in enumerate(entry.get("pci_devices") or []):
        vendor, product = str(dev.get("vendor_id", "")).lower(), str(dev.get("product_id", "")).lower()
        if not (HEX4.match(vendor) and HEX4.match(product)):
            raise ValueError(f"fake host {name}: PCI vendor_id and product_id are 4 hex digits")
        for j in range(int(dev.get("count", 1))):
            devices.append(PciDevice(address=f"0000:{0x80 + i:02x}:{j:02x}.0", vendor_id=vendor, product_id=product))
    return HostInfo(name=name, vcpus=number("vcpus", 8), memory_mb=number("memory_mb", 16384),
                    local_gb=number("local_gb", 200), availability_zone=str(entry.get("availability_zone", "nova")),
                    pci_devices=tuple(devices), hypervisor_type="fake", hypervisor_version=1000,
                    host_ip=f"127.0.{(n >> 8) & 255}.{n & 255 or 1}",
                    cpu_info={"arch": "x86_64", "model": "fake", "vendor": "caas",
                              "topology": {"cores": max(1, number("vcpus", 8)), "threads": 1, "sockets": 1}})


class FakeDriver:
    name = "fake"
    capabilities = {"real_instances": False, "console_output": True, "volumes": True, "pci": True,
                    "power": True}

    def __init__(self, hosts: str | None = None, boot_delay: float = 0.0, failure_rate: float = 0.0,
                 seed: int | None = None) -> None:
        self._hosts = parse_hosts(hosts)
        self.boot_delay = boot_delay
        self.failure_rate = failure_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # instance id -> {"power": "running"|"shutdown", "console": [lines], "volumes": {device: path}}
        self._instances: dict[str, dict] = {}
        self.topologies: list[Topology] = []  # every topology taken, oldest first (for tests)

    def start(self) -> None:
        """Nothing to converge: fake instances live in memory."""

    def stop(self) -> None:
        """Nothing runs in the background."""

    def hosts(self) -> list[HostInfo]:
        return list(self._hosts)

    def apply_network(self, topology: Topology) -> None:
        """Record the topology (nothing to wire): tests see every network change here."""
        with self._lock:
            if not self.topologies or topology.generation >= self.topologies[-1].generation:
                self.topologies.append(topology)
                del self.topologies[:-100]  # a long run keeps the recent ones only

    def network(self) -> Topology:
        with self._lock:
            return self.topologies[-1] if self.topologies else EMPTY

    def _get(self, instance_id: str) -> dict:
        # An instance from before a restart exists only in the database: adopt it.
        with self._lock:
            return self._instances.setdefault(instance_id, {"power": "running", "console": [], "volumes": {}})

    def spawn(self, spec: InstanceSpec) -> None:
        if self.boot_delay:
            time.sleep(self.boot_delay)
        with self._lock:
            fail = self.failure_rate and self._random.random() < self.failure_rate
        if fail:
            raise DriverError(f"the fake driver failed to boot the instance on {spec.host} "
                              f"(injected failure, rate {self.failure_rate:g})")
        addresses = ", ".join(ip["ip_address"] for nic in spec.nics for ip in nic.fixed_ips) or "no addresses"
        with self._lock:
            self._instances[spec.id] = {"power": "running", "volumes": {}, "shares": tuple(spec.shares), "console": [
                f"[    0.000000] caas fake hypervisor: booting {spec.id} on {spec.host}",
                f"[    0.000001] {spec.vcpus} vCPUs, {spec.memory_mb} MiB RAM, {spec.disk_gb} GiB disk",
                f"[    0.000002] network: {addresses}",
                f"{spec.hostname} login:"]}

    def shares(self, instance_id: str) -> tuple:
        """The shares (``ShareMount``) the instance was given at its last boot (for tests)."""
        return tuple(self._get(instance_id).get("shares", ()))

    def destroy(self, instance_id: str) -> None:
        with self._lock:
            self._instances.pop(instance_id, None)

    def power_off(self, instance_id: str) -> None:
        self._get(instance_id)["power"] = "shutdown"
        self._log(instance_id, "reboot: Power down")

    def power_on(self, spec: InstanceSpec) -> None:
        self._get(spec.id).update(power="running", shares=tuple(spec.shares))
        self._log(spec.id, "[    0.000000] caas fake hypervisor: power on")

    def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        self._get(spec.id).update(power="running", shares=tuple(spec.shares))
        self._log(spec.id, f"reboot: Restarting system ({'hard' if hard else 'soft'})")

    def power_states(self, instance_ids: Iterable[str]) -> dict[str, int]:
        """Fake instances are never lost behind caas's back; one from before a restart is
        adopted as running (as every other call adopts it)."""
        states = {"running": RUNNING, "shutdown": SHUTDOWN}
        return {i: states[self._get(i)["power"]] for i in instance_ids}

    def _log(self, instance_id: str, line: str) -> None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is not None:
                inst["console"].append(line)

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        lines = list(self._get(instance_id)["console"])
        if length is not None:
            lines = lines[-length:] if length > 0 else []
        return "\n".join(lines) + ("\n" if lines else "")

    def attach_volume(self, instance_id: str, path: Path, device: str) -> None:
        self._get(instance_id)["volumes"][device] = str(path)

    def detach_volume(self, instance_id: str, device: str) -> None:
        self._get(instance_id)["volumes"].pop(device, None)

    def running(self) -> set[str]:
        with self._lock:
            return {i for i, inst in self._instances.items() if inst["power"] == "running"}

    def owned(self) -> list[Owned]:
        """One ``instance`` per instance held in memory (running or not)."""
        with self._lock:
            return [Owned("instance", i, "server", i) for i in sorted(self._instances)]

    def cleanup(self, everything: bool = False) -> list[str]:
        """Forget the instances the topology held does not list (all with ``everything``);
        their ids."""
        keep = set() if everything else set(self.network().servers)
        with self._lock:
            removed = sorted(set(self._instances) - keep)
            for instance_id in removed:
                del self._instances[instance_id]
        return removed


__all__ = ["FakeDriver", "parse_hosts", "DriverError"]
