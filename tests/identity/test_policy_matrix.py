"""The policy matrix: Keystone's default personas against every identity call caas serves, with the
answers the Keystone anchor gives (Keystone 30, ``enforce_scope`` on).

Personas: ``sa`` system admin, ``sr`` system reader (system-scoped tokens), ``da`` domain admin
and ``mg`` domain manager (on domain D, domain-scoped), ``pa`` project admin, ``pm`` project
member, ``pr`` project reader (on project P of D, project-scoped), ``no`` a user with no role
(unscoped token).

One row per call (``ROWS``): method, path template, body factory (given the placeholders'
values), the status an allowed persona gets, who is allowed, and ``also`` for personas the
policy lets through but the call then refuses; everybody else gets 403. Placeholders: ``{D}``,
``{P}`` (tagged ``t1``), ``{U}`` (a user of D, member of P and of group ``{G}``), ``{R}`` (a
global role), ``{member}``, ``{self}`` (the caller's own user); the catalog's ``{RG}``, ``{S}``,
``{E}`` and ``{EG}`` (both associated with P); U's credential ``{C}``, EC2 access key ``{EC2}``,
application credential ``{AC}`` with access rule ``{AR}``, trust ``{T}`` (to pm, on P);
``{DC}`` a domain with a configuration, ``{CO}`` an OAuth1 consumer; ``{new_X}``, ``{own_X}``
(the caller's), ``{linked_X}``, ``{tagged_project}``, ``{config_domain}``, ``{fresh_id}``: a
fresh one for each request (``World.make``), for calls that change or delete what they name.
Not in the matrix: ``POST /OS-OAUTH1/request_token`` and ``/access_token`` (the consumer's
signature authorizes them, no policy), ``POST /users/{id}/password`` (it revokes the caller's
tokens; the original password authorizes it) and token issue/validate/revoke.

Deliberate differences from Keystone (``DELIBERATE``: the rows hold caas's answer, the bench
reports them apart): none left.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Callable

import httpx
import pytest

from tests.conftest import client_for, issue_token

pytestmark = pytest.mark.inprocess  # policy: the app in process, no caas up

PERSONAS = ("sa", "sr", "da", "mg", "pa", "pm", "pr", "no")
EVERYBODY = " ".join(PERSONAS)
ADMINS = "sa da pa"  # admin in any scope the call accepts (Keystone's admin_required)
READERS = "sa sr da pa"  # and the system reader
SYSTEM = "sa sr pa"  # scope system or project only: a domain-scoped token is refused
SYSTEM_ADMINS = "sa pa"
DOMAIN_READERS = READERS + " mg"  # and a domain-scoped reader (the manager) of the target's domain
DOMAIN_MANAGERS = ADMINS + " mg"  # and a domain-scoped manager of the target's domain
SCOPED = "sa sr da mg pa pm pr"  # any token with a role
NOT_DOMAIN = "sa sr pa pm pr no"  # any token but a domain-scoped one
PW = "Secret_123"
CONFIG = {"ldap": {"url": "ldap://m.example", "user_tree_dn": "ou=users,dc=m"}}
RULE = {"service": "compute", "method": "GET"}  # each rule with a path of its own


def uniq(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# caas's answers where it deliberately differs from Keystone's (the rows hold caas's; the bench
# reports these apart): the anchor's allowed personas
DELIBERATE: dict[str, str] = {}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    ok: int  # the status an allowed persona gets
    allowed: str  # the allowed personas, space-separated
    body: Callable[[dict], dict] | None = None  # given the placeholders' values
    also: str = ""  # other personas' answers, "persona=status ..." (allowed by the policy, refused after)

    def expected(self, persona: str) -> int:
        other = dict(pair.split("=") for pair in self.also.split())
        if persona in other:
            return int(other[persona])
        return self.ok if persona in self.allowed.split() else 403


ROWS: dict[str, Row] = {
    "list_domains": Row("GET", "/domains", 200, DOMAIN_READERS),
    "get_domain": Row("GET", "/domains/{D}", 200, SCOPED),
    "create_domain": Row("POST", "/domains", 201, SYSTEM_ADMINS,
                         lambda ids: {"domain": {"name": uniq("d"), "enabled": False}}),
    "list_projects": Row("GET", "/projects", 200, DOMAIN_READERS),
    "get_project": Row("GET", "/projects/{P}", 200, SCOPED),
    "create_project": Row("POST", "/projects", 201, DOMAIN_MANAGERS,
                          lambda ids: {"project": {"name": uniq("p"), "domain_id": ids["D"]}}),
    "update_project": Row("PATCH", "/projects/{new_project}", 200, DOMAIN_MANAGERS, lambda ids: {"project": {"description": "x"}}),
    "delete_project": Row("DELETE", "/projects/{new_project}", 204, DOMAIN_MANAGERS),
    "list_users": Row("GET", "/users", 200, DOMAIN_READERS),
    "get_user": Row("GET", "/users/{U}", 200, DOMAIN_READERS),
    "get_own_user": Row("GET", "/users/{self}", 200, EVERYBODY),
    "create_user": Row("POST", "/users", 201, DOMAIN_MANAGERS, lambda ids: {"user": {"name": uniq("u"), "domain_id": ids["D"]}}),
    "update_user": Row("PATCH", "/users/{new_user}", 200, DOMAIN_MANAGERS, lambda ids: {"user": {"description": "x"}}),
    "delete_user": Row("DELETE", "/users/{new_user}", 204, DOMAIN_MANAGERS),
    "list_user_projects": Row("GET", "/users/{U}/projects", 200, DOMAIN_READERS),
    "list_own_projects": Row("GET", "/users/{self}/projects", 200, EVERYBODY),
    "list_user_groups": Row("GET", "/users/{U}/groups", 200, DOMAIN_READERS),
    "list_roles": Row("GET", "/roles", 200, DOMAIN_READERS),
    "get_role": Row("GET", "/roles/{R}", 200, READERS),
    "create_role": Row("POST", "/roles", 201, SYSTEM_ADMINS, lambda ids: {"role": {"name": uniq("r")}}),
    "update_role": Row("PATCH", "/roles/{new_role}", 200, SYSTEM_ADMINS, lambda ids: {"role": {"description": "x"}}),
    "delete_role": Row("DELETE", "/roles/{new_role}", 204, SYSTEM_ADMINS),
    "list_domain_roles": Row("GET", "/roles?domain_id={D}", 200, SYSTEM),
    "list_implied_roles": Row("GET", "/roles/{member}/implies", 200, SYSTEM),
    "list_role_inferences": Row("GET", "/role_inferences", 200, SYSTEM),
    "create_implied_role": Row("PUT", "/roles/{new_role}/implies/{R}", 201, SYSTEM_ADMINS),
    "list_groups": Row("GET", "/groups", 200, DOMAIN_READERS),
    "get_group": Row("GET", "/groups/{G}", 200, DOMAIN_READERS),
    "create_group": Row("POST", "/groups", 201, DOMAIN_MANAGERS, lambda ids: {"group": {"name": uniq("g"), "domain_id": ids["D"]}}),
    "update_group": Row("PATCH", "/groups/{new_group}", 200, DOMAIN_MANAGERS, lambda ids: {"group": {"description": "x"}}),
    "delete_group": Row("DELETE", "/groups/{new_group}", 204, DOMAIN_MANAGERS),
    "list_users_in_group": Row("GET", "/groups/{G}/users", 200, DOMAIN_READERS),
    "add_user_to_group": Row("PUT", "/groups/{new_group}/users/{U}", 204, DOMAIN_MANAGERS),
    "check_user_in_group": Row("HEAD", "/groups/{G}/users/{U}", 204, DOMAIN_READERS),
    "grant_on_project": Row("PUT", "/projects/{P}/users/{new_user}/roles/{R}", 204, ADMINS),
    "check_grant": Row("HEAD", "/projects/{P}/users/{U}/roles/{member}", 204, DOMAIN_READERS),
    "list_grants": Row("GET", "/projects/{P}/users/{U}/roles", 200, DOMAIN_READERS),
    "grant_group_on_domain": Row("PUT", "/domains/{D}/groups/{new_group}/roles/{R}", 204, ADMINS),
    "grant_inherited": Row("PUT", "/OS-INHERIT/domains/{D}/users/{new_user}/roles/{R}/inherited_to_projects",
                           204, ADMINS),
    "list_system_grants": Row("GET", "/system/users/{U}/roles", 200, SYSTEM),
    "grant_on_system": Row("PUT", "/system/users/{new_user}/roles/{R}", 204, SYSTEM_ADMINS),
    "grant_group_on_system": Row("PUT", "/system/groups/{new_group}/roles/{R}", 204, SYSTEM_ADMINS),
    "list_role_assignments": Row("GET", "/role_assignments", 200, DOMAIN_READERS),
    # not even one's own (a member reads its token's roles or /users/{self}/projects instead)
    "list_own_role_assignments": Row("GET", "/role_assignments?user.id={self}", 200, DOMAIN_READERS),
    "list_services": Row("GET", "/services", 200, SYSTEM),
    "list_endpoints": Row("GET", "/endpoints", 200, SYSTEM),
    "list_regions": Row("GET", "/regions", 200, EVERYBODY),
    "auth_projects": Row("GET", "/auth/projects", 200, EVERYBODY),
    # ---- the catalog: regions, services, endpoints
    "get_region": Row("GET", "/regions/{RG}", 200, EVERYBODY),
    "create_region": Row("POST", "/regions", 201, SYSTEM_ADMINS, lambda v: {"region": {"description": "m"}}),
    "create_region_with_id": Row("PUT", "/regions/{fresh_id}", 201, SYSTEM_ADMINS, lambda v: {"region": {}}),
    "update_region": Row("PATCH", "/regions/{new_region}", 200, SYSTEM_ADMINS,
                         lambda v: {"region": {"description": "x"}}),
    "delete_region": Row("DELETE", "/regions/{new_region}", 204, SYSTEM_ADMINS),
    "get_service": Row("GET", "/services/{S}", 200, SYSTEM),
    "create_service": Row("POST", "/services", 201, SYSTEM_ADMINS, lambda v: {"service": {"type": uniq("t")}}),
    "update_service": Row("PATCH", "/services/{new_service}", 200, SYSTEM_ADMINS,
                          lambda v: {"service": {"description": "x"}}),
    "delete_service": Row("DELETE", "/services/{new_service}", 204, SYSTEM_ADMINS),
    "get_endpoint": Row("GET", "/endpoints/{E}", 200, SYSTEM),
    "create_endpoint": Row("POST", "/endpoints", 201, SYSTEM_ADMINS, lambda v: {"endpoint": {
        "service_id": v["S"], "interface": "internal", "url": "http://m.example/v1"}}),
    "update_endpoint": Row("PATCH", "/endpoints/{new_endpoint}", 200, SYSTEM_ADMINS,
                           lambda v: {"endpoint": {"url": "http://m2.example/v1"}}),
    "delete_endpoint": Row("DELETE", "/endpoints/{new_endpoint}", 204, SYSTEM_ADMINS),
    # ---- endpoint groups and project endpoint filters (OS-EP-FILTER)
    "list_endpoint_groups": Row("GET", "/OS-EP-FILTER/endpoint_groups", 200, SYSTEM),
    "get_endpoint_group": Row("GET", "/OS-EP-FILTER/endpoint_groups/{EG}", 200, SYSTEM),
    "check_endpoint_group": Row("HEAD", "/OS-EP-FILTER/endpoint_groups/{EG}", 200, SYSTEM),
    "create_endpoint_group": Row("POST", "/OS-EP-FILTER/endpoint_groups", 201, SYSTEM_ADMINS, lambda v: {
        "endpoint_group": {"name": uniq("eg"), "filters": {"interface": "admin"}}}),
    "update_endpoint_group": Row("PATCH", "/OS-EP-FILTER/endpoint_groups/{new_endpoint_group}", 200, SYSTEM_ADMINS,
                                 lambda v: {"endpoint_group": {"description": "x"}}),
    "delete_endpoint_group": Row("DELETE", "/OS-EP-FILTER/endpoint_groups/{new_endpoint_group}", 204, SYSTEM_ADMINS),
    "endpoint_group_endpoints": Row("GET", "/OS-EP-FILTER/endpoint_groups/{EG}/endpoints", 200, SYSTEM),
    "endpoint_group_projects": Row("GET", "/OS-EP-FILTER/endpoint_groups/{EG}/projects", 200, SYSTEM),
    "add_endpoint_group_to_project": Row("PUT", "/OS-EP-FILTER/endpoint_groups/{new_endpoint_group}/projects/{P}",
                                         204, SYSTEM_ADMINS),
    "get_endpoint_group_in_project": Row("GET", "/OS-EP-FILTER/endpoint_groups/{EG}/projects/{P}", 200, SYSTEM),
    "check_endpoint_group_in_project": Row("HEAD", "/OS-EP-FILTER/endpoint_groups/{EG}/projects/{P}", 200, SYSTEM),
    "remove_endpoint_group_from_project": Row(
        "DELETE", "/OS-EP-FILTER/endpoint_groups/{linked_endpoint_group}/projects/{P}", 204, SYSTEM_ADMINS),
    "project_endpoint_groups": Row("GET", "/OS-EP-FILTER/projects/{P}/endpoint_groups", 200, SYSTEM),
    "project_endpoints": Row("GET", "/OS-EP-FILTER/projects/{P}/endpoints", 200, SYSTEM),
    "add_endpoint_to_project": Row("PUT", "/OS-EP-FILTER/projects/{P}/endpoints/{new_endpoint}", 204, SYSTEM_ADMINS),
    "get_endpoint_in_project": Row("GET", "/OS-EP-FILTER/projects/{P}/endpoints/{E}", 204, SYSTEM),
    "check_endpoint_in_project": Row("HEAD", "/OS-EP-FILTER/projects/{P}/endpoints/{E}", 204, SYSTEM),
    "remove_endpoint_from_project": Row("DELETE", "/OS-EP-FILTER/projects/{P}/endpoints/{linked_endpoint}", 204,
                                        SYSTEM_ADMINS),
    "endpoint_projects": Row("GET", "/OS-EP-FILTER/endpoints/{E}/projects", 200, SYSTEM),
    # ---- projects: hierarchy queries and tags
    "get_project_subtree": Row("GET", "/projects/{P}?subtree_as_ids", 200, SCOPED),
    "get_project_parents": Row("GET", "/projects/{P}?parents_as_list", 200, SCOPED),
    "list_projects_by_parent": Row("GET", "/projects?parent_id={D}", 200, DOMAIN_READERS),
    "list_projects_by_tag": Row("GET", "/projects?tags=t1", 200, DOMAIN_READERS),
    "list_project_tags": Row("GET", "/projects/{P}/tags", 200, SCOPED),
    "get_project_tag": Row("GET", "/projects/{P}/tags/t1", 204, SCOPED),
    "check_project_tag": Row("HEAD", "/projects/{P}/tags/t1", 204, SCOPED),
    "replace_project_tags": Row("PUT", "/projects/{new_project}/tags", 200, DOMAIN_MANAGERS, lambda v: {"tags": ["a", "b"]}),
    "add_project_tag": Row("PUT", "/projects/{new_project}/tags/t2", 201, DOMAIN_MANAGERS),
    "delete_project_tag": Row("DELETE", "/projects/{tagged_project}/tags/t1", 204, DOMAIN_MANAGERS),
    "delete_project_tags": Row("DELETE", "/projects/{tagged_project}/tags", 204, DOMAIN_MANAGERS),
    # ---- credentials and EC2 credentials ({C}, {EC2}: the user U's)
    "list_credentials": Row("GET", "/credentials", 200, EVERYBODY),
    "get_credential": Row("GET", "/credentials/{C}", 200, READERS),
    "get_own_credential": Row("GET", "/credentials/{own_credential}", 200, EVERYBODY),
    "create_credential": Row("POST", "/credentials", 201, ADMINS, lambda v: {"credential": {
        "user_id": v["U"], "type": "cert", "blob": "m"}}),
    "create_own_credential": Row("POST", "/credentials", 201, EVERYBODY, lambda v: {"credential": {
        "user_id": v["self"], "type": "cert", "blob": "m"}}),
    "update_credential": Row("PATCH", "/credentials/{new_credential}", 200, ADMINS,
                             lambda v: {"credential": {"blob": "x"}}),
    "delete_credential": Row("DELETE", "/credentials/{new_credential}", 204, ADMINS),
    "delete_own_credential": Row("DELETE", "/credentials/{own_credential}", 204, EVERYBODY),
    "list_ec2": Row("GET", "/users/{U}/credentials/OS-EC2", 200, SYSTEM),
    "list_own_ec2": Row("GET", "/users/{self}/credentials/OS-EC2", 200, NOT_DOMAIN),
    "get_ec2": Row("GET", "/users/{U}/credentials/OS-EC2/{EC2}", 200, SYSTEM),
    "create_ec2": Row("POST", "/users/{U}/credentials/OS-EC2", 201, SYSTEM_ADMINS, lambda v: {"tenant_id": v["P"]}),
    "create_own_ec2": Row("POST", "/users/{self}/credentials/OS-EC2", 201, "sa pa pm", lambda v: {"tenant_id": v["P"]}),
    "delete_ec2": Row("DELETE", "/users/{U}/credentials/OS-EC2/{new_ec2}", 204, SYSTEM_ADMINS),
    # ---- domain configuration ({DC}: a domain with one)
    "get_domain_config": Row("GET", "/domains/{DC}/config", 200, SYSTEM),
    "check_domain_config": Row("HEAD", "/domains/{DC}/config", 200, SYSTEM),
    "get_domain_config_group": Row("GET", "/domains/{DC}/config/ldap", 200, SYSTEM),
    "get_domain_config_option": Row("GET", "/domains/{DC}/config/ldap/url", 200, SYSTEM),
    "replace_domain_config": Row("PUT", "/domains/{DC}/config", 200, SYSTEM_ADMINS, lambda v: {"config": CONFIG}),
    "update_domain_config": Row("PATCH", "/domains/{DC}/config", 200, SYSTEM_ADMINS, lambda v: {"config": CONFIG}),
    "update_domain_config_group": Row("PATCH", "/domains/{DC}/config/ldap", 200, SYSTEM_ADMINS,
                                      lambda v: {"config": {"ldap": CONFIG["ldap"]}}),
    "update_domain_config_option": Row("PATCH", "/domains/{DC}/config/ldap/url", 200, SYSTEM_ADMINS,
                                       lambda v: {"config": {"url": CONFIG["ldap"]["url"]}}),
    "delete_domain_config": Row("DELETE", "/domains/{config_domain}/config", 204, SYSTEM_ADMINS),
    "delete_domain_config_group": Row("DELETE", "/domains/{config_domain}/config/ldap", 204, SYSTEM_ADMINS),
    "delete_domain_config_option": Row("DELETE", "/domains/{config_domain}/config/ldap/url", 204, SYSTEM_ADMINS),
    "get_domain_config_default": Row("GET", "/domains/config/default", 200, SYSTEM),
    "get_domain_config_group_default": Row("GET", "/domains/config/ldap/default", 200, SYSTEM),
    "get_domain_config_option_default": Row("GET", "/domains/config/ldap/url/default", 200, SYSTEM),
    "get_security_compliance": Row("GET", "/domains/default/config/security_compliance", 200, EVERYBODY),
    "get_security_compliance_option": Row(
        "GET", "/domains/default/config/security_compliance/password_regex", 200, EVERYBODY),
    # ---- OAuth1 (request tokens and access tokens that do not exist: the policy answers first,
    # an allowed caller then gets 404; request_token and access_token are signed, not policed)
    "list_consumers": Row("GET", "/OS-OAUTH1/consumers", 200, SYSTEM),
    "get_consumer": Row("GET", "/OS-OAUTH1/consumers/{CO}", 200, SYSTEM),
    "create_consumer": Row("POST", "/OS-OAUTH1/consumers", 201, SYSTEM_ADMINS, lambda v: {"consumer": {}}),
    "update_consumer": Row("PATCH", "/OS-OAUTH1/consumers/{new_consumer}", 200, SYSTEM_ADMINS,
                           lambda v: {"consumer": {"description": "x"}}),
    "delete_consumer": Row("DELETE", "/OS-OAUTH1/consumers/{new_consumer}", 204, SYSTEM_ADMINS),
    "authorize_request_token": Row("PUT", "/OS-OAUTH1/authorize/{fresh_id}", 404, "pa",
                                   lambda v: {"roles": [{"id": v["member"]}]}),
    "list_access_tokens": Row("GET", "/users/{U}/OS-OAUTH1/access_tokens", 200, "pa"),
    "list_own_access_tokens": Row("GET", "/users/{self}/OS-OAUTH1/access_tokens", 200, "pa"),
    "get_access_token": Row("GET", "/users/{U}/OS-OAUTH1/access_tokens/{fresh_id}", 404, "pa"),
    "delete_access_token": Row("DELETE", "/users/{U}/OS-OAUTH1/access_tokens/{fresh_id}", 404, SYSTEM_ADMINS),
    "list_access_token_roles": Row("GET", "/users/{U}/OS-OAUTH1/access_tokens/{fresh_id}/roles", 404, "pa"),
    "get_access_token_role": Row("GET", "/users/{U}/OS-OAUTH1/access_tokens/{fresh_id}/roles/{member}", 404, "pa"),
    # ---- application credentials and access rules ({AC}, {AR}: the user U's)
    "list_application_credentials": Row("GET", "/users/{U}/application_credentials", 200, SYSTEM),
    "list_own_application_credentials": Row("GET", "/users/{self}/application_credentials", 200, NOT_DOMAIN),
    "get_application_credential": Row("GET", "/users/{U}/application_credentials/{AC}", 200, SYSTEM),
    "create_application_credential": Row("POST", "/users/{U}/application_credentials", 201, "",
                                         lambda v: {"application_credential": {"name": uniq("ac")}}),
    # a project-scoped token makes one for its project, an unscoped one ("no") one without a project
    "create_own_application_credential": Row("POST", "/users/{self}/application_credentials", 201, "pa pm pr no",
                                             lambda v: {"application_credential": {"name": uniq("ac")}}),
    "delete_application_credential": Row("DELETE", "/users/{U}/application_credentials/{new_app_cred}", 204, SYSTEM_ADMINS),
    "list_access_rules": Row("GET", "/users/{U}/access_rules", 200, "sa sr"),
    "list_own_access_rules": Row("GET", "/users/{self}/access_rules", 200, NOT_DOMAIN),
    "get_access_rule": Row("GET", "/users/{U}/access_rules/{AR}", 200, "sa sr"),
    "delete_access_rule": Row("DELETE", "/users/{U}/access_rules/{new_access_rule}", 204, "sa"),
    # ---- trusts ({T}: from U to the project member pm, on P)
    "list_trusts": Row("GET", "/OS-TRUST/trusts", 200, SYSTEM),
    "list_own_trusts_as_trustor": Row("GET", "/OS-TRUST/trusts?trustor_user_id={self}", 200, NOT_DOMAIN),
    "list_own_trusts_as_trustee": Row("GET", "/OS-TRUST/trusts?trustee_user_id={self}", 200, NOT_DOMAIN),
    "list_trusts_of_trustor": Row("GET", "/OS-TRUST/trusts?trustor_user_id={U}", 200, SYSTEM),
    "get_trust": Row("GET", "/OS-TRUST/trusts/{T}", 200, "sa sr pa pm"),
    "list_trust_roles": Row("GET", "/OS-TRUST/trusts/{T}/roles", 200, "sa sr pa pm"),
    "get_trust_role": Row("GET", "/OS-TRUST/trusts/{T}/roles/{member}", 200, "sa sr pa pm"),
    "create_trust": Row("POST", "/OS-TRUST/trusts", 201, "pa pm pr", lambda v: {"trust": {
        "trustor_user_id": v["self"], "trustee_user_id": v["U"], "project_id": v["P"], "impersonation": False,
        "roles": [{"name": "reader"}]}}, also="no=404"),
    "delete_trust": Row("DELETE", "/OS-TRUST/trusts/{new_trust}", 204, SYSTEM_ADMINS),
    # ---- the rest of groups, grants and implied roles
    "remove_user_from_group": Row("DELETE", "/groups/{new_group}/users/{U}", 404, DOMAIN_MANAGERS),
    "check_user_in_group_get": Row("GET", "/groups/{G}/users/{U}", 204, DOMAIN_READERS),
    "get_grant": Row("GET", "/projects/{P}/users/{U}/roles/{member}", 204, DOMAIN_READERS),
    "revoke_grant": Row("DELETE", "/projects/{P}/users/{new_user}/roles/{R}", 404, ADMINS),
    "list_group_grants_on_domain": Row("GET", "/domains/{D}/groups/{G}/roles", 200, DOMAIN_READERS),
    "check_group_grant_on_project": Row("HEAD", "/projects/{P}/groups/{G}/roles/{R}", 404, DOMAIN_READERS),
    "list_inherited_grants": Row("GET", "/OS-INHERIT/domains/{D}/users/{U}/roles/inherited_to_projects", 200, DOMAIN_READERS),
    "check_inherited_grant": Row("HEAD", "/OS-INHERIT/projects/{P}/users/{U}/roles/{R}/inherited_to_projects", 404, DOMAIN_READERS),
    "check_system_grant": Row("HEAD", "/system/users/{U}/roles/{R}", 404, SYSTEM),
    "revoke_system_grant": Row("DELETE", "/system/users/{U}/roles/{R}", 404, SYSTEM_ADMINS),
    "list_system_group_grants": Row("GET", "/system/groups/{G}/roles", 200, SYSTEM),
    "get_implied_role": Row("GET", "/roles/{member}/implies/{R}", 404, SYSTEM),
    "check_implied_role": Row("HEAD", "/roles/{member}/implies/{R}", 404, SYSTEM),
    "delete_implied_role": Row("DELETE", "/roles/{new_role}/implies/{R}", 404, SYSTEM_ADMINS),
    "list_role_assignments_effective": Row("GET", "/role_assignments?effective&scope.project.id={P}", 200, DOMAIN_READERS),
    "list_role_assignments_for_tree": Row("GET", "/role_assignments?scope.project.id={P}&include_subtree=true", 200, DOMAIN_READERS),
    "create_domain_role": Row("POST", "/roles", 201, SYSTEM_ADMINS,
                              lambda v: {"role": {"name": uniq("r"), "domain_id": v["D"]}}),
    "update_domain": Row("PATCH", "/domains/{new_domain}", 200, SYSTEM_ADMINS, lambda v: {"domain": {"description": "x"}}),
    "delete_domain": Row("DELETE", "/domains/{new_domain}", 204, SYSTEM_ADMINS),
    "auth_domains": Row("GET", "/auth/domains", 200, EVERYBODY),
    "auth_system": Row("GET", "/auth/system", 200, EVERYBODY),
    # a project-scoped token only (Keystone: 403 for a system- or domain-scoped or unscoped one)
    "auth_catalog": Row("GET", "/auth/catalog", 200, "pa pm pr"),
}


# ---- the personas and their world ------------------------------------------------------------
class World:
    """The objects the rows name, made once through ``admin`` (a client at ``v3``), and one
    token per persona (``token(body) -> id`` issues one)."""

    def __init__(self, admin: httpx.Client, v3: str, token: Callable[[dict], str]) -> None:
        self.admin, self.v3, self.token = admin, v3, token
        roles = {r["name"]: r["id"] for r in self._ok("GET", "/roles")["roles"]}
        self.ids = {"member": roles["member"], "R": self._make("role", {"name": uniq("r")})}
        self.ids["D"] = self._make("domain", {"name": uniq("d")})
        self.ids["P"] = self._make("project", {"name": uniq("p"), "domain_id": self.ids["D"], "tags": ["t1"]})
        self.ids["G"] = self._make("group", {"name": uniq("g"), "domain_id": self.ids["D"]})
        self.ids["U"] = self._user()
        self._ok("PUT", f"/groups/{self.ids['G']}/users/{self.ids['U']}")
        self._ok("PUT", f"/projects/{self.ids['P']}/users/{self.ids['U']}/roles/{roles['member']}")
        grants = {"sa": ("system", "admin"), "sr": ("system", "reader"), "da": ("domain", "admin"),
                  "mg": ("domain", "manager"), "pa": ("project", "admin"), "pm": ("project", "member"),
                  "pr": ("project", "reader"), "no": None}
        self.users, self.tokens = {}, {}
        for persona, grant in grants.items():
            user = self.users[persona] = self._user()
            self.tokens[persona] = self._persona_token(user, grant, roles)
        self.u_token = self._persona_token(self.ids["U"], None, roles, project=True)
        self._catalog_and_credentials()
        self._delegations()

    def _catalog_and_credentials(self) -> None:
        """The catalog's objects, U's credentials, a domain with a configuration, a consumer."""
        ids = self.ids
        ids["RG"] = self._make("region", {"description": "m"})
        ids["S"] = self.make("service")
        ids["E"] = self.make("linked_endpoint")
        ids["EG"] = self.make("linked_endpoint_group")
        ids["C"] = self.make("credential")
        ids["EC2"] = self.make("ec2")
        ids["DC"] = self.make("config_domain")
        ids["CO"] = self.make("consumer")

    def _delegations(self) -> None:
        """U's application credential with an access rule, and U's trust to the member pm."""
        made = self._ok("POST", f"/users/{self.ids['U']}/application_credentials", {"application_credential": {
            "name": uniq("ac"), "access_rules": [{**RULE, "path": "/v2.1/" + uniq("s")}]}}, self.u_token)["application_credential"]
        self.ids["AC"], self.ids["AR"] = made["id"], made["access_rules"][0]["id"]
        self.ids["T"] = self.make("trust", trustee=self.users["pm"])

    def make(self, kind: str, **kw) -> str:
        """A fresh object of ``kind`` (the ``new_``, ``own_``... placeholders), its id."""
        ids, u = self.ids, self.ids["U"]
        if kind in ("user", "group", "project", "role", "domain"):
            body = {"name": uniq(kind[0])}
            if kind == "domain":
                body["enabled"] = False
            elif kind != "role":
                body["domain_id"] = ids["D"]
            return self._make(kind, body)
        if kind == "tagged_project":
            return self._make("project", {"name": uniq("p"), "domain_id": ids["D"], "tags": ["t1"]})
        if kind == "region":
            return self._make("region", {"description": "m"})
        if kind == "service":
            return self._make("service", {"type": uniq("t")})
        if kind == "endpoint":
            return self._make("endpoint", {"service_id": ids["S"], "interface": "public",
                                           "url": "http://m.example/v1", "region_id": ids["RG"]})
        if kind == "endpoint_group":
            return self._ok("POST", "/OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
                "name": uniq("eg"), "filters": {"interface": "public"}}})["endpoint_group"]["id"]
        if kind == "linked_endpoint_group":
            group = self.make("endpoint_group")
            self._ok("PUT", f"/OS-EP-FILTER/endpoint_groups/{group}/projects/{ids['P']}")
            return group
        if kind == "linked_endpoint":
            endpoint = self.make("endpoint")
            self._ok("PUT", f"/OS-EP-FILTER/projects/{ids['P']}/endpoints/{endpoint}")
            return endpoint
        if kind in ("credential", "own_credential"):
            return self._make("credential", {"user_id": kw.get("user", u), "type": "cert", "blob": uniq("b")})
        if kind == "ec2":
            return self._ok("POST", f"/users/{u}/credentials/OS-EC2", {"tenant_id": ids["P"]})["credential"]["access"]
        if kind == "config_domain":
            domain = self.make("domain")
            self._ok("PUT", f"/domains/{domain}/config", {"config": CONFIG})
            return domain
        if kind == "consumer":
            return self._ok("POST", "/OS-OAUTH1/consumers", {"consumer": {"description": "m"}})["consumer"]["id"]
        if kind == "app_cred":
            return self._ok("POST", f"/users/{u}/application_credentials", {"application_credential": {
                "name": uniq("ac")}}, self.u_token)["application_credential"]["id"]
        if kind == "access_rule":
            made = self._ok("POST", f"/users/{u}/application_credentials", {"application_credential": {
                "name": uniq("ac"), "access_rules": [{**RULE, "path": "/v2.1/" + uniq("x")}]}},
                self.u_token)["application_credential"]
            self._ok("DELETE", f"/users/{u}/application_credentials/{made['id']}")
            return made["access_rules"][0]["id"]
        if kind == "trust":
            return self._ok("POST", "/OS-TRUST/trusts", {"trust": {
                "trustor_user_id": u, "trustee_user_id": kw.get("trustee", self.users["no"]), "project_id": ids["P"],
                "impersonation": False, "roles": [{"id": ids["member"]}]}}, self.u_token)["trust"]["id"]
        if kind == "fresh_id":
            return uuid.uuid4().hex
        raise KeyError(kind)

    def _ok(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"X-Auth-Token": token} if token else None
        r = self.admin.request(method, self.v3 + path, json=body, headers=headers)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else {}

    def _make(self, kind: str, body: dict) -> str:
        return self._ok("POST", f"/{kind}s", {kind: body})[kind]["id"]

    def _user(self) -> str:
        return self._make("user", {"name": uniq("u"), "domain_id": self.ids["D"], "password": PW})

    def _persona_token(self, user: str, grant: tuple[str, str] | None, roles: dict, project: bool = False) -> str:
        scope = {"project": {"id": self.ids["P"]}} if project else None
        if grant is not None:
            kind, role = grant
            target = {"system": "/system", "domain": f"/domains/{self.ids['D']}",
                      "project": f"/projects/{self.ids['P']}"}[kind]
            self._ok("PUT", f"{target}/users/{user}/roles/{roles[role]}")
            scope = {"system": {"system": {"all": True}}, "domain": {"domain": {"id": self.ids["D"]}},
                     "project": {"project": {"id": self.ids["P"]}}}[kind]
        auth: dict = {"identity": {"methods": ["password"], "password": {"user": {"id": user, "password": PW}}}}
        if scope:
            auth["scope"] = scope
        return self.token({"auth": auth})

    def values(self, text: str, persona: str) -> dict:
        """The placeholders' values for ``text`` (fresh objects made now for ``new_...``,
        ``own_...``, ``fresh_id`` and the other made-to-order ones)."""
        values = {**self.ids, "self": self.users[persona]}
        for name in re.findall(r"{(\w+)}", text):
            if name not in values:
                kind = name.removeprefix("new_")
                values[name] = self.make(kind, user=self.users[persona]) if kind.startswith("own_") else self.make(kind)
        return values

    def answer(self, client: httpx.Client, row: Row, persona: str) -> int:
        values = self.values(row.path, persona)
        body = row.body(values) if row.body is not None else None
        r = client.request(row.method, self.v3 + row.path.format(**values), json=body,
                           headers={"X-Auth-Token": self.tokens[persona]})
        return r.status_code


@pytest.fixture(scope="module")
def world(server, admin) -> World:
    def token(body: dict) -> str:
        with client_for(server) as c:
            r = c.post("/identity/v3/auth/tokens", json=body)
            assert r.status_code == 201, r.text
            return r.headers["X-Subject-Token"]
    return World(admin, "/identity/v3", token)


@pytest.mark.parametrize("call", list(ROWS))
def test_policy_matrix(server, world, call):
    row = ROWS[call]
    with client_for(server) as c:
        got = {p: world.answer(c, row, p) for p in PERSONAS}
    expected = {p: row.expected(p) for p in PERSONAS}
    assert got == expected


def test_the_bootstrap_admins_own_token_is_an_admin(server, admin):
    """The project-scoped admin of the admin project (every openrc's) keeps managing identity."""
    assert admin.post("/identity/v3/domains", json={"domain": {"name": uniq("d"), "enabled": False}}).status_code == 201
    assert admin.get("/identity/v3/system/users/" + _me(server, admin) + "/roles").status_code == 200


def _me(server, admin) -> str:
    subject = issue_token(server)
    return admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": subject}).json()["token"]["user"]["id"]
