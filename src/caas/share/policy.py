"""Who may do what with shares, one rule per action (Manila's ``share:*`` names): any role on
the project reads and writes its shares, except that a token whose only role is ``reader``
only reads; admins everything. A project sees only its own shares (others' are 404, as
Manila answers); 403 (Manila's "Policy doesn't allow X to be performed.") for one it sees but
may not change."""

from __future__ import annotations

from caas.context import AuthContext
from caas.errors import Forbidden
from caas.policy import Policy, Rule


def _own(ctx: AuthContext, t: dict) -> bool:
    return ctx.project_id is not None and t.get("project_id") == ctx.project_id


def _reader(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or _own(ctx, t)


def _member(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or (ctx.may_write and _own(ctx, t))


RULES: dict[str, Rule] = {
    "share:create": _member,
    "share:get": _reader,
    "share:get_all": _reader,
    "share:update": _member,
    "share:delete": _member,
    "share:get_share_metadata": _reader,
    "share:update_share_metadata": _member,
    "share:delete_share_metadata": _member,
    "share:allow_access": _member,
    "share:deny_access": _member,
    "share:access_get": _reader,
    "share:access_get_all": _reader,
    "share_export_location:index": _reader,
    "share_export_location:show": _reader,
    "share:list_all_projects": lambda c, t: c.is_admin,
    "share:reset_task_state": lambda c, t: c.is_admin,
}

_policy = Policy(RULES)
allowed = _policy.allowed


def enforce(ctx: AuthContext, action: str, target: dict | None = None) -> None:
    """Forbidden in Manila's words unless ``action`` is allowed on ``target``."""
    if not allowed(ctx, action, target):
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")
