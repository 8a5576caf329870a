"""Credentials, EC2 credentials, domain configuration and OAuth1 over HTTP, on SQLite and
PostgreSQL: what each call answers, its refusals (malformed JSON, wrong types, missing fields,
oversized bodies, unknown ids, other users' ids), its policy, and that secrets are stored
encrypted. The CLI and openstacksdk drive the same calls in tests/e2e/test_credential_cli.py."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import httpx
import pytest
import sqlalchemy
from oauthlib.oauth1 import Client

from tests.conftest import TLS, client_for, issue_token, make_member

pytestmark = pytest.mark.backends("sqlite", "postgresql")
V3 = "/identity/v3"
SHELLY = "x'; $(touch /tmp/pwned) `id` | rm -rf / && echo \"$HOME\" > ~/.y <z>"
MISSING = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def alice(server, admin):
    return make_member(server, admin)


@pytest.fixture(scope="module")
def bob(server, admin):
    return make_member(server, admin)


def as_user(server, who) -> httpx.Client:
    return client_for(server, who["token"])


def stored(server, sql: str, **params) -> list:
    """Rows straight from the server's database (what is at rest); a write is committed."""
    url = server.database_url or f"sqlite:///{server.data_dir / 'caas.db'}"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def raw(client: httpx.Client, method: str, path: str, content: bytes) -> httpx.Response:
    return client.request(method, path, content=content, headers={"Content-Type": "application/json"})


