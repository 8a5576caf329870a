"""``caas cluster ...`` and ``caas node ...``: the cluster API from the command line.

The module holds the request bodies (``cluster_request``, ``nodes_request``,
``removal_expression``, ``filter_clusters``), the printing of notes and errors, the ``run_*``
operations (one per command, shared by these commands and by ``os_cluster`` / ``os_node``,
caas.cli.os_commands) and the typer apps ``cluster_app`` and ``node_app``. Beside it:
``output`` (what is printed: tables, json, yaml, value), ``local`` (files under
``$CAAS_CONFIG_DIR`` and the ssh argument list) and ``waiting`` (``wait_for``: poll a cluster
every 0.5 s until ACTIVE or gone, with live progress). A cluster's files are removed when it is
deleted, or when its create failed and nothing is left to log in to (seen by the waiting
create, or by a later show or list).

Exit status: 0 done; 1 the API refused, the cluster ended in ERROR, a wait timed out or a
quota shortfall; 2 bad usage (options, a range expression, a regular expression, an unknown
node), found before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Optional, Sequence, TextIO

import typer
from typer.core import TyperCommand

try:  # typer >= 0.24 carries its own click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import get_current_context

from caas.cli.client import ClientError, ClusterAPIError, ClusterClient
# what the commands print, keep and wait for (re-exported: os_commands and the tests use them as c.NAME)
from caas.cli.local import (CLIError, config_dir, forget_cluster, key_path, nothing_to_log_in_to,  # noqa: F401
                            private_dir, safe_id, save_private_key, ssh_command, write_private)
from caas.cli.output import (EVENT_COLUMNS, NODE_COLUMNS, Format, age, cluster_columns, cluster_fields,  # noqa: F401
                             cluster_rows, event_line, event_row, node_rows, refusal_lines, render,
                             render_data, render_fields, render_plan, render_table, status_line)
from caas.cli.waiting import DEFAULT_TIMEOUT, POLL_INTERVAL, WaitFailed, wait_for  # noqa: F401
from caas.clusters.names import MAX_NAMES, compact, is_valid_name, parse_names
from caas.errors import BadRequest

TRANSITIONAL = ("CREATING", "UPDATING", "DELETING")
DEFAULT_PROFILE = "base"
ERROR_EVENTS_SHOWN = 5
# What Ctrl-C while waiting says (``standalone`` says it otherwise: the work stops with the command).
STOPPED_WAITING = "stopped waiting; the work on cluster {name} goes on (caas cluster events {name} --follow)"


# The seam for tests and for other clouds: how the commands get their client.
make_client: Callable[[], ClusterClient] = ClusterClient.from_environment


def _client() -> ClusterClient:
    return make_client()


# ---- request bodies ------------------------------------------------------------------------
def cluster_request(name: str, *, image: str | None = None, profile: str = DEFAULT_PROFILE,
                    profile_version: str | None = None, node_count: int = 0, node_flavor: str | None = None,
                    head_flavor: str | None = None, key_name: str | None = None,
                    keep_on_failure: bool = False, dry_run: bool = False, ready: str = "ssh",
                    network: str | None = None, external_network: str | None = None,
                    users: list[str] | None = None, partitions: str | None = None,
                    home_size: int | None = None, min_nodes: int | None = None, max_nodes: int | None = None,
                    idle_time: int | None = None) -> dict:
    """The body of ``POST /caas/v1/clusters``. Every member is sent; None lets the server
    choose (its default image, the profile's default version, its default flavors, a generated
    key pair); ``ready`` is sent when it is not the server's default (ssh), ``network`` and
    ``external_network``, ``users``, ``partitions``, ``home_size``, ``min_nodes``,
    ``max_nodes`` and ``idle_time`` when given."""
    if isinstance(node_count, bool) or not isinstance(node_count, int) or not 0 <= node_count <= MAX_NAMES:
        raise BadRequest(f"the node count must be from 0 to {MAX_NAMES}")
    return {"cluster": {"name": name, "image": image or None, "profile": profile,
                        "profile_version": profile_version or None, "node_count": node_count,
                        "node_flavor": node_flavor or None, "head_flavor": head_flavor or None,
                        "key_name": key_name or None, "keep_on_failure": bool(keep_on_failure),
                        **({"ready": ready} if ready and ready != "ssh" else {}),
                        **({"network": network} if network else {}),
                        **({"external_network": external_network} if external_network else {}),
                        **({"users": list(users)} if users else {}),
                        **({"partitions": partitions} if partitions else {}),
                        **({"home_size": home_size} if home_size is not None else {}),
                        **{k: v for k, v in (("min_nodes", min_nodes), ("max_nodes", max_nodes),
                                             ("idle_time", idle_time)) if v is not None}},
            "dry_run": bool(dry_run)}


def nodes_request(count: int | None = None, names: str | None = None, flavor: str | None = None) -> dict:
    """The body of ``POST /caas/v1/clusters/{ref}/nodes``: a count (the server picks the lowest
    free names) or a name expression, checked here first, sent as written."""
    if (count is None) == (names is None):
        raise BadRequest("give either a node count (-n N) or a range of names (-r RANGE)")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NAMES:
            raise BadRequest(f"the node count must be from 1 to {MAX_NAMES}")
        spec: dict[str, Any] = {"count": count}
    else:
        parse_names(names)
        spec = {"names": names.strip()}
    if flavor:
        spec["flavor"] = flavor
    return {"nodes": spec}


def removal_expression(items: Sequence[str]) -> str:
    """The name expression of ``DELETE .../nodes/{names}`` from names and ranges given as
    separate arguments, each checked."""
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise BadRequest("name the nodes to remove (node002, node001..node003, 'node0[01-10]')")
    expression = ",".join(items)
    parse_names(expression)
    return expression


def filter_clusters(clusters: Iterable[dict], regex: str | None) -> list[dict]:
    """The clusters whose name ``re.search`` finds ``regex`` in (all without one)."""
    if regex is None:
        return list(clusters)
    pattern = compile_regex(regex)
    return [c for c in clusters if pattern.search(str(c.get("name", "")))]


def compile_regex(regex: str) -> re.Pattern:
    try:
        return re.compile(regex)
    except re.error as exc:
        raise BadRequest(f"invalid regular expression {regex!r}: {exc}") from exc


def forget_failed(base: Path, clusters: Iterable[dict], fmt: Format) -> None:
    """Remove what this client kept for each of ``clusters`` that has nothing left to log in
    to (a create that was not waited for and failed), saying so."""
    for cluster in clusters:
        if not nothing_to_log_in_to(cluster):
            continue
        key = key_path(base, cluster.get("id"))
        if key.is_file():
            forget_cluster(base, cluster.get("id"))
            _note(f"cluster {cluster.get('name')}: removed its generated private key {key}: nothing of the cluster "
                  "is left to log in to", fmt)



class _RemoteCommand(TyperCommand):
    """Keeps what follows ``--`` apart (``ctx.meta["remote_command"]``), so ``ssh demo -- ls``
    is never read as node ``ls``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["remote_command"], args = args[i + 1:], args[:i]
        return super().parse_args(ctx, args)


