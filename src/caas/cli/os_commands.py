"""``os_cluster`` and ``os_node``: the commands of the CaaS guides, on caas's cluster API.

::

    os_cluster create NAME DISTRO VERSION [-n N] [--flavor F] [--head-flavor F] [--key-name K]
                      [--network NET] [--external-network EXT] [--user LOGIN]... [--partitions one|flavor]
                      [--home-size GB] [--min-nodes N --max-nodes M --idle-time T] [--no-wait]
    os_cluster list [-e REGEX]          os_cluster show NAME          os_cluster delete NAME [--no-wait]
    os_node create NAME (-n N | -r RANGE) [--flavor F] [--no-wait]
    os_node delete NAME (-r RANGE | NODE...) [--no-wait]              os_node list NAME

DISTRO is the image (``none``: the server's default image); VERSION the profile, or
``PROFILE:VERSION`` (``none``: the profile ``none``, a head node only). Each command is one of
caas.cli.clusters' operations; ``os_cluster_request`` is the only mapping of its own.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from caas.cli import clusters as c
from caas.errors import BadRequest

NONE = "none"


def os_cluster_request(name: str, distro: str, version: str, *, node_count: int = 0, node_flavor: str | None = None,
                       head_flavor: str | None = None, key_name: str | None = None, ready: str = "ssh",
                       network: str | None = None, external_network: str | None = None,
                       users: list[str] | None = None, partitions: str | None = None,
                       home_size: int | None = None, min_nodes: int | None = None, max_nodes: int | None = None,
                       idle_time: int | None = None) -> dict:
    """The cluster request of ``os_cluster create NAME DISTRO VERSION``."""
    distro = distro.strip()
    if not distro:
        raise BadRequest("DISTRO is an image name, or none for the server's default image")
    image = None if distro.lower() == NONE else distro
    profile, sep, profile_version = version.strip().partition(":")
    if profile.lower() == NONE:
        profile = NONE
    if not profile or (sep and not profile_version):
        raise BadRequest(f"VERSION {version!r}: expected PROFILE or PROFILE:VERSION (or none)")
    return c.cluster_request(name, image=image, profile=profile, profile_version=profile_version or None,
                             node_count=node_count, node_flavor=node_flavor, head_flavor=head_flavor,
                             key_name=key_name, ready=ready, network=network, external_network=external_network,
                             users=users, partitions=partitions, home_size=home_size, min_nodes=min_nodes,
                             max_nodes=max_nodes, idle_time=idle_time)


os_cluster_app = typer.Typer(help="Virtual clusters (os_cluster of the CaaS guides).", no_args_is_help=True,
                          add_completion=False)
os_node_app = typer.Typer(help="The nodes of a virtual cluster (os_node of the CaaS guides).",
                       no_args_is_help=True, add_completion=False)


@os_cluster_app.command("create")
@c.cli_errors
def cluster_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The cluster's name.", show_default=False)],
    distro: Annotated[str, typer.Argument(metavar="DISTRO", help="The image, or none for the default image.",
                                           show_default=False)],
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The profile, PROFILE:VERSION, or none.",
                                            show_default=False)],
    nodes: Annotated[int, typer.Option("-n", "--nodes", min=0, max=c.MAX_NAMES, help="Compute nodes.")] = 0,
    flavor: c.FlavorOption = None,
    head_flavor: c.HeadFlavorOption = None,
    key_name: c.KeyNameOption = None,
    ready: c.ReadyOption = c.Ready.ssh,
    network: c.NetworkOption = None,
    external_network: c.ExternalNetworkOption = None,
    user: c.UserOption = None,
    partitions: c.PartitionsOption = None,
    home_size: c.HomeSizeOption = None,
    min_nodes: c.MinNodesOption = None,
    max_nodes: c.MaxNodesOption = None,
    idle_time: c.IdleTimeOption = None,
    no_wait: c.NoWaitOption = False,
    timeout: c.TimeoutOption = c.DEFAULT_TIMEOUT,
) -> None:
    """Create a cluster (a head node and N compute nodes) and wait until it is ACTIVE."""
    body = os_cluster_request(name, distro, version, node_count=nodes, node_flavor=flavor,
                              head_flavor=head_flavor, key_name=key_name, ready=ready.value, network=network,
                              external_network=external_network, users=user, partitions=partitions,
                              home_size=home_size, min_nodes=min_nodes, max_nodes=max_nodes,
                              idle_time=c.duration(idle_time))
    c.run_create(body, wait=not no_wait, timeout=timeout)


@os_cluster_app.command("list")
@c.cli_errors
def cluster_list(regex: c.RegexOption = None, fmt: c.FormatOption = c.Format.table) -> None:
    """List the clusters (their head nodes); -e filters names with a regular expression."""
    c.run_list(regex, fmt=fmt)


@os_cluster_app.command("show")
@c.cli_errors
def cluster_show(ref: c.ClusterArg, fmt: c.FormatOption = c.Format.table) -> None:
    """Show a cluster and its nodes."""
    c.run_show(ref, fmt)


@os_cluster_app.command("delete")
@c.cli_errors
def cluster_delete(ref: c.ClusterArg, no_wait: c.NoWaitOption = False,
                   timeout: c.TimeoutOption = c.DEFAULT_TIMEOUT) -> None:
    """Delete a cluster and wait until it is gone."""
    c.run_delete(ref, wait=not no_wait, timeout=timeout)


@os_node_app.command("create")
@c.cli_errors
def node_create(ref: c.ClusterArg, count: c.CountOption = None, names: c.RangeOption = None,
                flavor: c.FlavorOption = None, no_wait: c.NoWaitOption = False,
                timeout: c.TimeoutOption = c.DEFAULT_TIMEOUT) -> None:
    """Add nodes: -n N (the lowest free names) or -r RANGE (node001..node003, 'node0[01-10]')."""
    c.run_add_nodes(ref, c.nodes_request(count, names, flavor), wait=not no_wait, timeout=timeout)


@os_node_app.command("delete")
@c.cli_errors
def node_delete(
    ref: c.ClusterArg,
    nodes: Annotated[Optional[list[str]], typer.Argument(metavar="NODE", help="Node names or ranges.",
                                                              show_default=False)] = None,
    names: c.RangeOption = None,
    no_wait: c.NoWaitOption = False,
    timeout: c.TimeoutOption = c.DEFAULT_TIMEOUT,
) -> None:
    """Remove nodes: -r RANGE, or the nodes named."""
    c.run_remove_nodes(ref, ([names] if names else []) + list(nodes or []), wait=not no_wait, timeout=timeout)


@os_node_app.command("list")
@c.cli_errors
def node_list(ref: c.ClusterArg, fmt: c.FormatOption = c.Format.table) -> None:
    """List a cluster's nodes."""
    c.run_list_nodes(ref, fmt)


def os_cluster_main() -> None:
    os_cluster_app(prog_name="os_cluster")


def os_node_main() -> None:
    os_node_app(prog_name="os_node")
