"""Who may do what in Identity. One table of rules; ``enforce`` raises Forbidden.

The rules follow Keystone's defaults as an operator sees them: the ``admin`` role manages
identity; everybody else reads only itself (its user, its projects, its role assignments, its
own tokens) and changes only its own password.
"""

from __future__ import annotations


from caas.context import AuthContext
from caas.policy import Policy, Rule


def _admin(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin


def _admin_or_self(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin or target.get("user_id") == ctx.user_id


def _self(ctx: AuthContext, target: dict) -> bool:
    return target.get("user_id") == ctx.user_id


def _admin_or_scoped_project(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin or (ctx.project is not None and target.get("project_id") == ctx.project.id)


def _admin_or_own_domain(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin or target.get("domain_id") in {
        ctx.user_domain.id, ctx.project_domain.id if ctx.project_domain else None,
        ctx.domain.id if ctx.domain else None}


def _authenticated(ctx: AuthContext, target: dict) -> bool:
    return True


def _admin_or_trust_party(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin or ctx.user_id in (target.get("trustor_user_id"), target.get("trustee_user_id"))


def _admin_or_trustor(ctx: AuthContext, target: dict) -> bool:
    return ctx.is_admin or target.get("trustor_user_id") == ctx.user_id



RULES: dict[str, Rule] = {
    "identity:get_domain": _admin_or_own_domain,
    "identity:list_domains": _admin,
    "identity:create_domain": _admin,
    "identity:update_domain": _admin,
    "identity:delete_domain": _admin,
    "identity:get_project": _admin_or_scoped_project,
    "identity:list_projects": _admin,
    "identity:create_project": _admin,
    "identity:update_project": _admin,
    "identity:delete_project": _admin,
    "identity:get_user": _admin_or_self,
    "identity:list_users": _admin,
    "identity:create_user": _admin,
    "identity:update_user": _admin,
    "identity:delete_user": _admin,
    "identity:change_password": _self,
    "identity:list_user_projects": _admin_or_self,
    "identity:list_user_groups": _admin_or_self,
    "identity:get_role": _admin,
    "identity:list_roles": _admin,
    "identity:create_role": _admin,
    "identity:update_role": _admin,
    "identity:delete_role": _admin,
    "identity:check_grant": _admin,
    "identity:list_grants": _admin,
    "identity:create_grant": _admin,
    "identity:revoke_grant": _admin,
    # Members may list their own assignments (filtered by their own user id).
    "identity:list_role_assignments": _admin_or_self,
    "identity:get_service": _admin,
    "identity:list_services": _admin,
    "identity:get_endpoint": _admin,
    "identity:list_endpoints": _admin,
    "identity:get_region": _authenticated,
    "identity:list_regions": _authenticated,
    **{f"identity:{verb}_{noun}": _admin for verb in ("create", "update", "delete")
       for noun in ("region", "service", "endpoint", "endpoint_group")},
    **{f"identity:{action}": _admin for action in (
        "list_endpoint_groups", "get_endpoint_group", "list_endpoints_associated_with_endpoint_group",
        "list_projects_associated_with_endpoint_group", "list_endpoint_groups_for_project",
        "add_endpoint_group_to_project", "get_endpoint_group_in_project", "remove_endpoint_group_from_project",
        "add_endpoint_to_project", "check_endpoint_in_project", "remove_endpoint_from_project",
        "list_endpoints_for_project", "list_projects_for_endpoint")},
    "identity:list_project_tags": _admin_or_scoped_project,
    "identity:get_project_tag": _admin_or_scoped_project,
    **{f"identity:{action}": _admin for action in (
        "update_project_tags", "create_project_tag", "delete_project_tag", "delete_project_tags")},
    "identity:validate_token": _admin_or_self,
    "identity:revoke_token": _admin_or_self,
    # credentials and EC2 credentials: the admin or their owner; so is deleting an OAuth1 access
    # token (Keystone's API checks ec2_delete_credential's rule there)
    **{f"identity:{action}": _admin_or_self for action in (
        "get_credential", "list_credentials", "create_credential", "update_credential", "delete_credential",
        "ec2_get_credential", "ec2_list_credentials", "ec2_create_credential", "ec2_delete_credential",
        "delete_access_token")},
    # domain configuration and OAuth1 (consumers, authorizing, access tokens): the admin
    **{f"identity:{action}": _admin for action in (
        "create_domain_config", "get_domain_config", "update_domain_config", "delete_domain_config",
        "get_domain_config_default", "create_consumer", "get_consumer", "list_consumers", "update_consumer",
        "delete_consumer", "authorize_request_token", "list_access_tokens", "get_access_token",
        "list_access_token_roles", "get_access_token_role")},
    # the password rules: anybody with a token
    "identity:get_security_compliance_domain_config": _authenticated,
    # Delegation: a user's own application credentials and access rules (admins may read and
    # delete them), trusts for their trustor and trustee.
    "identity:create_application_credential": _self,
    "identity:get_application_credential": _admin_or_self,
    "identity:list_application_credentials": _admin_or_self,
    "identity:delete_application_credential": _admin_or_self,
    "identity:get_access_rule": _admin_or_self,
    "identity:list_access_rules": _admin_or_self,
    "identity:delete_access_rule": _admin_or_self,
    "identity:create_trust": _self,
    "identity:list_trusts": _admin,
    "identity:list_trusts_for_trustor": _admin_or_self,
    "identity:list_trusts_for_trustee": _admin_or_self,
    "identity:get_trust": _admin_or_trust_party,
    "identity:list_roles_for_trust": _admin_or_trust_party,
    "identity:get_role_for_trust": _admin_or_trust_party,
    "identity:delete_trust": _admin_or_trustor,
}


_policy = Policy(RULES)
allowed = _policy.allowed
enforce = _policy.enforce
