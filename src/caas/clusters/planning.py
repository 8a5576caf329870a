"""A cluster create's request as checked (``Request``), its checks that need no cloud
(``validate``), and the plan's pieces: the resources a create makes, in order
(``resources``), and the cluster networks a project's clusters hold (``taken``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from caas.clusters import addresses, names as node_names, profiles, readiness, slurm, users as cluster_users
from caas.clusters.home import MAX_SIZE
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
    network: str | None = None  # a network the cloud provides (name or id): the cluster makes none
    external_network: str | None = None  # for the router's gateway and the floating IP (name or id)
    users: list[str] | None = None  # logins besides the creator's (profiles with users: slurm)
    partitions: str | None = None  # slurm: one | flavor
    home_size: int | None = None  # slurm: GB of the shared /home
    min_nodes: int | None = None  # slurm, elastic: nodes kept however idle
    max_nodes: int | None = None  # slurm, elastic: nodes Slurm may ask for (given: the cluster is elastic)
    idle_time: int | None = None  # slurm, elastic: seconds idle before a node above the minimum goes


IDLE_TIME = (10, 7 * 86400)  # seconds


def _given(req: Request) -> dict:
    return {k: getattr(req, k) for k in ("users", "partitions", "home_size", "min_nodes", "max_nodes", "idle_time")
            if getattr(req, k) is not None}


def options(req: Request, p: profiles.Profile) -> dict:
    """The profile's options as the request sets them (its defaults for the others); BadRequest
    for an option the profile does not take, or a value it does not."""
    given = _given(req)
    takes = set(p.options) | ({"users"} if p.prepare else set())
    other = sorted(set(given) - takes)
    if other:
        raise BadRequest(f"Profile {p.name} takes no {', '.join(other)}.")
    if req.users is not None:
        cluster_users.check(req.users)
    if req.partitions is not None and req.partitions not in slurm.PARTITIONS:
        raise BadRequest(f"partitions must be one of {', '.join(slurm.PARTITIONS)}.")
    if req.home_size is not None and not 1 <= req.home_size <= MAX_SIZE:
        raise BadRequest(f"home_size must be between 1 and {MAX_SIZE} (GB).")
    elastic(req)
    return {k: given.get(k, default) for k, default in p.options.items()}


def elastic(req: Request) -> None:
    """min_nodes <= node_count <= max_nodes, within a cluster network; the idle time in range."""
    if req.max_nodes is None:
        if req.min_nodes is not None or req.idle_time is not None:
            raise BadRequest("min_nodes and idle_time go with max_nodes (an elastic cluster).")
        return
    top = min(MAX_NODES, addresses.max_nodes())
    if not 1 <= req.max_nodes <= top:
        raise BadRequest(f"max_nodes must be between 1 and {top}.")
    low = req.min_nodes or 0
    if not 0 <= low <= req.max_nodes:
        raise BadRequest(f"min_nodes must be between 0 and max_nodes ({req.max_nodes}).")
    if not low <= req.node_count <= req.max_nodes:
        raise BadRequest(f"An elastic cluster starts with between min_nodes ({low}) and max_nodes "
                         f"({req.max_nodes}) nodes; node_count is {req.node_count}.")
    if req.idle_time is not None and not IDLE_TIME[0] <= req.idle_time <= IDLE_TIME[1]:
        raise BadRequest(f"idle_time must be between {IDLE_TIME[0]} and {IDLE_TIME[1]} seconds.")


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
    options(req, p)
    return p


def resources(n: str, cidr: str | None, head: dict, node: dict, image_name: str, names: list[str],
              floating_ip: bool = True) -> list[dict]:
    """The resources the create of cluster ``n`` makes, in order, as the plan shows them: on
    its own network ``cidr`` (None: on a given network, where it makes no network, subnet or
    router, and the cloud chooses the ports' addresses); a floating IP unless not
    ``floating_ip``."""
    def port(name: str, ip: str | None) -> dict:
        return {"kind": "port", "name": name, **({"fixed_ip": ip} if ip else {})}

    out = [{"kind": "network", "name": f"{n}-net", "cidr": cidr},
           {"kind": "subnet", "name": f"{n}-subnet"}, {"kind": "router", "name": f"{n}-router"},
           {"kind": "router_interface", "name": f"{n}-router"}] if cidr else []
    out += [{"kind": "security_group", "name": f"{n}-head"}, {"kind": "security_group", "name": f"{n}-cluster"},
            port(f"{n}-head", cidr and addresses.head_ip(cidr)),
            {"kind": "server", "name": f"{n}-head", "flavor": head["name"], "image": image_name}]
    out += [{"kind": "floating_ip", "name": f"{n}-head"}] if floating_ip else []
    for name in names:
        ip = cidr and addresses.node_ip(cidr, node_names.node_number(name)[1])
        out += [port(f"{n}-{name}", ip),
                {"kind": "server", "name": f"{n}-{name}", "flavor": node["name"], "image": image_name}]
    return out


def taken(s, project_id: str, replacing: str | None = None) -> set[str]:
    """The cluster networks the project's clusters hold (but the failed one a create of
    the same name replaces)."""
    rows = s.execute(select(Cluster.cidr, Cluster.name, Cluster.status).where(Cluster.project_id == project_id))
    return {cidr for cidr, name, status in rows if cidr and not (name == replacing and status == ERROR)}
