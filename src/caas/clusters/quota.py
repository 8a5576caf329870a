"""Does a cluster (or the nodes added to it) fit: the project's quotas and the cloud's capacity.

``check`` gives the quota lines and every shortfall for what a create or an add needs (``need``,
``servers``); ``reservations`` and ``claim`` count what the project's clusters in flight hold
back that the cloud does not count yet, so that two creates at once cannot both take the last
of a quota.
"""

from __future__ import annotations

from sqlalchemy import select

from caas.clusters import capacity
from caas.clusters.models import BUILDING, Cluster, ClusterEvent, ClusterNode, ClusterProjectLock
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import Forbidden


class QuotaShortfall(Forbidden):
    """The cluster does not fit: every shortfall is listed."""

    def __init__(self, shortfalls: list[dict], lead: str = "The cluster does not fit, nothing was created") -> None:
        text = "; ".join(s["message"] for s in shortfalls)
        super().__init__(f"{lead}: {text}.", kind="QuotaExceeded")
        self.shortfalls = shortfalls


def shortfall(q: dict) -> dict | None:
    """The shortfall of one quota line (``check``), or None when it fits."""
    if q["limit"] < 0:
        return None
    available = max(0, q["limit"] - q["in_use"] - q["reserved"])
    if q["needed"] <= available:
        return None
    resource = q["resource"]
    unit = " MB" if resource == "ram" else ""
    held = f" ({q['reserved']}{unit} held by clusters being made)" if q["reserved"] else ""
    return {"resource": resource, "needed": q["needed"], "available": available,
            "message": f"{resource}: needs {q['needed']}{unit}, {available}{unit} left of the project's quota of "
                       f"{q['limit']}{unit}{held}"}


def servers(node_count: int, head: dict | None, node: dict) -> list[capacity.Server]:
    """The servers to make, in the order the engine makes them (the head first)."""
    return ([capacity.Server("head", head["vcpus"], head["ram"], head["disk"])] if head else []) + \
        [capacity.Server("node", node["vcpus"], node["ram"], node["disk"])] * node_count


def need(node_count: int, head: dict | None, node: dict, new_network: bool, given: bool = False,
         floating_ip: bool = True) -> dict:
    """What ``node_count`` nodes of flavor ``node`` (and a head of flavor ``head``, and with
    ``new_network`` the cluster's network, router, security groups and floating IP; on a
    ``given`` network only its security groups, and its floating IP unless not
    ``floating_ip``) take of the project's quotas."""
    count = node_count + (1 if head else 0)
    wanted = {"instances": count, "cores": node_count * node["vcpus"] + (head["vcpus"] if head else 0),
              "ram": node_count * node["ram"] + (head["ram"] if head else 0),
              "disk": node_count * node["disk"] + (head["disk"] if head else 0), "port": count}
    if new_network:
        wanted.update(security_group=2, security_group_rule=6, floatingip=int(floating_ip))
    if new_network and not given:
        wanted.update(network=1, subnet=1, router=1)
        wanted["port"] += 1  # the router's interface
    return wanted


def check(conn, access, strategy: str, project_id: str, need: dict, held: dict,
          servers: list[capacity.Server]) -> tuple[list[dict], list[dict], str]:
    """(quota lines, shortfalls, how the capacity was checked: ``_capacity``) for what ``need`` asks of the project and the cloud's
    hosts (``servers``, each on some host as the scheduler places them); ``held``: what the
    project's clusters in flight hold back that the cloud does not count yet (``held_now``)."""
    lines, short = [], []

    def line(resource: str, limit: int, used: int) -> None:
        needed = need.get(resource, 0)
        if not needed:
            return
        reserved = held.get(resource, 0)
        lines.append({"resource": resource, "needed": needed, "in_use": used, "reserved": reserved,
                      "limit": limit})
        missing = shortfall(lines[-1])
        if missing:
            short.append(missing)

    absolute = conn.compute.get("/limits").json()["limits"]["absolute"]
    line("instances", absolute["maxTotalInstances"], absolute["totalInstancesUsed"])
    line("cores", absolute["maxTotalCores"], absolute["totalCoresUsed"])
    line("ram", absolute["maxTotalRAMSize"], absolute["totalRAMUsed"])
    quota = conn.network.get(f"/quotas/{project_id}/details.json").json()["quota"]
    for resource in ("network", "subnet", "router", "port", "floatingip", "security_group",
                     "security_group_rule"):
        q = quota.get(resource)
        if q:
            line(resource, q["limit"], q["used"] + q.get("reserved", 0))
    more, how = _capacity(access, strategy, need, held, servers)
    return lines, short + more, how


