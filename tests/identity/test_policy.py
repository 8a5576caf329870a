"""Identity policy as Keystone's defaults give it to an operator: a ``member`` of a project
reads itself (its user, its projects, its own tokens and the roles in them) and changes only
its own password; everything else, its own role assignments included, is 403 in Keystone's
error format. ``admin`` can do it all.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import client_for, issue_token, make_member, password_auth

pytestmark = pytest.mark.inprocess  # policy: the app in process, no caas up

V3 = "/identity/v3"
T = f"{V3}/auth/tokens"


def uniq(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_error(r: httpx.Response, status: int, title: str) -> dict:
    where = f"{r.request.method} {r.request.url}"
    assert r.status_code == status, f"{where}: expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("content-type", "").split(";")[0].strip() == "application/json"
    body = r.json()
    assert set(body) == {"error"}, f"{where}: not Keystone's error format: {body!r}"
    err = body["error"]
    assert err["code"] == status and err["title"] == title, f"{where}: {err!r}"
    assert isinstance(err["message"], str) and err["message"].strip()
    return err


def assert_forbidden(r: httpx.Response) -> None:
    assert_error(r, 403, "Forbidden")


@pytest.fixture(scope="module")
def member(server, admin) -> dict:
    """A member of project A (its token is scoped to A) who also has a role on project B."""
    m = make_member(server, admin)
    b = admin.post(f"{V3}/projects", json={"project": {"name": uniq("b")}}).json()["project"]
    r = admin.put(f"{V3}/projects/{b['id']}/users/{m['user_id']}/roles/{m['role_id']}")
    assert r.status_code == 204
    m["project_b_id"] = b["id"]
    return m


@pytest.fixture(scope="module")
def me(server, member):
    with client_for(server, member["token"]) as c:
        yield c


@pytest.fixture
def other(server, admin) -> dict:
    """Another member with its own project; fresh for every test (admin may delete it)."""
    return make_member(server, admin)


@pytest.fixture(scope="module")
def admin_role_id(admin) -> str:
    return admin.get(f"{V3}/roles", params={"name": "admin"}).json()["roles"][0]["id"]


# ---- what a member may do ----------------------------------------------------------------
def test_member_can_issue_and_validate_its_own_token(server, member, me):
    token = issue_token(server, member["name"], member["password"], member["name"])
    for subject in (member["token"], token):
        r = me.get(T, headers={"X-Subject-Token": subject})
        assert r.status_code == 200, r.text
        assert r.headers["X-Subject-Token"] == subject
        tok = r.json()["token"]
        assert tok["user"]["id"] == member["user_id"]
        assert tok["project"]["id"] == member["project_id"]
        assert [x["name"] for x in tok["roles"]] == ["member", "reader"]  # member implies reader
        assert me.head(T, headers={"X-Subject-Token": subject}).status_code == 200
    # It validates with the new token as well.
    with client_for(server, token) as c:
        assert c.get(T, headers={"X-Subject-Token": member["token"]}).status_code == 200


def test_member_can_get_its_own_user(me, member):
    r = me.get(f"{V3}/users/{member['user_id']}")
    assert r.status_code == 200, r.text
    user = r.json()["user"]
    assert user["id"] == member["user_id"] and user["name"] == member["name"]
    assert user["domain_id"] == "default" and user["enabled"] is True
    assert "password" not in user and "password_hash" not in user


def test_member_can_list_its_own_projects(me, member):
    r = me.get(f"{V3}/users/{member['user_id']}/projects")
    assert r.status_code == 200, r.text
    assert {p["id"] for p in r.json()["projects"]} == {member["project_id"], member["project_b_id"]}


def test_member_auth_projects_lists_only_its_projects(me, member, admin):
    r = me.get(f"{V3}/auth/projects")
    assert r.status_code == 200, r.text
    ids = {p["id"] for p in r.json()["projects"]}
    assert ids == {member["project_id"], member["project_b_id"]}
    all_ids = {p["id"] for p in admin.get(f"{V3}/projects").json()["projects"]}
    assert len(all_ids - ids) >= 1  # there are other projects, and they are not shown


def test_member_can_get_its_own_project(me, member):
    r = me.get(f"{V3}/projects/{member['project_id']}")
    assert r.status_code == 200, r.text
    assert r.json()["project"]["id"] == member["project_id"]
    assert r.json()["project"]["name"] == member["name"]


def test_member_reads_its_roles_from_its_tokens_not_role_assignments(me, member):
    """Keystone refuses a member its own role assignments; what it holds where is in its tokens
    (the roles on the token's project) and /v3/users/{self}/projects (the projects)."""
    assert_forbidden(me.get(f"{V3}/role_assignments", params={"user.id": member["user_id"]}))
    own = me.get(T, headers={"X-Subject-Token": member["token"]})
    assert own.status_code == 200, own.text
    assert {r["name"] for r in own.json()["token"]["roles"]} == {"member", "reader"}  # member implies reader
    projects = me.get(f"{V3}/users/{member['user_id']}/projects")
    assert {p["id"] for p in projects.json()["projects"]} == {member["project_id"], member["project_b_id"]}


# ---- what a member may not do (and admin may) ----------------------------------------------
# name -> (method, path template, body factory or None, status admin gets)
OPS = {
    "create_user": ("POST", "/users", lambda c: {"user": {"name": uniq("u"), "password": "Secret_123"}}, 201),
    "list_users": ("GET", "/users", None, 200),
    "update_other_user": ("PATCH", "/users/{other_user}", lambda c: {"user": {"description": "x"}}, 200),
    "update_own_user": ("PATCH", "/users/{self_user}", lambda c: {"user": {"description": "x"}}, 200),
    "disable_other_user": ("PATCH", "/users/{other_user}", lambda c: {"user": {"enabled": False}}, 200),
    "delete_other_user": ("DELETE", "/users/{other_user}", None, 204),
    "create_project": ("POST", "/projects", lambda c: {"project": {"name": uniq("p")}}, 201),
    "list_projects": ("GET", "/projects", None, 200),
    "update_other_project": ("PATCH", "/projects/{other_project}", lambda c: {"project": {"description": "x"}}, 200),
    "delete_other_project": ("DELETE", "/projects/{other_project}", None, 204),
    "get_other_project": ("GET", "/projects/{other_project}", None, 200),
    "get_other_user": ("GET", "/users/{other_user}", None, 200),
    "list_other_users_projects": ("GET", "/users/{other_user}/projects", None, 200),
    "create_role": ("POST", "/roles", lambda c: {"role": {"name": uniq("r")}}, 201),
    "list_roles": ("GET", "/roles", None, 200),
    "get_role": ("GET", "/roles/{member_role}", None, 200),
    "grant_role": ("PUT", "/projects/{other_project}/users/{other_user}/roles/{admin_role}", None, 204),
    "check_grant": ("HEAD", "/projects/{other_project}/users/{other_user}/roles/{member_role}", None, 204),
    "revoke_grant": ("DELETE", "/projects/{other_project}/users/{other_user}/roles/{member_role}", None, 204),
    "list_grants": ("GET", "/projects/{other_project}/users/{other_user}/roles", None, 200),
    "role_assignments_all": ("GET", "/role_assignments", None, 200),
    "role_assignments_other_user": ("GET", "/role_assignments?user.id={other_user}", None, 200),
    "role_assignments_own_project": ("GET", "/role_assignments?scope.project.id={self_project}", None, 200),
    "list_services": ("GET", "/services", None, 200),
    "list_endpoints": ("GET", "/endpoints", None, 200),
    "list_domains": ("GET", "/domains", None, 200),
    "create_domain": ("POST", "/domains", lambda c: {"domain": {"name": uniq("d")}}, 201),
}


def _request(client: httpx.Client, op: str, ctx: dict) -> httpx.Response:
    method, path, body, _ = OPS[op]
    kwargs = {"json": body(ctx)} if body else {}
    return client.request(method, V3 + path.format(**ctx), **kwargs)


def _ctx(member: dict, other: dict, admin_role_id: str) -> dict:
    return {"self_user": member["user_id"], "self_project": member["project_id"],
            "other_user": other["user_id"], "other_project": other["project_id"],
            "member_role": member["role_id"], "admin_role": admin_role_id}


@pytest.mark.parametrize("op", list(OPS))
def test_member_is_forbidden(admin, me, member, other, admin_role_id, op):
    ctx = _ctx(member, other, admin_role_id)
    r = _request(me, op, ctx)
    if OPS[op][0] == "HEAD":
        assert r.status_code == 403 and r.content == b""
    else:
        assert_forbidden(r)
    # Nothing happened: the other user, its project and its grant are as they were.
    assert admin.get(f"{V3}/users/{other['user_id']}").json()["user"]["enabled"] is True
    assert admin.get(f"{V3}/projects/{other['project_id']}").status_code == 200
    grants = admin.get(f"{V3}/projects/{other['project_id']}/users/{other['user_id']}/roles").json()["roles"]
    assert [g["name"] for g in grants] == ["member"]


@pytest.mark.parametrize("op", list(OPS))
def test_admin_is_allowed(admin, member, other, admin_role_id, op):
    r = _request(admin, op, _ctx(member, other, admin_role_id))
    assert r.status_code == OPS[op][3], f"{op}: {r.status_code} {r.text[:300]}"


def test_member_cannot_grant_itself_a_role(me, member, admin_role_id):
    path = f"{V3}/projects/{member['project_id']}/users/{member['user_id']}/roles/{admin_role_id}"
    assert_forbidden(me.put(path))
    r = me.get(T, headers={"X-Subject-Token": member["token"]})
    assert [x["name"] for x in r.json()["token"]["roles"]] == ["member", "reader"]  # member implies reader


def test_member_cannot_get_its_other_project_with_a_token_scoped_to_a(me, member):
    # Keystone's get_project: the token's own project (or admin). B is reachable by re-scoping.
    assert_forbidden(me.get(f"{V3}/projects/{member['project_b_id']}"))


def test_member_cannot_validate_or_revoke_another_users_token(server, me, admin, other):
    assert_forbidden(me.get(T, headers={"X-Subject-Token": other["token"]}))
    assert me.head(T, headers={"X-Subject-Token": other["token"]}).status_code == 403
    assert_forbidden(me.delete(T, headers={"X-Subject-Token": other["token"]}))
    # The other token is still valid.
    assert admin.get(T, headers={"X-Subject-Token": other["token"]}).status_code == 200
    # Nor the admin's.
    assert_forbidden(me.get(T, headers={"X-Subject-Token": issue_token(server)}))


def test_member_is_forbidden_even_for_unknown_ids(me):
    # Policy comes before lookup: a member learns nothing about which ids exist.
    unknown = uuid.uuid4().hex
    assert_forbidden(me.get(f"{V3}/users/{unknown}"))
    assert_forbidden(me.get(f"{V3}/projects/{unknown}"))
    assert_forbidden(me.delete(f"{V3}/users/{unknown}"))


# ---- passwords ---------------------------------------------------------------------------
def _change(client: httpx.Client, user_id: str, original: str, new: str) -> httpx.Response:
    return client.post(f"{V3}/users/{user_id}/password",
                       json={"user": {"original_password": original, "password": new}})


def test_member_can_change_its_own_password(server, admin):
    m = make_member(server, admin)
    second = issue_token(server, m["name"], m["password"], project=None)  # unscoped
    with client_for(server, m["token"]) as c:
        r = _change(c, m["user_id"], m["password"], "Brand_New_789")
        assert r.status_code == 204, r.text
        assert r.content == b""
    # Every token issued before the change stops working, scoped or not.
    for old in (m["token"], second):
        with client_for(server, old) as c:
            assert_error(c.get(f"{V3}/users/{m['user_id']}"), 401, "Unauthorized")
        assert_error(admin.get(T, headers={"X-Subject-Token": old}), 404, "Not Found")
    with client_for(server) as c:
        assert_error(c.post(T, json=password_auth(m["name"], m["password"], m["name"])), 401, "Unauthorized")
    new = issue_token(server, m["name"], "Brand_New_789", m["name"])
    with client_for(server, new) as c:
        assert c.get(f"{V3}/users/{m['user_id']}").status_code == 200


def test_member_password_change_needs_the_right_original(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        assert_error(_change(c, m["user_id"], "not-the-password", "Brand_New_789"), 401, "Unauthorized")
        # Nothing changed: the token and the old password still work.
        assert c.get(f"{V3}/users/{m['user_id']}").status_code == 200
    issue_token(server, m["name"], m["password"], m["name"])


def test_member_cannot_change_another_users_password(server, me, admin, other):
    # Even knowing the other user's current password.
    assert_forbidden(_change(me, other["user_id"], other["password"], "Hijacked_000"))
    assert admin.get(T, headers={"X-Subject-Token": other["token"]}).status_code == 200
    issue_token(server, other["name"], other["password"], other["name"])
    with client_for(server) as c:
        assert_error(c.post(T, json=password_auth(other["name"], "Hijacked_000", other["name"])), 401, "Unauthorized")


def test_member_cannot_set_any_password_through_update(me, member, other):
    assert_forbidden(me.patch(f"{V3}/users/{member['user_id']}", json={"user": {"password": "Via_Patch_1"}}))
    assert_forbidden(me.patch(f"{V3}/users/{other['user_id']}", json={"user": {"password": "Via_Patch_1"}}))


def test_admin_sets_another_users_password_through_update(server, admin, other):
    r = admin.patch(f"{V3}/users/{other['user_id']}", json={"user": {"password": "Set_By_Admin_1"}})
    assert r.status_code == 200, r.text
    assert "password" not in r.json()["user"]
    with client_for(server, other["token"]) as c:
        assert_error(c.get(f"{V3}/users/{other['user_id']}"), 401, "Unauthorized")
    issue_token(server, other["name"], "Set_By_Admin_1", other["name"])


def test_admin_can_do_what_a_member_can(server, admin):
    token = issue_token(server)
    r = admin.get(T, headers={"X-Subject-Token": token})
    assert r.status_code == 200
    admin_id = r.json()["token"]["user"]["id"]
    assert admin.get(f"{V3}/users/{admin_id}").status_code == 200
    assert "admin" in {p["name"] for p in admin.get(f"{V3}/users/{admin_id}/projects").json()["projects"]}
    assert "admin" in {p["name"] for p in admin.get(f"{V3}/auth/projects").json()["projects"]}
    admin_project = r.json()["token"]["project"]["id"]
    assert admin.get(f"{V3}/projects/{admin_project}").status_code == 200
