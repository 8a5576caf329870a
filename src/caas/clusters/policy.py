"""Who may do what with clusters, one rule per action.

The cluster service acts in the cloud with more rights than its caller (its own user, a member
of every project it works in), so it must decide what the caller may do itself, on every call,
and decide it as the services it drives would: Nova's, Neutron's and Cinder's admin-or-owner
rules, where any role on the project reads and changes what the project owns (the seed
documents' custom roles, such as ``fabric``, rely on it), except that a token whose only role
is ``reader`` only reads, as secure RBAC's reader. A rule sees the caller and a target: the
cluster's ``project_id``. Another project's cluster is 404 (the service never shows it), not
403.
"""

from __future__ import annotations

from caas.context import AuthContext
from caas.policy import Policy, Rule


def _own(ctx: AuthContext, t: dict) -> bool:
    return ctx.project_id is not None and t.get("project_id") == ctx.project_id


def _reads(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or (bool(ctx.role_names) and _own(ctx, t))


def _writes(ctx: AuthContext, t: dict) -> bool:
    return ctx.is_admin or (ctx.may_write and _own(ctx, t))


RULES: dict[str, Rule] = {
    "cluster:list": _reads,
    "cluster:list_all_projects": lambda c, t: c.is_admin,
    "cluster:get": _reads,
    "cluster:create": _writes,
    "cluster:delete": _writes,
    "cluster:add_nodes": _writes,
    "cluster:remove_nodes": _writes,
    "cluster:scale": _writes,  # Slurm's power saving on an elastic cluster (its scaler credential)
    "profile:list": lambda c, t: bool(c.role_names),
}

_policy = Policy(RULES)
allowed = _policy.allowed
enforce = _policy.enforce
