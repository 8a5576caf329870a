"""Who may do what in Identity: Keystone 30's default policy ("secure RBAC"), one rule per call,
as the Keystone anchor enforces it (``enforce_scope`` on). ``enforce`` raises Forbidden.

Each rule names the token scopes it accepts (an unscoped token counts as project-scoped, as in
oslo.policy) and the checks of which one must hold:

- ``admin``: the ``admin`` role in any scope the rule accepts (Keystone's ``admin_required``: a
  project-scoped admin, the bootstrap admin's own token, manages identity);
- ``system_reader``: ``reader`` on the system (``admin`` implies ``manager`` implies ``member``
  implies ``reader``, so every system role reads);
- ``domain reader`` / ``domain manager``: ``reader`` / ``manager`` in a domain-scoped token
  whose domain owns the target;
- ``owner``: the caller is the target user.
"""

from __future__ import annotations

from typing import Callable

from caas.context import AuthContext
from caas.policy import Policy, Rule

ALL = ("system", "domain", "project")
SYS_PROJ = ("system", "project")
MANAGED_ROLES = {"manager", "member", "reader"}  # what a domain manager may grant
Check = Callable[[AuthContext, dict], bool]


def rule(scopes: tuple[str, ...] | None, *checks: Check) -> Rule:
    """A rule: the token's scope is one of ``scopes`` (None: any, with no check at all) and
    one of ``checks`` holds."""
    def allowed(ctx: AuthContext, target: dict) -> bool:
        if scopes is None:
            return True
        if ctx.scope_type not in scopes and (ctx.scope_type or "project") not in scopes:
            return False
        return any(check(ctx, target) for check in checks)
    return allowed


def _dig(target: dict, path: str):
    """``target["a"]["b"]`` for ``a.b``; None when any part is missing."""
    value = target
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def admin(ctx: AuthContext, target: dict) -> bool:
    return "admin" in ctx.role_names


def system_reader(ctx: AuthContext, target: dict) -> bool:
    return ctx.system and "reader" in ctx.role_names


def system_admin(ctx: AuthContext, target: dict) -> bool:
    return ctx.system and "admin" in ctx.role_names


def member_owner(ctx: AuthContext, target: dict) -> bool:
    """The target user, holding ``member`` (a reader only reads)."""
    return "member" in ctx.role_names and owner(ctx, target)


def owner(ctx: AuthContext, target: dict) -> bool:
    return target.get("user_id") == ctx.user_id or _dig(target, "user.id") == ctx.user_id


def in_domain(role: str, *paths: str) -> Check:
    """``role`` in a domain-scoped token whose domain is the target's at every one of ``paths``."""
    def check(ctx: AuthContext, target: dict) -> bool:
        return (ctx.domain_id is not None and role in ctx.role_names
                and all(_dig(target, p) == ctx.domain_id for p in paths))
    return check


def grant_in_domain(role: str) -> Check:
    """``role`` in a domain-scoped token whose domain owns the grant's actor and target, for
    a role of no other domain (a manager: only manager, member or reader)."""
    def check(ctx: AuthContext, target: dict) -> bool:
        if ctx.domain_id is None or role not in ctx.role_names:
            return False
        actor = target.get("user") or target.get("group") or {}
        where = _dig(target, "project.domain_id") or _dig(target, "domain.id")
        role_domain = _dig(target, "role.domain_id")
        if actor.get("domain_id") != ctx.domain_id or where != ctx.domain_id:
            return False
        if role == "manager":
            return _dig(target, "role.name") in MANAGED_ROLES
        return role_domain in (None, ctx.domain_id)
    return check


def own_project(ctx: AuthContext, target: dict) -> bool:
    return ctx.project is not None and target.get("project_id") == ctx.project.id


def own_domain(ctx: AuthContext, target: dict) -> bool:
    """The token's domain, or its project's domain, is the target domain."""
    mine = {ctx.domain_id, ctx.project_domain.id if ctx.project_domain else None} - {None}
    return target.get("domain_id") in mine


def domain_manager_role(ctx: AuthContext, target: dict) -> bool:
    return "manager" in ctx.role_names and _dig(target, "role.name") in MANAGED_ROLES


def manager_of_domain_roles(ctx: AuthContext, target: dict) -> bool:
    return "manager" in ctx.role_names and ctx.domain_id is not None


def trust_party(ctx: AuthContext, target: dict) -> bool:
    return ctx.user_id in (target.get("trustor_user_id"), target.get("trustee_user_id"))


def trustor(ctx: AuthContext, target: dict) -> bool:
    return target.get("trustor_user_id") == ctx.user_id


