"""Each cluster's work runs on an application credential of its creator (SQLite, one ``caas up``
of this module's own, restarted once): made at create with exactly the creator's roles on the
cluster's project, its secret encrypted at rest, used after the request returns (the create's
steps, node changes, a restart's resume) so that revoking the user's tokens stops nothing,
deleted with the cluster and by a rollback; a credential that stops working (a role lost, a
delete out of band) fails the cluster's next work with a clear reason, and its delete still
works on the delete request's token. No admin ever gets a role in the user's project."""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest

from tests.clusters.common import API, body, crash, create, delete, leftovers, set_quota, wait, wait_for_step
from tests.conftest import CaasServer, client_for, finish_server, issue_token, make_member


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One caas whose boots take a moment (a create is caught mid-way), and whose cluster
    ``broken`` fails at its ready step."""
    s = CaasServer(tmp_path_factory.mktemp("caas") / "data",
                   env={"CAAS_FAKE_BOOT_DELAY": "0.5", "CAAS_CLUSTER_FAIL_AT": "ready@broken"}).start()
    yield s
    finish_server(s)


@pytest.fixture(scope="module")
def admin(srv):
    with client_for(srv, issue_token(srv)) as c:
        yield c


@pytest.fixture(scope="module")
def extra_role(admin) -> str:
    r = admin.post("/identity/v3/roles", json={"role": {"name": "cluster-extra"}})
    assert r.status_code == 201, r.text
    return r.json()["role"]["id"]


def member(srv, admin, extra_role: str | None = None) -> dict:
    """A member of a project of its own (with ``extra_role`` there too, when given), and the
    extra role on another project (which no cluster credential may get)."""
    m = make_member(srv, admin)
    set_quota(admin, m["project_id"], instances=20, cores=40)
    if extra_role:
        url = f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{extra_role}"
        assert admin.put(url).status_code == 204
        m["token"] = issue_token(srv, m["name"], m["password"], m["name"])
        other = admin.post("/identity/v3/projects", json={"project": {"name": m["name"] + "-other"}}).json()["project"]
        assert admin.put(f"/identity/v3/projects/{other['id']}/users/{m['user_id']}/roles/{extra_role}").status_code == 204
    return m


def app_creds(c, user_id: str) -> list[dict]:
    r = c.get(f"/identity/v3/users/{user_id}/application_credentials")
    assert r.status_code == 200, r.text
    return r.json()["application_credentials"]


def query(srv, sql: str, *args) -> list:
    """``sql`` on the server's SQLite database, committed, the connection closed (an open one
    in this process would hold the database's WAL across caas's restarts)."""
    with contextlib.closing(sqlite3.connect(srv.data_dir / "caas.db")) as db:
        rows = db.execute(sql, args).fetchall()
        db.commit()
        return rows


def fresh(srv, m) -> str:
    return issue_token(srv, m["name"], m["password"], m["name"])


def revoke(srv, token: str) -> None:
    with client_for(srv, token) as c:
        assert c.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 204


def test_the_credential_has_the_users_roles_there_and_is_encrypted_at_rest(srv, admin, extra_role):
    m = member(srv, admin, extra_role)
    with client_for(srv, m["token"]) as c:
        v = create(c, "cred", 1)
        assert v["status"] == "ACTIVE", v["status_reason"]
        [cred] = app_creds(c, m["user_id"])
        assert cred["name"] == f"caas-cluster-cred-{v['id'][:8]}"
        assert cred["project_id"] == m["project_id"] and cred["unrestricted"] is False
        assert cred["expires_at"] is None
        token_roles = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": m["token"]}).json()["token"]["roles"]
        assert sorted(r["name"] for r in cred["roles"]) == sorted(r["name"] for r in token_roles)
        assert "cluster-extra" in {r["name"] for r in cred["roles"]}  # the project's, not the other's
    # nothing in the user's project was given to anyone else (caas's admin included)
    grants = admin.get("/identity/v3/role_assignments", params={"scope.project.id": m["project_id"]}).json()
    assert {g["user"]["id"] for g in grants["role_assignments"]} == {m["user_id"]}
    # the secret: encrypted in the database, never in its file in clear, and it works
    from caas.identity.secrets import SecretBox
    from caas.identity.tokens import KeyRepository

    (cred_id, stored), = query(srv, "SELECT app_cred_id, encrypted_secret FROM cluster_credential WHERE cluster_id = ?",
                               v["id"])
    assert cred_id == cred["id"]
    secret = SecretBox(KeyRepository(srv.data_dir / "credential-keys")).decrypt(stored)
    raw = b"".join(p.read_bytes() for p in srv.data_dir.glob("caas.db*"))
    assert secret.encode() not in raw and stored.encode() in raw
    with client_for(srv) as anon:
        r = anon.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["application_credential"], "application_credential": {"id": cred_id, "secret": secret}}}})
        assert r.status_code == 201, r.text
    # `caas credential-keys rotate`, more times than keys are kept, re-encrypts it each time
    from typer.testing import CliRunner

    from caas.cli.main import app

    for _ in range(3):
        result = CliRunner().invoke(app, ["credential-keys", "rotate", "--data-dir", str(srv.data_dir)])
        assert result.exit_code == 0 and "re-encrypted" in result.output, result.output
    (rotated,), = query(srv, "SELECT encrypted_secret FROM cluster_credential WHERE cluster_id = ?", v["id"])
    assert rotated != stored
    assert SecretBox(KeyRepository(srv.data_dir / "credential-keys")).decrypt(rotated) == secret
    with client_for(srv, m["token"]) as c:  # and the server's next work reads it (a node added)
        assert c.post(f"{API}/clusters/cred/nodes", json={"nodes": {"count": 1}}).status_code == 202
        v = wait(c, "cred")
        assert v["status"] == "ACTIVE" and v["status_reason"] == "" and v["node_count"] == 2, v
        delete(c, "cred")
        assert app_creds(c, m["user_id"]) == [] and leftovers(c) == {}


def test_work_goes_on_after_the_users_tokens_are_revoked(srv, admin):
    """Each request's token is revoked as soon as it is answered: the create's steps, the add
    and the removal run on the credential all the same."""
    m = member(srv, admin)
    token = m["token"]
    with client_for(srv, token) as c:
        assert c.post(f"{API}/clusters", json=body("norevoke", 1)).status_code == 202
    revoke(srv, token)
    with client_for(srv, fresh(srv, m)) as c:
        assert wait(c, "norevoke")["status"] == "ACTIVE"
    token = fresh(srv, m)
    with client_for(srv, token) as c:
        assert c.post(f"{API}/clusters/norevoke/nodes", json={"nodes": {"count": 1}}).status_code == 202
    revoke(srv, token)
    with client_for(srv, fresh(srv, m)) as c:
        v = wait(c, "norevoke")
        assert v["status"] == "ACTIVE" and v["status_reason"] == ""
        assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001", "node002"]
    token = fresh(srv, m)
    with client_for(srv, token) as c:
        assert c.delete(f"{API}/clusters/norevoke/nodes/node001").status_code == 202
    revoke(srv, token)
    with client_for(srv, fresh(srv, m)) as c:
        v = wait(c, "norevoke")
        assert v["status"] == "ACTIVE" and [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node002"]
        assert sorted(s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]) == [
            "norevoke-head", "norevoke-node002"]
        delete(c, "norevoke")
        assert app_creds(c, m["user_id"]) == [] and leftovers(c) == {}


def test_a_rollback_deletes_the_credential(srv, admin):
    m = member(srv, admin)
    with client_for(srv, m["token"]) as c:
        v = create(c, "broken", 1)
        assert v["status"] == "ERROR" and v["status_reason"].endswith("rolled back, nothing is left"), v
        assert app_creds(c, m["user_id"]) == [] and leftovers(c) == {}
        delete(c, "broken")


def test_a_credential_that_stops_working_fails_the_work_clearly(srv, admin, extra_role):
    """A role of the credential taken away, or the credential deleted out of band: the next
    work ends in ERROR saying so (never a 500); the delete runs on the delete request's token
    and removes the credential too."""
    m = member(srv, admin, extra_role)
    with client_for(srv, m["token"]) as c:
        assert create(c, "lostrole", 1)["status"] == "ACTIVE"
        assert create(c, "outofband", 1)["status"] == "ACTIVE"
        assert admin.delete(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/"
                            f"{extra_role}").status_code == 204
    with client_for(srv, fresh(srv, m)) as c:  # a member still, without the extra role
        oob = next(a for a in app_creds(c, m["user_id"]) if a["name"].startswith("caas-cluster-outofband-"))
        assert c.delete(f"/identity/v3/users/{m['user_id']}/application_credentials/{oob['id']}").status_code == 204
        assert c.post(f"{API}/clusters/lostrole/nodes", json={"nodes": {"count": 1}}).status_code == 202
        assert c.delete(f"{API}/clusters/outofband/nodes/node001").status_code == 202
        for name in ("lostrole", "outofband"):
            v = wait(c, name)
            assert v["status"] == "ERROR", v
            assert f"application credential caas-cluster-{name}-" in v["status_reason"]
            assert "no longer works" in v["status_reason"], v["status_reason"]
            delete(c, name)
        assert app_creds(c, m["user_id"]) == [] and leftovers(c) == {}


def test_a_restart_mid_create_resumes_on_the_credential(srv, admin):
    """kill -9 in the create's nodes step: the restart makes the cluster again on its
    credential (no token of the user is left to caas, and none is needed): ACTIVE; the
    credential goes with the cluster's delete."""
    m = member(srv, admin)
    with client_for(srv, m["token"]) as c:
        assert c.post(f"{API}/clusters", json=body("midway", 3)).status_code == 202
        wait_for_step(c, "midway", "nodes")
    crash(srv)
    srv.start()
    with client_for(srv, fresh(srv, m)) as c:
        v = wait(c, "midway")
        assert v["status"] == "ACTIVE" and v["node_count"] == 3, v
        events = [e for e in c.get(f"{API}/clusters/midway/events").json()["events"]]
        assert any(e["step"] == "resume" and "creating the cluster again" in e["message"] for e in events), events
        assert len(leftovers(c)["servers"]) == 4
        assert len(app_creds(c, m["user_id"])) == 1
        delete(c, "midway")
        assert app_creds(c, m["user_id"]) == [] and leftovers(c) == {}


