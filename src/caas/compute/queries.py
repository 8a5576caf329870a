"""Server queries: one server, a page of servers filtered and sorted as Nova does (from a typed
ServerQuery the API parses), and what a server's views need from the other services (its
ports, its volume attachments)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from caas import paging
from caas.compute.common import marker_not_found
from caas.compute.models import ComputeHost, Server
from caas.compute.server_state import KNOWN_STATUSES, VM_STATE, get_server
from caas.context import AuthContext
from caas.errors import BadRequest, Forbidden
from caas.network.binding import NetworkBinding

# The sort keys Nova takes, and the columns they sort on.
SORT_COLUMNS = {"created_at": Server.created_at, "updated_at": Server.updated_at, "display_name": Server.name,
                "name": Server.name, "uuid": Server.id, "id": Server.id, "vm_state": Server.status,
                "task_state": Server.task_state, "host": Server.host, "instance_type_id": Server.flavor_id,
                "image_ref": Server.image_id, "launched_at": Server.launched_at, "project_id": Server.project_id,
                "user_id": Server.user_id, "availability_zone": Server.availability_zone,
                "hostname": Server.hostname, "key_name": Server.key_name, "power_state": Server.power_state}


@dataclass(frozen=True)
class TagFilter:
    """Nova's tag filters: every one of ``all_of``, any of ``any_of``, not all of ``not_all``,
    none of ``not_any`` (None: no such filter)."""

    all_of: tuple[str, ...] | None = None
    any_of: tuple[str, ...] | None = None
    not_all: tuple[str, ...] | None = None
    not_any: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return any((self.all_of, self.any_of, self.not_all, self.not_any))

    def keeps(self, tags) -> bool:
        have = set(tags or [])
        return not ((self.all_of and not set(self.all_of) <= have) or (self.any_of and not have & set(self.any_of))
                    or (self.not_all and set(self.not_all) <= have) or (self.not_any and have & set(self.not_any)))


@dataclass(frozen=True)
class ServerQuery:
    """A server list request. ``status``: an API status (upper case; an unknown one finds
    nothing); ``equal``: (column, value) pairs; ``admin_equal``: the same, for admins only; ``sort``:
    (key of SORT_COLUMNS, "asc"|"desc") pairs; ``name``/``ip``: regular expressions."""

    all_tenants: bool = False
    project_id: str | None = None
    status: str | None = None
    equal: tuple[tuple[str, str], ...] = ()
    admin_equal: tuple[tuple[str, str], ...] = ()
    changes_since: dt.datetime | None = None
    name: str | None = None
    ip: str | None = None
    tags: TagFilter = TagFilter()
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int = 1000
    marker: str | None = None


class ServerQueries:
    """Servers as callers read them: records in ``db``, with their ports from
    ``network_binding`` and their attachments from ``volume`` (None: no block storage)."""

    def __init__(self, db, network_binding: NetworkBinding, volume=None) -> None:
        self.db = db
        self.network_binding = network_binding
        self.volume = volume

    def show_server(self, ctx: AuthContext, server_id: str) -> Server:
        with self.db.read() as s:
            return get_server(s, ctx, server_id)

    def list_servers(self, ctx: AuthContext, q: ServerQuery) -> tuple[list[Server], bool]:
        """One page of the servers the caller may see, filtered as Nova filters, and whether
        there are more. A page is found on the keys alone (id, and the name and tags the
        filters read); only the page's rows are loaded in full."""
        if q.all_tenants and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.")
        if q.status and q.status not in KNOWN_STATUSES and q.status != "DELETED":
            return [], False
        stmt = _filtered(ctx, q)
        order = [SORT_COLUMNS[key].desc() if d == "desc" else SORT_COLUMNS[key].asc() for key, d in q.sort]
        order.append(Server.id.desc() if q.sort[0][1] == "desc" else Server.id.asc())
        keys = [Server.id] + ([Server.name] if q.name else []) + ([Server.tags] if q.tags else [])
        with self.db.read() as s:
            rows = list(s.execute(stmt.with_only_columns(*keys).order_by(*order)))
        window, more = paging.page(self._matching(rows, q), q.marker, q.limit, missing=marker_not_found)
        return self._load([r.id for r in window]), more

    def _matching(self, rows: list, q: ServerQuery) -> list:
        """The rows the name, ip and tag filters keep."""
        if q.name:
            try:
                pattern = user_regex(q.name)
            except re.error:
                raise BadRequest(f"Invalid name filter {q.name[:60]!r}: not a regular expression, or one with nested "
                                 "repetition or over 255 characters (refused: it could take exponential time).") from None
            rows = [r for r in rows if pattern.search(r.name)]
        if q.ip:
            ports = self.network_binding.server_ports([r.id for r in rows])
            try:
                ip_re = user_regex(q.ip)
            except re.error:
                raise BadRequest("Invalid ip filter.") from None
            rows = [r for r in rows if any(ip_re.search(f["ip_address"]) for p in ports[r.id] for f in p.fixed_ips)]
        if q.tags:
            rows = [r for r in rows if q.tags.keeps(r.tags)]
        return rows

    def _load(self, ids: list[str]) -> list[Server]:
        """The servers of ``ids`` in that order (one deleted in between is left out)."""
        full: dict[str, Server] = {}
        with self.db.read() as s:
            for i in range(0, len(ids), 500):  # bounded IN lists
                full.update((r.id, r) for r in s.scalars(select(Server).where(Server.id.in_(ids[i:i + 500]))))
        return [full[i] for i in ids if i in full]

    def host_statuses(self, rows: list[Server]) -> dict[str, str]:
        """The ``host_status`` (2.16) of each host the servers ``rows`` are on, read now, as
        Nova decides it: DOWN when its service is forced down, MAINTENANCE when disabled, UP
        while it reports in, else UNKNOWN (a joined host whose agent is silent). A server on no
        host, or on one caas no longer knows, has none (absent here: '')."""
        names = {r.host for r in rows if r.host}
        if not names:
            return {}
        with self.db.read() as s:
            hosts = s.execute(select(ComputeHost.name, ComputeHost.forced_down, ComputeHost.enabled, ComputeHost.up)
                              .where(ComputeHost.name.in_(names))).all()
        return {name: "DOWN" if forced else "MAINTENANCE" if not enabled else "UP" if up else "UNKNOWN"
                for name, forced, enabled, up in hosts}

    def server_resources(self, rows: list[Server]) -> tuple[dict, dict]:
        """What the servers' detailed views show from the other services, in a few queries:
        their ports ({server id: [ServerPort]}) and volume attachments ({server id: [...]})."""
        ids = [r.id for r in rows]
        ports = self.network_binding.server_ports(ids)
        volume = self.volume
        if volume is None:
            return ports, {}
        if hasattr(volume, "attachments_by_server"):
            return ports, volume.attachments_by_server(ids)
        return ports, {i: volume.server_attachments(i) for i in ids}


