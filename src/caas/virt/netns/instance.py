"""The lifecycle of netns instances (containers): create, start, stop, reboot, destroy, block
devices, console, and reconciliation (``running``, ``cleanup``).

Each instance has a directory ``state_dir/<server id>``::

    boot.json      what the init needs (paths, netns, cgroup, limits); written by create()
    config/        the config drive (mounted read-only at /mnt/config in the instance)
    upper/ work/   the overlay's upper and work dirs (the instance's "disk")
    merged/        the overlay's mount point, used only inside the instance's mount namespace
    console.log    the console: init's, sshd's and user_data's output
    init.pid       "<pid> <start time>" of the instance's PID 1 while it runs
    stopped        present while it is stopped on request (``stop``), so that an init found
                   dead without it died on its own (``power_state``: CRASHED)
    devices.json   device nodes for its /dev: {"pci": [...], "block": {"/dev/vdb": {...}}}
    shares.json    the shares it may mount at its next boot ([{"export", "source", "read_only"}]),
                   rewritten at every start from what compute gives (``set_shares``)

Every mount lives in the instance's own mount namespace (see guest_init), so the host's mount
table never changes and an instance's mounts vanish with its last process. What does outlive
processes is recorded before it is made: the directory (kind "dir"), the cgroup directories
("cgroup") and loop devices ("loop"), all owned by ("server", id).

The init runs detached from this process (its own session, reparented away from us), so
instances survive a restart of caas; ``running`` finds them again from the pid files.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from caas.virt.driver import CRASHED, NOSTATE, RUNNING, SHUTDOWN, DriverError, InstanceSpec
from caas.virt.netns import cgroups, configdrive, devices, guest_init, names, rootfs

NETNS_DIR = Path("/run/netns")
READY_TIMEOUT = 30.0
CONSOLE_TAIL = 25
MY_KINDS = ("dir", "cgroup", "loop", "mount")
_OVERLAY_UNSAFE = re.compile(r"[,:\\\s]")
_NETNS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_VOLUME_DEVICE = re.compile(r"^/dev/[a-z][a-z0-9]{0,31}$")
LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class _NoRecords:
    """Stand-in when no Records are given (tools and tests)."""

    def add(self, *args, **kwargs) -> None:
        pass

    def add_many(self, rows) -> None:
        pass

    def remove(self, *args, **kwargs) -> None:
        pass

    def owned_by(self, owner_kind: str, owner_id: str) -> list:
        return []

    def all(self) -> list:
        return []


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _proc_alive(pid: int, start_time: str) -> bool:
    """Is ``pid`` the process that started at ``start_time`` and not a zombie?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] == start_time and fields[0] not in ("Z", "X")