def _wait_or_exit(client: ClusterClient, cluster: dict, fmt: Format, timeout: float, gone: bool = False,
                  key: Path | None = None) -> dict | None:
    """Wait (see ``wait_for``), or exit with the reason and the cluster's last error events.
    ``key``: the generated private key this create saved, removed when the create failed and
    nothing is left to log in to (else the message says where it stays)."""
    try:
        return wait_for(client, cluster, gone=gone, timeout=timeout, stream=_note_stream(fmt))
    except KeyboardInterrupt:
        _fail(STOPPED_WAITING.format(name=cluster.get("name"), operation=cluster.get("operation") or "work"), 130)
    except WaitFailed as failed:
        lines = [failed.reason]
        try:
            errors = [e for e in client.list_events(safe_id(failed.cluster.get("id"))) if e.get("level") == "error"]
        except ClientError:
            errors = []
        lines += [f"  {event_line(e)}" for e in errors[-ERROR_EVENTS_SHOWN:]]
        lines.append(_failed_key_line(failed, key))
        _fail("\n".join(filter(None, lines)), 1)


def _failed_key_line(failed: WaitFailed, key: Path | None) -> str:
    """What became of a failed create's generated key (removed when nothing is left to log in
    to), as a line of the error; '' without one."""
    if key is None:
        return ""
    if failed.gone or nothing_to_log_in_to(failed.cluster):
        forget_cluster(config_dir(), failed.cluster.get("id"))
        return f"removed its generated private key {key}: nothing of the cluster is left to log in to"
    return f"its generated private key stays in {key} (caas cluster ssh {failed.cluster.get('name')})"


