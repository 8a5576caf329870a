"""A cluster create's request as checked (``Request``), its checks that need no cloud
(``validate``), and the plan's pieces: the resources a create makes, in order
(``resources``), and the cluster networks a project's clusters hold (``taken``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from caas.clusters import addresses, names as node_names, profiles, readiness
from caas.clusters.models import ERROR, Cluster
from caas.errors import BadRequest

CLUSTER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
MAX_NODES = 1000  # per request and per cluster


@dataclass
class Request:
    """A create, as checked: everything the engine needs."""

    name: str
    image: str | None
    profile: str
    profile_version: str | None
    node_count: int
    node_flavor: str | None
    head_flavor: str | None
    key_name: str | None
    keep_on_failure: bool
    ready: str = readiness.SSH  # readiness.CHOICES


def validate(req: Request) -> profiles.Profile:
    """The request's profile, once what needs no cloud is right; BadRequest otherwise."""
    if not CLUSTER_NAME.match(req.name):
        raise BadRequest("A cluster name is a DNS label: lowercase letters, digits and hyphens, starting with a "
                         "letter, at most 40 characters.")
    p = profiles.profile(req.profile, req.profile_version)
    if not 0 <= req.node_count <= MAX_NODES:
        raise BadRequest(f"node_count must be between 0 and {MAX_NODES}.")
    if req.node_count and not p.compute_nodes:
        raise BadRequest(f"Profile {p.name} is a head node only; it takes no compute nodes.")
    if req.ready not in readiness.CHOICES:
        raise BadRequest(f"ready must be one of {', '.join(readiness.CHOICES)}.")
    if req.node_count > addresses.max_nodes():
        raise BadRequest(f"A cluster network holds at most {addresses.max_nodes()} nodes.")
    return p


def resources(n: str, cidr: str, head: dict, node: dict, image_name: str, names: list[str]) -> list[dict]:
    """The resources the create of cluster ``n`` makes, in order, as the plan shows them."""
    out = [{"kind": "network", "name": f"{n}-net", "cidr": cidr},
           {"kind": "subnet", "name": f"{n}-subnet"}, {"kind": "router", "name": f"{n}-router"},
           {"kind": "router_interface", "name": f"{n}-router"},
           {"kind": "security_group", "name": f"{n}-head"}, {"kind": "security_group", "name": f"{n}-cluster"},
           {"kind": "port", "name": f"{n}-head", "fixed_ip": addresses.head_ip(cidr)},
           {"kind": "server", "name": f"{n}-head", "flavor": head["name"], "image": image_name},
           {"kind": "floating_ip", "name": f"{n}-head"}]
    for name in names:
        ip = addresses.node_ip(cidr, node_names.node_number(name)[1])
        out += [{"kind": "port", "name": f"{n}-{name}", "fixed_ip": ip},
                {"kind": "server", "name": f"{n}-{name}", "flavor": node["name"], "image": image_name}]
    return out


def taken(s, project_id: str, replacing: str | None = None) -> set[str]:
    """The cluster networks the project's clusters hold (but the failed one a create of
    the same name replaces)."""
    rows = s.execute(select(Cluster.cidr, Cluster.name, Cluster.status).where(Cluster.project_id == project_id))
    return {cidr for cidr, name, status in rows if not (name == replacing and status == ERROR)}
