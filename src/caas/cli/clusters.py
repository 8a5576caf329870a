"""``caas cluster ...`` and ``caas node ...``: the cluster API from the command line.

The module holds, from the pure to the effectful:

- request bodies: ``cluster_request``, ``nodes_request``, ``removal_expression``;
- output: ``render`` / ``render_fields`` (table, json, yaml, value), the rows and fields of
  clusters, nodes, events and dry-run plans, ``status_line`` for progress, ``filter_clusters``;
- ssh: ``ssh_command`` builds the argument list (and the per-cluster ssh config for a compute
  node); nothing goes through a local shell;
- files under ``$CAAS_CONFIG_DIR`` (default ``~/.config/caas``): generated private keys, known
  hosts and ssh configs, every directory 0700 and every file 0600; a cluster's are removed when
  it is deleted, or when its create failed and nothing is left to log in to (seen by the
  waiting create, or by a later show or list);
- ``wait_for``: poll a cluster every 0.5 s until ACTIVE (or gone), with live progress;
- ``run_*``: one function per operation, shared by these commands and by ``os_cluster`` /
  ``os_node`` (caas.cli.os_commands), and the typer apps ``cluster_app`` and ``node_app``.

Exit status: 0 done; 1 the API refused, the cluster ended in ERROR, a wait timed out or a
quota shortfall; 2 bad usage (options, a range expression, a regular expression, an unknown
node), found before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import ipaddress
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Optional, Sequence, TextIO

import typer
import yaml
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

try:  # typer >= 0.24 carries its own click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import get_current_context

from caas.cli.client import ClientError, ClusterAPIError, ClusterClient
from caas.clusters.names import MAX_NAMES, compact, is_valid_name, parse_names
from caas.errors import BadRequest

TRANSITIONAL = ("CREATING", "UPDATING", "DELETING")
POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 1800.0
DEFAULT_PROFILE = "base"
SSH_USER = "root"
ERROR_EVENTS_SHOWN = 5


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    value = "value"


class CLIError(Exception):
    """A command cannot go on: its message and exit status (2 for bad usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# The seam for tests and for other clouds: how the commands get their client.
make_client: Callable[[], ClusterClient] = ClusterClient.from_environment


def _client() -> ClusterClient:
    return make_client()


# ---- request bodies ------------------------------------------------------------------------
def cluster_request(name: str, *, image: str | None = None, profile: str = DEFAULT_PROFILE,
                    profile_version: str | None = None, node_count: int = 0, node_flavor: str | None = None,
                    head_flavor: str | None = None, key_name: str | None = None,
                    keep_on_failure: bool = False, dry_run: bool = False) -> dict:
    """The body of ``POST /caas/v1/clusters``. Every member is sent; None lets the server
    choose (its default image, the profile's default version, its default flavors, a generated
    key pair)."""
    if isinstance(node_count, bool) or not isinstance(node_count, int) or not 0 <= node_count <= MAX_NAMES:
        raise BadRequest(f"the node count must be from 0 to {MAX_NAMES}")
    return {"cluster": {"name": name, "image": image or None, "profile": profile,
                        "profile_version": profile_version or None, "node_count": node_count,
                        "node_flavor": node_flavor or None, "head_flavor": head_flavor or None,
                        "key_name": key_name or None, "keep_on_failure": bool(keep_on_failure)},
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


# ---- output --------------------------------------------------------------------------------
def cell(value: Any) -> str:
    """One value as text: nothing for None, lists joined with commas, mappings as JSON."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], width: int | None = None) -> str:
    """An ASCII table. Cells are plain text (never rich markup: ``node[001-003]`` stays)."""
    table = Table(*columns, box=box.ASCII2, highlight=False)
    for row in rows:
        table.add_row(*(Text(cell(v)) for v in row))
    buf = io.StringIO()
    Console(file=buf, width=width or 10_000, color_system=None, force_terminal=False,
            highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())


def render_data(fmt: Format, data: Any) -> str:
    if fmt is Format.json:
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip("\n")


def render(fmt: Format, columns: Sequence[str], rows: Sequence[Sequence[Any]], data: Any,
           width: int | None = None) -> str:
    """A list: ``table`` and ``value`` (one line per row, values separated by spaces) show the
    columns; ``json`` and ``yaml`` give ``data``, the API's own objects, complete."""
    if fmt is Format.table:
        return render_table(columns, rows, width)
    if fmt is Format.value:
        return "\n".join(" ".join(cell(v) for v in row) for row in rows)
    return render_data(fmt, data)


def render_fields(fmt: Format, fields: Sequence[tuple[str, Any]], data: Any, width: int | None = None) -> str:
    """One object: a Field/Value table, its values one per line, or ``data`` as json/yaml."""
    if fmt is Format.value:
        return "\n".join(cell(v) for _, v in fields)
    return render(fmt, ("Field", "Value"), fields, data, width)


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time from the API (naive means UTC), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def short_time(text: Any) -> str:
    t = parse_time(text)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else cell(text)


def age(created_at: Any, now: dt.datetime) -> str:
    """How long ago: ``42s``, ``5m``, ``3h``, ``2d``."""
    t = parse_time(created_at)
    if t is None:
        return ""
    seconds = max(0, int((now - t).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def node_summary(cluster: dict) -> str:
    """Head and compute nodes as ``1+3``."""
    nodes = cluster.get("nodes")
    if isinstance(nodes, list):
        heads = sum(1 for n in nodes if n.get("role") == "head")
    else:
        heads = 1 if cluster.get("head_name") else 0
    return f"{heads}+{cluster.get('node_count') or 0}"


def profile_text(cluster: dict) -> str:
    profile, version = cluster.get("profile") or "", cluster.get("profile_version")
    return f"{profile}:{version}" if version else profile


CLUSTER_COLUMNS = ("Name", "Status", "Nodes", "Floating IP", "Image", "Profile", "Age")
NODE_COLUMNS = ("Name", "Role", "Status", "Address", "Flavor")
EVENT_COLUMNS = ("Time", "Step", "Duration", "Message")
CLUSTER_FIELDS = ("id", "name", "status", "status_reason", "step", "nodes", "nodes_ready", "floating_ip",
                  "image", "image_id", "profile", "profile_version", "head_name", "head_flavor", "node_flavor",
                  "key_name", "keypair_generated", "keep_on_failure", "network_id", "project_id", "user_id",
                  "created_at", "updated_at")


def cluster_rows(clusters: Iterable[dict], now: dt.datetime, all_projects: bool = False) -> list[list[Any]]:
    rows = []
    for c in clusters:
        row = [c.get("name"), c.get("status"), node_summary(c), c.get("floating_ip"), c.get("image"),
               profile_text(c), age(c.get("created_at"), now)]
        rows.append(row + [c.get("project_id")] if all_projects else row)
    return rows


def cluster_columns(all_projects: bool = False) -> tuple[str, ...]:
    return CLUSTER_COLUMNS + ("Project",) if all_projects else CLUSTER_COLUMNS


def cluster_fields(cluster: dict) -> list[tuple[str, Any]]:
    return [(f, node_summary(cluster) if f == "nodes" else cluster.get(f)) for f in CLUSTER_FIELDS]


def node_rows(nodes: Iterable[dict]) -> list[list[Any]]:
    return [[n.get("name"), n.get("role"), n.get("status"), n.get("fixed_ip"), n.get("flavor")] for n in nodes]


def event_row(event: dict) -> list[str]:
    duration = event.get("duration")
    message = cell(event.get("message"))
    if event.get("level") == "error":
        message = f"ERROR: {message}"
    return [short_time(event.get("time")), cell(event.get("step")),
            f"{duration:.1f}s" if isinstance(duration, (int, float)) else "", message]


def event_line(event: dict) -> str:
    time_, step, duration, message = event_row(event)
    return f"{time_}  {step:<14} {duration:>7}  {message}"


def shortfall_lines(shortfalls: Iterable[dict]) -> list[str]:
    """One line per shortfall: the API's message, else resource, needed and available."""
    return [cell(s.get("message")) or f"{s.get('resource')}: needed {s.get('needed')}, available {s.get('available')}"
            for s in shortfalls]


def refusal_lines(message: str, shortfalls: Iterable[dict]) -> list[str]:
    """A refusal: its message, then each shortfall on a line of its own, each said once. The
    cluster API's message already lists the shortfalls ("...: A; B."): it is cut to its lead-in."""
    lines = shortfall_lines(shortfalls)
    if lines and all(line in message for line in lines):
        lead = message[:message.index(lines[0])].rstrip(" :")
        return [f"{lead}:"] + [f"  {line}" for line in lines] if lead else lines
    return [message] + [f"  {line}" for line in lines]


def render_plan(fmt: Format, plan: dict, width: int | None = None) -> str:
    """A dry run's plan: the resources to create, the quota (needed, in use, limit; -1 is
    unlimited) and the shortfalls."""
    if fmt in (Format.json, Format.yaml):
        return render_data(fmt, plan)
    summary = [(k, compact(v) if k == "nodes" and isinstance(v, list) and all(map(is_valid_name, v)) else v)
               for k, v in plan.items() if k not in ("resources", "quota", "shortfalls")]
    resources = [[r.get("kind"), r.get("name")] for r in plan.get("resources") or []]
    quota = [[q.get("resource"), q.get("needed"), q.get("in_use"),
              "unlimited" if q.get("limit") in (-1, None) else q.get("limit")] for q in plan.get("quota") or []]
    shortfalls = shortfall_lines(plan.get("shortfalls") or [])
    if fmt is Format.value:
        return "\n".join([" ".join(cell(v) for v in row) for row in resources + quota] + shortfalls)
    parts = [render_table(("Field", "Value"), summary, width),
             "Resources to create:", render_table(("Kind", "Name"), resources, width),
             "Quota:", render_table(("Resource", "Needed", "In use", "Limit"), quota, width)]
    parts += ["Shortfalls:"] + [f"  {line}" for line in shortfalls] if shortfalls else ["No quota shortfalls."]
    return "\n".join(parts)


def status_line(cluster: dict, elapsed: float) -> str:
    """The progress line of a wait: status, current step, nodes ready, seconds elapsed."""
    parts = [f"cluster {cluster.get('name')}: {cluster.get('status')}"]
    if cluster.get("step"):
        parts.append(f"step {cluster['step']}")
    parts.append(f"nodes ready {cluster.get('nodes_ready') or 0}/{cluster.get('node_count') or 0}")
    parts.append(f"{elapsed:.0f}s")
    return ", ".join(parts)


# ---- files under $CAAS_CONFIG_DIR ----------------------------------------------------------
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What ssh takes in a path unquoted, unexpanded (no %tokens, no whitespace) and in the shell
# command line it makes for a jump host (it passes -F on unquoted).
_SSH_SAFE_PATH = re.compile(r"[A-Za-z0-9._/+@,-]+")


def config_dir(environ: dict | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CAAS_CONFIG_DIR") or "~/.config/caas").expanduser()


def safe_id(cluster_id: Any) -> str:
    """A cluster id fit for a file name (the server's ids are hex; anything else is refused)."""
    if not isinstance(cluster_id, str) or _SAFE_ID.fullmatch(cluster_id) is None:
        raise CLIError(f"unexpected cluster id {cluster_id!r} from the API")
    return cluster_id


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700 (its parents are made, the config dir 0700 too)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (mode 0600 from creation on, replaced atomically) in a 0700
    directory."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def key_path(base: Path, cluster_id: str) -> Path:
    return base / "keys" / safe_id(cluster_id)


def save_private_key(base: Path, cluster_id: str, private_key: str) -> Path:
    """Keep a generated key pair's private key (the API shows it once)."""
    return write_private(key_path(base, cluster_id), private_key if private_key.endswith("\n") else private_key + "\n")


def forget_cluster(base: Path, cluster_id: str) -> None:
    """Remove what this client kept for a cluster that is gone: its generated private key,
    known hosts and ssh config."""
    cluster_id = safe_id(cluster_id)
    for path in (base / "keys" / cluster_id, base / "known_hosts" / cluster_id, base / "ssh" / f"{cluster_id}.conf"):
        path.unlink(missing_ok=True)


def nothing_to_log_in_to(cluster: dict) -> bool:
    """Is this a cluster whose key can reach nothing, for good: in ERROR, idle, not kept on
    failure, without a floating IP (a failed create rolled back; the API clears the address
    when the rollback removed everything). Such a cluster can only be deleted, or replaced by
    a create of its name. One kept on failure, or whose rollback failed, still has its head:
    its key stays until the delete."""
    return (cluster.get("status") == "ERROR" and not cluster.get("operation") and not cluster.get("keep_on_failure")
            and not cluster.get("floating_ip"))


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


# ---- ssh -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SshCommand:
    """What ``caas cluster ssh`` runs: ``argv`` and, for a compute node, the ssh config to
    write first."""

    argv: list[str]
    config_path: Path | None = None
    config_text: str | None = None


def _ssh_path(path: Path) -> str:
    text = str(path)
    if _SSH_SAFE_PATH.fullmatch(text) is None:
        raise CLIError(f"{text!r} has characters ssh cannot take safely in a path; "
                       "set CAAS_CONFIG_DIR to a path of letters, digits and ._/+@,-")
    return text


def _address(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise CLIError(f"unexpected {what} {value!r} from the API") from exc


def head_alias(cluster_id: str) -> str:
    return f"caas-head-{safe_id(cluster_id)[:8]}"


def ssh_command(cluster: dict, nodes: Sequence[dict], node: str | None, command: Sequence[str],
                base: Path, key_file: Path | None) -> SshCommand:
    """The ssh invocation for the head (``node`` None or the head's name) or a compute node of
    ``cluster``, whose nodes the API listed as ``nodes``. ``key_file``: the saved generated key,
    or None for the user's own keys and agent. ``--`` ends ssh's options, so ``command`` (run
    by the remote user's shell, as ssh does) is never taken for ssh options.

    The head: ``ssh [-i KEY] -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=KH --
    root@FIP COMMAND...``. A compute node: through the head, ``ssh -F CONF -J caas-head-ID8 --
    root@NODE COMMAND...``, where CONF (written first) describes the head (command-line options
    do not reach a jump host; ssh hands -F on to the jump ssh) and, where its address is known,
    each node, so the head need not resolve node names."""
    cluster_id = safe_id(cluster.get("id"))
    head = next((n for n in nodes if n.get("role") == "head"), None)
    target = None
    if node is not None and not (head is not None and node == head.get("name")):
        target = next((n for n in nodes if n.get("role") != "head" and is_valid_name(node) and n.get("name") == node),
                      None)
        if target is None:
            names = compact(n["name"] for n in nodes if is_valid_name(n.get("name"))) or "none"
            raise CLIError(f"cluster {cluster.get('name')} has no node {node!r} (its nodes: {names}); "
                           "a command goes after --", code=2)
    if not cluster.get("floating_ip"):
        raise CLIError(f"cluster {cluster.get('name')} has no floating IP yet (status {cluster.get('status')})")
    fip = _address(cluster["floating_ip"], "floating IP")
    known_hosts = _ssh_path(base / "known_hosts" / cluster_id)
    key = _ssh_path(key_file) if key_file is not None else None
    if target is None:
        argv = ["ssh"] + (["-i", key] if key else []) + [
            "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}",
            "--", f"{SSH_USER}@{fip}", *command]
        return SshCommand(argv)
    alias = head_alias(cluster_id)
    conf = base / "ssh" / f"{cluster_id}.conf"
    lines = [f"# Written by caas for cluster {cluster_id}; rewritten by every caas cluster ssh.",
             f"Host {alias}", f"    HostName {fip}", f"    User {SSH_USER}"]
    for n in nodes:
        if n.get("role") != "head" and is_valid_name(n.get("name")) and n.get("fixed_ip"):
            lines += [f"Host {n['name']}", f"    HostName {_address(n['fixed_ip'], 'node address')}"]
    lines += ["Host *"] + ([f"    IdentityFile {key}"] if key else []) + [
        "    StrictHostKeyChecking accept-new", f"    UserKnownHostsFile {known_hosts}"]
    argv = ["ssh", "-F", _ssh_path(conf), "-J", alias, "--", f"{SSH_USER}@{node}", *command]
    return SshCommand(argv, conf, "\n".join(lines) + "\n")


class _RemoteCommand(TyperCommand):
    """Keeps what follows ``--`` apart (``ctx.meta["remote_command"]``), so ``ssh demo -- ls``
    is never read as node ``ls``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["remote_command"], args = args[i + 1:], args[:i]
        return super().parse_args(ctx, args)


# ---- waiting -------------------------------------------------------------------------------
class WaitFailed(Exception):
    """The wait ended without the state waited for; ``gone``: the cluster disappeared."""

    def __init__(self, cluster: dict, reason: str, gone: bool = False) -> None:
        super().__init__(reason)
        self.cluster = cluster
        self.reason = reason
        self.gone = gone


class Progress:
    """A live status line on a terminal; elsewhere a plain line whenever status, step or
    node counts change."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.console = Console(file=stream, highlight=False)
        self.live = self.console.is_terminal
        self.status = None
        self.last_key: tuple | None = None
        self.last_line = ""

    def update(self, cluster: dict, elapsed: float) -> None:
        self.last_line = status_line(cluster, elapsed)
        if self.live:
            if self.status is None:
                self.status = self.console.status(Text(self.last_line))
                self.status.start()
            else:
                self.status.update(Text(self.last_line))
            return
        key = tuple(cluster.get(k) for k in ("status", "step", "nodes_ready", "node_count"))
        if key != self.last_key:
            self.last_key = key
            print(self.last_line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.console.print(Text(self.last_line))


def wait_for(client: ClusterClient, cluster: dict, *, gone: bool = False, timeout: float = DEFAULT_TIMEOUT,
             stream: TextIO | None = None, interval: float = POLL_INTERVAL,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict | None:
    """Poll the cluster every ``interval`` seconds until it is ACTIVE (or, with ``gone``, until
    GET answers 404: then None). ``cluster`` is the action's answer, shown first and never
    judged: the status that counts is the one polled after it. WaitFailed when the cluster
    goes to ERROR or DEGRADED (a node down), disappears while it should become ACTIVE, or
    ``timeout`` passes."""
    progress = Progress(stream or sys.stdout)
    ref = safe_id(cluster.get("id"))
    start = clock()
    try:
        progress.update(cluster, 0)
        while True:
            sleep(interval)
            try:
                cluster = client.get_cluster(ref)
            except ClusterAPIError as exc:
                if exc.status != 404:
                    raise
                if gone:
                    return None
                raise WaitFailed(cluster, f"cluster {cluster.get('name')} is gone", gone=True) from exc
            elapsed = clock() - start
            progress.update(cluster, elapsed)
            if cluster.get("status") in ("ERROR", "DEGRADED"):  # settled, not ACTIVE: say why
                raise WaitFailed(cluster, f"cluster {cluster.get('name')} is {cluster.get('status')}: "
                                          f"{cluster.get('status_reason') or 'no reason given'}")
            if not gone and cluster.get("status") == "ACTIVE":
                return cluster
            if elapsed >= timeout:
                raise WaitFailed(cluster, f"timed out after {timeout:g}s waiting for cluster {cluster.get('name')} "
                                          f"(status {cluster.get('status')}, step {cluster.get('step')})")
    finally:
        progress.close()


def _wait_or_exit(client: ClusterClient, cluster: dict, fmt: Format, timeout: float, gone: bool = False,
                  key: Path | None = None) -> dict | None:
    """Wait (see ``wait_for``), or exit with the reason and the cluster's last error events.
    ``key``: the generated private key this create saved, removed when the create failed and
    nothing is left to log in to (else the message says where it stays)."""
    try:
        return wait_for(client, cluster, gone=gone, timeout=timeout, stream=_note_stream(fmt))
    except KeyboardInterrupt:
        _fail(f"stopped waiting; the work on cluster {cluster.get('name')} goes on "
              f"(caas cluster events {cluster.get('name')} --follow)", 130)
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


def run_ssh(ref: str, node: str | None, command: Sequence[str]) -> None:
    client = _client()
    cluster = client.get_cluster(ref)
    nodes = client.list_nodes(ref)
    base = config_dir()
    key = key_path(base, cluster.get("id"))
    plan = ssh_command(cluster, nodes, node, command, base, key if key.is_file() else None)
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
    no_wait: NoWaitOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and the quota it needs; create nothing.")] = False,
    fmt: FormatOption = Format.table,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Create a cluster and wait until it is ACTIVE."""
    body = cluster_request(name, image=image, profile=profile, profile_version=profile_version, node_count=nodes,
                           node_flavor=flavor, head_flavor=head_flavor, key_name=key_name,
                           keep_on_failure=keep_on_failure, dry_run=dry_run)
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
) -> None:
    """ssh to the head (root@floating IP) or, through it, to a compute node. A command to run
    goes after --: caas cluster ssh demo node001 -- hostname."""
    run_ssh(ref, node, ctx.meta.get("remote_command", []))


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
