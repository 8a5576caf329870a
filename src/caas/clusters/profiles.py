"""Profiles: what a cluster's nodes set up at first boot, as cloud-init ``#cloud-config``.

- ``base``: every node gets the cluster's /etc/hosts, the cluster's SSH key (trusted between
  all its nodes: root on any node reaches any other by name), the user's key, and a ready
  marker written last. A compute node then reports in: it logs in to the head by name with
  the cluster key and leaves a file named after itself in the head's READY_DIR (retrying for a
  minute). That
  report is its ready check: it proves the node's setup, its network, the cluster's names and
  keys, all at once, while the other nodes still boot (like cloud-init's phone_home).
- ``none``: a head node only, with the user's key (the seed document's "graphical installer"
  head).

The cloud-config uses only keys every cloud-init knows (hostname, ssh_authorized_keys,
write_files, runcmd, disable_root), so the same text works on any OpenStack image.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import yaml

from caas.errors import BadRequest

READY_MARKER = "/var/lib/caas-cluster/ready"
# On the head: one file per compute node that has reported in (see ``user_data``).
READY_DIR = "/var/lib/caas-cluster/ready.d"


@dataclass(frozen=True)
class Profile:
    name: str
    versions: tuple[str, ...]
    description: str
    compute_nodes: bool  # may the cluster have compute nodes?
    # steps of its own (``operations.Step``), run by a create and an add just before ``ready``
    steps: tuple = ()

    @property
    def default_version(self) -> str:
        return self.versions[-1]

    def view(self) -> dict:
        return {"name": self.name, "versions": list(self.versions), "default_version": self.default_version,
                "description": self.description, "compute_nodes": self.compute_nodes}


PROFILES = {
    "base": Profile("base", ("1",), "Head and compute nodes: the cluster's /etc/hosts, a cluster SSH key "
                    "trusted between all nodes, the user's key on every node.", True),
    "none": Profile("none", ("1",), "A head node only, with the user's key.", False),
}


def profile(name: str, version: str | None) -> Profile:
    p = PROFILES.get(name)
    if p is None:
        raise BadRequest(f"Unknown profile {name[:64]!r}; choose one of {', '.join(sorted(PROFILES))}.")
    if version is not None and version not in p.versions:
        raise BadRequest(f"Profile {name} has no version {version[:32]!r}; it has {', '.join(p.versions)}.")
    return p


def hosts_file(cluster_name: str, head: tuple[str, str], nodes: list[tuple[str, str]]) -> str:
    """/etc/hosts of every node: ``head`` is (hostname, ip), ``nodes`` [(name, ip)]."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "# the cluster " + cluster_name + " (written by caas; rewritten when nodes come and go)",
             f"{head[1]}\t{head[0]} head"]
    lines += [f"{ip}\t{name} {cluster_name}-{name}" for name, ip in nodes]
    return "\n".join(lines) + "\n"


def ssh_config(cluster_name: str, prefix: str) -> str:
    # Inside the cluster's private network nodes come and go under reused names (scale to zero
    # and back): host keys are not pinned there, as on most HPC clusters.
    return (f"Host head {cluster_name}-head {prefix}* {cluster_name}-{prefix}*\n"
            "  User root\n  IdentityFile /root/.ssh/id_cluster\n  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 5\n")


def user_data(p: Profile, *, cluster_name: str, cluster_id: str, hostname: str, role: str, hosts: str,
              cluster_key: str, cluster_public_key: str, user_public_key: str, node_prefix: str,
              report: str = "") -> str:
    """``report``: what a compute node leaves in the head's READY_DIR (the id of its record, so
    that a report of an earlier node of the same name never counts for this one)."""
    keys = [k for k in (user_public_key.strip(), cluster_public_key.strip()) if k]
    cfg: dict = {"hostname": hostname, "disable_root": False, "ssh_authorized_keys": keys}
    files = [{"path": "/etc/caas-cluster.json", "permissions": "0644",
              "content": yaml.safe_dump({"cluster": cluster_name, "id": cluster_id, "role": role,
                                         "hostname": hostname, "profile": p.name}, default_flow_style=True)}]
    if p.name == "base":
        files += [
            {"path": "/etc/hosts", "permissions": "0644", "content": hosts},
            {"path": "/root/.ssh/id_cluster", "permissions": "0600", "encoding": "b64",
             "content": base64.b64encode(cluster_key.encode()).decode()},
            {"path": "/root/.ssh/id_cluster.pub", "permissions": "0644", "content": cluster_public_key.strip() + "\n"},
            {"path": "/root/.ssh/config", "permissions": "0600", "content": ssh_config(cluster_name, node_prefix)},
        ]
    cfg["write_files"] = files
    cfg["runcmd"] = [["sh", "-c", f"mkdir -p {READY_MARKER.rsplit('/', 1)[0]} && date -u > {READY_MARKER}"]]
    if p.name == "base" and role == "compute":
        line = f"mkdir -p {READY_DIR} && echo {report} > {READY_DIR}/{hostname}"
        cfg["runcmd"].append(["sh", "-c", f"for i in $(seq 60); do ssh head '{line}' && exit 0; sleep 1; done; "
                                          "echo 'caas: could not report to the head' >&2; exit 1"])
    return "#cloud-config\n" + yaml.safe_dump(cfg, sort_keys=False, width=1000)
