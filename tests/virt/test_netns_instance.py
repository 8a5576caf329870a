"""netns instances for real, as root: boot the host image and a tar image, SSH in from the host,
prove host secrets and processes are invisible and the instance cannot mount or change its
network, check cgroup limits, user_data (script and #cloud-config), the console, stop/start/
reboot, volumes through loop devices, reconciliation after a restart, cleanup and destroy.

Each instance gets its own network namespace made here (named like the driver's), with eth0 on
a veth pair whose host end carries the gateway address, so the host reaches the instance's
fixed IP directly. Everything is removed in finalizers. Pure tests (config drive, image
refusal) run without root.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from caas.db.engine import Database
from caas.db.migrate import upgrade
from caas.virt.driver import CRASHED, NOSTATE, RUNNING, SHUTDOWN, DriverError, InstanceSpec, NicSpec, PciDevice
from caas.virt.netns import cgroups, configdrive, devices, names, rootfs
from caas.virt.netns.instance import Instances
from caas.virt.netns.records import Records

IS_ROOT = os.geteuid() == 0
MISSING = [t for t in ("ip", "ssh", "ssh-keygen", "losetup", "/usr/sbin/sshd") if not shutil.which(t)]
needs_root = pytest.mark.skipif(not IS_ROOT or bool(MISSING) or not Path("/run").is_dir(),
                                reason="needs root and " + ", ".join(MISSING or ["ip, ssh, sshd, losetup"]))
HOST_IMAGE = {"id": "host", "name": "host", "disk_format": "raw", "container_format": "bare",
              "properties": {"caas_rootfs": "host"}}
RNG = "0000:00:05.0"  # virtio-rng on the reference VM: harmless to pass through
SUBNET_BASE = 100 + secrets.randbelow(100)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


# ---- pure tests ---------------------------------------------------------------------------

def _spec(**kw) -> InstanceSpec:
    base = dict(id=str(uuid.uuid4()), name="vm", hostname="vm", host="h", vcpus=1, memory_mb=128,
                disk_gb=1, image=HOST_IMAGE)
    base.update(kw)
    return InstanceSpec(**base)


def test_config_drive_layout(tmp_path):
    port, net = str(uuid.uuid4()), str(uuid.uuid4())
    nic = NicSpec(port, "FA:16:3E:00:00:01", net, 1450,
                  ({"ip_address": "10.0.0.5", "subnet_id": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"},
                   {"ip_address": "10.1.0.5", "subnet_id": "t", "cidr": "10.1.0.0/16", "gateway_ip": None}))
    user_data = base64.b64encode(b"#cloud-config\nruncmd: [[echo, hi]]\n").decode()
    spec = _spec(nics=(nic,), key_data="ssh-ed25519 AAAA k", user_data=user_data, metadata={"a": "b"})
    configdrive.build(spec, tmp_path)
    latest = tmp_path / "openstack/latest"
    meta = json.loads((latest / "meta_data.json").read_text())
    assert meta["uuid"] == spec.id and meta["hostname"] == "vm" and meta["meta"] == {"a": "b"}
    assert meta["public_keys"] == {"key": "ssh-ed25519 AAAA k"}
    assert meta["keys"] == [{"name": "key", "type": "ssh", "data": "ssh-ed25519 AAAA k"}]
    netdata = json.loads((latest / "network_data.json").read_text())
    assert netdata["links"] == [{"id": "tap" + port[:11], "vif_id": port, "type": "bridge",
                                 "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1450}]
    first, second = netdata["networks"]
    assert (first["ip_address"], first["netmask"], first["network_id"]) == ("10.0.0.5", "255.255.255.0", net)
    assert first["routes"] == [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}]
    assert second["netmask"] == "255.255.0.0" and second["routes"] == []
    assert json.loads((latest / "vendor_data.json").read_text()) == {}
    assert json.loads((latest / "cloud_config.json").read_text()) == {"runcmd": [["echo", "hi"]]}
    assert (latest / "user_data").read_bytes().startswith(b"#cloud-config")

    bad = _spec(user_data=base64.b64encode(b"#cloud-config\nruncmd: [unclosed\n").decode())
    configdrive.build(bad, tmp_path)
    assert not (latest / "cloud_config.json").exists()
    assert "invalid #cloud-config" in (latest / "cloud_config_error.txt").read_text()
    # an alias bomb: a few hundred bytes of YAML that would be 387 million values written out in full
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = _spec(user_data=base64.b64encode(("#cloud-config\n" + "\n".join(levels) + "\n").encode()).decode())
    configdrive.build(bomb, tmp_path)
    assert not (latest / "cloud_config.json").exists()
    assert "aliases expand" in (latest / "cloud_config_error.txt").read_text()
    # anchors within reason are cloud-config as cloud-init reads it
    fine = _spec(user_data=base64.b64encode(b"#cloud-config\nx: &c [echo, hi]\nruncmd: [*c, *c]\n").decode())
    configdrive.build(fine, tmp_path)
    assert json.loads((latest / "cloud_config.json").read_text())["runcmd"] == [["echo", "hi"], ["echo", "hi"]]


def test_lower_for_refuses_vm_disks_and_unpacks_tars(tmp_path):
    cache = tmp_path / "cache"
    assert rootfs.lower_for(HOST_IMAGE, None, cache) == Path("/")
    qcow = tmp_path / "disk.qcow2"
    qcow.write_bytes(b"QFI\xfb" + bytes(600))
    with pytest.raises(DriverError, match="qcow2 VM disk"):
        rootfs.lower_for({"id": "i1", "name": "cirros", "disk_format": "qcow2", "properties": {}}, qcow, cache)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(bytes(510) + b"\x55\xaa" + bytes(512))
    with pytest.raises(DriverError, match="raw disk"):
        rootfs.lower_for({"id": "i2", "properties": {}}, raw, cache)

    good = tmp_path / "root.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        _add(tar, "etc/hostname", b"x\n")
        _add(tar, "bin/su", b"#!/bin/false\n", mode=0o4755)
        dev = tarfile.TarInfo("dev/sda")
        dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 0
        tar.addfile(dev)
    lower = rootfs.lower_for({"id": "i3", "properties": {}}, good, cache)
    assert lower == cache / "i3" and (lower / "etc/hostname").read_text() == "x\n"
    assert (lower / "bin/su").stat().st_mode & 0o7777 == 0o4755  # setuid kept
    assert not (lower / "dev/sda").exists()  # device nodes never reach a lower layer
    inode = lower.stat().st_ino
    assert rootfs.lower_for({"id": "i3", "properties": {}}, good, cache).stat().st_ino == inode  # once

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        _add(tar, "../escaped", b"gotcha")
    with pytest.raises(DriverError):
        rootfs.lower_for({"id": "i4", "properties": {}}, evil, cache)
    assert not (tmp_path / "escaped").exists() and not (cache / "i4").exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".unpack")]


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def test_pci_discovery():
    found = devices.discover_pci()
    assert all(len(d.vendor_id) == 4 and len(d.product_id) == 4 for d in found)
    rng = [d for d in found if d.address == RNG]
    if not rng or (rng[0].vendor_id, rng[0].product_id) != ("1af4", "1044"):
        pytest.skip("no virtio-rng at " + RNG)
    assert [n.path for n in devices.pci_device_nodes(RNG)] == ["/dev/hwrng"]
    with pytest.raises(DriverError):
        devices.pci_device_nodes("../../etc")


# ---- the host side of an instance's network ------------------------------------------------

class Net:
    """A network namespace named like the driver's, with eth0 (given MAC) on a veth pair whose
    host end has 10.213.N.1/24."""

    made: list["Net"] = []

    def __init__(self, server_id: str) -> None:
        n = SUBNET_BASE + len(Net.made)
        self.ns = names.instance_ns(server_id)
        self.port = str(uuid.uuid4())
        self.host_end = names.tap(self.port)
        self.mac = "fa:16:3e:%02x:%02x:%02x" % (n % 256, secrets.randbelow(256), secrets.randbelow(256))
        self.gateway, self.address = f"10.213.{n}.1", f"10.213.{n}.10"
        Net.made.append(self)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_end, "type", "veth", "peer", "name", names.peer(self.port))
        sh("ip", "link", "set", names.peer(self.port), "netns", self.ns)
        sh("ip", "-n", self.ns, "link", "set", names.peer(self.port), "name", "eth0")
        sh("ip", "-n", self.ns, "link", "set", "eth0", "address", self.mac)
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.host_end)
        sh("ip", "link", "set", self.host_end, "up")

    def nic(self) -> NicSpec:
        return NicSpec(self.port, self.mac, str(uuid.uuid4()), 1500,
                       ({"ip_address": self.address, "subnet_id": str(uuid.uuid4()),
                         "cidr": self.gateway.rsplit(".", 1)[0] + ".0/24", "gateway_ip": self.gateway},))

    def remove(self) -> None:
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.host_end, check=False)


class World:
    """Instances on a throwaway data dir (under /var/cache: not one of the always-hidden host
    dirs, so hiding it is the ``hidden`` argument's doing), real Records, an SSH key."""

    def __init__(self, tmp: Path) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="caas-test-", dir="/var/cache"))
        url = f"sqlite:///{tmp / 'caas.db'}"
        upgrade(url)
        self.db = Database(url)
        self.records = Records(self.db)
        self.key = tmp / "id_ed25519"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        self.instances = self.make()
        self.nets: dict[str, Net] = {}

    def make(self) -> Instances:
        return Instances(self.data / "instances", self.data / "images", [self.data], self.records)

    def spec(self, name: str, **kw) -> InstanceSpec:
        server_id = str(uuid.uuid4())
        net = self.nets[server_id] = Net(server_id)
        base = dict(id=server_id, name=name, hostname=name, host="h", vcpus=1, memory_mb=192, disk_gb=1,
                    image=HOST_IMAGE, nics=(net.nic(),), key_data=(self.key.with_suffix(".pub")).read_text().strip())
        base.update(kw)
        return InstanceSpec(**base)

    def boot(self, name: str, lower: Path = Path("/"), **kw) -> InstanceSpec:
        spec = self.spec(name, **kw)
        self.instances.create(spec, lower, self.nets[spec.id].ns)
        return spec

    def ssh(self, spec: InstanceSpec, command: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
             "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i", str(self.key),
             f"root@{self.nets[spec.id].address}", command], capture_output=True, text=True, timeout=30)
        if check:
            assert done.returncode == 0, f"{command}: {done.returncode} {done.stdout} {done.stderr}"
        return done

    def close(self) -> None:
        for server_id in list(self.nets):
            try:
                self.instances.destroy(server_id)
            finally:
                self.nets.pop(server_id).remove()
        shutil.rmtree(self.data, ignore_errors=True)
        self.db.dispose()