# ---- credentials -----------------------------------------------------------------------------
def test_credential_lifecycle_is_stored_encrypted(server, admin, alice):
    blob = "top-secret-" + uuid.uuid4().hex
    r = admin.post(f"{V3}/credentials", json={"credential": {"user_id": alice["user_id"], "type": "cert",
                                                             "blob": blob, "project_id": alice["project_id"]}})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    assert (cred["user_id"], cred["type"], cred["blob"], cred["project_id"]) == (
        alice["user_id"], "cert", blob, alice["project_id"])
    assert cred["links"]["self"].endswith(f"/v3/credentials/{cred['id']}")
    (at_rest,) = stored(server, "SELECT encrypted_blob FROM credential WHERE id = :id", id=cred["id"])
    assert blob not in at_rest[0] and at_rest[0].startswith("gAAAAA")  # a Fernet token
    assert admin.get(f"{V3}/credentials/{cred['id']}").json()["credential"]["blob"] == blob
    listed = admin.get(f"{V3}/credentials", params={"user_id": alice["user_id"], "type": "cert"}).json()
    assert [c["id"] for c in listed["credentials"]] == [cred["id"]]
    assert admin.get(f"{V3}/credentials", params={"type": "nosuch"}).json()["credentials"] == []
    r = admin.patch(f"{V3}/credentials/{cred['id']}", json={"credential": {"blob": SHELLY, "type": SHELLY}})
    assert r.status_code == 200 and r.json()["credential"]["blob"] == SHELLY
    assert admin.get(f"{V3}/credentials/{cred['id']}").json()["credential"]["type"] == SHELLY
    assert admin.delete(f"{V3}/credentials/{cred['id']}").status_code == 204
    assert admin.get(f"{V3}/credentials/{cred['id']}").status_code == 404


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b'{"credential": {"user_id": 5, "type": "cert", "blob": "x"}}', 400),
    (b'{"credential": {"user_id": "u", "type": "cert", "blob": 5}}', 400),
    (b'{"credential": {"user_id": "u", "type": ["cert"], "blob": "x"}}', 400),
    (b'{"credential": {"type": "cert", "blob": "x"}}', 400),
    (b'{"credential": {"user_id": "u", "blob": "x"}}', 400),
    (b'{"credential": {"user_id": "u", "type": "cert"}}', 400),
    (b'{"credential": "cert"}', 400),
    (b'{}', 400),
    (b'{"credential": {"user_id": "u", "type": "ec2", "blob": "{\\"access\\": \\"a\\"}"}}', 400),
    (b'{"credential": {"user_id": "u", "type": "ec2", "blob": "no json", "project_id": "p"}}', 400),
    (b'{"credential": {"user_id": "u", "type": "cert", "blob": "' + b"x" * (1024 * 1024) + b'"}}', 413),
])
def test_credential_create_refusals(admin, body, status):
    r = raw(admin, "POST", f"{V3}/credentials", body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == status


def test_credential_unknown_ids_and_bad_updates(admin, alice):
    for method in ("GET", "DELETE"):
        assert admin.request(method, f"{V3}/credentials/{MISSING}").status_code == 404
    assert admin.patch(f"{V3}/credentials/{MISSING}", json={"credential": {"blob": "x"}}).status_code == 404
    cred = admin.post(f"{V3}/credentials", json={"credential": {"user_id": alice["user_id"], "type": "cert",
                                                                "blob": "b"}}).json()["credential"]
    path = f"{V3}/credentials/{cred['id']}"
    assert admin.patch(path, json={"credential": {}}).status_code == 400
    assert admin.patch(path, json={"credential": {"blob": 7}}).status_code == 400
    assert raw(admin, "PATCH", path, b"[").status_code == 400
    assert admin.patch(path, json={"credential": {"type": "ec2"}}).status_code == 400  # no project
    assert admin.delete(path).status_code == 204


def test_credential_policy_owner_or_admin(server, admin, alice, bob):
    with as_user(server, alice) as a, as_user(server, bob) as b:
        mine = a.post(f"{V3}/credentials", json={"credential": {"user_id": alice["user_id"], "type": "totp",
                                                               "blob": "alice's"}})
        assert mine.status_code == 201, mine.text
        cid = mine.json()["credential"]["id"]
        # another user's id: refused to create, see, change or delete
        assert a.post(f"{V3}/credentials", json={"credential": {"user_id": bob["user_id"], "type": "totp",
                                                               "blob": "x"}}).status_code == 403
        assert b.get(f"{V3}/credentials/{cid}").status_code == 403
        assert b.patch(f"{V3}/credentials/{cid}", json={"credential": {"blob": "y"}}).status_code == 403
        assert b.delete(f"{V3}/credentials/{cid}").status_code == 403
        assert a.patch(f"{V3}/credentials/{cid}", json={"credential": {"user_id": bob["user_id"]}}).status_code == 403
        assert [c["id"] for c in b.get(f"{V3}/credentials").json()["credentials"]] == []
        assert cid in [c["id"] for c in a.get(f"{V3}/credentials").json()["credentials"]]
        assert b.get(f"{V3}/credentials", params={"user_id": alice["user_id"]}).json()["credentials"] == []
    assert cid in [c["id"] for c in admin.get(f"{V3}/credentials").json()["credentials"]]
    assert admin.delete(f"{V3}/credentials/{cid}").status_code == 204


# ---- EC2 -------------------------------------------------------------------------------------
def test_ec2_credentials(server, admin, alice, bob):
    base = f"{V3}/users/{alice['user_id']}/credentials/OS-EC2"
    with as_user(server, alice) as a, as_user(server, bob) as b:
        r = a.post(base, json={"tenant_id": alice["project_id"]})
        assert r.status_code == 201, r.text
        ec2 = r.json()["credential"]
        assert set(ec2) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
        assert ec2["tenant_id"] == alice["project_id"] and len(ec2["secret"]) == 32
        assert [c["access"] for c in a.get(base).json()["credentials"]] == [ec2["access"]]
        assert a.get(f"{base}/{ec2['access']}").json()["credential"]["secret"] == ec2["secret"]
        # it is a credential of type ec2 whose id is the SHA-256 of its access key
        as_cred = a.get(f"{V3}/credentials", params={"type": "ec2"}).json()["credentials"]
        assert [c["id"] for c in as_cred] == [hashlib.sha256(ec2["access"].encode()).hexdigest()]
        assert json.loads(as_cred[0]["blob"])["secret"] == ec2["secret"]
        # another user's
        assert b.get(base).status_code == 403
        assert b.post(base, json={"tenant_id": bob["project_id"]}).status_code == 403
        assert b.get(f"{base}/{ec2['access']}").status_code == 403
        assert b.delete(f"{base}/{ec2['access']}").status_code == 403
        # unknown ids, missing and wrong fields, malformed JSON
        assert a.post(base, json={"tenant_id": MISSING}).status_code == 404
        assert a.post(base, json={}).status_code == 404
        assert a.post(base, json={"tenant_id": 5}).status_code == 400
        assert raw(a, "POST", base, b'{"tenant_id": ').status_code == 400
        assert a.get(f"{base}/{MISSING}").status_code == 404
        assert a.get(f"{base}/{SHELLY}").status_code == 404
        assert admin.post(f"{V3}/users/{MISSING}/credentials/OS-EC2",
                          json={"tenant_id": alice["project_id"]}).status_code == 404
        assert a.delete(f"{base}/{ec2['access']}").status_code == 204
        assert a.get(f"{base}/{ec2['access']}").status_code == 404


def test_deleting_a_user_or_project_deletes_its_credentials(server, admin):
    who = make_member(server, admin)
    other = make_member(server, admin)
    ec2 = admin.post(f"{V3}/users/{who['user_id']}/credentials/OS-EC2",
                     json={"tenant_id": who["project_id"]}).json()["credential"]
    on_project = admin.post(f"{V3}/credentials", json={"credential": {
        "user_id": other["user_id"], "type": "cert", "blob": "p", "project_id": who["project_id"]}}).json()
    own = admin.post(f"{V3}/credentials", json={"credential": {
        "user_id": other["user_id"], "type": "cert", "blob": "o"}}).json()
    assert admin.delete(f"{V3}/users/{who['user_id']}").status_code == 204
    assert admin.get(f"{V3}/credentials", params={"user_id": who["user_id"]}).json()["credentials"] == []
    assert not stored(server, "SELECT id FROM credential WHERE id = :id",
                      id=hashlib.sha256(ec2["access"].encode()).hexdigest())
    assert admin.delete(f"{V3}/projects/{who['project_id']}").status_code == 204
    assert admin.get(f"{V3}/credentials/{on_project['credential']['id']}").status_code == 404
    assert admin.get(f"{V3}/credentials/{own['credential']['id']}").status_code == 200


# ---- domain configuration --------------------------------------------------------------------
def test_domain_config_lifecycle(server, admin):
    dom = admin.post(f"{V3}/domains", json={"domain": {"name": f"cfg-{uuid.uuid4().hex[:8]}"}}).json()["domain"]
    base = f"{V3}/domains/{dom['id']}/config"
    assert admin.get(base).status_code == 404
    body = {"config": {"identity": {"driver": "ldap"},
                       "ldap": {"url": "ldap://x", "user": SHELLY, "password": "ldap-secret-pw"}}}
    r = admin.put(base, json=body)
    assert r.status_code == 201, r.text
    shown = {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "user": SHELLY}}
    assert r.json()["config"] == shown  # the password is never shown
    assert admin.put(base, json=body).status_code == 200  # replaced
    assert admin.get(base).json()["config"] == shown
    at_rest = stored(server, "SELECT value FROM domain_config WHERE domain_id = :d AND option = 'password'",
                     d=dom["id"])
    assert at_rest and "ldap-secret-pw" not in str(at_rest[0][0])
    assert admin.get(f"{base}/ldap/password").status_code == 404
    assert admin.get(f"{base}/ldap").json()["config"] == {"ldap": shown["ldap"]}
    assert admin.get(f"{base}/ldap/url").json()["config"] == {"url": "ldap://x"}
    assert admin.get(f"{base}/ldap/user_tree_dn").status_code == 404
    r = admin.patch(f"{base}/ldap/url", json={"config": {"url": "ldap://y"}})
    assert r.status_code == 200 and r.json()["config"]["ldap"]["url"] == "ldap://y"
    r = admin.patch(f"{base}/ldap", json={"config": {"ldap": {"suffix": "dc=x"}}})
    assert r.json()["config"]["ldap"]["suffix"] == "dc=x"
    assert admin.delete(f"{base}/ldap/user").status_code == 204
    assert admin.delete(f"{base}/ldap/user").status_code == 404
    assert admin.delete(f"{base}/identity").status_code == 204
    assert admin.get(f"{base}/identity").status_code == 404
    assert admin.delete(base).status_code == 204
    assert admin.get(base).status_code == 404
    assert not stored(server, "SELECT option FROM domain_config WHERE domain_id = :d", d=dom["id"])


