"""The policy matrix: Keystone's default personas against every identity call, with the answers
the Keystone anchor gives (Keystone 30, ``enforce_scope`` on).

Personas: ``sa`` system admin, ``sr`` system reader (system-scoped tokens), ``da`` domain admin
(admin on domain D, domain-scoped), ``pa`` project admin, ``pm`` project member, ``pr`` project
reader (on project P of D, project-scoped), ``no`` a user with no role (unscoped token).

One row per call (``ROWS``): method, path template, body factory, the status an allowed persona
gets and who is allowed; everybody else gets 403. Other parts append their calls' rows. Path
placeholders: ``{D}``, ``{P}``, ``{U}`` (a user of D, member of P and of group ``{G}``), ``{R}``
(a global role), ``{member}``, ``{self}`` (the caller's own user), and ``{new_user}``,
``{new_group}``, ``{new_project}``, ``{new_role}``: a fresh one (in D) for each request, made by
the bootstrap admin, for calls that change or delete what they name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

import httpx
import pytest

from tests.conftest import client_for, issue_token

pytestmark = pytest.mark.inprocess  # policy: the app in process, no caas up

PERSONAS = ("sa", "sr", "da", "pa", "pm", "pr", "no")
ADMINS = "sa da pa"  # admin in any scope the call accepts (Keystone's admin_required)
READERS = "sa sr da pa"  # and the system reader
SYSTEM = "sa sr pa"  # scope system or project only: a domain-scoped token is refused
SYSTEM_ADMINS = "sa pa"
EVERYBODY = " ".join(PERSONAS)
PW = "Secret_123"


def uniq(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    ok: int  # the status an allowed persona gets
    allowed: str  # the allowed personas, space-separated
    body: Callable[[dict], dict] | None = None  # given the placeholders' values

    def expected(self, persona: str) -> int:
        return self.ok if persona in self.allowed.split() else 403


ROWS: dict[str, Row] = {
    "list_domains": Row("GET", "/domains", 200, READERS),
    "get_domain": Row("GET", "/domains/{D}", 200, "sa sr da pa pm pr"),
    "create_domain": Row("POST", "/domains", 201, SYSTEM_ADMINS,
                         lambda ids: {"domain": {"name": uniq("d"), "enabled": False}}),
    "list_projects": Row("GET", "/projects", 200, READERS),
    "get_project": Row("GET", "/projects/{P}", 200, "sa sr da pa pm pr"),
    "create_project": Row("POST", "/projects", 201, ADMINS,
                          lambda ids: {"project": {"name": uniq("p"), "domain_id": ids["D"]}}),
    "update_project": Row("PATCH", "/projects/{new_project}", 200, ADMINS, lambda ids: {"project": {"description": "x"}}),
    "delete_project": Row("DELETE", "/projects/{new_project}", 204, ADMINS),
    "list_users": Row("GET", "/users", 200, READERS),
    "get_user": Row("GET", "/users/{U}", 200, READERS),
    "get_own_user": Row("GET", "/users/{self}", 200, EVERYBODY),
    "create_user": Row("POST", "/users", 201, ADMINS, lambda ids: {"user": {"name": uniq("u"), "domain_id": ids["D"]}}),
    "update_user": Row("PATCH", "/users/{new_user}", 200, ADMINS, lambda ids: {"user": {"description": "x"}}),
    "delete_user": Row("DELETE", "/users/{new_user}", 204, ADMINS),
    "list_user_projects": Row("GET", "/users/{U}/projects", 200, READERS),
    "list_own_projects": Row("GET", "/users/{self}/projects", 200, EVERYBODY),
    "list_user_groups": Row("GET", "/users/{U}/groups", 200, READERS),
    "list_roles": Row("GET", "/roles", 200, READERS),
    "get_role": Row("GET", "/roles/{R}", 200, READERS),
    "create_role": Row("POST", "/roles", 201, SYSTEM_ADMINS, lambda ids: {"role": {"name": uniq("r")}}),
    "update_role": Row("PATCH", "/roles/{new_role}", 200, SYSTEM_ADMINS, lambda ids: {"role": {"description": "x"}}),
    "delete_role": Row("DELETE", "/roles/{new_role}", 204, SYSTEM_ADMINS),
    "list_domain_roles": Row("GET", "/roles?domain_id={D}", 200, SYSTEM),
    "list_implied_roles": Row("GET", "/roles/{member}/implies", 200, SYSTEM),
    "list_role_inferences": Row("GET", "/role_inferences", 200, SYSTEM),
    "create_implied_role": Row("PUT", "/roles/{new_role}/implies/{R}", 201, SYSTEM_ADMINS),
    "list_groups": Row("GET", "/groups", 200, READERS),
    "get_group": Row("GET", "/groups/{G}", 200, READERS),
    "create_group": Row("POST", "/groups", 201, ADMINS, lambda ids: {"group": {"name": uniq("g"), "domain_id": ids["D"]}}),
    "update_group": Row("PATCH", "/groups/{new_group}", 200, ADMINS, lambda ids: {"group": {"description": "x"}}),
    "delete_group": Row("DELETE", "/groups/{new_group}", 204, ADMINS),
    "list_users_in_group": Row("GET", "/groups/{G}/users", 200, READERS),
    "add_user_to_group": Row("PUT", "/groups/{new_group}/users/{U}", 204, ADMINS),
    "check_user_in_group": Row("HEAD", "/groups/{G}/users/{U}", 204, READERS),
    "grant_on_project": Row("PUT", "/projects/{P}/users/{new_user}/roles/{R}", 204, ADMINS),
    "check_grant": Row("HEAD", "/projects/{P}/users/{U}/roles/{member}", 204, READERS),
    "list_grants": Row("GET", "/projects/{P}/users/{U}/roles", 200, READERS),
    "grant_group_on_domain": Row("PUT", "/domains/{D}/groups/{new_group}/roles/{R}", 204, ADMINS),
    "grant_inherited": Row("PUT", "/OS-INHERIT/domains/{D}/users/{new_user}/roles/{R}/inherited_to_projects",
                           204, ADMINS),
    "list_system_grants": Row("GET", "/system/users/{U}/roles", 200, SYSTEM),
    "grant_on_system": Row("PUT", "/system/users/{new_user}/roles/{R}", 204, SYSTEM_ADMINS),
    "grant_group_on_system": Row("PUT", "/system/groups/{new_group}/roles/{R}", 204, SYSTEM_ADMINS),
    "list_role_assignments": Row("GET", "/role_assignments", 200, READERS),
    # caas keeps its earlier rule: anybody lists its own (Keystone: 403 for pm, pr and no)
    "list_own_role_assignments": Row("GET", "/role_assignments?user.id={self}", 200, EVERYBODY),
    "list_services": Row("GET", "/services", 200, SYSTEM),
    "list_endpoints": Row("GET", "/endpoints", 200, SYSTEM),
    "list_regions": Row("GET", "/regions", 200, EVERYBODY),
    "auth_projects": Row("GET", "/auth/projects", 200, EVERYBODY),
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
        self.ids["P"] = self._make("project", {"name": uniq("p"), "domain_id": self.ids["D"]})
        self.ids["G"] = self._make("group", {"name": uniq("g"), "domain_id": self.ids["D"]})
        self.ids["U"] = self._user()
        self._ok("PUT", f"/groups/{self.ids['G']}/users/{self.ids['U']}")
        self._ok("PUT", f"/projects/{self.ids['P']}/users/{self.ids['U']}/roles/{roles['member']}")
        grants = {"sa": ("system", "admin"), "sr": ("system", "reader"), "da": ("domain", "admin"),
                  "pa": ("project", "admin"), "pm": ("project", "member"), "pr": ("project", "reader"), "no": None}
        self.users, self.tokens = {}, {}
        for persona, grant in grants.items():
            user = self.users[persona] = self._user()
            self.tokens[persona] = self._persona_token(user, grant, roles)

    def _ok(self, method: str, path: str, body: dict | None = None) -> dict:
        r = self.admin.request(method, self.v3 + path, json=body)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else {}

    def _make(self, kind: str, body: dict) -> str:
        return self._ok("POST", f"/{kind}s", {kind: body})[kind]["id"]

    def _user(self) -> str:
        return self._make("user", {"name": uniq("u"), "domain_id": self.ids["D"], "password": PW})

    def _persona_token(self, user: str, grant: tuple[str, str] | None, roles: dict) -> str:
        scope = None
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

    def fill(self, text: str, persona: str) -> str:
        """``text`` with its placeholders filled (fresh objects made now)."""
        values = {**self.ids, "self": self.users[persona]}
        for kind in ("user", "group", "project", "role"):
            if "{new_" + kind + "}" in text:
                body = {"name": uniq(kind[0])}
                if kind != "role":
                    body["domain_id"] = self.ids["D"]
                values[f"new_{kind}"] = self._make(kind, body)
        return text.format(**values)

    def answer(self, client: httpx.Client, row: Row, persona: str) -> int:
        body = row.body(self.ids) if row.body is not None else None
        r = client.request(row.method, self.v3 + self.fill(row.path, persona), json=body,
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
