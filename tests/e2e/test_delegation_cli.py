"""Application credentials and trusts through the real ``openstack`` CLI (each kind of command
once as a process, ``Sequence``) and openstacksdk/keystoneauth: a credential authenticates the
CLI (``--os-auth-type v3applicationcredential``) and reaches compute, network and the cluster
API with exactly its roles, and dies with its deletion; a trust gives its trustee a trust-scoped
token (``trust_id``) that dies with the trust."""

import json

import pytest

from tests.conftest import issue_token, make_member
from tests.e2e.osc import Sequence, requires_cli

pytestmark = requires_cli


def cred_env(server, cred_id: str, secret: str) -> dict:
    """The CLI's environment for an application credential (no user, no project)."""
    env = {k: v for k, v in server.os_env().items()
           if k not in {"OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
                        "OS_PROJECT_DOMAIN_NAME"}}
    env.update({"OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_ID": cred_id,
                "OS_APPLICATION_CREDENTIAL_SECRET": secret})
    return env


def sdk(server, **auth):
    import openstack

    return openstack.connect(auth_url=server.url + "/identity/v3", region_name="RegionOne", **auth)


@pytest.fixture(scope="module")
def user(server, admin):
    """A member (and reader) of its own project."""
    m = make_member(server, admin)
    reader = admin.get("/identity/v3/roles", params={"name": "reader"}).json()["roles"][0]["id"]
    admin.put(f"/identity/v3/projects/{m['project_id']}/users/{m['user_id']}/roles/{reader}")
    return m


def test_application_credentials_through_the_cli(server, user):
    seq = Sequence()
    env = server.os_env(user["name"], user["password"], user["name"])
    reader = seq.json(env, "application", "credential", "create", "--role", "reader", "--description", "ci",
                      "--expiration", "2999-01-01T00:00:00", "ci-reader")
    assert reader["Secret"] and [r["name"] for r in reader["Roles"]] == ["reader"]
    rules = json.dumps([{"service": "compute", "method": "GET", "path": "/v2.1/servers/detail"}])
    ruled = seq.json(env, "application", "credential", "create", "--secret", "Given-Secret-1", "--unrestricted",
                     "--access-rules", rules, "ci-ruled")
    assert ruled["Secret"] == "Given-Secret-1" and ruled["Unrestricted"] is True
    names = {c["Name"] for c in seq.json(env, "application", "credential", "list")}
    assert {"ci-reader", "ci-ruled"} <= names
    assert seq.json(env, "application", "credential", "show", "ci-reader")["Description"] == "ci"

    as_reader = cred_env(server, reader["ID"], reader["Secret"])
    assert seq(as_reader, "server", "list").returncode == 0
    assert seq(as_reader, "network", "list").returncode == 0
    refused = seq(as_reader, "network", "create", "nope", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr + refused.stdout

    as_ruled = cred_env(server, ruled["ID"], "Given-Secret-1")
    assert seq(as_ruled, "server", "list").returncode == 0
    assert seq(as_ruled, "network", "list", check=False).returncode != 0  # no rule for it

    (rule,) = seq.json(env, "access", "rule", "list")
    assert (rule["Service"], rule["Method"], rule["Path"]) == ("compute", "GET", "/v2.1/servers/detail")
    assert seq.json(env, "access", "rule", "show", rule["ID"])["Path"] == "/v2.1/servers/detail"
    seq(env, "application", "credential", "delete", "ci-ruled")
    seq(env, "access", "rule", "delete", rule["ID"])
    assert seq.json(env, "access", "rule", "list") == []

    seq(env, "application", "credential", "delete", "ci-reader")
    gone = seq(as_reader, "server", "list", check=False)
    assert gone.returncode != 0 and "Could not find Application Credential" in gone.stderr  # 404, as Keystone


def test_application_credential_through_openstacksdk(server, user):
    """The credential's token reaches compute, network and the cluster API (through
    keystoneauth's session), with exactly its roles."""
    with_member = issue_token(server, user["name"], user["password"], user["name"])
    import httpx

    r = httpx.post(f"{server.url}/identity/v3/users/{user['user_id']}/application_credentials",
                   headers={"X-Auth-Token": with_member},
                   json={"application_credential": {"name": "sdk", "roles": [{"name": "reader"}]}})
    cred = r.json()["application_credential"]
    conn = sdk(server, auth_type="v3applicationcredential", application_credential_id=cred["id"],
               application_credential_secret=cred["secret"])
    access = conn.session.auth.get_access(conn.session)
    assert access.role_names == ["reader"] and access.project_id == user["project_id"]
    assert list(conn.compute.servers()) == [] and isinstance(list(conn.network.networks()), list)
    clusters = conn.session.get(server.url + "/caas/v1/clusters")
    assert clusters.status_code == 200 and "clusters" in clusters.json()
    refused = conn.session.post(server.url + "/caas/v1/clusters", json={"cluster": {"name": "c1"}},
                                raise_exc=False)
    assert refused.status_code in (400, 403)  # a reader creates nothing (400: the body is checked first)
    import openstack.exceptions

    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.network.create_network(name="nope")


def test_trusts_through_the_cli_and_keystoneauth(server, admin):
    seq = Sequence()
    env = server.os_env()
    trustee = make_member(server, admin)
    # the trustor (admin) holds reader too: a trust lends only what its trustor holds
    me = admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": admin.headers["X-Auth-Token"]}).json()
    reader = admin.get("/identity/v3/roles", params={"name": "reader"}).json()["roles"][0]["id"]
    admin.put(f"/identity/v3/projects/{me['token']['project']['id']}/users/{me['token']['user']['id']}/roles/{reader}")
    trust = seq.json(env, "trust", "create", "--project", "admin", "--role", "reader", "--impersonate",
                     "admin", trustee["name"])
    assert trust["is_impersonation"] is True and trust["project_id"]
    assert trust["id"] in {t["ID"] for t in seq.json(env, "trust", "list")}
    assert seq.json(env, "trust", "show", trust["id"])["trustee_user_id"] == trustee["user_id"]

    conn = sdk(server, username=trustee["name"], password=trustee["password"], user_domain_name="Default",
               trust_id=trust["id"])
    access = conn.session.auth.get_access(conn.session)
    assert access.trust_id == trust["id"] and access.trust_scoped and access.role_names == ["reader"]
    assert access.user_id != trustee["user_id"]  # impersonation: the trustor
    assert isinstance(list(conn.compute.servers()), list)
    token = conn.session.get_token()

    seq(env, "trust", "delete", trust["id"])
    r = admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert r.status_code == 404