def leftovers(world: World, server_id: str) -> list[str]:
    """Everything of an instance that should be gone after destroy."""
    found = []
    state = world.data / "instances" / server_id
    if state.exists():
        found.append(f"dir {state}")
    found += [f"cgroup {d}" for d in cgroups.plan(server_id).dirs if d.exists()]
    found += [f"record {r}" for r in world.records.owned_by("server", server_id)]
    found += [f"mount {line}" for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(state) in line]
    found += [f"loop {line}" for line in sh("losetup", "-a").stdout.splitlines() if str(world.data) in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if server_id in Path(f"/proc/{pid}/cgroup").read_text():
                found.append(f"process {pid}")
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not IS_ROOT or MISSING:
        pytest.skip("needs root and " + ", ".join(MISSING or ["ip, ssh, sshd, losetup"]))
    w = World(tmp_path_factory.mktemp("netns-instance"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def markers(world):
    """Files the instances must not see: in the data dir, /root, /tmp, /var/lib."""
    token = secrets.token_hex(8)
    paths = [world.data / f"secret-{token}", Path(f"/root/caas-secret-{token}"), Path(f"/tmp/caas-secret-{token}"),
             Path(f"/var/lib/caas-secret-{token}")]
    for p in paths:
        p.write_text(token)
    yield token, paths
    for p in paths:
        p.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def vm(world, markers):
    """A host-image instance with a user_data script (and the virtio-rng passed through)."""
    script = b"#!/bin/sh\necho user-data-says-hello\necho ran > /root/from-user-data\n"
    pci = tuple(d for d in devices.discover_pci() if d.address == RNG and d.product_id == "1044")
    started = time.monotonic()
    spec = world.boot("vm-one", user_data=base64.b64encode(script).decode(), memory_mb=200, vcpus=2,
                      pci_devices=tuple(PciDevice(d.address, "", "") for d in pci))
    world.boot_seconds = time.monotonic() - started
    return spec


# ---- kernel tests ---------------------------------------------------------------------------

@needs_root
def test_boot_and_ssh(world, vm):
    assert world.ssh(vm, "hostname").stdout.strip() == "vm-one"
    assert world.boot_seconds < 5
    assert vm.id in world.instances.running()
    console = world.instances.console(vm.id)
    for line in ("hostname vm-one", f"eth0: address {world.nets[vm.id].address}/24", "ssh key installed",
                 "sshd started", "ready", "user_data: script exited with status 0", "user-data-says-hello"):
        assert line in console, line
    assert world.instances.console(vm.id, 2).count("\n") <= 2
    assert world.ssh(vm, "cat /root/from-user-data").stdout == "ran\n"


@needs_root
def test_host_secrets_are_invisible(world, vm, markers):
    token, paths = markers
    for p in paths:
        assert world.ssh(vm, f"cat {p}", check=False).returncode != 0, p
    assert world.ssh(vm, f"ls -A {world.data}").stdout.strip() == ""
    assert token not in world.ssh(vm, "grep -r -l -s caas-secret /root /tmp /var/lib /home; true").stdout
    shadow = world.ssh(vm, "cat /etc/shadow /etc/gshadow").stdout
    assert shadow.startswith("root:*:") and "$" not in shadow
    host_keys = {p.read_text().strip() for p in Path("/etc/ssh").glob("ssh_host_*_key.pub")}
    inner_keys = world.ssh(vm, "cat /etc/ssh/ssh_host_*_key.pub").stdout.strip().splitlines()
    assert len(inner_keys) == 1 and not host_keys & set(inner_keys)
    assert world.ssh(vm, "ls /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_ecdsa_key", check=False).returncode != 0
    assert world.ssh(vm, "ls -A /run").stdout.split() and "netns" not in world.ssh(vm, "ls -A /run").stdout
    assert world.ssh(vm, "ls /mnt/config/openstack/latest").stdout.split() == [
        "meta_data.json", "network_data.json", "user_data", "vendor_data.json"]
    assert world.ssh(vm, "touch /mnt/config/x", check=False).returncode != 0


@needs_root
def test_host_processes_are_invisible(world, vm):
    pids = [int(p) for p in world.ssh(vm, "ls /proc").stdout.split() if p.isdigit()]
    assert 1 in pids and len(pids) < 15
    assert "pytest" not in world.ssh(vm, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert world.ssh(vm, "cat /etc/hostname").stdout == "vm-one\n"
    assert "127.0.1.1\tvm-one" in world.ssh(vm, "cat /etc/hosts").stdout


@needs_root
def test_instance_cannot_escape(world, vm):
    assert world.ssh(vm, "mount -t tmpfs none /mnt", check=False).returncode != 0
    assert world.ssh(vm, "ip addr add 10.99.0.1/24 dev eth0", check=False).returncode != 0
    assert world.ssh(vm, "ip link set eth0 down", check=False).returncode != 0
    assert world.ssh(vm, "unshare -n true", check=False).returncode != 0
    assert world.ssh(vm, "mknod /root/sda b 8 0", check=False).returncode != 0
    assert world.ssh(vm, "echo 1 > /proc/sys/net/ipv4/ip_forward", check=False).returncode != 0
    assert world.ssh(vm, "echo h > /proc/sysrq-trigger", check=False).returncode != 0
    assert world.ssh(vm, "cat /proc/kcore | head -c 1 | wc -c").stdout.strip() == "0"
    caps = int(world.ssh(vm, "grep CapBnd /proc/self/status").stdout.split()[1], 16)
    assert caps == sum(1 << c for c in (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31))
    # ping works without NET_RAW through ICMP datagram sockets
    assert world.ssh(vm, "cat /proc/sys/net/ipv4/ping_group_range").stdout.split() == ["0", "2147483647"]


@needs_root
def test_cgroup_limits(world, vm):
    cg = cgroups.plan(vm.id)
    init_pid = (world.data / "instances" / vm.id / "init.pid").read_text().split()[0]
    assert all(int(init_pid) in cgroups.pids(cgroups.Cgroup((d,))) for d in cg.dirs)
    if cg.version == 2:
        d = cg.dirs[0]
        assert (d / "memory.max").read_text().strip() == str(200 * 2**20)
        assert (d / "cpu.max").read_text().split() == ["200000", "100000"]
    else:
        memory = next(d for d in cg.dirs if (d / "memory.limit_in_bytes").exists())
        cpu = next(d for d in cg.dirs if (d / "cpu.cfs_quota_us").exists())
        assert int((memory / "memory.limit_in_bytes").read_text()) == 200 * 2**20
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 200000
        assert int((cpu / "cpu.cfs_period_us").read_text()) == 100000


@needs_root
def test_pci_passthrough(world, vm):
    if not vm.pci_devices:
        pytest.skip("no virtio-rng at " + RNG)
    assert world.ssh(vm, "test -c /dev/hwrng && head -c 4 /dev/hwrng | wc -c").stdout.strip() == "4"


@pytest.fixture(scope="module")
def vm2(world):
    cloud = ("#cloud-config\nhostname: cloudy\nwrite_files:\n"
             "  - path: /etc/caas-test/plain.txt\n    content: hello plain\n    permissions: '0600'\n"
             "  - path: /opt/caas-test/b64.bin\n    encoding: b64\n    content: " + base64.b64encode(b"\x00bin\x01").decode()
             + "\nruncmd:\n  - echo from-runcmd-shell > /root/runcmd1\n  - [touch, /root/runcmd2]\n")
    return world.boot("vm-two", user_data=base64.b64encode(cloud.encode()).decode())


@needs_root
def test_cloud_config(world, vm2):
    assert world.ssh(vm2, "hostname").stdout.strip() == "cloudy"
    deadline = time.monotonic() + 10  # user_data runs in the background after sshd is up
    while world.ssh(vm2, "test -e /root/runcmd2", check=False).returncode and time.monotonic() < deadline:
        time.sleep(0.1)
    out = world.ssh(vm2, "cat /etc/caas-test/plain.txt; echo; stat -c %a /etc/caas-test/plain.txt; "
                         "od -An -c /opt/caas-test/b64.bin; cat /root/runcmd1; ls /root/runcmd2").stdout
    assert out.split("\n")[:3] == ["hello plain", "600", "  \\0   b   i   n 001"]
    assert "from-runcmd-shell" in out and "/root/runcmd2" in out
    console = world.instances.console(vm2.id)
    assert "cloud-config runcmd[1] exited with status 0" in console


@needs_root
def test_stop_start_reboot_keep_files(world, vm):
    token = secrets.token_hex(4)
    world.ssh(vm, f"echo {token} > /opt/keep-{token}")
    world.instances.stop(vm.id)
    assert vm.id not in world.instances.running()
    assert world.ssh(vm, "true", check=False).returncode != 0
    world.instances.start(vm.id)
    assert world.ssh(vm, f"cat /opt/keep-{token}").stdout.strip() == token
    world.instances.reboot(vm.id)
    world.instances.reboot(vm.id, hard=True)
    assert world.ssh(vm, f"cat /opt/keep-{token}; hostname").stdout.split() == [token, "vm-one"]
    assert "user_data already ran" in world.instances.console(vm.id)
    assert world.instances.console(vm.id).count("user-data-says-hello") == 1


@needs_root
def test_power_state_tells_a_stop_from_a_death(world, vm):
    """What the driver reports to the power-state sync (Nova's power states)."""
    assert world.instances.power_state(vm.id) == RUNNING
    world.instances.stop(vm.id)
    assert world.instances.power_state(vm.id) == SHUTDOWN  # stopped on request
    world.instances.start(vm.id)
    assert world.instances.power_state(vm.id) == RUNNING
    pid = int((world.instances.state_dir / vm.id / "init.pid").read_text().split()[0])
    os.kill(pid, 9)  # behind the driver's back
    deadline = time.monotonic() + 10
    while world.instances.power_state(vm.id) == RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.instances.power_state(vm.id) == CRASHED
    world.instances.start(vm.id)  # started again: its files, the same namespace
    assert world.instances.power_state(vm.id) == RUNNING and world.ssh(vm, "hostname").stdout.strip() == "vm-one"
    assert world.instances.power_state(str(uuid.uuid4())) == NOSTATE


@needs_root
def test_volume_moves_between_instances(world, vm, vm2, tmp_path):
    volume = world.data / "volume.img"
    with open(volume, "wb") as f:
        f.truncate(8 * 2**20)
    token = secrets.token_hex(8)
    world.instances.attach_block(vm.id, volume, "/dev/vdb")
    world.instances.attach_block(vm.id, volume, "/dev/vdb")  # idempotent
    world.ssh(vm, f"printf {token} | dd of=/dev/vdb conv=fsync status=none")
    world.instances.detach_block(vm.id, "/dev/vdb")
    world.instances.detach_block(vm.id, "/dev/vdb")
    assert world.ssh(vm, "test -e /dev/vdb", check=False).returncode != 0
    assert str(volume) not in sh("losetup", "-a").stdout
    world.instances.attach_block(vm2.id, volume, "/dev/vdc")
    assert world.ssh(vm2, f"head -c {len(token)} /dev/vdc").stdout == token
    world.instances.reboot(vm2.id)  # persisted: the node is made again at boot
    assert world.ssh(vm2, f"head -c {len(token)} /dev/vdc").stdout == token
    world.instances.detach_block(vm2.id, "/dev/vdc")
    assert str(volume) not in sh("losetup", "-a").stdout
    with pytest.raises(DriverError):
        world.instances.attach_block(vm2.id, volume, "/dev/../etc/passwd")


@needs_root
def test_running_after_restart(world, vm, vm2):
    again = world.make()  # what caas does after a kill -9 and a restart
    assert {vm.id, vm2.id} <= again.running()
    assert world.ssh(vm, "hostname").returncode == 0


@needs_root
def test_tar_image_without_sshd(world, tmp_path):
    archive = tmp_path / "sh-rootfs.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for path in _with_libraries("/bin/sh"):
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
    image = {"id": str(uuid.uuid4()), "name": "tiny", "disk_format": "raw", "container_format": "bare", "properties": {}}
    lower = rootfs.lower_for(image, archive, world.data / "images")
    script = b"#!/bin/sh\necho tar-user-data-ran\n"
    spec = world.boot("tiny", lower=lower, image=image, user_data=base64.b64encode(script).decode())
    assert spec.id in world.instances.running()
    deadline = time.monotonic() + 10
    while "tar-user-data-ran" not in world.instances.console(spec.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    console = world.instances.console(spec.id)
    assert "no sshd in this image" in console and "tar-user-data-ran" in console
    world.instances.destroy(spec.id)
    assert leftovers(world, spec.id) == []


def _with_libraries(binary: str) -> list[str]:
    """``binary`` and the shared libraries ldd lists for it, as archive entries in order: real
    directories first, then files (and file symlinks) under real directories, then directory
    symlinks such as /bin -> usr/bin of merged-/usr systems (so no entry goes through one)."""
    wanted = {binary}
    for line in sh("ldd", binary).stdout.splitlines():
        wanted |= {w for w in line.split() if w.startswith("/")}
    files, dir_links = set(), set()
    for path in wanted | {os.path.realpath(p) for p in wanted}:
        files.add(os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)))
        d = os.path.dirname(path)
        while d != "/":
            if os.path.islink(d):
                dir_links.add(d)
            d = os.path.dirname(d)
    dirs = {str(parent) for f in files for parent in Path(f).parents if str(parent) != "/"}
    return sorted(dirs) + sorted(files) + sorted(dir_links)


@needs_root
def test_failed_create_leaves_nothing(world):
    spec = world.spec("broken")
    sh("ip", "netns", "del", world.nets[spec.id].ns)
    with pytest.raises(DriverError, match="network namespace"):
        world.instances.create(spec, Path("/"), world.nets[spec.id].ns)
    assert leftovers(world, spec.id) == []


@needs_root
def test_cleanup_removes_unknown_instances(world, vm, vm2):
    stray = world.boot("stray")
    removed = world.instances.cleanup(keep={vm.id, vm2.id})
    assert stray.id in removed and vm.id not in removed
    assert leftovers(world, stray.id) == []
    assert {vm.id, vm2.id} <= world.instances.running()


@needs_root
def test_destroy_leaves_nothing(world, vm, vm2):
    for spec in (vm, vm2):
        world.instances.destroy(spec.id)
        world.instances.destroy(spec.id)  # idempotent
        assert leftovers(world, spec.id) == []
    assert world.instances.running() == set()


@needs_root
def test_init_failure_is_reported_and_undone(world):
    spec = world.spec("no-init")
    broken = Instances(world.data / "instances", world.data / "images", [world.data], world.records,
                       python="/bin/false")
    with pytest.raises(DriverError, match="failed to boot: the init exited before it was ready"):
        broken.create(spec, Path("/"), world.nets[spec.id].ns)
    assert leftovers(world, spec.id) == []


CREATE_AND_HANG = """
import json, sys, time
from pathlib import Path
from caas.db.engine import Database
from caas.virt.driver import InstanceSpec, NicSpec
from caas.virt.netns.instance import Instances
from caas.virt.netns.records import Records
args = json.loads(sys.argv[1])
spec = args["spec"]
spec["nics"] = tuple(NicSpec(**{**n, "fixed_ips": tuple(n["fixed_ips"])}) for n in spec["nics"])
instances = Instances(Path(args["state"]), Path(args["cache"]), [Path(args["data"])], Records(Database(args["db"])))
instances.create(InstanceSpec(**spec), Path("/"), args["netns"])
print("created", flush=True)
time.sleep(600)
"""


@needs_root
def test_instance_survives_kill_9_of_caas(world):
    import dataclasses
    import signal
    import sys

    spec = world.spec("survivor")
    args = {"spec": dataclasses.asdict(spec), "state": str(world.data / "instances"),
            "cache": str(world.data / "images"), "data": str(world.data), "netns": world.nets[spec.id].ns,
            "db": world.db.url}
    caas = subprocess.Popen([sys.executable, "-c", CREATE_AND_HANG, json.dumps(args)], stdout=subprocess.PIPE, text=True)
    try:
        assert caas.stdout.readline().strip() == "created"
    finally:
        caas.send_signal(signal.SIGKILL)
        caas.wait()
    assert spec.id in world.make().running()
    assert world.ssh(spec, "hostname").stdout.strip() == "survivor"
    world.instances.destroy(spec.id)
    assert leftovers(world, spec.id) == []
