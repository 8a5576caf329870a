"""Delegation: application credentials (create, list, show, delete; access rules; the
``application_credential`` method; what kills a credential and its tokens; access rules enforced
on every service) and trusts (OS-TRUST: create, list, show, roles, delete; trust-scoped tokens,
impersonation, remaining uses, redelegation, revocation), with their bad input, on SQLite and
PostgreSQL."""

import uuid

import pytest

from tests.conftest import client_for, issue_token, make_member, password_auth

pytestmark = pytest.mark.backends("sqlite", "postgresql")

T = "/identity/v3/auth/tokens"
TRUSTS = "/identity/v3/OS-TRUST/trusts"
SHELL = "x; rm -rf / $(id) `id` | & > <'\""
RULE_BASE = {"service": "identity", "method": "GET"}


def creds_url(user_id: str) -> str:
    return f"/identity/v3/users/{user_id}/application_credentials"


def app_cred_token(server, cred_id: str | None, secret: str, **by_name) -> "httpx.Response":
    ident = {"id": cred_id} if cred_id else by_name
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {**ident, "secret": secret}}}}
    with client_for(server) as c:
        return c.post(T, json=body)


def new_cred(client, user_id: str, **fields) -> dict:
    body = {"name": fields.pop("name", f"ac-{uuid.uuid4().hex[:8]}"), **fields}
    r = client.post(creds_url(user_id), json={"application_credential": body})
    assert r.status_code == 201, r.text
    return r.json()["application_credential"]


def reader_member(server, admin) -> dict:
    """A user with member and reader on its own project (``make_member``'s, and ``reader_id``)."""
    m = make_member(server, admin)
    reader = admin.get("/identity/v3/roles", params={"name": "reader"}).json()["roles"][0]["id"]
    admin.put(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{reader}")
    m["reader_id"] = reader
    m["token"] = issue_token(server, m["name"], m["password"], m["name"])
    return m


@pytest.fixture(scope="module")
def member(server, admin):
    """A ``reader_member`` and its client."""
    m = reader_member(server, admin)
    with client_for(server, m["token"]) as c:
        m["client"] = c
        yield m


def test_create_show_list_delete_and_secret_once(server, member):
    c, uid = member["client"], member["user_id"]
    ac = new_cred(c, uid, description="ci", roles=[{"name": "reader"}])
    assert ac["secret"] and len(ac["secret"]) >= 64 and ac["project_id"] == member["project_id"]
    assert [r["name"] for r in ac["roles"]] == ["reader"] and ac["unrestricted"] is None
    assert "access_rules" not in ac and ac["user_id"] == uid and ac["expires_at"] is None
    shown = c.get(f"{creds_url(uid)}/{ac['id']}").json()["application_credential"]
    assert "secret" not in shown and shown["name"] == ac["name"] and shown["description"] == "ci"
    listed = c.get(creds_url(uid), params={"name": ac["name"]}).json()["application_credentials"]
    assert [x["id"] for x in listed] == [ac["id"]] and "secret" not in listed[0]
    every = new_cred(c, uid, secret="given-Secret-1")
    assert every["secret"] == "given-Secret-1"
    assert {r["name"] for r in every["roles"]} == {"member", "reader"}  # the token's roles by default
    assert c.delete(f"{creds_url(uid)}/{ac['id']}").status_code == 204
    assert c.get(f"{creds_url(uid)}/{ac['id']}").status_code == 404
    assert c.delete(f"{creds_url(uid)}/{every['id']}").status_code == 204


def test_secret_is_stored_as_bcrypt_hash(server, member):
    if server.backend != "sqlite":
        pytest.skip("reads the SQLite file directly")
    import sqlite3

    ac = new_cred(member["client"], member["user_id"], secret="Plain_Secret_42")
    con = sqlite3.connect(server.data_dir / "caas.db")
    (hashed,) = con.execute("SELECT secret_hash FROM app_cred WHERE id = ?", (ac["id"],)).fetchone()
    con.close()
    assert hashed.startswith("$2b$") and "Plain_Secret_42" not in hashed


def test_authenticate_by_id_and_by_name(server, member, admin):
    c, uid = member["client"], member["user_id"]
    ac = new_cred(c, uid, roles=[{"id": member["reader_id"]}])
    r = app_cred_token(server, ac["id"], ac["secret"])
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["methods"] == ["application_credential"] and tok["project"]["id"] == member["project_id"]
    assert [x["name"] for x in tok["roles"]] == ["reader"] and tok["user"]["id"] == uid
    assert tok["application_credential"] == {"id": ac["id"], "name": ac["name"], "restricted": True}
    by_user_id = app_cred_token(server, None, ac["secret"], name=ac["name"], user={"id": uid})
    by_user_name = app_cred_token(server, None, ac["secret"], name=ac["name"],
                                  user={"name": member["name"], "domain": {"name": "Default"}})
    assert by_user_id.status_code == 201 and by_user_name.status_code == 201
    validated = admin.get(T, headers={"X-Subject-Token": r.headers["X-Subject-Token"]})
    assert validated.json()["token"]["application_credential"]["id"] == ac["id"]
    assert app_cred_token(server, ac["id"], "wrong").status_code == 401
    assert app_cred_token(server, "0" * 32, ac["secret"]).status_code == 404  # as Keystone
    scoped = {"auth": {"identity": {"methods": ["application_credential"],
                                    "application_credential": {"id": ac["id"], "secret": ac["secret"]}},
                       "scope": {"project": {"id": member["project_id"]}}}}
    with client_for(server) as anon:
        assert anon.post(T, json=scoped).status_code == 401


def test_token_expires_with_its_credential(server, member):
    """A credential's token expires no later than the credential (the token TTL is an hour)."""
    import datetime as dt

    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).replace(microsecond=0)
    ac = new_cred(member["client"], member["user_id"], expires_at=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert ac["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M:%S"))
    tok = app_cred_token(server, ac["id"], ac["secret"]).json()["token"]
    assert tok["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M:%S"))