# How the capacity was checked (``check``'s third value); the last when the cloud shows none.
PLACEMENT = "checked host by host against Placement's resource providers"
STATISTICS = "checked in all against the hypervisor statistics"
SKIPPED = ("capacity check skipped: the cloud shows this user neither Placement's resource providers nor "
           "the hypervisor statistics (os-hypervisors/statistics, gone at compute 2.88); its own scheduler decides")


def note_skipped(s, cluster_id: str, how: str) -> None:
    """A warning event on the cluster, in session ``s``, when its capacity check was skipped
    (``how``: ``check``'s third value)."""
    if how == SKIPPED:
        s.add(ClusterEvent(cluster_id=cluster_id, step="capacity", message=SKIPPED, level="warning"))


def _capacity(access, strategy: str, need: dict, held: dict,
              servers: list[capacity.Server]) -> tuple[list[dict], str]:
    """(The capacity shortfalls, how they were found) from whatever the cloud offers:
    Placement's resource providers (host by host), else the hypervisor statistics (asked for
    at 2.1: gone at 2.88+), else none, and ``SKIPPED`` says so (never silently)."""
    hosts = capacity.read_hosts(access.admin())
    if hosts is not None:
        return capacity.shortfalls(hosts, servers, held["servers"], strategy), PLACEMENT
    try:  # no Placement: the hypervisors' free RAM and disk in all, without ratios
        response = access.admin().compute.get("/os-hypervisors/statistics", microversion="2.1")
        response.raise_for_status()
        stats = response.json()["hypervisor_statistics"]
    except Exception:  # noqa: BLE001 - a cloud that hides its capacity gets the quota check only
        return [], SKIPPED
    short = []
    for resource, free, unit in (("ram", stats.get("free_ram_mb"), " MB"), ("disk", stats.get("free_disk_gb"), " GB")):
        if free is not None and need.get(resource, 0) > free:
            short.append({"resource": f"capacity:{resource}", "needed": need[resource], "available": free,
                          "message": f"the cloud's free {resource}: needs {need[resource]}{unit}, "
                                     f"{free}{unit} free on its hypervisors"})
    return short, STATISTICS


# ---- reservations -------------------------------------------------------------------
# The cloud counts a node's server once it exists; between the request that records a node
# and its server's create, the node holds its flavor's share of the quota here. A node
# whose server already existed when the cloud's usage was read (``counted``) is the
# cloud's to count, so nothing is counted twice, and nothing is missed: a server made
# after that read belongs to a node that was not counted, so it is held here.


def in_flight(s, project_id: str) -> list[ClusterNode]:
    """The nodes a create or an add of the project's clusters is making."""
    return list(s.scalars(select(ClusterNode).join(Cluster, Cluster.id == ClusterNode.cluster_id)
                          .where(Cluster.project_id == project_id, Cluster.operation.in_(("create", "add")),
                                 ClusterNode.status == BUILDING)))


def reservations(db: Database, project_id: str) -> tuple[set[str], dict]:
    """Read before the cloud's usage is: the in-flight nodes whose server exists (the
    cloud's to count), and what the others hold (``held_now``)."""
    with db.read() as s:
        nodes = in_flight(s, project_id)
    counted = {n.id for n in nodes if n.server_id}
    return counted, sizes([n for n in nodes if n.id not in counted])


def held_now(s, project_id: str, counted: set[str]) -> dict:
    """What the project's in-flight nodes not in ``counted`` hold, now."""
    return sizes([n for n in in_flight(s, project_id) if n.id not in counted])


def sizes(nodes: list[ClusterNode]) -> dict:
    """What ``nodes`` hold of the quota, and (``servers``) of the hosts: their flavors'
    vCPUs and RAM (a node records no disk)."""
    return {"instances": len(nodes), "cores": sum(n.vcpus for n in nodes), "ram": sum(n.ram for n in nodes),
            "servers": [capacity.Server("held", n.vcpus, n.ram) for n in nodes]}


def claim(s, project_id: str, lines: list[dict], counted: set[str]) -> None:
    """Under the project's lock row: the quota lines checked again against the clusters in
    flight now (QuotaShortfall), before this work's nodes are recorded in the same
    transaction."""
    insert_if_absent(s, ClusterProjectLock, project_id=project_id)
    s.execute(select(ClusterProjectLock).where(ClusterProjectLock.project_id == project_id).with_for_update())
    held = held_now(s, project_id, counted)
    short = [f for f in (shortfall({**q, "reserved": held.get(q["resource"], q["reserved"])}) for q in lines) if f]
    if short:
        raise QuotaShortfall(short)