@pytest.mark.parametrize("path, method, body, status, words", [
    ("", "PUT", {"config": {}}, 403, "No options specified"),
    ("", "PUT", {"config": {"foo": {"a": 1}}}, 403, "Group foo is not supported"),
    ("", "PUT", {"config": {"ldap": {"bogus": 1}}}, 403, "Option bogus in group ldap is not supported"),
    ("", "PUT", {"config": {"ldap": "x"}}, 403, "should be a dictionary of options"),
    ("", "PUT", {"config": 5}, 400, ""),
    ("", "PUT", {}, 400, ""),
    ("/ldap", "PATCH", {"config": {"identity": {"driver": "x"}}}, 403, "contains group identity instead"),
    ("/ldap", "PATCH", {"config": {"ldap": {"url": "a"}, "identity": {"driver": "x"}}}, 403,
     "only that, group must be specified"),
    ("/ldap/url", "PATCH", {"config": {"user": "a"}}, 403, "contains option user instead"),
    ("/ldap/url", "PATCH", {"config": {"url": "a", "user": "b"}}, 403, "only that, option must be specified"),
    ("/foo", "GET", None, 403, "Group foo is not supported"),
    ("/identity/url", "GET", None, 403, "Option url in group identity is not supported"),
    ("/foo", "DELETE", None, 403, "Group foo is not supported"),
])
def test_domain_config_refusals(admin, path, method, body, status, words):
    r = admin.request(method, f"{V3}/domains/default/config{path}", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]


