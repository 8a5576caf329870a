"""Credentials, EC2 credentials and OAuth1 as the real ``openstack`` CLI and openstacksdk send
them (each kind of command once as a process, through ``Sequence``), and keystoneauth's OAuth1
plugin getting a token from the access token the CLI made, against ``caas up`` on SQLite."""

from __future__ import annotations

import json

import openstack
import pytest

from tests.conftest import client_for, issue_token
from tests.e2e.osc import Sequence, requires_cli

pytestmark = requires_cli
V3 = "/identity/v3"


@pytest.fixture(scope="module")
def ids(server):
    """The admin's user and project ids."""
    token = issue_token(server)
    with client_for(server, token) as c:
        body = c.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]
    return body["user"]["id"], body["project"]["id"]


def test_credentials_and_ec2_with_the_cli(server, ids):
    seq, env = Sequence(), server.os_env()
    user_id, project_id = ids
    cred = seq.json(env, "credential", "create", "--type", "cert", "--project", "admin", "admin", "s3cr3t; $(id)")
    assert cred["blob"] == "s3cr3t; $(id)" and cred["user_id"] == user_id and cred["project_id"] == project_id
    listed = seq.json(env, "credential", "list", "--type", "cert", "--user", "admin")
    assert [c["ID"] for c in listed] == [cred["id"]]
    seq(env, "credential", "set", "--user", "admin", "--type", "cert", "--data", "rotated", cred["id"])
    assert seq.json(env, "credential", "show", cred["id"])["blob"] == "rotated"
    seq(env, "credential", "delete", cred["id"])
    missing = seq(env, "credential", "show", cred["id"], check=False)
    assert missing.returncode != 0 and "Could not find credential" in missing.stderr + missing.stdout

    ec2 = seq.json(env, "ec2", "credentials", "create", "--project", "admin", "--user", "admin")
    assert ec2["project_id"] == project_id and ec2["user_id"] == user_id and len(ec2["secret"]) == 32
    assert [r["Access"] for r in seq.json(env, "ec2", "credentials", "list", "--user", "admin")] == [ec2["access"]]
    assert seq.json(env, "ec2", "credentials", "show", "--user", "admin", ec2["access"])["secret"] == ec2["secret"]
    assert ec2["access"] in json.dumps(seq.json(env, "credential", "list", "--type", "ec2"))
    seq(env, "ec2", "credentials", "delete", "--user", "admin", ec2["access"])
    assert seq.json(env, "ec2", "credentials", "list", "--user", "admin") == []


def test_credentials_with_openstacksdk(server, ids):
    user_id, project_id = ids
    conn = openstack.connect(auth_url=server.url + "/identity/v3", username="admin", password=server.admin_password,
                             project_name="admin", user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne")
    try:
        cred = conn.identity.create_credential(user_id=user_id, type="totp", blob="sdk-blob", project_id=project_id)
        assert conn.identity.get_credential(cred.id).blob == "sdk-blob"
        assert cred.id in [c.id for c in conn.identity.credentials()]
        assert conn.identity.update_credential(cred, blob="sdk-rotated").blob == "sdk-rotated"
        conn.identity.delete_credential(cred)
        assert conn.identity.find_credential(cred.id) is None
    finally:
        conn.close()


def test_oauth1_with_the_cli_and_keystoneauth(server, ids):
    from keystoneauth1 import session
    from keystoneauth1.extras import oauth1

    seq, env = Sequence(), server.os_env()
    _, project_id = ids
    consumer = seq.json(env, "consumer", "create", "--description", "robot")
    seq(env, "consumer", "set", "--description", "robot 2", consumer["id"])
    assert seq.json(env, "consumer", "show", consumer["id"])["description"] == "robot 2"
    assert consumer["id"] in [c["ID"] for c in seq.json(env, "consumer", "list")]
    request = seq.json(env, "request", "token", "create", "--consumer-key", consumer["id"],
                       "--consumer-secret", consumer["secret"], "--project", project_id)
    verifier = seq.json(env, "request", "token", "authorize", "--request-key", request["key"],
                        "--role", "admin")["oauth_verifier"]
    access = seq.json(env, "access", "token", "create", "--consumer-key", consumer["id"],
                      "--consumer-secret", consumer["secret"], "--request-key", request["key"],
                      "--request-secret", request["secret"], "--verifier", verifier)
    plugin = oauth1.V3OAuth1(server.url + "/identity/v3", consumer_key=consumer["id"],
                             consumer_secret=consumer["secret"], access_key=access["key"],
                             access_secret=access["secret"])
    sess = session.Session(auth=plugin)
    ref = plugin.get_access(sess)
    assert ref.project_id == project_id and ref.role_names == ["admin"]
    assert ref._data["token"]["OS-OAUTH1"]["consumer_id"] == consumer["id"]
    r = sess.get(f"{server.url}{V3}/projects/{project_id}")  # the delegated token at work
    assert r.status_code == 200 and r.json()["project"]["id"] == project_id
    seq(env, "consumer", "delete", consumer["id"])
    gone = seq(env, "consumer", "show", consumer["id"], check=False)
    assert gone.returncode != 0 and "consumer" in (gone.stderr + gone.stdout).lower()
