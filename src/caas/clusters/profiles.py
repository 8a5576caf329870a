"""The profiles a cluster may have: what its nodes set up at first boot and the steps of their
own, as data (``cloudconfig.Profile``) the engine runs.

- ``base``: every node gets the cluster's /etc/hosts, the cluster's SSH key (trusted between
  all its nodes: root on any node reaches any other by name), the user's key, and a ready
  marker written last. A compute node then reports in to the head by name with the cluster key
  (retrying for a minute): that report is its ready check.
- ``slurm``: ``base``, a shared /home (``home``), the cluster's users (``users``) and Slurm
  (``slurm``): a workload manager whose jobs run as those users on every node.
- ``none``: a head node only, with the user's key (the seed document's "graphical installer"
  head).
"""

from __future__ import annotations

from caas.clusters import home, scaler, slurm, users
from caas.clusters.cloudconfig import (READY_DIR, READY_MARKER, Boot, Hook, Profile, compose, cluster_files,
                                       hosts_file, ssh_config)
from caas.clusters.operations import Step
from caas.errors import BadRequest

__all__ = ["READY_DIR", "READY_MARKER", "Boot", "Hook", "PROFILES", "Profile", "compose", "hosts_file", "profile",
           "ssh_config"]


def _slurm_prepare(engine, work) -> dict:
    """What the slurm profile's parts need for the servers an operation boots."""
    c = work.cluster
    extra = {"users": list(c.users or []), "home_export": home.export(engine, work),
             "slurm_conf": slurm.conf_of(engine, work)}
    conf = scaler.conf_for(engine, c.id)
    if conf is not None:
        extra["scaler"] = conf
    return extra


SLURM = Profile(
    "slurm", (slurm.VERSION,),
    f"Slurm {slurm.VERSION} with munge: slurmctld on the head, slurmd on every node; a shared /home (a share of "
    "the cloud's Shared File Systems service); the creator (and users given) with a login on every node.",
    True,
    parts=(cluster_files, home.part, users.part, scaler.part, slurm.part),
    hooks=(Hook("create", Step("home", home.make_home), before="head"),
           Hook("create", Step("slurm", slurm.check), before=None),
           Hook("add", Step("slurm_config", slurm.configure), before="ready"),
           Hook("add", Step("slurm", slurm.check), before=None),
           Hook("remove", Step("drain", slurm.drain), before="nodes"),
           Hook("remove", Step("slurm_config", slurm.configure), before=None),
           Hook("suspend", Step("slurm_config", slurm.configure), before=None),
           Hook("configure", Step("scaler", scaler.install), before=None),
           Hook("configure", Step("slurm_config", slurm.configure), before=None)),
    reports=True, pushes_hosts=True, prepare=_slurm_prepare, needs=("sharev2",), rolled_back=slurm.rolled_back,
    has_queue=True,
    options={"partitions": "one", "home_size": home.DEFAULT_SIZE, "min_nodes": None, "max_nodes": None,
             "idle_time": slurm.IDLE_TIME})

PROFILES = {
    "base": Profile("base", ("1",), "Head and compute nodes: the cluster's /etc/hosts, a cluster SSH key "
                    "trusted between all nodes, the user's key on every node.", True,
                    parts=(cluster_files,), reports=True, pushes_hosts=True),
    "none": Profile("none", ("1",), "A head node only, with the user's key.", False),
    "slurm": SLURM,
}


def profile(name: str, version: str | None) -> Profile:
    p = PROFILES.get(name)
    if p is None:
        raise BadRequest(f"Unknown profile {name[:64]!r}; choose one of {', '.join(sorted(PROFILES))}.")
    if version is not None and version not in p.versions:
        raise BadRequest(f"Profile {name} has no version {version[:32]!r}; it has {', '.join(p.versions)}.")
    return p