READ_SYS = rule(SYS_PROJ, admin, system_reader)  # catalog, implied roles, domain roles, system grants
ADMIN_SYS = rule(SYS_PROJ, admin)
USER_READ = rule(ALL, admin, system_reader, in_domain("reader", "domain_id"), owner)
GROUP_READ = rule(ALL, admin, system_reader, in_domain("reader", "group.domain_id"))
GROUP_WRITE = rule(ALL, admin, in_domain("manager", "group.domain_id"))
MEMBERSHIP_WRITE = rule(ALL, admin, in_domain("manager", "group.domain_id", "user.domain_id"))
GRANT_READ = rule(ALL, admin, system_reader, grant_in_domain("reader"))
GRANT_WRITE = rule(ALL, admin, grant_in_domain("manager"))
# not a user's own either (Keystone refuses a member ?user.id= itself: it reads its token's roles
# or /v3/users/{id}/projects instead)
ASSIGNMENTS = rule(ALL, admin, system_reader, in_domain("reader", "domain_id"))

RULES: dict[str, Rule] = {
    "identity:get_domain": rule(ALL, admin, system_reader, own_domain),
    "identity:list_domains": rule(ALL, admin, system_reader, in_domain("manager")),
    "identity:create_domain": ADMIN_SYS,
    "identity:update_domain": ADMIN_SYS,
    "identity:delete_domain": ADMIN_SYS,
    "identity:get_project": rule(ALL, admin, system_reader, in_domain("reader", "domain_id"), own_project),
    "identity:list_projects": rule(ALL, admin, system_reader, in_domain("reader", "domain_id")),
    "identity:create_project": rule(ALL, admin, in_domain("manager", "domain_id")),
    "identity:update_project": rule(ALL, admin, in_domain("manager", "domain_id")),
    "identity:delete_project": rule(ALL, admin, in_domain("manager", "domain_id")),
    "identity:get_user": USER_READ,
    "identity:list_users": rule(ALL, admin, system_reader, in_domain("reader", "domain_id")),
    "identity:create_user": rule(ALL, admin, in_domain("manager", "domain_id")),
    "identity:update_user": rule(ALL, admin, in_domain("manager", "domain_id")),
    "identity:delete_user": rule(ALL, admin, in_domain("manager", "domain_id")),
    # Keystone asks no token for it (the original password is the proof); caas asks its own.
    "identity:change_password": rule(ALL + (None,), owner),
    "identity:list_user_projects": USER_READ,
    "identity:list_groups_for_user": USER_READ,
    "identity:get_role": rule(ALL, admin, system_reader, domain_manager_role),
    "identity:list_roles": rule(ALL, admin, system_reader, manager_of_domain_roles),
    "identity:create_role": ADMIN_SYS,
    "identity:update_role": ADMIN_SYS,
    "identity:delete_role": ADMIN_SYS,
    "identity:get_domain_role": READ_SYS,
    "identity:list_domain_roles": READ_SYS,
    "identity:create_domain_role": ADMIN_SYS,
    "identity:update_domain_role": ADMIN_SYS,
    "identity:delete_domain_role": ADMIN_SYS,
    "identity:get_implied_role": READ_SYS,
    "identity:check_implied_role": READ_SYS,
    "identity:list_implied_roles": READ_SYS,
    "identity:list_role_inference_rules": READ_SYS,
    "identity:create_implied_role": ADMIN_SYS,
    "identity:delete_implied_role": ADMIN_SYS,
    "identity:get_group": GROUP_READ,
    "identity:list_groups": GROUP_READ,
    "identity:list_users_in_group": GROUP_READ,
    "identity:create_group": GROUP_WRITE,
    "identity:update_group": GROUP_WRITE,
    "identity:delete_group": GROUP_WRITE,
    "identity:add_user_to_group": MEMBERSHIP_WRITE,
    "identity:remove_user_from_group": MEMBERSHIP_WRITE,
    "identity:check_user_in_group": rule(ALL, admin, system_reader,
                                         in_domain("reader", "group.domain_id", "user.domain_id")),
    "identity:check_grant": GRANT_READ,
    "identity:list_grants": GRANT_READ,
    "identity:create_grant": GRANT_WRITE,
    "identity:revoke_grant": GRANT_WRITE,
    "identity:list_system_grants_for_user": READ_SYS,
    "identity:check_system_grant_for_user": READ_SYS,
    "identity:create_system_grant_for_user": ADMIN_SYS,
    "identity:revoke_system_grant_for_user": ADMIN_SYS,
    "identity:list_system_grants_for_group": READ_SYS,
    "identity:check_system_grant_for_group": READ_SYS,
    "identity:create_system_grant_for_group": ADMIN_SYS,
    "identity:revoke_system_grant_for_group": ADMIN_SYS,
    "identity:list_role_assignments": ASSIGNMENTS,
    "identity:list_role_assignments_for_tree": ASSIGNMENTS,
    "identity:get_service": READ_SYS,
    "identity:list_services": READ_SYS,
    "identity:get_endpoint": READ_SYS,
    "identity:list_endpoints": READ_SYS,
    "identity:get_region": rule(None),
    "identity:list_regions": rule(None),
    "identity:validate_token": rule(ALL, admin, system_reader, owner),
    "identity:revoke_token": rule(ALL, admin, owner),
    # the catalog written, and its endpoint filters (OS-EP-FILTER)
    **{f"identity:{verb}_{noun}": ADMIN_SYS for verb in ("create", "update", "delete")
       for noun in ("region", "service", "endpoint", "endpoint_group")},
    **{f"identity:{action}": READ_SYS for action in (
        "list_endpoint_groups", "get_endpoint_group", "list_endpoints_associated_with_endpoint_group",
        "list_projects_associated_with_endpoint_group", "list_endpoint_groups_for_project",
        "get_endpoint_group_in_project", "check_endpoint_in_project", "list_endpoints_for_project",
        "list_projects_for_endpoint")},
    **{f"identity:{action}": ADMIN_SYS for action in (
        "add_endpoint_group_to_project", "remove_endpoint_group_from_project", "add_endpoint_to_project",
        "remove_endpoint_from_project")},
    # project tags: read as the project, written as it is updated
    "identity:list_project_tags": rule(ALL, admin, system_reader, in_domain("reader", "domain_id"), own_project),
    "identity:get_project_tag": rule(ALL, admin, system_reader, in_domain("reader", "domain_id"), own_project),
    **{f"identity:{action}": rule(ALL, admin, in_domain("manager", "domain_id")) for action in (
        "update_project_tags", "create_project_tag", "delete_project_tag", "delete_project_tags")},
    # credentials: their owner, or the admin; EC2 credentials likewise but never with a domain-scoped
    # token, and created only by an admin or a member (Keystone refuses a reader, OSSA-2023-002)
    **{f"identity:{action}": rule(ALL, admin, system_reader, owner) for action in (
        "get_credential", "list_credentials")},
    **{f"identity:{action}": rule(ALL, admin, owner) for action in (
        "create_credential", "update_credential", "delete_credential")},
    **{f"identity:{action}": rule(SYS_PROJ, admin, system_reader, owner) for action in (
        "ec2_get_credential", "ec2_list_credentials")},
    "identity:ec2_create_credential": rule(SYS_PROJ, admin, member_owner),
    "identity:ec2_delete_credential": rule(SYS_PROJ, admin, owner),
    # domain configuration and OAuth1 (consumers, authorizing, access tokens): the admin
    **{f"identity:{action}": READ_SYS for action in (
        "get_domain_config", "get_domain_config_default", "get_consumer", "list_consumers")},
    # OAuth1 access tokens: a project-scoped admin's, even one's own (Keystone's admin_required,
    # scope project); deleting one, a system admin's too
    **{f"identity:{action}": rule(("project",), admin) for action in (
        "authorize_request_token", "list_access_tokens", "get_access_token", "list_access_token_roles",
        "get_access_token_role")},
    "identity:delete_access_token": rule(SYS_PROJ, admin),
    **{f"identity:{action}": ADMIN_SYS for action in (
        "create_domain_config", "update_domain_config", "delete_domain_config", "create_consumer",
        "update_consumer", "delete_consumer")},
    # the password rules: anybody with a token
    "identity:get_security_compliance_domain_config": rule(None),
    # delegation, never with a domain-scoped token: a user's own application credentials (admins
    # and system readers read them, admins delete them); access rules are a system admin's
    # (a system reader's for reading) besides their user's; trusts for their trustor and trustee
    "identity:create_application_credential": rule(SYS_PROJ, owner),
    **{f"identity:{action}": rule(SYS_PROJ, admin, system_reader, owner) for action in (
        "get_application_credential", "list_application_credentials")},
    "identity:delete_application_credential": rule(SYS_PROJ, admin, owner),
    **{f"identity:{action}": rule(SYS_PROJ, system_admin, system_reader, owner) for action in (
        "get_access_rule", "list_access_rules")},
    "identity:delete_access_rule": rule(SYS_PROJ, system_admin, owner),
    "identity:create_trust": rule(("project",), owner),
    "identity:list_trusts": rule(SYS_PROJ, admin, system_reader),
    "identity:list_trusts_for_trustor": rule(SYS_PROJ, admin, system_reader, owner),
    "identity:list_trusts_for_trustee": rule(SYS_PROJ, admin, system_reader, owner),
    "identity:get_trust": rule(SYS_PROJ, admin, system_reader, trust_party),
    "identity:list_roles_for_trust": rule(SYS_PROJ, admin, system_reader, trust_party),
    "identity:get_role_for_trust": rule(SYS_PROJ, admin, system_reader, trust_party),
    "identity:delete_trust": rule(SYS_PROJ, admin, trustor),
}


_policy = Policy(RULES)
allowed = _policy.allowed
enforce = _policy.enforce