def test_reader_credential_reads_but_may_not_write(server, member):
    ac = new_cred(member["client"], member["user_id"], roles=[{"name": "reader"}])
    token = app_cred_token(server, ac["id"], ac["secret"]).headers["X-Subject-Token"]
    with client_for(server, token) as c:
        assert c.get("/compute/v2.1/servers").status_code == 200
        assert c.get("/network/v2.0/networks").status_code == 200
        assert c.get("/caas/v1/clusters").status_code == 200
        r = c.post("/network/v2.0/networks", json={"network": {"name": "nope"}})
        assert r.status_code == 403, r.text


def test_restricted_credential_may_not_manage_credentials_or_trusts(server, member, admin):
    uid = member["user_id"]
    restricted = new_cred(member["client"], uid)
    unrestricted = new_cred(member["client"], uid, unrestricted=True)
    rtok = app_cred_token(server, restricted["id"], restricted["secret"]).headers["X-Subject-Token"]
    utok = app_cred_token(server, unrestricted["id"], unrestricted["secret"]).headers["X-Subject-Token"]
    with client_for(server, rtok) as c:
        r = c.post(creds_url(uid), json={"application_credential": {"name": "child"}})
        assert r.status_code == 403 and "application_credential" in r.json()["error"]["message"]
        assert c.delete(f"{creds_url(uid)}/{unrestricted['id']}").status_code == 403
        assert c.get(creds_url(uid)).status_code == 200  # reading is allowed
    with client_for(server, utok) as c:
        child = new_cred(c, uid, name="child")
        assert c.delete(f"{creds_url(uid)}/{child['id']}").status_code == 204
        trust = {"trust": {"trustor_user_id": uid, "trustee_user_id": uid, "impersonation": False,
                           "project_id": member["project_id"], "roles": [{"name": "reader"}]}}
        assert c.post(TRUSTS, json=trust).status_code == 403  # credentials' tokens manage no trusts