def _filtered(ctx: AuthContext, q: ServerQuery):
    """The SELECT of the servers ``q`` asks for among those ``ctx`` may see (before the name,
    ip and tag filters, which are regular expressions and lists)."""
    stmt = select(Server)
    if not q.all_tenants:  # Nova ignores project_id without all_tenants, for admins too
        stmt = stmt.where(Server.project_id == ctx.project_id)
    elif q.project_id:
        stmt = stmt.where(Server.project_id == q.project_id)
    if q.status == "REBOOT":
        stmt = stmt.where(Server.task_state == "rebooting")
    elif q.status == "HARD_REBOOT":
        stmt = stmt.where(Server.task_state == "rebooting_hard")
    elif q.status:
        stmt = stmt.where(Server.status == VM_STATE.get(q.status, q.status.lower()))
    for column, value in q.equal:
        stmt = stmt.where(getattr(Server, column) == value)
    for column, value in q.admin_equal if ctx.is_admin else ():
        stmt = stmt.where(getattr(Server, column) == value)
    if q.changes_since:
        stmt = stmt.where(Server.updated_at >= q.changes_since)
    return stmt


# A group that repeats and holds a repetition ("(a+)+", "(a|aa)*"): the shapes that make a
# backtracking matcher take exponential time. Refused in caller-supplied filters.
NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[*+}]|\|)(?:[^()\\]|\\.)*\)\s*[*+{]")


def user_regex(text: str) -> re.Pattern:
    """A caller's regular expression for the name and ip filters (Nova matches them as
    regular expressions), refused (re.error, then 400) when it is long or has nested
    repetition, so that one request cannot keep a worker busy for ever."""
    if len(text) > 255 or NESTED_REPEAT.search(text):
        raise re.error("nested repetition or too long")
    return re.compile(text)
