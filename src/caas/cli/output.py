"""What the cluster commands print, pure: ``render`` / ``render_fields`` (table, json, yaml,
value), the rows and fields of clusters, nodes, events and dry-run plans, ``status_line`` for
progress, the lines of a refusal. rich and yaml are imported by the first output that needs them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from enum import Enum
from typing import Any, Iterable, Sequence

from caas.clusters.names import compact, is_valid_name


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    value = "value"


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
    from rich import box  # imported by the first table (rich is some 7 MiB; ``caas up`` needs none)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
    import yaml

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
                  "key_name", "keypair_generated", "keep_on_failure", "network_id", "network_given", "cidr",
                  "external_network_id", "users", "options", "queue", "project_id", "user_id",
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


def queue_summary(cluster: dict) -> str | None:
    """``3 pending, 1 running (jobs 12 PENDING 6 nodes, ...)``: the queue as last read."""
    q = cluster.get("queue")
    if not isinstance(q, dict):
        return None
    jobs = ", ".join(f"{j.get('id')} {j.get('state')} {j.get('nodes')} node(s)" for j in (q.get("jobs") or [])[:5])
    return f"{q.get('pending', 0)} pending, {q.get('running', 0)} running" + (f" ({jobs})" if jobs else "")


def cluster_fields(cluster: dict) -> list[tuple[str, Any]]:
    special = {"nodes": node_summary, "queue": queue_summary}
    return [(f, special[f](cluster) if f in special else cluster.get(f)) for f in CLUSTER_FIELDS]


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
