"""Keystone's [security_compliance] as caas settings, on a server that turns every part on:
account lockout (API and dashboard login), passwords expiring (at once for a password an admin
set, with change_password_upon_first_use), password history, minimum age, the password regex,
inactive users; and the purge of old revocation events. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import time
import uuid

import pytest
import sqlalchemy

from tests.conftest import CaasServer, client_for, finish_server, fresh_database, password_auth
from tests.dashboard.common import CSRF, Browser

pytestmark = pytest.mark.backends("sqlite", "postgresql")
V3 = "/identity/v3"
T = f"{V3}/auth/tokens"
ENV = {"CAAS_LOCKOUT_FAILURE_ATTEMPTS": "3", "CAAS_LOCKOUT_DURATION": "600", "CAAS_PASSWORD_EXPIRES_DAYS": "90",
       "CAAS_UNIQUE_LAST_PASSWORD_COUNT": "2", "CAAS_MINIMUM_PASSWORD_AGE": "1", "CAAS_PASSWORD_REGEX": "^.{8,}$",
       "CAAS_PASSWORD_REGEX_DESCRIPTION": "at least 8 characters", "CAAS_CHANGE_PASSWORD_UPON_FIRST_USE": "true",
       "CAAS_DISABLE_USER_ACCOUNT_DAYS_INACTIVE": "30"}


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, caas_backend):
    """A caas with every security_compliance setting on."""
    db_url = fresh_database(request.getfixturevalue("postgres_server_url")) if caas_backend == "postgresql" else None
    srv = CaasServer(tmp_path_factory.mktemp("caas") / "data", db_url, env=ENV).start()
    yield srv
    finish_server(srv)


def sql(server, statement: str, **params) -> list:
    url = server.database_url or f"sqlite:///{server.data_dir / 'caas.db'}"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def new_user(admin, password: str = "Initial_pw1") -> dict:
    """A user an admin made, with member on a project of its own name."""
    name = f"c{uuid.uuid4().hex[:8]}"
    project = admin.post(f"{V3}/projects", json={"project": {"name": name}}).json()["project"]
    r = admin.post(f"{V3}/users", json={"user": {"name": name, "password": password}})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    role = admin.get(f"{V3}/roles", params={"name": "member"}).json()["roles"][0]["id"]
    assert admin.put(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{role}").status_code == 204
    return {"name": name, "id": user["id"], "body": user, "password": password}


def login(server, user: dict, password: str | None = None):
    with client_for(server) as c:
        return c.post(T, json=password_auth(user["name"], password or user["password"], user["name"]))


def change(server, user: dict, original: str, new: str):
    """The user's own password change, with no token (an expired password gets none)."""
    with client_for(server) as c:
        return c.post(f"{V3}/users/{user['id']}/password",
                      json={"user": {"original_password": original, "password": new}})


def test_first_use_expiry_and_history(server, admin):
    u = new_user(admin)
    assert u["body"]["password_expires_at"] is not None  # expired: an admin set it
    r = login(server, u)
    assert r.status_code == 401
    assert r.json()["error"]["message"] == f"The password is expired and needs to be changed for user: {u['id']}."
    # the current password is in the history (2 unique): refused, then a new one is taken
    r = change(server, u, "Initial_pw1", "Initial_pw1")
    assert r.status_code == 400 and "must be unique is 2" in r.json()["error"]["message"]
    assert change(server, u, "Initial_pw1", "Second_pw2").status_code == 204
    r = login(server, u, "Second_pw2")
    assert r.status_code == 201, r.text
    expires = admin.get(f"{V3}/users/{u['id']}").json()["user"]["password_expires_at"]
    assert expires is not None and expires > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 89 * 86400))
    # the token's user says the same, as Keystone's
    assert r.json()["token"]["user"]["password_expires_at"] == expires
    # a self-service password is kept a day (minimum age)
    r = change(server, u, "Second_pw2", "Third_pw3")
    assert r.status_code == 400 and "minimum password age" in r.json()["error"]["message"]
    # an admin's reset: expired again at once, and no minimum age for it; history still counts
    assert admin.patch(f"{V3}/users/{u['id']}", json={"user": {"password": "Reset_pw4"}}).status_code == 200
    assert login(server, u, "Reset_pw4").status_code == 401
    r = change(server, u, "Reset_pw4", "Second_pw2")
    assert r.status_code == 400 and "cannot be identical to a previous password" in r.json()["error"]["message"]
    assert change(server, u, "Reset_pw4", "Fifth_pw5").status_code == 204
    assert login(server, u, "Fifth_pw5").status_code == 201


def test_password_regex(server, admin):
    r = admin.post(f"{V3}/users", json={"user": {"name": f"r{uuid.uuid4().hex[:8]}", "password": "short"}})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == ("Password validation error: The password does not match the "
                                            "requirements: at least 8 characters.")
    u = new_user(admin)
    assert admin.patch(f"{V3}/users/{u['id']}", json={"user": {"password": "tiny"}}).status_code == 400
    assert change(server, u, "Initial_pw1", "tiny").status_code == 400
    with client_for(server) as c:
        token = c.post(T, json=password_auth("admin", server.admin_password)).headers["X-Subject-Token"]
    with client_for(server, token) as c:
        rules = c.get(f"{V3}/domains/default/config/security_compliance").json()["config"]["security_compliance"]
    assert rules == {"password_regex": "^.{8,}$", "password_regex_description": "at least 8 characters"}