class Instances:
    """The containers of one compute host. Thread-safe across different instances; calls for
    the same instance must not overlap (the compute service serializes them)."""

    def __init__(self, state_dir: Path, cache_dir: Path, hidden: Sequence[Path], records,
                 python: str | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        self.state_dir = Path(state_dir)
        self.cache_dir = Path(cache_dir)
        # Our own directories must never show inside a host-image instance either.
        self.hidden = [*map(Path, hidden), self.state_dir, self.cache_dir]
        self.records = records if records is not None else _NoRecords()
        self.python = python or sys.executable
        self.ready_timeout = ready_timeout
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if _OVERLAY_UNSAFE.search(str(self.state_dir.resolve())):
            raise DriverError(f"state dir {self.state_dir} has a character overlayfs options "
                              "cannot carry (comma, colon, backslash, space)")

    # --- paths ----------------------------------------------------------------------------

    def _dir(self, server_id: str) -> Path:
        try:
            names.short(server_id)
        except ValueError as e:
            raise DriverError(str(e)) from e
        return self.state_dir / server_id

    def _boot(self, server_id: str) -> dict:
        boot = _read_json(self._dir(server_id) / "boot.json")
        if boot is None:
            raise DriverError(f"no instance {server_id} on this host")
        return boot

    def _pid(self, server_id: str) -> int | None:
        """PID 1 of the instance when it runs."""
        try:
            pid, start = (self._dir(server_id) / "init.pid").read_text().split()
        except (OSError, ValueError):
            return None
        return int(pid) if _proc_alive(int(pid), start) else None

    # --- create / start -------------------------------------------------------------------

    def create(self, spec: InstanceSpec, lower: Path, netns: str) -> None:
        """Prepare everything for ``spec`` (recorded before made) and start it; on return it runs
        and sshd listens when the image has one. On failure everything is undone (DriverError)."""
        d = self._dir(spec.id)
        if d.exists():  # never undo (below) an instance that is not ours to undo
            raise DriverError(f"instance {spec.id} exists already on this host")
        try:
            self._prepare(spec, Path(lower), netns, d)
            self.start(spec.id)
        except BaseException as e:
            try:
                self.destroy(spec.id)
            except Exception:  # keep the original error; cleanup() retries later
                pass
            if isinstance(e, DriverError):
                raise
            if isinstance(e, (OSError, ValueError, KeyError)):
                raise DriverError(f"cannot create instance {spec.id}: {e}") from e
            raise

    def _prepare(self, spec: InstanceSpec, lower: Path, netns: str, d: Path) -> None:
        if not _NETNS_NAME.match(netns):
            raise DriverError(f"bad network namespace name {netns!r}")
        if _OVERLAY_UNSAFE.search(str(lower)):
            raise DriverError(f"lower layer path {lower} cannot be used by overlayfs")
        if not lower.is_dir():
            raise DriverError(f"lower layer {lower} is not a directory")
        cg = cgroups.plan(spec.id)
        # One transaction for the instance's records (this is on the boot path).
        self.records.add_many([("dir", str(d), "server", spec.id, "")]
                              + [("cgroup", str(p), "server", spec.id, "") for p in cg.dirs])
        d.mkdir()
        configdrive.build(spec, d / "config")
        host_image = lower.resolve() == Path("/")
        rootfs.prepare_upper(d / "upper", lower, self.hidden, host_image)
        for sub in ("work", "merged"):
            (d / sub).mkdir()
        pci = []
        for device in spec.pci_devices:
            pci += [n.to_json() for n in devices.pci_device_nodes(device.address)]
        _write_json(d / "devices.json", {"pci": pci, "block": {}})
        self.set_shares(spec.id, spec.shares)
        cgroups.create(cg, spec.vcpus, spec.memory_mb)
        _write_json(d / "boot.json", {
            "id": spec.id, "name": spec.name, "hostname": spec.hostname,
            "vcpus": spec.vcpus, "memory_mb": spec.memory_mb,
            "netns": netns, "netns_path": str(NETNS_DIR / netns),
            "lower": str(lower), "upper": str(d / "upper"), "work": str(d / "work"),
            "merged": str(d / "merged"), "config_dir": str(d / "config"),
            "console": str(d / "console.log"), "pid_file": str(d / "init.pid"),
            "devices_file": str(d / "devices.json"), "shares_file": str(d / "shares.json"),
            "cgroup_dirs": [str(p) for p in cg.dirs], "cgroup_procs": cg.procs_files(),
        })
        (d / "console.log").touch(mode=0o600)

    def set_shares(self, server_id: str, shares) -> None:
        """What the instance may mount from its next boot on (``ShareMount``s; the init binds
        those its cloud-config ``mounts`` names)."""
        _write_json(self._dir(server_id) / "shares.json",
                    [{"export": m.export, "source": m.source, "read_only": bool(m.read_only)} for m in shares])

    def start(self, server_id: str) -> None:
        """Boot a stopped instance (same files, same netns); returns once it is ready (sshd
        listening, when the image has it). No-op when it runs already."""
        if self._pid(server_id):
            return
        boot = self._boot(server_id)
        if "shares_file" not in boot:  # made before shares existed: its next boots get them too
            boot["shares_file"] = str(self._dir(server_id) / "shares.json")
            _write_json(self._dir(server_id) / "boot.json", boot)
        (self._dir(server_id) / "stopped").unlink(missing_ok=True)
        if not Path(boot["netns_path"]).exists():
            raise DriverError(f"network namespace {boot['netns']} of {server_id} does not exist")
        cg = cgroups.from_dirs(boot["cgroup_dirs"])
        if not all(p.is_dir() for p in cg.dirs):  # gone with a host reboot
            cgroups.create(cg, boot["vcpus"], boot["memory_mb"])
        self._reattach_loops(server_id)
        reason = self._launch(server_id, boot)
        if reason != "READY":
            tail = self.console(server_id, CONSOLE_TAIL)
            self._kill(server_id, boot)
            raise DriverError(f"instance {server_id} failed to boot: {reason}\n"
                              f"--- console ---\n{tail}")

    def _launch(self, server_id: str, boot: dict) -> str:
        """Start the init's launch stage and wait for its verdict: "READY" or why not."""
        d = self._dir(server_id)
        (d / "init.pid").unlink(missing_ok=True)
        read_end, write_end = os.pipe()
        try:
            with open(d / "console.log", "ab") as console:
                launcher = subprocess.Popen(
                    guest_init.command(self.python, "launch", str(d / "boot.json"), str(write_end)),
                    stdin=subprocess.DEVNULL, stdout=console, stderr=console, cwd="/",
                    pass_fds=(write_end,), start_new_session=True, env=LAUNCH_ENV)
        except OSError as e:
            os.close(read_end)
            raise DriverError(f"cannot start the init of {server_id}: {e}") from e
        finally:
            os.close(write_end)
        try:
            return self._wait_ready(read_end)
        finally:
            os.close(read_end)
            try:
                launcher.wait(timeout=10)  # it exits right after forking PID 1: reap it
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()

    def _wait_ready(self, fd: int) -> str:
        deadline = time.monotonic() + self.ready_timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"not ready after {self.ready_timeout:.0f} s"
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return "the init exited before it was ready"
            data += chunk
        return data.split(b"\n", 1)[0].decode(errors="replace").removeprefix("FAIL ")

    # --- stop / reboot --------------------------------------------------------------------

    def stop(self, server_id: str, timeout: float = 10) -> None:
        """SIGTERM to the init (which passes it on), then after ``timeout`` seconds SIGKILL to
        everything left in the cgroup. Files stay."""
        boot = self._boot(server_id)
        (self._dir(server_id) / "stopped").touch()
        pid = self._pid(server_id)
        if pid and timeout > 0:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self._pid(server_id) and time.monotonic() < deadline:
                time.sleep(0.01)
        self._kill(server_id, boot)

    def _kill(self, server_id: str, boot: dict | None) -> None:
        """SIGKILL every process of the instance and wait until they are gone."""
        pid = self._pid(server_id)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)  # PID 1 dying takes its whole PID namespace along
            except ProcessLookupError:
                pass
        if boot:
            cg = cgroups.from_dirs(boot["cgroup_dirs"])
            if any(p.is_dir() for p in cg.dirs):
                cgroups.kill_all(cgroups.from_dirs(p for p in cg.dirs if p.is_dir()))
        deadline = time.monotonic() + 5
        while self._pid(server_id):
            if time.monotonic() > deadline:
                raise DriverError(f"the init of {server_id} (pid {pid}) does not die")
            time.sleep(0.005)
        (self._dir(server_id) / "init.pid").unlink(missing_ok=True)

    def reboot(self, server_id: str, hard: bool = False) -> None:
        """Soft: SIGTERM and a grace period; hard: SIGKILL at once. Then start again."""
        self.stop(server_id, timeout=0 if hard else 10)
        self.start(server_id)

    # --- destroy / reconcile --------------------------------------------------------------

    def destroy(self, server_id: str) -> None:
        """Kill every process, detach loop devices, remove the cgroup and all files, forget the
        records. Idempotent, also for half-made instances (it works from the records)."""
        d = self._dir(server_id)
        boot = _read_json(d / "boot.json")
        mine = [r for r in self.records.owned_by("server", server_id) if r.kind in MY_KINDS]
        cg_dirs = {Path(r.name) for r in mine if r.kind == "cgroup"}
        cg_dirs |= {Path(p) for p in (boot or {}).get("cgroup_dirs", [])}
        self._kill(server_id, None)
        existing = [p for p in cg_dirs if p.is_dir()]
        if existing:
            cgroups.remove(cgroups.from_dirs(existing))
        for p in cg_dirs:
            self.records.remove("cgroup", str(p))
        loops = {r.name for r in mine if r.kind == "loop"}
        loops |= {e["loop"] for e in (_read_json(d / "devices.json", {}) or {}).get("block", {}).values()}
        for loop in loops:
            devices.detach_loop(loop, self.records)
        for r in mine:
            if r.kind == "mount":
                self._unmount(r.name)
        if d.exists():
            shutil.rmtree(d)
        self.records.remove("dir", str(d))

    def _unmount(self, target: str) -> None:
        """A recorded host mount (none are made today: mounts live in instance namespaces)."""
        mounted = any(line.split()[4] == target
                      for line in Path("/proc/self/mountinfo").read_text().splitlines())
        if mounted:
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        self.records.remove("mount", target)

    def running(self) -> set[str]:
        """Ids of the instances whose init is alive (from the pid files: survives restarts)."""
        found = set()
        for d in self.state_dir.iterdir():
            if (d / "init.pid").exists() and self._is_id(d.name) and self._pid(d.name):
                found.add(d.name)
        return found

    def power_state(self, server_id: str) -> int:
        """RUNNING while its init lives; SHUTDOWN when stopped on request; CRASHED when its init
        is gone otherwise (killed, out of memory, a host reboot); NOSTATE without its files."""
        d = self._dir(server_id)
        if not (d / "boot.json").exists():
            return NOSTATE
        if self._pid(server_id):
            return RUNNING
        return SHUTDOWN if (d / "stopped").exists() else CRASHED

    @staticmethod
    def _is_id(name: str) -> bool:
        try:
            names.short(name)
        except ValueError:
            return False
        return True

    def known(self) -> set[str]:
        """Ids of every instance with a state dir or records here, running or not."""
        ids = {d.name for d in self.state_dir.iterdir() if d.is_dir() and self._is_id(d.name)}
        ids |= {r.owner_id for r in self.records.all()
                if r.owner_kind == "server" and r.kind in MY_KINDS}
        return ids

    def cleanup(self, keep: set[str]) -> list[str]:
        """Destroy every instance not in ``keep`` (processes, cgroups, loop devices, files) that
        has a state dir or records here, and kill and remove every other instance cgroup not in
        ``keep`` (an instance whose state went with another data dir: one netns caas runs per
        machine, and cleanup runs only while none does); returns the ids removed."""
        removed = []
        for server_id in sorted(self.known() - set(keep)):
            self.destroy(server_id)
            removed.append(server_id)
        for server_id in sorted(cgroups.present() - set(keep) - set(removed)):
            cgroups.remove(cgroups.plan(server_id))
            removed.append(server_id)
        return removed

    # --- console --------------------------------------------------------------------------

    def console(self, server_id: str, length: int | None = None) -> str:
        """The console log, its last ``length`` lines when given."""
        try:
            text = (self._dir(server_id) / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        if length is None:
            return text
        lines = text.splitlines(keepends=True)
        return "".join(lines[-length:]) if length > 0 else ""

    # --- block devices --------------------------------------------------------------------

    def _devices(self, server_id: str) -> dict:
        data = _read_json(self._dir(server_id) / "devices.json")
        if data is None:
            raise DriverError(f"no instance {server_id} on this host")
        data.setdefault("block", {})
        return data

    def attach_block(self, server_id: str, source: Path, device: str) -> None:
        """Attach the volume file ``source`` through a loop device as ``device`` (/dev/vdX): live
        in the running instance, and in devices.json for every later boot."""
        if not _VOLUME_DEVICE.match(device):
            raise DriverError(f"bad device name {device!r} (want /dev/vdb style)")
        data = self._devices(server_id)
        current = data["block"].get(device)
        if current:
            if Path(current["source"]) == Path(source):
                return
            raise DriverError(f"{device} is in use in {server_id}")
        node = devices.attach_loop(Path(source), self.records, server_id)
        data["block"][device] = {"path": device, "kind": "b", "major": node.major,
                                 "minor": node.minor, "loop": node.path, "source": str(source)}
        _write_json(self._dir(server_id) / "devices.json", data)
        self._live_node(server_id, device, (node.major, node.minor))

    def detach_block(self, server_id: str, device: str) -> None:
        """Remove ``device`` from the instance and detach its loop device. Idempotent."""
        try:
            data = self._devices(server_id)
        except DriverError:
            return
        entry = data["block"].pop(device, None)
        if entry is None:
            return
        self._live_node(server_id, device, None)
        devices.detach_loop(entry["loop"], self.records)
        _write_json(self._dir(server_id) / "devices.json", data)

    def _live_node(self, server_id: str, device: str, rdev: tuple[int, int] | None) -> None:
        """Create (rdev given) or remove the node in the running instance's /dev.

        The instance's /dev is opened through /proc/<pid>/root without following symlinks, and
        the node is made relative to it: nothing the instance put in /dev can redirect us."""
        pid = self._pid(server_id)
        if not pid:
            return
        name = device.removeprefix("/dev/")
        try:
            fd = os.open(f"/proc/{pid}/root/dev", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as e:
            raise DriverError(f"cannot reach /dev of {server_id}: {e}") from e
        try:
            if rdev is None:
                try:
                    os.unlink(name, dir_fd=fd)
                except FileNotFoundError:
                    pass
                return
            try:
                os.mknod(name, 0o060660, os.makedev(*rdev), dir_fd=fd)
            except FileExistsError:
                os.unlink(name, dir_fd=fd)
                os.mknod(name, 0o060660, os.makedev(*rdev), dir_fd=fd)
        except OSError as e:
            raise DriverError(f"cannot {'remove' if rdev is None else 'create'} {device} "
                              f"in {server_id}: {e}") from e
        finally:
            os.close(fd)

    def _reattach_loops(self, server_id: str) -> None:
        """After a host reboot loop devices are gone: attach the volumes again."""
        data = self._devices(server_id)
        changed = False
        for device, entry in data["block"].items():
            backing = devices.loop_backing_file(entry["loop"])
            if backing and os.path.realpath(backing) == os.path.realpath(entry["source"]):
                continue
            self.records.remove("loop", entry["loop"])
            node = devices.attach_loop(Path(entry["source"]), self.records, server_id)
            entry.update(major=node.major, minor=node.minor, loop=node.path)
            changed = True
        if changed:
            _write_json(self._dir(server_id) / "devices.json", data)