# ---- printing and errors -------------------------------------------------------------------
def _prog() -> str:
    """The program's name as invoked: caas, os_cluster or os_node."""
    ctx = get_current_context(silent=True)
    return (ctx.find_root().info_name if ctx is not None else None) or "caas"


def _fail(message: str, code: int) -> None:
    typer.echo(f"{_prog()}: error: {message}", err=True)
    raise typer.Exit(code=code)


def _note_stream(fmt: Format) -> TextIO:
    """Progress and notes go to stdout with tables, to stderr when stdout carries data."""
    return sys.stdout if fmt is Format.table else sys.stderr


def _note(message: str, fmt: Format) -> None:
    print(message, file=_note_stream(fmt), flush=True)


def _width() -> int | None:
    return os.get_terminal_size(sys.stdout.fileno()).columns if _isatty(sys.stdout) else None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _emit(text: str) -> None:
    if text:
        typer.echo(text)


def cli_errors(fn: Callable) -> Callable:
    """Run a command body, turning refusals into a message and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClusterAPIError as exc:
            _fail("\n".join(refusal_lines(exc.message, exc.shortfalls)), 1)
        except ClientError as exc:
            _fail(exc.message, 1)
        except CLIError as exc:
            _fail(exc.message, exc.code)
        except BadRequest as exc:
            _fail(exc.message, 2)

    return wrapper


# ---- operations (shared with os_cluster / os_node) -----------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def show_cluster(cluster: dict, fmt: Format, nodes: list[dict] | None = None) -> None:
    nodes = nodes if nodes is not None else cluster.get("nodes") or []
    if fmt in (Format.json, Format.yaml):
        _emit(render_data(fmt, {**cluster, "nodes": nodes}))
        return
    _emit(render_fields(fmt, cluster_fields(cluster), cluster, _width()))
    if fmt is Format.table:
        _emit("Nodes:\n" + render_table(NODE_COLUMNS, node_rows(nodes), _width()))


def run_create(body: dict, *, fmt: Format = Format.table, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
    client = _client()
    answer = client.create_cluster(body)
    if "plan" in answer:
        plan = answer["plan"] or {}
        _emit(render_plan(fmt, plan, _width()))
        raise typer.Exit(code=1 if plan.get("shortfalls") else 0)
    cluster = answer["cluster"]
    key = None
    if answer.get("private_key"):
        key = save_private_key(config_dir(), cluster.get("id"), answer["private_key"])
        _note(f"Generated a key pair: private key saved to {key} "
              "(the API shows it only once)", fmt)
    if wait:
        cluster = _wait_or_exit(client, cluster, fmt, timeout, key=key)
    show_cluster(cluster, fmt)


def run_list(regex: str | None, *, all_projects: bool = False, fmt: Format = Format.table) -> None:
    if regex is not None:
        compile_regex(regex)  # a bad one is refused before any call
    clusters = filter_clusters(_client().list_clusters(all_projects=all_projects), regex)
    forget_failed(config_dir(), clusters, fmt)
    _emit(render(fmt, cluster_columns(all_projects), cluster_rows(clusters, _now(), all_projects), clusters,
                 _width()))


def run_show(ref: str, fmt: Format = Format.table) -> None:
    client = _client()
    cluster = client.get_cluster(ref)
    nodes = cluster.get("nodes")
    forget_failed(config_dir(), [cluster], fmt)
    show_cluster(cluster, fmt, nodes if isinstance(nodes, list) else client.list_nodes(ref))


def run_delete(ref: str, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
    client = _client()
    cluster = client.delete_cluster(ref)
    if not wait:
        _emit(f"cluster {cluster.get('name')} is being deleted ({cluster.get('status')})")
        return
    _wait_or_exit(client, cluster, Format.table, timeout, gone=True)
    forget_cluster(config_dir(), cluster.get("id"))
    _emit(f"cluster {cluster.get('name')} deleted")


def _after_node_change(client: ClusterClient, answer: dict, verb: str, fmt: Format, wait: bool,
                       timeout: float) -> None:
    cluster = answer["cluster"]
    names = [n for n in answer.get("nodes") or [] if is_valid_name(n)]
    _note(f"{verb.format(compact(names) or 'no nodes')} cluster {cluster.get('name')}", fmt)
    if wait:
        cluster = _wait_or_exit(client, cluster, fmt, timeout)
        nodes = cluster.get("nodes")
        _list_nodes(nodes if isinstance(nodes, list) else client.list_nodes(cluster["id"]), fmt)


def run_add_nodes(ref: str, body: dict, *, fmt: Format = Format.table, wait: bool = True,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    client = _client()
    _after_node_change(client, client.add_nodes(ref, body), "adding {} to", fmt, wait, timeout)


def run_remove_nodes(ref: str, items: Sequence[str], *, fmt: Format = Format.table, wait: bool = True,
                     timeout: float = DEFAULT_TIMEOUT) -> None:
    expression = removal_expression(items)
    client = _client()
    _after_node_change(client, client.remove_nodes(ref, expression), "removing {} from", fmt, wait, timeout)


def run_set_elastic(ref: str, min_nodes: int | None, max_nodes: int | None, idle_time: str | None, *,
                    fmt: Format = Format.table, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
    body = {k: v for k, v in (("min_nodes", min_nodes), ("max_nodes", max_nodes), ("idle_time", duration(idle_time)))
            if v is not None}
    if not body:
        raise CLIError("give --min-nodes, --max-nodes or --idle-time", code=2)
    client = _client()
    _after_node_change(client, {"cluster": client.set_elastic(ref, {"elastic": body}), "nodes": []},
                       "elastic settings for {} of", fmt, wait, timeout)


def _list_nodes(nodes: list[dict], fmt: Format) -> None:
    _emit(render(fmt, NODE_COLUMNS, node_rows(nodes), nodes, _width()))


def run_list_nodes(ref: str, fmt: Format = Format.table) -> None:
    _list_nodes(_client().list_nodes(ref), fmt)


def run_events(ref: str, *, follow: bool = False, fmt: Format = Format.table) -> None:
    if follow and fmt is not Format.table:
        raise CLIError("--follow prints one line per event; -f applies without --follow", code=2)
    client = _client()
    if not follow:
        events = client.list_events(ref)
        _emit(render(fmt, EVENT_COLUMNS, [event_row(e) for e in events], events, _width()))
        return
    cluster_id = safe_id(client.get_cluster(ref).get("id"))
    last: int | None = None
    while True:
        try:
            finished = client.get_cluster(cluster_id).get("status") not in TRANSITIONAL
            events = client.list_events(cluster_id, since=last)
        except ClusterAPIError as exc:
            if exc.status == 404:
                return
            raise
        for event in sorted(events, key=lambda e: e.get("seq") or 0):
            seq = event.get("seq")
            if isinstance(seq, int) and last is not None and seq <= last:
                continue
            print(event_line(event), flush=True)
            if isinstance(seq, int):
                last = seq
        if finished:
            return
        time.sleep(POLL_INTERVAL)


def run_ssh(ref: str, node: str | None, command: Sequence[str], login: str = "root") -> None:
    client = _client()
    cluster = client.get_cluster(ref)
    nodes = client.list_nodes(ref)
    base = config_dir()
    key = key_path(base, cluster.get("id"))
    plan = ssh_command(cluster, nodes, node, command, base, key if key.is_file() else None, login)
    private_dir(base / "known_hosts")
    if plan.config_path is not None:
        write_private(plan.config_path, plan.config_text)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(plan.argv[0], plan.argv)


# ---- the typer apps ------------------------------------------------------------------------
FormatOption = Annotated[Format, typer.Option("-f", "--format", help="Output format.")]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Return at once instead of waiting.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait at most.")]
RegexOption = Annotated[Optional[str], typer.Option("-e", "--regex",
                                                    help="Only clusters whose name matches this regular expression.")]
ClusterArg = Annotated[str, typer.Argument(metavar="CLUSTER", help="The cluster's name or id.", show_default=False)]
FlavorOption = Annotated[Optional[str], typer.Option("--flavor", help="Flavor of the compute nodes.")]
HeadFlavorOption = Annotated[Optional[str], typer.Option("--head-flavor", help="Flavor of the head node.")]
KeyNameOption = Annotated[Optional[str], typer.Option(
    "--key-name", help="An existing key pair for the nodes (default: a generated one, its private key saved).")]
NetworkOption = Annotated[Optional[str], typer.Option(
    "--network", help="A network the cloud provides (name or id): the cluster makes no network or router of its "
                      "own, its nodes get ports on it.")]
ExternalNetworkOption = Annotated[Optional[str], typer.Option(
    "--external-network", help="The external network of the cluster's router and floating IP (default: the one "
                               "--network is routed to, else the cloud's first).")]

UserOption = Annotated[Optional[list[str]], typer.Option(
    "--user", help="A login to make on every node besides yours (slurm profile), with your key; repeat for more.")]
PartitionsOption = Annotated[Optional[str], typer.Option(
    "--partitions", help="slurm: one (a batch partition with every node, the default) or flavor (one more per node "
                         "flavor).")]
HomeSizeOption = Annotated[Optional[int], typer.Option(
    "--home-size", min=1, help="slurm: GB of the shared /home (default 10).")]
MinNodesOption = Annotated[Optional[int], typer.Option(
    "--min-nodes", min=0, help="slurm, elastic: nodes kept however idle (default 0).")]
MaxNodesOption = Annotated[Optional[int], typer.Option(
    "--max-nodes", min=1, help="slurm: elastic up to this many nodes: Slurm asks for the ones waiting jobs need.")]
IdleTimeOption = Annotated[Optional[str], typer.Option(
    "--idle-time", help="slurm, elastic: how long a node above --min-nodes stays idle before it goes: seconds, or "
                        "30s, 10m, 1h (default 10m).")]


def duration(text: str | None) -> int | None:
    """``--idle-time``: seconds, or a number with s, m or h."""
    if text is None:
        return None
    m = re.fullmatch(r"(\d{1,7})([smh]?)", text.strip())
    if not m:
        raise BadRequest(f"--idle-time {text[:20]!r}: expected seconds, or a number with s, m or h (30s, 10m, 1h)")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


class Ready(str, Enum):
    """When a cluster counts as ready (``--ready``)."""

    ssh = "ssh"
    servers = "servers"


ReadyOption = Annotated[Ready, typer.Option(
    "--ready",
    help="When the cluster is ACTIVE: ssh (its nodes set up and reported in over SSH) or servers (every server "
         "ACTIVE with its addresses: images without cloud-init, floating IPs caas cannot reach).")]
CountOption = Annotated[Optional[int], typer.Option("-n", "--nodes", min=1, max=MAX_NAMES,
                                                    help="How many nodes (the lowest free names).")]
RangeOption = Annotated[Optional[str], typer.Option("-r", "--range",
                                                    help="Node names: node001..node003, 'node0[01-10]', node002,node005.")]

cluster_app = typer.Typer(help="Clusters: a head node and compute nodes on their own network.",
                          no_args_is_help=True)
node_app = typer.Typer(help="The compute nodes of a cluster.", no_args_is_help=True)


@cluster_app.command("create")
@cli_errors
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The cluster's name (a DNS label).", show_default=False)],
    image: Annotated[Optional[str], typer.Option("--image", help="Image of the nodes (default: the server's).")] = None,
    profile: Annotated[str, typer.Option("--profile", help="Profile (what is set up on the nodes).")] = DEFAULT_PROFILE,
    profile_version: Annotated[Optional[str], typer.Option(
        "--profile-version", help="Profile version (default: the profile's default).")] = None,
    nodes: Annotated[int, typer.Option("-n", "--nodes", min=0, max=MAX_NAMES, help="Compute nodes.")] = 0,
    flavor: FlavorOption = None,
    head_flavor: HeadFlavorOption = None,
    key_name: KeyNameOption = None,
    keep_on_failure: Annotated[bool, typer.Option("--keep-on-failure",
                                                  help="Keep what was made when creation fails.")] = False,
    ready: ReadyOption = Ready.ssh,
    network: NetworkOption = None,
    external_network: ExternalNetworkOption = None,
    user: UserOption = None,
    partitions: PartitionsOption = None,
    home_size: HomeSizeOption = None,
    min_nodes: MinNodesOption = None,
    max_nodes: MaxNodesOption = None,
    idle_time: IdleTimeOption = None,
    no_wait: NoWaitOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and the quota it needs; create nothing.")] = False,
    fmt: FormatOption = Format.table,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Create a cluster and wait until it is ACTIVE."""
    body = cluster_request(name, image=image, profile=profile, profile_version=profile_version, node_count=nodes,
                           node_flavor=flavor, head_flavor=head_flavor, key_name=key_name,
                           keep_on_failure=keep_on_failure, dry_run=dry_run, ready=ready.value, network=network,
                           external_network=external_network, users=user, partitions=partitions,
                           home_size=home_size, min_nodes=min_nodes, max_nodes=max_nodes,
                           idle_time=duration(idle_time))
    run_create(body, fmt=fmt, wait=not no_wait, timeout=timeout)