def test_lockout_for_the_api_and_the_dashboard(server, admin):
    u = new_user(admin)
    assert change(server, u, "Initial_pw1", "Lockme_pw1").status_code == 204
    for _ in range(3):
        assert login(server, u, "wrong-password").status_code == 401
    r = login(server, u, "Lockme_pw1")  # the right password, refused while locked
    assert r.status_code == 401
    assert r.json()["error"]["message"] == f"The account is locked for user: {u['id']}."
    assert change(server, u, "Lockme_pw1", "Other_pw99").status_code == 401  # no guessing here either
    with Browser(server) as b:
        page = b.http.get("/dashboard/login")
        r = b.http.post("/dashboard/login", data={"csrf_token": CSRF.search(page.text).group(1),
                                                  "username": u["name"], "password": "Lockme_pw1",
                                                  "project": u["name"], "domain": "Default"})
        assert r.status_code == 401 and f"The account is locked for user: {u['id']}." in r.text
    # the dashboard's form counts as the API does: three wrong passwords lock another user
    v = new_user(admin)
    assert change(server, v, "Initial_pw1", "Lockme_pw2").status_code == 204
    with Browser(server) as b:
        for password in ("bad-1", "bad-2", "bad-3", "Lockme_pw2"):
            page = b.http.get("/dashboard/login")
            r = b.http.post("/dashboard/login", data={"csrf_token": CSRF.search(page.text).group(1),
                                                      "username": v["name"], "password": password,
                                                      "project": v["name"], "domain": "Default"})
            assert r.status_code == 401
    assert "The account is locked" in r.text
    assert login(server, v, "Lockme_pw2").status_code == 401


def test_inactive_users_are_refused(server, admin):
    u = new_user(admin)
    assert change(server, u, "Initial_pw1", "Active_pw1").status_code == 204
    assert login(server, u, "Active_pw1").status_code == 201  # records the activity
    (seen,) = sql(server, 'SELECT last_active_at FROM "user" WHERE id = :id', id=u["id"])
    assert seen[0] is not None
    sql(server, 'UPDATE "user" SET last_active_at = :t WHERE id = :id', t=time.time() - 31 * 86400, id=u["id"])
    r = login(server, u, "Active_pw1")
    assert r.status_code == 401
    assert r.json()["error"]["message"] == f"The account is disabled for user: {u['id']}."


def test_inactive_users_show_disabled_until_an_admin_enables_them(server, admin):
    """Keystone's user model computes ``enabled``: false once the user's last active day (or its
    creation day, never seen since) is the setting's days ago or more; enabling marks it active."""
    u, never = new_user(admin), new_user(admin)
    assert change(server, u, "Initial_pw1", "Active_pw1").status_code == 204
    assert login(server, u, "Active_pw1").status_code == 201
    assert admin.get(f"{V3}/users/{u['id']}").json()["user"]["enabled"] is True
    sql(server, 'UPDATE "user" SET last_active_at = :t WHERE id = :id', t=time.time() - 30 * 86400, id=u["id"])
    month_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(days=31)
    sql(server, 'UPDATE "user" SET created_at = :t WHERE id = :id', t=month_ago, id=never["id"])
    for user in (u, never):
        assert admin.get(f"{V3}/users/{user['id']}").json()["user"]["enabled"] is False
        listed = admin.get(f"{V3}/users", params={"name": user["name"]}).json()["users"]
        assert [x["enabled"] for x in listed] == [False]
    assert login(server, u, "Active_pw1").status_code == 401
    r = admin.patch(f"{V3}/users/{u['id']}", json={"user": {"enabled": True}})
    assert r.status_code == 200 and r.json()["user"]["enabled"] is True
    assert admin.get(f"{V3}/users/{u['id']}").json()["user"]["enabled"] is True
    assert login(server, u, "Active_pw1").status_code == 201


def test_old_revocation_events_are_purged_when_one_is_added(server, admin):
    old = time.time() - (3600 + 1800) - 60  # older than the token lifetime and the margin
    sql(server, "INSERT INTO revocation_event (audit_id, issued_before, revoked_at) VALUES ('old-one', :t, :t)",
        t=old)
    sql(server, "INSERT INTO revocation_event (audit_id, issued_before, revoked_at) VALUES ('recent', :t, :t)",
        t=time.time() - 60)
    with client_for(server) as c:
        victim = c.post(T, json=password_auth("admin", server.admin_password)).headers["X-Subject-Token"]
    assert admin.delete(T, headers={"X-Subject-Token": victim}).status_code == 204
    kept = {row[0] for row in sql(server, "SELECT audit_id FROM revocation_event")}
    assert "old-one" not in kept and "recent" in kept
    with client_for(server, victim) as c:
        assert c.get(f"{V3}/auth/projects").status_code == 401