def test_access_rules_are_enforced_on_every_service(server, member):
    c, uid = member["client"], member["user_id"]
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"},
             {"service": "identity", "method": "GET", "path": f"/v3/users/{uid}"},
             {"service": "caas", "method": "GET", "path": "/v1/**"}]
    ac = new_cred(c, uid, access_rules=rules)
    assert {(r["service"], r["path"]) for r in ac["access_rules"]} == {(x["service"], x["path"]) for x in rules}
    r = app_cred_token(server, ac["id"], ac["secret"])
    token = r.headers["X-Subject-Token"]
    assert len(r.json()["token"]["application_credential"]["access_rules"]) == 3
    with client_for(server, token) as t:
        assert t.get("/compute/v2.1/servers").status_code == 200
        assert t.get("/compute/v2.1/flavors").status_code == 401
        assert t.get(f"/identity/v3/users/{uid}").status_code == 200
        assert t.get(f"/identity/v3/users/{uid}/projects").status_code == 401
        assert t.get(T, headers={"X-Subject-Token": token}).status_code == 200  # itself, always
        assert t.get("/caas/v1/clusters").status_code == 200
        denied = t.get("/network/v2.0/networks")
        assert denied.status_code == 401 and denied.json()["NeutronError"]
        assert t.get("/image/v2/images").status_code == 401
    listed = c.get(f"/identity/v3/users/{uid}/access_rules").json()["access_rules"]
    assert {r["path"] for r in ac["access_rules"]} <= {r["path"] for r in listed}
    rule_id = ac["access_rules"][0]["id"]
    assert c.get(f"/identity/v3/users/{uid}/access_rules/{rule_id}").json()["access_rule"]["id"] == rule_id
    assert c.delete(f"/identity/v3/users/{uid}/access_rules/{rule_id}").status_code == 403  # in use
    same = new_cred(c, uid, access_rules=[{"id": rule_id}])
    assert [r["id"] for r in same["access_rules"]] == [rule_id]
    for cred in (ac, same):
        c.delete(f"{creds_url(uid)}/{cred['id']}")
    assert c.delete(f"/identity/v3/users/{uid}/access_rules/{rule_id}").status_code == 204
    assert c.get(f"/identity/v3/users/{uid}/access_rules/{rule_id}").status_code == 404


