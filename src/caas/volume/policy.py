"""Who may do what with volumes, one rule per action: Cinder's admin-or-owner rule (any role on
the project reads and writes its volumes, as the seed documents' custom roles need), except
that a token whose only role is ``reader`` only reads (secure RBAC's reader). A rule
sees the caller and a target carrying ``project_id`` (the volume's, or the quota's project).
A project sees only its own volumes and admins see all; the service answers 404, not 403, for
a volume the caller may not see, as Cinder does, and 403 (Cinder's "Policy doesn't allow X to be
performed.") for one it sees but may not change.
"""

from __future__ import annotations

from caas.errors import Forbidden
from caas.context import AuthContext
from caas.policy import Policy, Rule


def _admin(ctx: AuthContext) -> bool:
    return ctx.is_admin


def _own(ctx: AuthContext, t: dict) -> bool:
    return ctx.project_id is not None and t.get("project_id") == ctx.project_id


def _reader(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or _own(ctx, t)


def _member(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or (ctx.may_write and _own(ctx, t))


RULES: dict[str, Rule] = {
    "volume:create": lambda c, t: _member(c, t),
    "volume:get": lambda c, t: _reader(c, t),
    "volume:get_all": lambda c, t: _reader(c, t),
    "volume:update": lambda c, t: _member(c, t),
    "volume:delete": lambda c, t: _member(c, t),
    "volume:extend": lambda c, t: _member(c, t),
    "volume:get_volume_metadata": lambda c, t: _reader(c, t),
    "volume:update_volume_metadata": lambda c, t: _member(c, t),
    "volume:delete_volume_metadata": lambda c, t: _member(c, t),
    "volume_extension:volume_actions:attach": lambda c, t: _member(c, t),
    "volume_extension:volume_actions:detach": lambda c, t: _member(c, t),
    "volume_extension:volume_actions:set_bootable": lambda c, t: _member(c, t),
    "volume_extension:volume_admin_actions:reset_status": lambda c, t: _admin(c),
    "volume_extension:volume_admin_actions:force_delete": lambda c, t: _admin(c),
    # Fields of the volume view that only some callers see.
    "volume_extension:volume_host_attribute": lambda c, t: _admin(c),
    "volume_extension:volume_mig_status_attribute": lambda c, t: _admin(c),
    "volume_extension:volume_tenant_attribute": lambda c, t: _reader(c, t),
    "volume_extension:volume_image_metadata:show": lambda c, t: _reader(c, t),
    "volume_extension:quotas:show": lambda c, t: _reader(c, t),
    "volume_extension:quotas:update": lambda c, t: _admin(c),
    "volume_extension:quotas:delete": lambda c, t: _admin(c),
    "limits_extension:used_limits": lambda c, t: _reader(c, t),
    "volume_extension:types_get": lambda c, t: c.is_reader,
}

_policy = Policy(RULES)
allowed = _policy.allowed


def enforce(ctx: AuthContext, action: str, target: dict | None = None) -> None:
    """Forbidden in Cinder's words unless ``action`` is allowed on ``target``."""
    if not allowed(ctx, action, target):
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")
