"""Each process keeps the roles and their inferences it has read (auth.TokenService's role graph)
until the identity revision moves: a change made through one caas process reaches the very next
token that any process sharing the database issues or validates. Two ``caas up`` on one
PostgreSQL database (with the same token keys, so that each validates the other's tokens)."""

from __future__ import annotations

import shutil
import uuid

import httpx
import pytest

from tests.conftest import CaasServer, client_for, finish_server, issue_token

pytestmark = pytest.mark.backends("postgresql")

V3 = "/identity/v3"
T = f"{V3}/auth/tokens"
PW = "Secret_123"


@pytest.fixture(scope="module")
def other(server, tmp_path_factory):
    """A second caas process on the module server's database, with its token keys."""
    data_dir = tmp_path_factory.mktemp("caas-other") / "data"
    data_dir.mkdir()
    shutil.copytree(server.data_dir / "fernet-keys", data_dir / "fernet-keys")
    shutil.copy(server.data_dir / "admin-password", data_dir / "admin-password")
    srv = CaasServer(data_dir, server.database_url).start()
    yield srv
    finish_server(srv)


def ok(r: httpx.Response, status: int = 204) -> httpx.Response:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r


def make(admin, kind: str, **fields) -> str:
    body = {"name": f"{kind[0]}-{uuid.uuid4().hex[:10]}", **fields}
    return ok(admin.post(f"{V3}/{kind}s", json={kind: body}), 201).json()[kind]["id"]


def issue(srv, user_id: str, project_id: str) -> httpx.Response:
    """POST a password token for ``user_id`` scoped to ``project_id`` to ``srv``."""
    auth = {"identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": PW}}},
            "scope": {"project": {"id": project_id}}}
    with client_for(srv) as c:
        return c.post(T, json={"auth": auth})


def roles_issued(srv, user_id: str, project_id: str) -> set[str]:
    """The role ids of a new token for ``user_id`` on ``project_id`` from ``srv``."""
    return {r["id"] for r in ok(issue(srv, user_id, project_id), 201).json()["token"]["roles"]}


def roles_validated(srv, admin_token: str, subject: str) -> set[str]:
    with client_for(srv, admin_token) as c:
        return {r["id"] for r in ok(c.get(T, headers={"X-Subject-Token": subject}), 200).json()["token"]["roles"]}


@pytest.fixture(scope="module")
def admin_elsewhere(other) -> str:
    return issue_token(other)


def test_a_new_inference_reaches_the_next_token_of_every_process(server, other, admin, admin_elsewhere):
    prior, implied = make(admin, "role"), make(admin, "role")
    project, user = make(admin, "project"), make(admin, "user", password=PW)
    ok(admin.put(f"{V3}/projects/{project}/users/{user}/roles/{prior}"))
    for srv in (server, other):  # both processes hold the graph without the rule
        assert roles_issued(srv, user, project) == {prior}
    ok(admin.put(f"{V3}/roles/{prior}/implies/{implied}"), 201)
    assert roles_issued(other, user, project) == {prior, implied}
    assert roles_issued(server, user, project) == {prior, implied}
    subject = ok(issue(server, user, project), 201).headers["X-Subject-Token"]
    assert roles_validated(other, admin_elsewhere, subject) == {prior, implied}
    ok(admin.delete(f"{V3}/roles/{prior}/implies/{implied}"))
    assert roles_issued(other, user, project) == {prior}
    assert roles_issued(server, user, project) == {prior}


def test_a_renamed_role_shows_its_new_name_in_the_next_token_of_every_process(server, other, admin):
    role, project, user = make(admin, "role"), make(admin, "project"), make(admin, "user", password=PW)
    ok(admin.put(f"{V3}/projects/{project}/users/{user}/roles/{role}"))
    ok(issue(other, user, project), 201)
    name = f"renamed-{uuid.uuid4().hex[:10]}"
    ok(admin.patch(f"{V3}/roles/{role}", json={"role": {"name": name}}), 200)
    assert ok(issue(other, user, project), 201).json()["token"]["roles"] == [{"id": role, "name": name}]


def test_a_new_group_membership_reaches_the_next_token_of_every_process(server, other, admin):
    role, project = make(admin, "role"), make(admin, "project")
    user, group = make(admin, "user", password=PW), make(admin, "group")
    ok(admin.put(f"{V3}/projects/{project}/groups/{group}/roles/{role}"))
    ok(issue(other, user, project), 401)
    ok(admin.put(f"{V3}/groups/{group}/users/{user}"))
    assert roles_issued(other, user, project) == {role}
    ok(admin.delete(f"{V3}/groups/{group}/users/{user}"))
    ok(issue(other, user, project), 401)
    ok(issue(server, user, project), 401)


def test_a_removed_grant_leaves_the_tokens_of_every_process_with_the_roles_left(server, other, admin,
                                                                                 admin_elsewhere):
    """No revocation event marks a grant's removal (as Keystone): a process that has cached a
    token learns of it from the identity revision alone, and recomputes the token's roles."""
    role, project, user = make(admin, "role"), make(admin, "project"), make(admin, "user", password=PW)
    reader = ok(admin.get(f"{V3}/roles", params={"name": "reader"}), 200).json()["roles"][0]["id"]
    grants = {r: f"{V3}/projects/{project}/users/{user}/roles/{r}" for r in (role, reader)}
    for path in grants.values():
        ok(admin.put(path))
    subject = ok(issue(server, user, project), 201).headers["X-Subject-Token"]
    with client_for(other, subject) as me:
        ok(me.get(f"{V3}/auth/projects"), 200)  # the other process caches the token, with both roles
        assert roles_validated(other, admin_elsewhere, subject) == {role, reader}
        ok(admin.delete(grants[role]))
        assert roles_validated(other, admin_elsewhere, subject) == {reader}
        ok(admin.delete(grants[reader]))
        with client_for(other, admin_elsewhere) as c:
            ok(c.get(T, headers={"X-Subject-Token": subject}), 404)
        ok(me.get(f"{V3}/auth/projects"), 401)
        ok(admin.put(grants[role]))
        ok(me.get(f"{V3}/auth/projects"), 200)
        assert roles_validated(other, admin_elsewhere, subject) == {role}