def test_credential_dies_with_deletion_role_and_user(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        gone = new_cred(c, m["user_id"])
        kept = new_cred(c, m["user_id"])
    tokens = {n: app_cred_token(server, a["id"], a["secret"]).headers["X-Subject-Token"]
              for n, a in (("gone", gone), ("kept", kept))}
    with client_for(server, m["token"]) as c:
        assert c.delete(f"{creds_url(m['user_id'])}/{gone['id']}").status_code == 204
    assert admin.get(T, headers={"X-Subject-Token": tokens["gone"]}).status_code == 404
    assert admin.get(T, headers={"X-Subject-Token": tokens["kept"]}).status_code == 200
    # Losing the role kills its tokens but not the credential; it works again when the role comes
    # back (the Keystone anchor answers so: deleting a grant deletes no application credential).
    admin.delete(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{m['role_id']}")
    assert admin.get(T, headers={"X-Subject-Token": tokens["kept"]}).status_code == 404
    assert app_cred_token(server, kept["id"], kept["secret"]).status_code == 401
    assert admin.get(f"{creds_url(m['user_id'])}/{kept['id']}").status_code == 200
    admin.put(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{m['role_id']}")
    fresh = app_cred_token(server, kept["id"], kept["secret"]).headers["X-Subject-Token"]
    admin.patch(f"/identity/v3/users/{m['user_id']}", json={"user": {"enabled": False}})
    assert admin.get(T, headers={"X-Subject-Token": fresh}).status_code == 404
    assert app_cred_token(server, kept["id"], kept["secret"]).status_code == 401
    admin.delete(f"/identity/v3/users/{m['user_id']}")
    # deleted with its user, as Keystone: no such credential any more
    assert app_cred_token(server, kept["id"], kept["secret"]).status_code == 404
    assert admin.get(f"{creds_url(m['user_id'])}/{kept['id']}").status_code == 404


def _cred_and_token(server, m: dict, **fields) -> tuple[dict, str]:
    """A new credential of ``m``'s (with ``m``'s token) and a token issued from it."""
    with client_for(server, m["token"]) as c:
        ac = new_cred(c, m["user_id"], **fields)
    return ac, app_cred_token(server, ac["id"], ac["secret"]).headers["X-Subject-Token"]


def _cred_state(server, admin, m: dict, ac: dict, token: str) -> tuple[int, int, int]:
    """(show, authenticate, validate its token) as the admin sees them."""
    return (admin.get(f"{creds_url(m['user_id'])}/{ac['id']}").status_code,
            app_cred_token(server, ac["id"], ac["secret"]).status_code,
            admin.get(T, headers={"X-Subject-Token": token}).status_code)


def test_credentials_go_with_their_user_and_with_a_role_held_on_their_project(server, admin):
    """As Keystone: deleting the user deletes its credentials and access rules; deleting a role
    deletes the credentials of each user holding it directly on a project, on that project (all
    of them there, whatever their roles); their tokens stop validating."""
    m = reader_member(server, admin)
    ruled, ruled_token = _cred_and_token(server, m, access_rules=[{**RULE_BASE, "path": "/v3/x"}])
    rule_id = ruled["access_rules"][0]["id"]
    admin.delete(f"/identity/v3/users/{m['user_id']}")
    assert _cred_state(server, admin, m, ruled, ruled_token) == (404, 404, 404)
    system = {"auth": {**password_auth("admin", server.admin_password, None)["auth"], "scope": {"system": {"all": True}}}}
    with client_for(server) as c:
        system_token = c.post(T, json=system).headers["X-Subject-Token"]
    with client_for(server, system_token) as c:  # access rules: the system's readers only
        assert c.get(f"/identity/v3/users/{m['user_id']}/access_rules/{rule_id}").status_code == 404

    m = make_member(server, admin)
    role = admin.post("/identity/v3/roles", json={"role": {"name": f"r-{uuid.uuid4().hex[:8]}"}}).json()["role"]
    grant = f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{role['id']}"
    assert admin.put(grant).status_code == 204
    m["token"] = issue_token(server, m["name"], m["password"], m["name"])
    with_role, with_role_token = _cred_and_token(server, m, roles=[{"id": role["id"]}])
    member_only, member_token = _cred_and_token(server, m, roles=[{"id": m["role_id"]}])
    elsewhere = make_member(server, admin)  # holds member elsewhere: untouched
    other, other_token = _cred_and_token(server, elsewhere)
    assert admin.delete(f"/identity/v3/roles/{role['id']}").status_code == 204
    assert _cred_state(server, admin, m, with_role, with_role_token) == (404, 404, 404)
    assert _cred_state(server, admin, m, member_only, member_token) == (404, 404, 404)
    assert _cred_state(server, admin, elsewhere, other, other_token) == (200, 201, 200)


def test_credential_outlives_its_project_and_group_unusable(server, admin):
    """As Keystone: a deleted project leaves its credentials, and authenticating with one is
    404 for the project; losing the role through a group (membership or the group's grant)
    deletes nothing: tokens stop, authentication is 401, and both work again when it is back."""
    m = make_member(server, admin)
    ac, token = _cred_and_token(server, m)
    assert admin.delete(f"/identity/v3/projects/{m['project_id']}").status_code == 204
    assert _cred_state(server, admin, m, ac, token) == (200, 404, 404)
    assert m["project_id"] in app_cred_token(server, ac["id"], ac["secret"]).json()["error"]["message"]

    m = make_member(server, admin)
    group = admin.post("/identity/v3/groups", json={"group": {"name": f"g-{uuid.uuid4().hex[:8]}"}}).json()["group"]
    membership = f"/identity/v3/groups/{group['id']}/users/{m['user_id']}"
    group_grant = f"/identity/v3/projects/{m['project_id']}/groups/{group['id']}/roles/{m['role_id']}"
    assert [admin.put(membership).status_code, admin.put(group_grant).status_code] == [204, 204]
    admin.delete(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{m['role_id']}")
    m["token"] = issue_token(server, m["name"], m["password"], m["name"])  # member through the group
    ac, token = _cred_and_token(server, m)
    for removal in (membership, group_grant):
        assert admin.delete(removal).status_code == 204
        assert _cred_state(server, admin, m, ac, token)[:2] == (200, 401)
        assert admin.put(removal).status_code == 204
        token = app_cred_token(server, ac["id"], ac["secret"]).headers["X-Subject-Token"]
        assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 200


def test_unscoped_token_makes_a_credential_without_project(server, admin):
    """As Keystone: 201, no project and no role; authenticating with it gives an unscoped token
    that names the credential; it cannot name a role the unscoped token lacks."""
    m = make_member(server, admin)
    unscoped = issue_token(server, m["name"], m["password"], project=None)
    with client_for(server, unscoped) as c:
        ac = new_cred(c, m["user_id"])
        assert c.post(creds_url(m["user_id"]), json={"application_credential": {
            "name": "x", "roles": [{"id": m["role_id"]}]}}).status_code == 400
    assert ac["project_id"] is None and ac["roles"] == [] and ac["secret"]
    r = app_cred_token(server, ac["id"], ac["secret"])
    assert r.status_code == 201, r.text
    body = r.json()["token"]
    assert "project" not in body and "roles" not in body
    assert body["application_credential"] == {"id": ac["id"], "name": ac["name"], "restricted": True}
    token = r.headers["X-Subject-Token"]
    assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 200
    with client_for(server, token) as c:
        assert c.get(f"/identity/v3/users/{m['user_id']}").status_code == 200
        assert c.post(creds_url(m["user_id"]), json={"application_credential": {"name": "y"}}).status_code == 403
    admin.delete(f"/identity/v3/users/{m['user_id']}")
    assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 404


@pytest.mark.parametrize("body, status", [
    ({"application_credential": {}}, 400),  # no name
    ({"application_credential": {"name": 5}}, 400),
    ({"application_credential": {"name": "x", "roles": "admin"}}, 400),
    ({"application_credential": {"name": "x", "roles": [{}]}}, 400),
    ({"application_credential": {"name": "x", "unrestricted": "yes"}}, 400),
    ({"application_credential": {"name": "x", "expires_at": "garbage"}}, 400),
    ({"application_credential": {"name": "x", "expires_at": "2000-01-01T00:00:00"}}, 400),
    ({"application_credential": {"name": "x", "access_rules": [{"service": "compute", "method": "BREW",
                                                                 "path": "/x"}]}}, 400),
    ({"application_credential": {"name": "x", "access_rules": [{"service": "compute"}]}}, 400),
    ({"application_credential": {"name": "x", "roles": [{"name": "no-such-role"}]}}, 404),
    ({"application_credential": {"name": "x", "roles": [{"id": "0" * 32}]}}, 400),  # not held
    ({"application_credential": {"name": "x", "access_rules": [{"id": "0" * 32}]}}, 404),
    ({"nothing": {}}, 400),
    ([], 400),
])
def test_create_bad_input(server, member, body, status):
    r = member["client"].post(creds_url(member["user_id"]), json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == status


def test_malformed_oversized_duplicate_other_users_and_shell_names(server, member, admin):
    c, uid = member["client"], member["user_id"]
    r = c.post(creds_url(uid), content=b'{"application_credential": {', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    big = {"application_credential": {"name": "big", "description": "x" * (2 * 1024 * 1024)}}
    assert c.post(creds_url(uid), json=big).status_code == 413
    ac = new_cred(c, uid, name=SHELL)
    assert ac["name"] == SHELL
    assert c.get(creds_url(uid), params={"name": SHELL}).json()["application_credentials"][0]["id"] == ac["id"]
    dup = c.post(creds_url(uid), json={"application_credential": {"name": SHELL}})
    assert dup.status_code == 409
    other = make_member(server, admin)
    with client_for(server, other["token"]) as o:
        assert o.get(f"{creds_url(uid)}/{ac['id']}").status_code == 403
        assert o.get(creds_url(uid)).status_code == 403
        assert o.delete(f"{creds_url(uid)}/{ac['id']}").status_code == 403
        assert o.post(creds_url(uid), json={"application_credential": {"name": "n"}}).status_code == 403
        assert o.get(f"{creds_url(other['user_id'])}/{ac['id']}").status_code == 404  # not theirs
        assert o.get(f"/identity/v3/users/{uid}/access_rules").status_code == 403
    # an admin may read and delete another user's credentials, not create them
    assert admin.get(f"{creds_url(uid)}/{ac['id']}").status_code == 200
    assert admin.post(creds_url(uid), json={"application_credential": {"name": "n"}}).status_code == 403
    assert c.get(f"{creds_url(uid)}/{SHELL}").status_code == 404
    assert c.get(f"/identity/v3/users/{uid}/access_rules/{SHELL}").status_code == 404
    assert admin.delete(f"{creds_url(uid)}/{ac['id']}").status_code == 204


# ---- trusts --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def parties(server, admin):
    """A trustor (member and reader on its project) and a trustee (no role there)."""
    trustor = reader_member(server, admin)
    trustee = make_member(server, admin)
    return trustor, trustee


def new_trust(server, trustor, trustee, **fields) -> dict:
    body = {"trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"], "impersonation": False,
            "project_id": trustor["project_id"], "roles": [{"name": "reader"}], **fields}
    with client_for(server, trustor["token"]) as c:
        r = c.post(TRUSTS, json={"trust": body})
    assert r.status_code == 201, r.text
    return r.json()["trust"]


def trust_token(server, user: dict, trust_id: str, method: str = "password") -> "httpx.Response":
    if method == "password":
        ident = {"methods": ["password"], "password": {"user": {"id": user["user_id"], "password": user["password"]}}}
    else:
        unscoped = issue_token(server, user["name"], user["password"], project=None)
        ident = {"methods": ["token"], "token": {"id": unscoped}}
    with client_for(server) as c:
        return c.post(T, json={"auth": {"identity": ident, "scope": {"OS-TRUST:trust": {"id": trust_id}}}})


def test_trust_create_show_list_roles_delete(server, parties, admin):
    trustor, trustee = parties
    tr = new_trust(server, trustor, trustee, expires_at="2999-01-01T00:00:00Z")
    assert [r["name"] for r in tr["roles"]] == ["reader"] and tr["impersonation"] is False
    assert tr["expires_at"].startswith("2999-01-01T00:00:00") and tr["redelegation_count"] == 0
    with client_for(server, trustee["token"]) as c:
        assert c.get(f"{TRUSTS}/{tr['id']}").json()["trust"]["id"] == tr["id"]
        listed = c.get(TRUSTS, params={"trustee_user_id": trustee["user_id"]}).json()["trusts"]
        assert [t["id"] for t in listed] == [tr["id"]] and "roles" not in listed[0]
        assert c.get(TRUSTS).status_code == 403  # every trust: admins only
        assert c.get(TRUSTS, params={"trustor_user_id": trustor["user_id"]}).status_code == 403
        roles = c.get(f"{TRUSTS}/{tr['id']}/roles").json()["roles"]
        assert [r["id"] for r in roles] == [trustor["reader_id"]]
        assert c.get(f"{TRUSTS}/{tr['id']}/roles/{trustor['reader_id']}").status_code == 200
        assert c.get(f"{TRUSTS}/{tr['id']}/roles/{trustor['role_id']}").status_code == 404
        assert c.delete(f"{TRUSTS}/{tr['id']}").status_code == 403  # the trustor's to delete
    assert tr["id"] in {t["id"] for t in admin.get(TRUSTS).json()["trusts"]}
    assert admin.get(f"{TRUSTS}/{tr['id']}").status_code == 200  # admins read every trust, as Keystone
    outsider = make_member(server, admin)
    with client_for(server, outsider["token"]) as o:
        assert o.get(f"{TRUSTS}/{tr['id']}").status_code == 403
    with client_for(server, trustor["token"]) as c:
        assert c.delete(f"{TRUSTS}/{tr['id']}").status_code == 204
        assert c.get(f"{TRUSTS}/{tr['id']}").status_code == 404


def test_trust_token_with_and_without_impersonation(server, parties, admin):
    trustor, trustee = parties
    plain = new_trust(server, trustor, trustee)
    r = trust_token(server, trustee, plain["id"])
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["user"]["id"] == trustee["user_id"] and tok["project"]["id"] == trustor["project_id"]
    assert [x["name"] for x in tok["roles"]] == ["reader"]
    assert tok["OS-TRUST:trust"] == {"id": plain["id"], "impersonation": False,
                                     "trustor_user": {"id": trustor["user_id"]},
                                     "trustee_user": {"id": trustee["user_id"]}}
    with client_for(server, r.headers["X-Subject-Token"]) as t:
        assert t.get("/compute/v2.1/servers").status_code == 200
        assert t.post("/network/v2.0/networks", json={"network": {"name": "n"}}).status_code == 403  # reader
        assert t.post(creds_url(trustee["user_id"]), json={"application_credential": {"name": "x"}}).status_code == 403
    imp = new_trust(server, trustor, trustee, impersonation=True)
    r = trust_token(server, trustee, imp["id"], method="token")
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["user"]["id"] == trustor["user_id"] and tok["methods"] == ["token", "password"]
    assert trust_token(server, trustor, imp["id"]).status_code == 403  # only the trustee
    assert trust_token(server, trustee, "0" * 32).status_code == 401
    for t in (plain, imp):
        admin.delete(f"{TRUSTS}/{t['id']}")


def test_remaining_uses_and_revocation(server, parties, admin):
    trustor, trustee = parties
    tr = new_trust(server, trustor, trustee, remaining_uses=2)
    first = trust_token(server, trustee, tr["id"]).headers["X-Subject-Token"]
    assert trust_token(server, trustee, tr["id"]).status_code == 201
    assert trust_token(server, trustee, tr["id"]).status_code == 401  # used up
    with client_for(server, trustor["token"]) as c:
        assert c.get(f"{TRUSTS}/{tr['id']}").status_code == 404  # as Keystone: gone once used up
    assert admin.get(T, headers={"X-Subject-Token": first}).status_code == 200  # its tokens live on

    doomed = new_trust(server, trustor, trustee)
    token = trust_token(server, trustee, doomed["id"]).headers["X-Subject-Token"]
    with client_for(server, trustor["token"]) as c:
        assert c.delete(f"{TRUSTS}/{doomed['id']}").status_code == 204
    assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 404

    lost = new_trust(server, trustor, trustee)
    token = trust_token(server, trustee, lost["id"]).headers["X-Subject-Token"]
    # the trustor loses reader: its own grant, and member's, which implies reader
    grants = [f"/identity/v3/projects/{trustor['project_id']}/users/{trustor['user_id']}/roles/{trustor[role]}"
              for role in ("reader_id", "role_id")]
    assert [admin.delete(g).status_code for g in grants] == [204, 204]
    assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 404
    assert trust_token(server, trustee, lost["id"]).status_code == 401
    assert [admin.put(g).status_code for g in grants] == [204, 204]
    admin.delete(f"{TRUSTS}/{lost['id']}")
    # as Keystone: no revocation, the trustor's own token works again with its roles back
    assert admin.get(T, headers={"X-Subject-Token": trustor["token"]}).status_code == 200


def test_redelegation(server, parties, admin):
    trustor, trustee = parties
    third = make_member(server, admin)
    tr = new_trust(server, trustor, trustee, allow_redelegation=True, impersonation=False)
    assert tr["redelegation_count"] == 3
    token = trust_token(server, trustee, tr["id"]).headers["X-Subject-Token"]
    body = {"trustor_user_id": trustee["user_id"], "trustee_user_id": third["user_id"], "impersonation": False,
            "project_id": trustor["project_id"], "roles": [{"name": "reader"}]}
    with client_for(server, token) as t:
        r = t.post(TRUSTS, json={"trust": {**body, "impersonation": True}})
        assert r.status_code == 403  # more than the trust gives
        r = t.post(TRUSTS, json={"trust": body})
        assert r.status_code == 201, r.text
    child = r.json()["trust"]
    assert child["redelegated_trust_id"] == tr["id"] and child["redelegation_count"] == 2
    with client_for(server, trustor["token"]) as c:
        assert c.delete(f"{TRUSTS}/{tr['id']}").status_code == 204
    assert admin.get(f"{TRUSTS}/{child['id']}").status_code == 404
    assert trust_token(server, third, child["id"]).status_code == 401  # deleted with its parent


@pytest.mark.parametrize("fields, status", [
    ({"impersonation": "no"}, 400),
    ({"remaining_uses": "2"}, 400),
    ({"remaining_uses": 0}, 400),
    ({"roles": [{"name": "admin"}]}, 404),  # not the trustor's
    ({"roles": [{"name": "no-such-role"}]}, 404),
    ({"roles": []}, 403),
    ({"project_id": "0" * 32}, 404),
    ({"trustee_user_id": "0" * 32}, 404),
    ({"trustee_user_id": SHELL}, 404),
    ({"expires_at": "not a time"}, 400),
    ({"allow_redelegation": True, "redelegation_count": 9}, 403),
    ({"allow_redelegation": True, "remaining_uses": 1}, 400),
])
def test_trust_bad_input(server, parties, fields, status):
    trustor, trustee = parties
    body = {"trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"], "impersonation": False,
            "project_id": trustor["project_id"], "roles": [{"name": "reader"}], **fields}
    with client_for(server, trustor["token"]) as c:
        r = c.post(TRUSTS, json={"trust": body})
    assert r.status_code == status, r.text


def test_trust_malformed_missing_oversized_and_others(server, parties):
    trustor, trustee = parties
    with client_for(server, trustor["token"]) as c:
        assert c.post(TRUSTS, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
        assert c.post(TRUSTS, json={"trust": {"trustee_user_id": trustee["user_id"]}}).status_code == 400
        assert c.post(TRUSTS, json={"trust": {"x": "y" * (2 * 1024 * 1024)}}).status_code == 413
        assert c.get(f"{TRUSTS}/{SHELL}").status_code == 404
        assert c.delete(f"{TRUSTS}/{'0' * 32}").status_code == 404
        body = {"trustor_user_id": trustee["user_id"], "trustee_user_id": trustor["user_id"], "impersonation": False,
                "project_id": trustor["project_id"], "roles": [{"name": "reader"}]}
        assert c.post(TRUSTS, json={"trust": body}).status_code == 403  # the caller is not that trustor


def test_trusts_go_with_their_trustor_trustee_and_project(server, admin):
    """As Keystone: deleting the trustor, the trustee or the project deletes the trust (404 to
    its parties), and its tokens stop validating; a trust token is refused (401)."""
    for doomed in ("trustor", "trustee", "project"):
        trustor, trustee = reader_member(server, admin), make_member(server, admin)
        tr = new_trust(server, trustor, trustee)
        token = trust_token(server, trustee, tr["id"]).headers["X-Subject-Token"]
        other = new_trust(server, trustor, make_member(server, admin)) if doomed == "trustee" else None
        path = {"trustor": f"/identity/v3/users/{trustor['user_id']}",
                "trustee": f"/identity/v3/users/{trustee['user_id']}",
                "project": f"/identity/v3/projects/{trustor['project_id']}"}[doomed]
        assert admin.delete(path).status_code == 204
        assert admin.get(f"{TRUSTS}/{tr['id']}").status_code == 404, doomed
        assert admin.get(T, headers={"X-Subject-Token": token}).status_code == 404, doomed
        listed = admin.get(TRUSTS, params={"trustor_user_id": trustor["user_id"]}).json()["trusts"]
        assert [t["id"] for t in listed] == ([other["id"]] if other else []), doomed
        if doomed != "trustee":
            assert trust_token(server, trustee, tr["id"]).status_code == 401, doomed