def test_domain_config_inputs_policy_and_defaults(server, admin, alice):
    assert raw(admin, "PUT", f"{V3}/domains/default/config", b'{"config": {').status_code == 400
    big = b'{"config": {"ldap": {"url": "' + b"u" * (1024 * 1024) + b'"}}}'
    assert raw(admin, "PUT", f"{V3}/domains/default/config", big).status_code == 413
    assert admin.put(f"{V3}/domains/{MISSING}/config",
                     json={"config": {"ldap": {"url": "a"}}}).status_code == 404
    assert admin.put(f"{V3}/domains/{SHELLY}/config", json={"config": {"ldap": {"url": "a"}}}).status_code == 404
    with as_user(server, alice) as a:
        assert a.put(f"{V3}/domains/default/config", json={"config": {"ldap": {"url": "a"}}}).status_code == 403
        assert a.get(f"{V3}/domains/default/config").status_code == 403
        assert a.get(f"{V3}/domains/config/default").status_code == 403
        # the password rules are anybody's to read, for the default domain
        r = a.get(f"{V3}/domains/default/config/security_compliance")
        assert r.status_code == 200
        assert set(r.json()["config"]["security_compliance"]) == {"password_regex", "password_regex_description"}
        assert a.get(f"{V3}/domains/{MISSING}/config/security_compliance").status_code == 403
    defaults = admin.get(f"{V3}/domains/config/default").json()["config"]
    assert defaults["identity"]["driver"] == "sql" and "password" not in defaults["ldap"]
    assert admin.get(f"{V3}/domains/config/ldap/url/default").json()["config"] == {"url": "ldap://localhost"}
    assert admin.get(f"{V3}/domains/config/ldap/password/default").status_code == 403
    assert admin.get(f"{V3}/domains/config/foo/default").status_code == 403


# ---- OAuth1 ----------------------------------------------------------------------------------
def signed_post(server, path: str, client: Client, headers: dict | None = None, body=None) -> httpx.Response:
    """POST ``path`` signed by ``client`` (oauthlib: HMAC-SHA1 over the URL and OAuth params)."""
    url = server.url + path
    _, signed_headers, _ = client.sign(url, http_method="POST", headers=dict(headers or {}))
    with httpx.Client(verify=TLS, transport=server.transport, timeout=30) as http:
        if body is not None:
            signed_headers["Content-Type"] = "application/json"
        r = http.post(url, headers=signed_headers, content=json.dumps(body).encode() if body is not None else None)
    assert r.status_code < 500, r.text
    return r


def form(r: httpx.Response) -> dict:
    assert r.headers["content-type"].startswith("application/x-www-form-urlencoded"), r.headers
    return dict(httpx.QueryParams(r.text))


@pytest.fixture(scope="module")
def consumer(admin):
    r = admin.post(f"{V3}/OS-OAUTH1/consumers", json={"consumer": {"description": "robot"}})
    assert r.status_code == 201, r.text
    return r.json()["consumer"]


