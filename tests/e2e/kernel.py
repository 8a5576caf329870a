"""What the netns driver left in the kernel: every object whose name has the ``cs-`` prefix
(links, network namespaces, nftables tables, cgroups), for tests that assert nothing leaks."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

PREFIX = "cs-"


def netns_missing() -> str | None:
    """Why real-instance tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the netns driver needs root"
    for tool in ("nsenter", "unshare", "nft", "ip", "ssh", "ssh-keygen", "ping"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install nftables iproute2 openssh-server openssh-client iputils-ping)"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (apt-get install openssh-server)"
    return None


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}
    return {n for n in names if n.startswith(PREFIX)}


def namespaces() -> set[str]:
    run = Path("/run/netns")
    return {p.name for p in run.iterdir() if p.name.startswith(PREFIX)} if run.exists() else set()


def nft_tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {" ".join(line.split()[1:]) for line in out.splitlines()
            if line.startswith("table") and line.split()[-1].startswith(PREFIX)}


def cgroups() -> set[str]:
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith(PREFIX):
                found.add(os.path.join(root, d))
        dirs[:] = [d for d in dirs if not d.startswith(PREFIX)]
    return found


def mounts(marker: str) -> list[str]:
    """Mount points in this (the host's) mount table that mention ``marker`` (a data dir)."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if marker in line]


def cs_objects() -> dict[str, set[str]]:
    return {"links": links(), "netns": namespaces(), "nft": nft_tables(), "cgroups": cgroups()}


def nothing_left() -> dict[str, set[str]]:
    """The non-empty categories of ``cs_objects`` (an empty dict when nothing is left)."""
    return {k: v for k, v in cs_objects().items() if v}


def beyond_the_clouds_own(srv, public_network_ids: list[str], timeout: float = 10.0) -> dict[str, set[str]]:
    """The cs- objects a running netns caas ``srv`` has beyond what the machine had at its
    start (``srv.before``) and the cloud's own while it runs (its external networks' bridges,
    the host's tables); waits up to ``timeout`` for them to go (the reconciler removes the last
    ones right after a delete's commit). An empty dict when nothing is left."""
    from caas.virt.netns import names

    own = {"links": {names.bridge(i) for i in public_network_ids},
           "nft": {"bridge cs-antispoof", "inet cs-host", "arp cs-host"}}
    deadline = time.monotonic() + timeout
    while True:
        extra = {k: v - srv.before[k] - own.get(k, set()) for k, v in cs_objects().items()}
        extra = {k: v for k, v in extra.items() if v}
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.2)


def stop_and_clean(srv, before: dict[str, set[str]]) -> None:
    """Stop a netns ``caas up``, run ``caas cleanup --all`` on its data dir, and check that no
    cs- object or mount is left beyond what ``before`` had (the cloud's own external bridge and
    host tables outlive a stop by design; cleanup removes them)."""
    from tests.conftest import caas_command

    srv.stop()
    out = subprocess.run(caas_command() + ["cleanup", "--all", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    left = {k: v - before[k] for k, v in cs_objects().items() if v - before[k]}
    assert not left, f"caas cleanup --all left {left}"
    assert not mounts(str(srv.data_dir))
