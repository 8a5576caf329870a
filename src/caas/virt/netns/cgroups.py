"""Instance cgroups: CPU, memory and pids limits, and killing everything inside.

cgroup v2 is used when /sys/fs/cgroup is a cgroup2 mount offering the cpu, memory and pids
controllers; otherwise the v1 hierarchies (cpu, memory, pids). Either way the instance's cgroup
``names.cgroup(server_id)`` is made under *this process's own* cgroup in each hierarchy (read
from /proc/self/cgroup), which is the part of the tree we are allowed to manage.

A ``Cgroup`` is just the list of directories (one on v2, one per v1 hierarchy); it is persisted by
the caller (as records and in the instance's state dir) because this process's own cgroup, and
so the parent, may differ after a restart.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from caas.virt.driver import DriverError
from caas.virt.netns import names

ROOT = Path("/sys/fs/cgroup")
V2_CONTROLLERS = ("cpu", "memory", "pids")
V1_CONTROLLERS = ("cpu", "memory", "pids")
CPU_PERIOD_US = 100_000
PIDS_MAX = 4096


@dataclass(frozen=True)
class Cgroup:
    """The directories of one instance cgroup (one per hierarchy)."""

    dirs: tuple[Path, ...]

    @property
    def version(self) -> int:
        # Only cgroup2 directories have cgroup.controllers (the parent exists before we mkdir).
        return 2 if self.dirs and (self.dirs[0].parent / "cgroup.controllers").exists() else 1

    def procs_files(self) -> list[str]:
        """The cgroup.procs files init writes its pid to (joining the cgroup)."""
        return [str(d / "cgroup.procs") for d in self.dirs]


def is_v2() -> bool:
    """True when /sys/fs/cgroup is a unified cgroup2 mount with the controllers we need."""
    try:
        available = (ROOT / "cgroup.controllers").read_text().split()
    except OSError:
        return False
    return all(c in available for c in V2_CONTROLLERS)


def own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and "" -> path for v2."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v2_parent() -> Path:
    """Our own v2 cgroup, with cpu/memory/pids enabled for its children.

    v2 forbids enabling controllers for children of a cgroup that has processes ("no internal
    processes"), so when our own cgroup is not the root, this process moves itself into a leaf
    ``caas-supervisor`` child first (the pattern systemd's delegation documentation recommends).
    """
    own = ROOT / own_paths().get("", "/").lstrip("/")
    if own.name == "caas-supervisor":
        own = own.parent
    want = " ".join("+" + c for c in V2_CONTROLLERS)
    try:
        _write(own / "cgroup.subtree_control", want)
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise DriverError(f"cannot enable cgroup controllers in {own}: {e}") from e
        leaf = own / "caas-supervisor"
        leaf.mkdir(exist_ok=True)
        _write(leaf / "cgroup.procs", str(os.getpid()))
        try:
            _write(own / "cgroup.subtree_control", want)
        except OSError as e2:
            raise DriverError(f"cannot enable cgroup controllers in {own} (other processes "
                              f"live there; give caas a delegated cgroup): {e2}") from e2
    return own


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def plan(server_id: str) -> Cgroup:
    """Where the instance's cgroup goes (nothing is created)."""
    name = names.cgroup(server_id)
    if is_v2():
        return Cgroup((_v2_parent() / name,))
    own = own_paths()
    dirs = []
    for c in V1_CONTROLLERS:
        mount = ROOT / c
        if not mount.is_dir():
            raise DriverError(f"no cgroup v1 hierarchy for the {c} controller at {mount}")
        dirs.append(mount / own.get(c, "/").lstrip("/") / name)
    return Cgroup(tuple(dirs))


def create(cg: Cgroup, vcpus: int, memory_mb: int, pids_max: int = PIDS_MAX) -> None:
    """Make the directories and set the limits: ``vcpus`` cores of CPU time, ``memory_mb`` MiB
    of memory, ``pids_max`` tasks. The caller records ``cg.dirs`` before calling."""
    quota = max(1, vcpus) * CPU_PERIOD_US
    limit = max(1, memory_mb) * 1024 * 1024
    try:
        for d in cg.dirs:
            d.mkdir(exist_ok=True)
        if cg.version == 2:
            d = cg.dirs[0]
            _write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            _write(d / "memory.max", str(limit))
            if (d / "memory.swap.max").exists():  # a VM cannot swap its RAM to our disk
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(pids_max))
            return
        for d in cg.dirs:
            if (d / "cpu.cfs_quota_us").exists():
                _write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(d / "cpu.cfs_quota_us", str(quota))
            if (d / "memory.limit_in_bytes").exists():
                _write(d / "memory.limit_in_bytes", str(limit))
            if (d / "pids.max").exists():
                _write(d / "pids.max", str(pids_max))
    except OSError as e:
        raise DriverError(f"cannot set up cgroup {cg.dirs[0].name}: {e}") from e


def pids(cg: Cgroup) -> set[int]:
    """Every process in the cgroup (union over hierarchies)."""
    found: set[int] = set()
    for d in cg.dirs:
        try:
            found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            pass
    return found


def kill_all(cg: Cgroup, timeout: float = 5.0) -> None:
    """SIGKILL every process in the cgroup and wait until it is empty."""
    deadline = time.monotonic() + timeout
    if cg.version == 2 and (cg.dirs[0] / "cgroup.kill").exists():  # Linux >= 5.14
        try:
            _write(cg.dirs[0] / "cgroup.kill", "1")
        except OSError:
            pass
    while True:
        left = pids(cg)
        if not left:
            return
        for pid in left:  # v1 has no cgroup.kill; forks racing us are caught by the next round
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise DriverError(f"processes {sorted(left)} in {cg.dirs[0]} do not die")
        time.sleep(0.01)


def remove(cg: Cgroup, timeout: float = 5.0) -> list[Path]:
    """Kill what is left and remove the directories; returns those removed. Idempotent."""
    kill_all(cg, timeout)
    removed = []
    for d in cg.dirs:
        deadline = time.monotonic() + timeout
        while d.is_dir():
            try:
                d.rmdir()
                removed.append(d)
            except OSError as e:
                # Just-killed tasks can keep a cgroup busy for a moment while they exit.
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise DriverError(f"cannot remove cgroup {d}: {e}") from e
                time.sleep(0.01)
    return removed


def present() -> set[str]:
    """Server ids of every instance cgroup (``cs-<id>``) where this process would make one."""
    parents = {d.parent for d in plan("00000000-0000-0000-0000-000000000000").dirs}
    ids = set()
    for parent in parents:
        for d in parent.glob(names.cgroup("*")):
            sid = d.name[len(names.PREFIX):]
            if d.is_dir() and _UUID.match(sid):
                ids.add(sid)
    return ids


def from_dirs(dirs: Iterable[str | Path]) -> Cgroup:
    return Cgroup(tuple(Path(d) for d in dirs))