def test_consumers(server, admin, alice, consumer):
    assert len(consumer["secret"]) == 32
    cid = consumer["id"]
    shown = admin.get(f"{V3}/OS-OAUTH1/consumers/{cid}").json()["consumer"]
    assert "secret" not in shown and shown["description"] == "robot"
    assert cid in [c["id"] for c in admin.get(f"{V3}/OS-OAUTH1/consumers").json()["consumers"]]
    assert consumer["secret"] not in str(stored(server, "SELECT encrypted_secret FROM oauth_consumer"))
    r = admin.patch(f"{V3}/OS-OAUTH1/consumers/{cid}", json={"consumer": {"description": SHELLY}})
    assert r.json()["consumer"]["description"] == SHELLY
    assert admin.patch(f"{V3}/OS-OAUTH1/consumers/{cid}", json={"consumer": {"secret": "x"}}).status_code == 400
    assert admin.patch(f"{V3}/OS-OAUTH1/consumers/{cid}", json={"consumer": {}}).status_code == 400
    assert admin.patch(f"{V3}/OS-OAUTH1/consumers/{cid}", json={"consumer": {"description": 5}}).status_code == 400
    assert raw(admin, "POST", f"{V3}/OS-OAUTH1/consumers", b"{").status_code == 400
    assert admin.post(f"{V3}/OS-OAUTH1/consumers", json={"consumer": "x"}).status_code == 400
    big = b'{"consumer": {"description": "' + b"d" * (1024 * 1024) + b'"}}'
    assert raw(admin, "POST", f"{V3}/OS-OAUTH1/consumers", big).status_code == 413
    assert raw(admin, "PUT", f"{V3}/OS-OAUTH1/authorize/{MISSING}", big).status_code == 413
    assert admin.get(f"{V3}/OS-OAUTH1/consumers/{MISSING}").status_code == 404
    assert admin.delete(f"{V3}/OS-OAUTH1/consumers/{MISSING}").status_code == 404
    with as_user(server, alice) as a:
        assert a.post(f"{V3}/OS-OAUTH1/consumers", json={"consumer": {}}).status_code == 403
        assert a.get(f"{V3}/OS-OAUTH1/consumers").status_code == 403


def _access(server, admin, consumer, project_id: str, roles: list[dict]) -> dict:
    """An access token for ``consumer`` on ``project_id``, authorized by the admin with ``roles``."""
    c = Client(consumer["id"], client_secret=consumer["secret"], callback_uri="oob")
    rt = form(signed_post(server, f"{V3}/OS-OAUTH1/request_token", c, {"Requested-Project-Id": project_id}))
    r = admin.put(f"{V3}/OS-OAUTH1/authorize/{rt['oauth_token']}", json={"roles": roles})
    assert r.status_code == 200, r.text
    verifier = r.json()["token"]["oauth_verifier"]
    c = Client(consumer["id"], client_secret=consumer["secret"], resource_owner_key=rt["oauth_token"],
               resource_owner_secret=rt["oauth_token_secret"], verifier=verifier)
    r = signed_post(server, f"{V3}/OS-OAUTH1/access_token", c)
    assert r.status_code == 201, r.text
    return form(r)


def _oauth_token(server, consumer, access: dict) -> httpx.Response:
    c = Client(consumer["id"], client_secret=consumer["secret"], resource_owner_key=access["oauth_token"],
               resource_owner_secret=access["oauth_token_secret"])
    return signed_post(server, f"{V3}/auth/tokens", c, body={"auth": {"identity": {"methods": ["oauth1"],
                                                                                    "oauth1": {}}}})


@pytest.fixture(scope="module")
def delegated_project(admin):
    """A project where the admin holds member and reader (the roles it delegates), not admin."""
    project = admin.post(f"{V3}/projects", json={"project": {"name": f"oa-{uuid.uuid4().hex[:8]}"}}).json()["project"]
    me = admin.get(f"{V3}/users", params={"name": "admin"}).json()["users"][0]["id"]
    for role in admin.get(f"{V3}/roles").json()["roles"]:
        if role["name"] in ("member", "reader"):
            assert admin.put(f"{V3}/projects/{project['id']}/users/{me}/roles/{role['id']}").status_code == 204
    return project