@cluster_app.command("list")
@cli_errors
def list_clusters(
    regex: RegexOption = None,
    all_projects: Annotated[bool, typer.Option("--all-projects", help="Every project's clusters (admin).")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """List clusters."""
    run_list(regex, all_projects=all_projects, fmt=fmt)


@cluster_app.command("show")
@cli_errors
def show(ref: ClusterArg, fmt: FormatOption = Format.table) -> None:
    """Show a cluster and its nodes."""
    run_show(ref, fmt)


@cluster_app.command("events")
@cli_errors
def events(
    ref: ClusterArg,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new events until the work ends.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """A cluster's events: time, step, duration, message."""
    run_events(ref, follow=follow, fmt=fmt)


@cluster_app.command("delete")
@cli_errors
def delete(ref: ClusterArg, no_wait: NoWaitOption = False, timeout: TimeoutOption = DEFAULT_TIMEOUT) -> None:
    """Delete a cluster and everything it owns; wait until it is gone."""
    run_delete(ref, wait=not no_wait, timeout=timeout)


@cluster_app.command("ssh", cls=_RemoteCommand)
@cli_errors
def ssh(
    ctx: typer.Context,
    ref: ClusterArg,
    node: Annotated[Optional[str], typer.Argument(metavar="NODE", help="A compute node (default: the head).", show_default=False)] = None,
    login: Annotated[str, typer.Option("-l", "--login", help="Log in as this cluster user (default: root).")] = "root",
) -> None:
    """ssh to the head (root@floating IP) or, through it, to a compute node. A command to run
    goes after --: caas cluster ssh demo node001 -- hostname."""
    run_ssh(ref, node, ctx.meta.get("remote_command", []), login)


@cluster_app.command("set")
@cli_errors
def set_elastic(ref: ClusterArg, min_nodes: MinNodesOption = None, max_nodes: MaxNodesOption = None,
                idle_time: IdleTimeOption = None, no_wait: NoWaitOption = False, fmt: FormatOption = Format.table,
                timeout: TimeoutOption = DEFAULT_TIMEOUT) -> None:
    """Make a slurm cluster elastic, or change its --min-nodes, --max-nodes and --idle-time."""
    run_set_elastic(ref, min_nodes, max_nodes, idle_time, fmt=fmt, wait=not no_wait, timeout=timeout)


@node_app.command("add")
@cli_errors
def add(ref: ClusterArg, count: CountOption = None, names: RangeOption = None, flavor: FlavorOption = None,
        no_wait: NoWaitOption = False, fmt: FormatOption = Format.table,
        timeout: TimeoutOption = DEFAULT_TIMEOUT) -> None:
    """Add compute nodes: -n N (the lowest free names) or -r RANGE."""
    run_add_nodes(ref, nodes_request(count, names, flavor), fmt=fmt, wait=not no_wait, timeout=timeout)


@node_app.command("remove")
@cli_errors
def remove(
    ref: ClusterArg,
    names: Annotated[list[str], typer.Argument(metavar="NODES", show_default=False,
                                               help="Node names or ranges: node002 node001..node003 'node0[01-10]'.")],
    no_wait: NoWaitOption = False,
    fmt: FormatOption = Format.table,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Remove compute nodes."""
    run_remove_nodes(ref, names, fmt=fmt, wait=not no_wait, timeout=timeout)


@node_app.command("list")
@cli_errors
def list_nodes(ref: ClusterArg, fmt: FormatOption = Format.table) -> None:
    """List a cluster's nodes."""
    run_list_nodes(ref, fmt)
