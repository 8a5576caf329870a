"""Who may do what with images, one rule per action: Glance's admin-or-owner rules, where any
role on the project reads and writes what its project owns (the seed documents' custom roles,
such as ``fabric``, rely on it), except that a token whose only role is ``reader`` only reads,
as secure RBAC's reader. A rule
sees the caller and a target: the image's ``owner`` and ``visibility``, and ``is_member``
(the caller's project is a member of the image). ``visible`` is the rule for seeing an image at
all; the service answers 404, not 403, for an image the caller may not see, as Glance does.
"""

from __future__ import annotations


from caas.context import AuthContext
from caas.policy import Policy, Rule


def _admin(ctx: AuthContext) -> bool:
    return ctx.is_admin


def _member(ctx: AuthContext) -> bool:
    return ctx.may_write


def _reader(ctx: AuthContext) -> bool:
    return bool(ctx.role_names)


def _own(ctx: AuthContext, t: dict) -> bool:
    return ctx.project_id is not None and t.get("owner") == ctx.project_id


def _reachable(ctx: AuthContext, t: dict) -> bool:
    """Own, public, community, or shared with the caller's project."""
    return (_own(ctx, t) or t.get("visibility") in ("public", "community")
            or (t.get("visibility") == "shared" and bool(t.get("is_member"))))



RULES: dict[str, Rule] = {
    "add_image": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "get_images": lambda c, t: _reader(c),
    "get_image": lambda c, t: _admin(c) or (_reader(c) and _reachable(c, t)),
    "modify_image": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "delete_image": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "publicize_image": lambda c, t: _admin(c),
    "communitize_image": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "upload_image": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "download_image": lambda c, t: _admin(c) or (_member(c) and _reachable(c, t)),
    "deactivate": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "reactivate": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "add_member": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "delete_member": lambda c, t: _admin(c) or (_member(c) and _own(c, t)),
    "get_members": lambda c, t: _admin(c) or (_reader(c) and (_own(c, t) or bool(t.get("is_member")))),
    "modify_member": lambda c, t: _admin(c) or (_member(c) and bool(t.get("is_member"))),
}


_policy = Policy(RULES)
allowed = _policy.allowed
enforce = _policy.enforce


def visible(ctx: AuthContext, target: dict) -> bool:
    return allowed(ctx, "get_image", target)
