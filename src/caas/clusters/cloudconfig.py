"""A profile as data: what its nodes set up at first boot (cloud-config ``parts``) and the steps
of its own the engine runs (``hooks``), with the flags the engine reads instead of branching on
a profile's name.

A node's ``#cloud-config`` is composed from the profile's parts, in order: each gives some of
``write_files``, ``runcmd``, ``mounts`` and ``packages`` for one node (``Boot``); the runcmd of
every part runs before the ready marker, and a compute node of a profile that ``reports`` then
reports in to the head. Only keys every cloud-init knows are used, so the same text works on any
OpenStack image (the netns driver's init reads the same keys).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Callable

import yaml

READY_MARKER = "/var/lib/caas-cluster/ready"
# On the head: one file per compute node that has reported in (see ``report_command``).
READY_DIR = "/var/lib/caas-cluster/ready.d"


@dataclass(frozen=True)
class Boot:
    """One node's first boot, as its parts see it."""

    cluster_name: str
    cluster_id: str
    hostname: str
    role: str  # head | compute
    hosts: str  # the cluster's /etc/hosts
    cluster_key: str
    cluster_public_key: str
    user_public_key: str
    node_prefix: str
    report: str = ""  # what a compute node leaves in the head's READY_DIR (its record's id)
    # what the profile's ``prepare`` gave for this boot (the shared home's export, users ...)
    extra: dict = field(default_factory=dict)

    @property
    def head(self) -> bool:
        return self.role == "head"

    @property
    def head_host(self) -> str:
        return f"{self.cluster_name}-head"


@dataclass(frozen=True)
class Hook:
    """A step of the profile's own in an operation (create, add, remove): run just before step
    ``before`` of it, or after its last step when ``before`` is None."""

    operation: str
    step: object  # operations.Step
    before: str | None = "ready"


@dataclass(frozen=True)
class Profile:
    name: str
    versions: tuple[str, ...]
    description: str
    compute_nodes: bool  # may the cluster have compute nodes?
    parts: tuple[Callable[[Boot], dict], ...] = ()  # cloud-config of each node (``compose``)
    hooks: tuple[Hook, ...] = ()  # steps of its own (``operations.for_profile``)
    reports: bool = False  # compute nodes report in to the head: the ready check
    pushes_hosts: bool = False  # /etc/hosts rewritten on every node when nodes come and go
    # (engine, work) -> Boot.extra: what the parts need that the engine knows (read per operation)
    prepare: Callable | None = None
    # (engine, work, names, reason) -> None: after an add's rollback removed the nodes ``names``
    rolled_back: Callable | None = None
    has_queue: bool = False  # a workload manager whose queue the health check reads (``queue``)
    # the cloud's service types the profile needs (a create is refused up front without them)
    needs: tuple[str, ...] = ()
    # options the profile takes at create (``Cluster.options``), with their defaults
    options: dict = field(default_factory=dict)

    @property
    def default_version(self) -> str:
        return self.versions[-1]

    def view(self) -> dict:
        return {"name": self.name, "versions": list(self.versions), "default_version": self.default_version,
                "description": self.description, "compute_nodes": self.compute_nodes}


def hosts_file(cluster_name: str, head: tuple[str, str], nodes: list[tuple[str, str]]) -> str:
    """/etc/hosts of every node: ``head`` is (hostname, ip), ``nodes`` [(name, ip)]."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "# the cluster " + cluster_name + " (written by caas; rewritten when nodes come and go)",
             f"{head[1]}\t{head[0]} head"]
    lines += [f"{ip}\t{name} {cluster_name}-{name}" for name, ip in nodes]
    return "\n".join(lines) + "\n"


def ssh_config(cluster_name: str, prefix: str, user: str = "root", identity: str = "/root/.ssh/id_cluster") -> str:
    # Inside the cluster's private network nodes come and go under reused names (scale to zero
    # and back): host keys are not pinned there, as on most HPC clusters.
    return (f"Host head {cluster_name}-head {prefix}* {cluster_name}-{prefix}*\n"
            f"  User {user}\n  IdentityFile {identity}\n  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 5\n")


def text_file(path: str, content: str, mode: str = "0644") -> dict:
    return {"path": path, "permissions": mode, "content": content}


def secret_file(path: str, data: bytes, mode: str = "0600") -> dict:
    return {"path": path, "permissions": mode, "encoding": "b64", "content": base64.b64encode(data).decode()}


def cluster_files(b: Boot) -> dict:
    """The ``base`` part: the cluster's /etc/hosts, its SSH key (root on any node reaches any
    other by name) and ssh_config."""
    return {"write_files": [
        text_file("/etc/hosts", b.hosts),
        secret_file("/root/.ssh/id_cluster", b.cluster_key.encode()),
        text_file("/root/.ssh/id_cluster.pub", b.cluster_public_key.strip() + "\n"),
        text_file("/root/.ssh/config", ssh_config(b.cluster_name, b.node_prefix), "0600"),
    ]}


def report_command(b: Boot) -> list:
    """A compute node reports in: it logs in to the head by name with the cluster key and leaves
    a file named after itself in the head's READY_DIR (retrying for a minute). That proves the
    node's setup, its network, the cluster's names and keys at once (like phone_home)."""
    line = f"mkdir -p {READY_DIR} && echo {b.report} > {READY_DIR}/{b.hostname}"
    return ["sh", "-c", f"for i in $(seq 60); do ssh head '{line}' && exit 0; sleep 1; done; "
                        "echo 'caas: could not report to the head' >&2; exit 1"]


def compose(p: Profile, b: Boot) -> str:
    """The node's ``#cloud-config``: the profile's parts in order, then the ready marker (and
    the report of a compute node of a profile that ``reports``)."""
    keys = [k for k in (b.user_public_key.strip(), b.cluster_public_key.strip()) if k]
    cfg: dict = {"hostname": b.hostname, "disable_root": False, "ssh_authorized_keys": keys}
    files = [text_file("/etc/caas-cluster.json", yaml.safe_dump(
        {"cluster": b.cluster_name, "id": b.cluster_id, "role": b.role, "hostname": b.hostname,
         "profile": p.name}, default_flow_style=True))]
    runcmd: list = []
    mounts: list = []
    packages: list = []
    for part in p.parts:
        got = part(b)
        files += got.get("write_files", [])
        runcmd += got.get("runcmd", [])
        mounts += got.get("mounts", [])
        packages += [x for x in got.get("packages", []) if x not in packages]
    if mounts:
        cfg["mounts"] = mounts
    if packages:
        cfg["packages"] = packages
    cfg["write_files"] = files
    runcmd.append(["sh", "-c", f"mkdir -p {READY_MARKER.rsplit('/', 1)[0]} && date -u > {READY_MARKER}"])
    if p.reports and not b.head:
        runcmd.append(report_command(b))
    cfg["runcmd"] = runcmd
    return "#cloud-config\n" + yaml.safe_dump(cfg, sort_keys=False, width=1000)