def test_a_restart_mid_delete_leaves_the_credential_to_the_users_next_request(srv, admin):
    """The delete resumed after a restart removes every resource on the credential, then waits
    (DELETING, idle) for a token of its user: the user's next read of it deletes the credential
    and the cluster is gone."""
    m = member(srv, admin)
    with client_for(srv, m["token"]) as c:
        v = create(c, "ending", 1)
        assert v["status"] == "ACTIVE"
    crash(srv)
    # as if killed right after the delete was asked for
    assert query(srv, "UPDATE cluster SET status = 'DELETING', operation = 'delete', step = 'queued' WHERE id = ?",
                 v["id"]) == []
    srv.start()
    deadline = time.monotonic() + 60
    while True:
        [(status, operation, reason)] = query(srv, "SELECT status, operation, status_reason FROM cluster WHERE id = ?",
                                              v["id"])
        if operation is None:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status == "DELETING" and "every resource is gone but its application credential" in reason, reason
    with client_for(srv, fresh(srv, m)) as c:
        assert leftovers(c) == {} and len(app_creds(c, m["user_id"])) == 1
        assert c.get(f"{API}/clusters/ending").status_code == 404
        assert app_creds(c, m["user_id"]) == [] and c.get(f"{API}/clusters").json()["clusters"] == []


def test_a_token_that_may_not_make_a_credential_is_refused_with_nothing_made(srv, admin):
    """A token from a (restricted) application credential cannot make another one: the create
    is 403 with the cloud's words, and no cluster is recorded."""
    m = member(srv, admin)
    with client_for(srv, m["token"]) as c:
        r = c.post(f"/identity/v3/users/{m['user_id']}/application_credentials",
                   json={"application_credential": {"name": "mine"}})
        assert r.status_code == 201, r.text
        mine = r.json()["application_credential"]
    with client_for(srv) as anon:
        r = anon.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": mine["id"], "secret": mine["secret"]}}}})
        assert r.status_code == 201, r.text
    with client_for(srv, r.headers["X-Subject-Token"]) as c:
        r = c.post(f"{API}/clusters", json=body("nocred", 1))
        assert r.status_code == 403, r.text
        assert "could not make the cluster's application credential with your token: 403" in r.json()["error"]["message"]
        assert c.get(f"{API}/clusters").json()["clusters"] == []
        assert [a["name"] for a in app_creds(c, m["user_id"])] == ["mine"] and leftovers(c) == {}