def test_oauth1_delegation(server, admin, consumer, delegated_project):
    project = delegated_project
    roles = {r["name"]: r["id"] for r in admin.get(f"{V3}/roles").json()["roles"]}
    access = _access(server, admin, consumer, project["id"], [{"name": "member"}, {"id": roles["reader"]}])
    r = _oauth_token(server, consumer, access)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["methods"] == ["oauth1"] and token["project"]["id"] == project["id"]
    assert token["OS-OAUTH1"] == {"access_token_id": access["oauth_token"], "consumer_id": consumer["id"]}
    assert sorted(r["name"] for r in token["roles"]) == ["member", "reader"]  # not the admin's admin
    delegated = r.headers["X-Subject-Token"]
    with client_for(server, delegated) as d:
        assert d.get(f"{V3}/projects/{project['id']}").status_code == 200
        assert d.get(f"{V3}/users").status_code == 403  # no admin role
        rescoped = d.post(f"{V3}/auth/tokens", json={"auth": {"identity": {"methods": ["token"], "token": {
            "id": delegated}}, "scope": {"project": {"id": project["id"]}}}})
        assert rescoped.status_code == 403
    user_id = token["user"]["id"]
    base = f"{V3}/users/{user_id}/OS-OAUTH1/access_tokens"
    listed = admin.get(base).json()["access_tokens"]
    assert access["oauth_token"] in [t["id"] for t in listed]
    shown = admin.get(f"{base}/{access['oauth_token']}").json()["access_token"]
    assert shown["consumer_id"] == consumer["id"] and shown["project_id"] == project["id"]
    assert "access_secret" not in shown and "oauth_token_secret" not in str(shown)
    assert sorted(r["name"] for r in admin.get(f"{base}/{access['oauth_token']}/roles").json()["roles"]) == [
        "member", "reader"]
    assert admin.get(f"{base}/{access['oauth_token']}/roles/{roles['reader']}").status_code == 200
    assert admin.get(f"{base}/{access['oauth_token']}/roles/{roles['admin']}").status_code == 404
    assert admin.get(f"{base}/{MISSING}").status_code == 404
    # deleting the access token ends the tokens made with it
    assert admin.delete(f"{base}/{access['oauth_token']}").status_code == 204
    with client_for(server, delegated) as d:
        assert d.get(f"{V3}/projects/{project['id']}").status_code == 401
    assert _oauth_token(server, consumer, access).status_code == 404


