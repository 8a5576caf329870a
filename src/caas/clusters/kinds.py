"""The kinds of cloud resource a cluster owns: how to find, delete and wait for each.

``KINDS`` is the teardown's table, in its order (what depends on a resource goes before it).
For each kind: ``find`` gives the cloud id of a resource recorded but never noted (a crash
between the request and the note), by name and the cluster's tag (None when the cloud has
none; one made but not tagged yet is known by its description, ``marks.mine``); ``delete`` asks the cloud to remove it; ``probe`` (servers and shares) is polled until the
cloud says the resource is gone (its 404), for a delete that the cloud finishes later;
``work_id`` names the id a running operation keeps of it (``Work.ids``), if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from caas.clusters import home
from caas.clusters.marks import mine, tag

__all__ = ["BY_NAME", "KINDS", "Kind", "tag"]


@dataclass(frozen=True)
class Kind:
    name: str
    find: Callable  # (conn, resource row, cluster id) -> cloud id | None
    delete: Callable  # (conn, resource row, cloud id) -> None; the cloud's 404 counts as done
    probe: Callable | None = None  # (conn, cloud id) -> None, raises the cloud's 404 once it is gone
    work_id: Callable = lambda r: None  # (resource row) -> its key in Work.ids, or None


def _find_server(conn, r, cluster_id: str) -> str | None:
    for s in conn.compute.servers(details=True, name=f"^{r.name}$"):
        if (s.metadata or {}).get("caas_cluster") == cluster_id:
            return s.id
    return None


def _probe_server(conn, cloud_id: str) -> None:
    """A server that went to ERROR while being deleted (its delete failed) is asked again."""
    s = conn.compute.get_server(cloud_id)
    if s.status == "ERROR" and s.task_state is None and s.vm_state == "error":
        conn.compute.delete_server(cloud_id)


def _tagged(listing: Callable, any_name: bool = False) -> Callable:
    """A ``find`` through the network API's listing (``listing(conn.network)``) by the
    cluster's tag, and by name unless ``any_name`` (a floating IP has none)."""
    def find(conn, r, cluster_id: str) -> str | None:
        for obj in listing(conn.network)(tags=tag(cluster_id)):
            if any_name or obj.name == r.name:
                return obj.id
        # made, but a crash came before its tag: known by name and description
        for obj in listing(conn.network)(**({} if any_name else {"name": r.name})):
            if mine(obj, cluster_id):
                return obj.id
        return None
    return find


def _network_delete(method: Callable) -> Callable:
    """A ``delete`` by the network API's ``method(conn.network)``."""
    return lambda conn, r, cloud_id: method(conn.network)(cloud_id)


def _named(key: str) -> Callable:
    return lambda r: key


KINDS = (
    Kind("server", _find_server, lambda conn, r, cloud_id: conn.compute.delete_server(cloud_id), _probe_server),
    # the shared /home (slurm profile): once no server mounts it
    Kind("share", home.find, home.delete, home.probe),
    Kind("floating_ip", _tagged(lambda net: net.ips, any_name=True), _network_delete(lambda net: net.delete_ip)),
    Kind("port", _tagged(lambda net: net.ports), _network_delete(lambda net: net.delete_port)),
    # no subnet id noted means the interface was never added
    Kind("router_interface", lambda conn, r, cluster_id: None,
         lambda conn, r, cloud_id: conn.network.remove_interface_from_router(r.extra["router"], subnet_id=cloud_id)),
    Kind("router", _tagged(lambda net: net.routers), _network_delete(lambda net: net.delete_router),
         work_id=_named("router")),
    Kind("security_group", _tagged(lambda net: net.security_groups),
         _network_delete(lambda net: net.delete_security_group),
         work_id=lambda r: "sg_head" if r.name.endswith("-head") else "sg_cluster"),
    Kind("subnet", _tagged(lambda net: net.subnets), _network_delete(lambda net: net.delete_subnet),
         work_id=_named("subnet")),
    Kind("network", _tagged(lambda net: net.networks), _network_delete(lambda net: net.delete_network),
         work_id=_named("network")),
)
BY_NAME = {k.name: k for k in KINDS}
