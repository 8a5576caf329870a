"""How a cluster's network resources are marked as its own, on any Neutron.

Real Neutron (29) refuses ``tags`` in the create of a network, subnet, router, security group
or floating IP ("Attribute 'tags' not allowed in POST") and, without its
``tag_ports_during_bulk_creation`` driver, ignores them in a port's. So each resource is made
untagged, with the cluster's id in its description (``description``), and tagged through the
tags API just after (``tag_after_create``). A crash between the create and the noting of its
id leaves a resource that may lack the tag: ``mine`` knows it by its description as well.

A cluster's servers carry its id and their node's name in their metadata (``server_metadata``),
with what ``caas cluster adopt`` (``caas.clusters.adopt``) cannot read elsewhere in the cloud:
the profile and its version, the ready choice and the key pair the create named.
"""

from __future__ import annotations


def tag(cluster_id: str) -> str:
    return f"caas-cluster-{cluster_id}"


def description(cluster_name: str, cluster_id: str, what: str = "") -> str:
    """The description of a cluster's resource: it carries the cluster's id."""
    return f"caas cluster {cluster_name} ({cluster_id}){': ' + what if what else ''}"


def mine(obj, cluster_id: str) -> bool:
    """Is the cloud's ``obj`` the cluster's: tagged so, or described so (made, not tagged yet)?"""
    return tag(cluster_id) in (getattr(obj, "tags", None) or []) or \
        f"({cluster_id})" in (getattr(obj, "description", None) or "")


def tag_after_create(conn, obj, cluster_id: str):
    """``obj`` (just made by ``conn.network``) tagged as the cluster's through the tags API
    (``PUT /v2.0/{resources}/{id}/tags``); returns ``obj``."""
    conn.network.set_tags(obj, [tag(cluster_id)])
    return obj


def server_metadata(cluster, node: str) -> dict:
    """The metadata of the server of ``cluster``'s node ``node`` (Nova: strings of at most 255)."""
    return {"caas_cluster": cluster.id, "caas_node": node, "caas_profile": cluster.profile,
            "caas_profile_version": cluster.profile_version, "caas_ready": cluster.ready or "ssh",
            "caas_key_name": cluster.key_name or ""}
