"""Server groups (Nova's os-server-groups): a name and one policy (affinity, anti-affinity and,
from microversion 2.15, their soft forms) per group; the members are the servers whose
``server_group_id`` names the group.

Holds ``ServerGroups`` (the service), ``get_server_group(s, ctx, group_id,
lock=False)`` (for server boot) and ``group_members(s, group_ids)``.

A group is seen by its project (and by admins); another project's group is 404, exactly as an
unknown one. The ``server_groups`` quota is claimed in the transaction that inserts the group.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from caas import paging
from caas.compute.common import MAX_LIMIT
from caas.compute.models import Server, ServerGroup
from caas.compute.quotas import claim
from caas.errors import BadRequest, Forbidden, NotFound, QuotaExceeded
from caas.context import AuthContext

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Instance group {group_id} could not be found.")


def get_server_group(s: Session, ctx: AuthContext, group_id: str, lock: bool = False) -> ServerGroup:
    """The group if the caller may see it (its project's, or any for an admin); NotFound
    ("Instance group X could not be found.") otherwise. ``lock`` takes its row (FOR UPDATE) for
    the rest of the transaction, so that member checks and placement serialise on it."""
    group = s.get(ServerGroup, group_id, with_for_update=lock) if group_id else None
    if group is None or not (ctx.is_admin or group.project_id == ctx.project_id):
        raise not_found(group_id)
    return group


def group_members(s: Session, group_ids: list[str]) -> dict[str, list[str]]:
    """The ids of each group's servers, oldest first."""
    out: dict[str, list[str]] = {g: [] for g in group_ids}
    if group_ids:
        rows = s.execute(select(Server.server_group_id, Server.id).where(Server.server_group_id.in_(group_ids))
                         .order_by(Server.created_at, Server.id))
        for group_id, server_id in rows:
            out[group_id].append(server_id)
    return out


def _member_role(ctx: AuthContext, action: str) -> None:
    # Any role on the project changes its groups, except reader alone (see AuthContext.may_write).
    if not ctx.may_write:
        raise Forbidden(f"Policy doesn't allow os_compute_api:os-server-groups:{action} to be performed.")


def _reader_role(ctx: AuthContext, action: str) -> None:
    # Any role on the project reads (project-scoped tokens always carry one).
    if not ctx.role_names:
        raise Forbidden(f"Policy doesn't allow os_compute_api:os-server-groups:{action} to be performed.")


class ServerGroups:
    """The projects' server groups, in ``db``. Each method returns (group, member ids)."""

    def __init__(self, db) -> None:
        self.db = db

    def list_server_groups(self, ctx: AuthContext, all_projects: bool = False, limit: int | None = None,
                           offset: int = 0) -> list[tuple[ServerGroup, list[str]]]:
        """The project's groups (every project's for an admin asking ``all_projects``; others
        asking get their own, as Nova), oldest first, from ``offset``, at most ``limit``."""
        _reader_role(ctx, "index")
        query = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
        if not (all_projects and ctx.is_admin):
            query = query.where(ServerGroup.project_id == ctx.project_id)
        with self.db.read() as s:
            # A limit of 0 is Nova's max_limit too (common.limited: ``limit or max_limit``).
            groups, _ = paging.page(list(s.scalars(query)), None, limit or None, offset=offset, max_limit=MAX_LIMIT)
            members = group_members(s, [g.id for g in groups])
        return [(g, members[g.id]) for g in groups]

    def show_server_group(self, ctx: AuthContext, group_id: str) -> tuple[ServerGroup, list[str]]:
        _reader_role(ctx, "show")
        with self.db.read() as s:
            group = get_server_group(s, ctx, group_id)
            return group, group_members(s, [group.id])[group.id]

    def create_server_group(self, ctx: AuthContext, name: str, policy: str) -> tuple[ServerGroup, list[str]]:
        _member_role(ctx, "create")
        if policy not in POLICIES:
            raise BadRequest(f"Invalid server group policy {policy}")
        with self.db.write() as s:
            try:
                claim(s, ctx.project_id, server_groups=1)
            except QuotaExceeded:
                raise QuotaExceeded("Quota exceeded, too many server groups.") from None
            group = ServerGroup(name=name, project_id=ctx.project_id, user_id=ctx.user_id, policy=policy, rules={})
            s.add(group)
            s.flush()
            return group, []

    def delete_server_group(self, ctx: AuthContext, group_id: str) -> None:
        """Delete the group; its servers stay, no longer members of anything (as in Nova)."""
        _member_role(ctx, "delete")
        with self.db.write() as s:
            group = get_server_group(s, ctx, group_id, lock=True)
            s.execute(update(Server).where(Server.server_group_id == group.id).values(server_group_id=None))
            s.delete(group)