def test_oauth1_refusals(server, admin, consumer, alice, delegated_project):
    project = delegated_project
    good = Client(consumer["id"], client_secret=consumer["secret"], callback_uri="oob")
    wrong = Client(consumer["id"], client_secret="f" * 32, callback_uri="oob")
    path = f"{V3}/OS-OAUTH1/request_token"
    assert signed_post(server, path, wrong, {"Requested-Project-Id": project["id"]}).status_code == 401
    assert signed_post(server, path, good).status_code == 400  # no Requested-Project-Id
    assert signed_post(server, path, good, {"Requested-Project-Id": MISSING}).status_code == 404
    unknown = Client(MISSING, client_secret="f" * 32, callback_uri="oob")
    assert signed_post(server, path, unknown, {"Requested-Project-Id": project["id"]}).status_code == 404
    with httpx.Client(verify=TLS, transport=server.transport) as http:
        assert http.post(server.url + path).status_code == 400  # not signed at all
    rt = form(signed_post(server, path, good, {"Requested-Project-Id": project["id"]}))
    auth = f"{V3}/OS-OAUTH1/authorize/{rt['oauth_token']}"
    assert admin.put(auth, json={"roles": [{"name": "admin"}]}).status_code == 401  # not held there
    assert admin.put(auth, json={"roles": [{"name": "no-such-role"}]}).status_code == 404
    assert admin.put(auth, json={"roles": [{"id": 5}]}).status_code == 400
    assert admin.put(auth, json={"roles": [{"id": "a", "name": "b"}]}).status_code == 400
    assert admin.put(auth, json={}).status_code == 400
    assert raw(admin, "PUT", auth, b"{").status_code == 400
    assert admin.put(f"{V3}/OS-OAUTH1/authorize/{MISSING}", json={"roles": [{"name": "member"}]}).status_code == 404
    admin_id = admin.get(f"{V3}/users", params={"name": "admin"}).json()["users"][0]["id"]
    with as_user(server, alice) as a:  # Keystone's default: only an admin authorizes
        assert a.put(auth, json={"roles": [{"name": "member"}]}).status_code == 403
        # another user's access tokens
        assert a.get(f"{V3}/users/{admin_id}/OS-OAUTH1/access_tokens").status_code == 403
        assert a.delete(f"{V3}/users/{admin_id}/OS-OAUTH1/access_tokens/{MISSING}").status_code == 403
    assert admin.get(f"{V3}/users/{admin_id}/OS-OAUTH1/access_tokens/{SHELLY}").status_code == 404
    # a wrong verifier, then an access token for a request token nobody authorized
    c = Client(consumer["id"], client_secret=consumer["secret"], resource_owner_key=rt["oauth_token"],
               resource_owner_secret=rt["oauth_token_secret"], verifier="abcdefgh")
    assert signed_post(server, f"{V3}/OS-OAUTH1/access_token", c).status_code == 401
    # deleting the consumer deletes its tokens
    doomed = admin.post(f"{V3}/OS-OAUTH1/consumers", json={"consumer": {}}).json()["consumer"]
    access = _access(server, admin, doomed, project["id"], [{"name": "member"}])
    token = _oauth_token(server, doomed, access).headers["X-Subject-Token"]
    assert admin.delete(f"{V3}/OS-OAUTH1/consumers/{doomed['id']}").status_code == 204
    with client_for(server, token) as d:
        assert d.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": token}).status_code == 401
    assert not stored(server, "SELECT id FROM oauth_access_token WHERE consumer_id = :c", c=doomed["id"])


def test_oauth1_replays_are_refused(server, admin, consumer, delegated_project):
    """A signed request reusing the consumer, timestamp and nonce of one accepted before is
    refused with Keystone's answer to a request oauthlib refuses (401), for a request token, an
    access token and an oauth1 login alike; nonces past oauthlib's ten minutes are purged."""
    project, now = delegated_project["id"], int(time.time())
    stored(server, "INSERT INTO oauth_nonce (consumer_id, timestamp, nonce) VALUES (:c, :t, 'old')",
           c=consumer["id"], t=now - 700)

    def client(nonce: str, **tokens) -> Client:
        return Client(consumer["id"], client_secret=consumer["secret"], nonce=nonce, timestamp=str(now), **tokens)

    path, project_header = f"{V3}/OS-OAUTH1/request_token", {"Requested-Project-Id": project}
    tokens = [form(signed_post(server, path, client(f"rt{i}", callback_uri="oob"), project_header)) for i in (1, 2)]
    again = signed_post(server, path, client("rt1", callback_uri="oob"), project_header)
    assert again.status_code == 401 and again.json()["error"]["message"] == "Invalid signature"
    assert not stored(server, "SELECT nonce FROM oauth_nonce WHERE nonce = 'old'")  # purged
    verifiers = [admin.put(f"{V3}/OS-OAUTH1/authorize/{t['oauth_token']}", json={"roles": [{"name": "member"}]})
                 .json()["token"]["oauth_verifier"] for t in tokens]

    def exchange(i: int, nonce: str) -> httpx.Response:
        return signed_post(server, f"{V3}/OS-OAUTH1/access_token", client(
            nonce, resource_owner_key=tokens[i]["oauth_token"], resource_owner_secret=tokens[i]["oauth_token_secret"],
            verifier=verifiers[i]))

    access = form(exchange(0, "at1"))
    assert exchange(1, "at1").status_code == 401  # another request token, the same nonce
    assert exchange(1, "at2").status_code == 201
    login = client("login1", resource_owner_key=access["oauth_token"],
                   resource_owner_secret=access["oauth_token_secret"])
    body = {"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}}
    assert signed_post(server, f"{V3}/auth/tokens", login, body=body).status_code == 201
    replayed = signed_post(server, f"{V3}/auth/tokens", login, body=body)
    assert replayed.status_code == 401
    assert replayed.json()["error"]["message"] == "Could not validate the access token"
