"""Tokens: issue (password, token; unscoped, project, domain), validate, HEAD, revoke,
catalog, ?nocatalog, rescoping, key rotation and the stored password hash."""

import subprocess
import time

import pytest

from tests.conftest import caas_command, client_for, issue_token, make_member, password_auth

T = "/identity/v3/auth/tokens"


def test_project_scoped_token_has_keystone_shape(server):
    with client_for(server) as c:
        r = c.post(T, json=password_auth("admin", server.admin_password, "admin"))
    assert r.status_code == 201
    tok = r.json()["token"]
    assert r.headers["X-Subject-Token"]
    assert tok["methods"] == ["password"]
    assert tok["user"]["name"] == "admin" and tok["user"]["domain"] == {"id": "default", "name": "Default"}
    assert tok["project"]["name"] == "admin" and tok["project"]["domain"]["id"] == "default"
    assert {"admin"} <= {r["name"] for r in tok["roles"]}
    assert tok["expires_at"].endswith("Z") and tok["issued_at"].endswith("Z")
    assert len(tok["audit_ids"]) == 1
    (identity,) = [s for s in tok["catalog"] if s["type"] == "identity"]
    assert {e["interface"] for e in identity["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["url"] == f"{server.url}/identity" and e["region"] == "RegionOne" for e in identity["endpoints"])


def test_nocatalog_and_unscoped_and_domain_scope(server):
    with client_for(server) as c:
        r = c.post(T + "?nocatalog", json=password_auth("admin", server.admin_password, "admin"))
        assert r.status_code == 201 and "catalog" not in r.json()["token"]
        r = c.post(T, json=password_auth("admin", server.admin_password, project=None))
        tok = r.json()["token"]
        assert r.status_code == 201 and "project" not in tok and "roles" not in tok and "catalog" not in tok
        r = c.post(T, json=password_auth("admin", server.admin_password, project=None, domain="default"))
        tok = r.json()["token"]
        assert r.status_code == 201 and tok["domain"] == {"id": "default", "name": "Default"}
        assert "admin" in {x["name"] for x in tok["roles"]}


def test_validate_head_and_revoke(server, admin):
    subject = issue_token(server)
    r = admin.get(T, headers={"X-Subject-Token": subject})
    assert r.status_code == 200 and r.headers["X-Subject-Token"] == subject
    assert r.json()["token"]["user"]["name"] == "admin"
    assert admin.head(T, headers={"X-Subject-Token": subject}).status_code == 200
    assert admin.delete(T, headers={"X-Subject-Token": subject}).status_code == 204
    assert admin.get(T, headers={"X-Subject-Token": subject}).status_code == 404
    with client_for(server, subject) as c:
        r = c.get("/identity/v3/auth/projects")
        assert r.status_code == 401 and r.json()["error"]["code"] == 401


def test_rescope_with_token_method(server, admin):
    unscoped = issue_token(server, project=None)
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                     "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    with client_for(server) as c:
        r = c.post(T, json=body)
    assert r.status_code == 201
    tok = r.json()["token"]
    assert tok["project"]["name"] == "admin" and "token" in tok["methods"]
    assert len(tok["audit_ids"]) == 2
    # Revoking the rescoped token leaves the original working.
    assert admin.delete(T, headers={"X-Subject-Token": r.headers["X-Subject-Token"]}).status_code == 204
    assert admin.get(T, headers={"X-Subject-Token": unscoped}).status_code == 200


def test_auth_projects_catalog_and_default_project(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        names = [p["name"] for p in c.get("/identity/v3/auth/projects").json()["projects"]]
        assert names == [m["name"]]
        cat = c.get("/identity/v3/auth/catalog").json()["catalog"]
        assert any(s["type"] == "identity" for s in cat)
    # A user with a default project gets a token scoped to it when it asks for no scope.
    assert admin.patch(f"/identity/v3/users/{m['user_id']}",
                       json={"user": {"default_project_id": m["project_id"]}}).status_code == 200
    with client_for(server) as c:
        r = c.post(T, json=password_auth(m["name"], m["password"], project=None))
        assert r.json()["token"]["project"]["id"] == m["project_id"]
        r = c.post(T, json={"auth": {**password_auth(m["name"], m["password"], project=None)["auth"],
                                     "scope": "unscoped"}})
        assert r.status_code == 201 and "project" not in r.json()["token"]


def test_user_by_id_and_domain_name(server, admin):
    m = make_member(server, admin)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": m["user_id"], "password": m["password"]}}},
        "scope": {"project": {"id": m["project_id"]}}}}
    with client_for(server) as c:
        assert c.post(T, json=body).status_code == 201


def rotate(data_dir) -> None:
    out = subprocess.run(caas_command() + ["token-keys", "rotate", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, check=True)
    assert "primary key is now" in out.stdout


def test_key_rotation_keeps_old_tokens_valid(server, admin):
    old = issue_token(server)
    rotate(server.data_dir)  # picked up by the running server without a restart
    new = issue_token(server)
    assert old[:20] != new[:20] or old != new
    assert admin.get(T, headers={"X-Subject-Token": old}).status_code == 200
    assert admin.get(T, headers={"X-Subject-Token": new}).status_code == 200
    keys = sorted(p.name for p in (server.data_dir / "fernet-keys").iterdir())
    assert len(keys) == 3 and "0" in keys
    assert all((server.data_dir / "fernet-keys" / k).stat().st_mode & 0o077 == 0 for k in keys)


def test_rotation_prunes_the_oldest_key(tmp_path):
    from tests.conftest import CaasServer

    srv = CaasServer(tmp_path / "data").start()
    try:
        first = issue_token(srv)
        rotate(srv.data_dir)
        second = issue_token(srv)
        rotate(srv.data_dir)  # three keys at most: the key of `first` is gone
        with client_for(srv, issue_token(srv)) as c:
            assert c.get(T, headers={"X-Subject-Token": first}).status_code == 404
            assert c.get(T, headers={"X-Subject-Token": second}).status_code == 200
        with client_for(srv, first) as c:
            assert c.get("/identity/v3/auth/projects").status_code == 401
    finally:
        srv.stop()


def test_private_files_are_0600(server):
    for name in ("admin-password", "clouds.yaml", "admin-openrc"):
        mode = (server.data_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, (name, oct(mode))
    assert (server.data_dir / "clouds.yaml").read_text().count(server.admin_password) == 1


def test_password_is_stored_as_bcrypt_hash(server, admin):
    if server.backend != "sqlite":
        pytest.skip("reads the SQLite file directly")
    import sqlite3

    m = make_member(server, admin, password="Plain_Text_42")
    con = sqlite3.connect(server.data_dir / "caas.db")
    (hashed,) = con.execute('SELECT password_hash FROM "user" WHERE id = ?', (m["user_id"],)).fetchone()
    con.close()
    assert hashed.startswith("$2b$04$")  # the test servers run at cost 4 (CAAS_PASSWORD_HASH_ROUNDS)
    assert "Plain_Text_42" not in hashed


def test_default_hash_cost_is_12(monkeypatch):
    from caas.config import Settings

    monkeypatch.delenv("CAAS_PASSWORD_HASH_ROUNDS", raising=False)
    assert Settings().password_hash_rounds == 12  # Keystone's default bcrypt cost
    monkeypatch.setenv("CAAS_PASSWORD_HASH_ROUNDS", "3")
    with pytest.raises(ValueError):
        Settings()


def test_token_expires(tmp_path):
    from tests.conftest import CaasServer

    srv = CaasServer(tmp_path / "data", env={"CAAS_TOKEN_TTL": "2"}).start()
    try:
        tok = issue_token(srv)
        with client_for(srv, tok) as c:
            assert c.get("/identity/v3/auth/projects").status_code == 200
            time.sleep(2.2)
            r = c.get("/identity/v3/auth/projects")
            assert r.status_code == 401 and r.json()["error"]["title"] == "Unauthorized"
    finally:
        srv.stop()
