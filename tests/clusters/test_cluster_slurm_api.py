"""The slurm profile's API on the fake driver (guest checks off): the create's new fields and
their refusals, the shared /home as a share of the cloud made before the servers and deleted
with the cluster, and the elastic cluster's scale call with its scaler credential: an
application credential whose access rules allow that one call on that one cluster, refused
everywhere else. Bad input to the scale call: malformed JSON, wrong types, missing fields,
oversized bodies, unknown and foreign clusters, names outside the cluster's nodes (shell
metacharacters included). The profile on real instances: tests/e2e/test_netns_slurm.py."""

from __future__ import annotations

import pytest

from tests.clusters.common import API, body, create, delete, error, set_quota, wait
from tests.conftest import client_for, make_member



@pytest.fixture(scope="module")
def srv(server):
    return server


@pytest.fixture(scope="module")
def alice(srv, admin):
    m = make_member(srv, admin, "alice-slurm")
    set_quota(admin, m["project_id"], instances=30, cores=60)
    with client_for(srv, m["token"]) as c:
        m["client"] = c
        yield m


@pytest.fixture(scope="module")
def bob(srv, admin):
    m = make_member(srv, admin, "bob-slurm")
    with client_for(srv, m["token"]) as c:
        m["client"] = c
        yield m


def scale(c, ref: str, action: str, names: list) -> object:
    return c.post(f"{API}/clusters/{ref}/scale", json={"scale": {"action": action, "names": names}})


def shares(c, project_id: str) -> list[dict]:
    r = c.get(f"/share/v2/{project_id}/shares/detail")
    assert r.status_code == 200, r.text
    return r.json()["shares"]


@pytest.mark.parametrize("fields, words", [
    ({"users": ["root"]}, "system account"), ({"users": ["Bob"]}, "not a login name"),
    ({"users": ["a;rm -rf /"]}, "not a login name"), ({"users": "bob"}, "valid list"),
    ({"partitions": "two"}, "partitions"), ({"home_size": 0}, "home_size"), ({"home_size": "1"}, "integer"),
    ({"min_nodes": 1}, "go with max_nodes"), ({"max_nodes": 4, "min_nodes": 5}, "min_nodes"),
    ({"max_nodes": 1}, "starts with between"), ({"max_nodes": 4, "idle_time": 5}, "idle_time"),
    ({"max_nodes": 4, "idle_time": True}, "integer"),
])
def test_a_slurm_create_with_bad_options_is_refused_with_nothing_made(alice, fields, words):
    c = alice["client"]
    r = c.post(f"{API}/clusters", json=body("bad", 2, profile="slurm", **fields))
    assert words in error(r, 400)["message"]
    assert c.get(f"{API}/clusters/bad").status_code == 404
    assert shares(c, alice["project_id"]) == []


def test_options_of_another_profile_are_refused(alice):
    r = alice["client"].post(f"{API}/clusters", json=body("bad", 1, users=["bob"], max_nodes=3))
    assert "takes no max_nodes, users" in error(r, 400)["message"]


def test_a_slurm_cluster_has_users_options_and_a_shared_home(alice, admin):
    c = alice["client"]
    v = create(c, "hpc", 2, profile="slurm", users=["bob", "carol"], partitions="flavor", home_size=3)
    assert v["status"] == "ACTIVE" and v["profile"] == "slurm" and v["profile_version"] == "22.05"
    assert v["users"] == ["alice-slurm", "bob", "carol"]
    assert v["options"] == {"partitions": "flavor", "home_size": 3}  # not elastic: no idle_time shown
    assert v["queue"] is None  # the fake driver's guests run nothing: no queue is read
    steps = [e["step"] for e in c.get(f"{API}/clusters/hpc/events").json()["events"]]
    assert steps.index("home") < steps.index("head") and steps[-2:] == ["slurm", "create"]
    home = [s for s in shares(c, alice["project_id"]) if s["name"] == "hpc-home"]
    assert len(home) == 1 and home[0]["size"] == 3 and home[0]["status"] == "available"
    assert home[0]["metadata"]["caas_cluster"] == v["id"]
    rules = c.get(f"/share/v2/{alice['project_id']}/share-access-rules?share_id={home[0]['id']}",
                  headers={"X-OpenStack-Manila-API-Version": "2.45"}).json()["access_list"]
    assert [(r["access_type"], r["access_to"], r["access_level"]) for r in rules] == [("ip", v["cidr"], "rw")]
    # the servers asked for carry the mount and the users in their cloud-config
    samples = c.get(f"{API}/clusters/hpc/samples").json()["samples"]
    assert samples and samples[-1]["nodes"] == 2
    # not elastic: no scale
    assert "not elastic" in error(scale(c, "hpc", "resume", ["node003"]), 409)["message"]
    delete(c, "hpc")
    assert [s for s in shares(c, alice["project_id"]) if s["name"] == "hpc-home"] == []


@pytest.fixture(scope="module")
def elastic(alice):
    c = alice["client"]
    v = create(c, "ela", 0, profile="slurm", min_nodes=0, max_nodes=4, idle_time=30)
    assert v["status"] == "ACTIVE" and v["node_count"] == 0
    assert v["options"] == {"partitions": "one", "home_size": 10, "min_nodes": 0, "max_nodes": 4, "idle_time": 30}
    yield v
    delete(c, "ela")


def scaler_token(srv, alice, admin) -> str:
    """A token of the cluster's scaler credential (its secret as the cluster's head gets it)."""
    from caas.clusters.credentials import ClusterCredentials
    from caas.config import Settings
    from caas.db import Database
    from caas.identity.secrets import SecretBox
    from caas.identity.tokens import KeyRepository

    settings = Settings(data_dir=srv.data_dir)
    db = Database(settings.db_url)
    try:
        creds = ClusterCredentials(db, SecretBox(KeyRepository(settings.credential_key_dir)), None)
        cluster_id = alice["client"].get(f"{API}/clusters/ela").json()["cluster"]["id"]
        cred_id, secret = creds.scaler(cluster_id)
    finally:
        db.dispose()
    rules = admin.get(f"/identity/v3/users/{alice['user_id']}/application_credentials/{cred_id}").json()
    assert rules["application_credential"]["access_rules"][0]["path"] == f"/v1/clusters/{cluster_id}/scale"
    r = admin.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {"id": cred_id, "secret": secret}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_slurm_resumes_and_suspends_nodes_with_the_scaler_credential_only(srv, alice, admin, elastic):
    token = scaler_token(srv, alice, admin)
    cid = elastic["id"]
    with client_for(srv, token) as scaler:
        r = scale(scaler, cid, "resume", ["node001", "node002"])
        assert r.status_code == 202, r.text
        assert r.json()["nodes"] == ["node001", "node002"]
        v = wait(alice["client"], "ela")
        assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001", "node002"]
        # a resume of nodes that exist is nothing to do
        r = scale(scaler, cid, "resume", ["node002"])
        assert r.status_code == 200 and r.json()["nodes"] == []
        r = scale(scaler, cid, "suspend", ["node001"])
        assert r.status_code == 202 and r.json()["nodes"] == ["node001"]
        v = wait(alice["client"], "ela")
        assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node002"]
        # everything else is refused to it: the access rules allow that one call
        for method, path in (("GET", f"{API}/clusters"), ("GET", f"{API}/clusters/{cid}"),
                             ("DELETE", f"{API}/clusters/{cid}"), ("POST", f"{API}/clusters/{cid}/nodes"),
                             ("GET", "/compute/v2.1/servers"), ("GET", f"/share/v2/{alice['project_id']}/shares")):
            assert scaler.request(method, path, json={}).status_code == 401, (method, path)
    messages = [e["message"] for e in alice["client"].get(f"{API}/clusters/ela/events").json()["events"]]
    assert any(m.startswith("Slurm asked for node[001-002]") for m in messages)
    assert any(m.startswith("Slurm suspends node001") for m in messages)


@pytest.mark.parametrize("raw, status", [
    (b"{", 400), (b"[]", 400), (b'{"scale": []}', 400), (b'{"scale": {}}', 400),
    (b'{"scale": {"action": "resume"}}', 400), (b'{"scale": {"names": ["node001"]}}', 400),
    (b'{"scale": {"action": 1, "names": ["node001"]}}', 400), (b'{"scale": {"action": "grow", "names": ["node001"]}}', 400),
    (b'{"scale": {"action": "resume", "names": "node001"}}', 400), (b'{"scale": {"action": "resume", "names": [1]}}', 400),
    (b'{"scale": {"action": "resume", "names": []}}', 400),
    (b'{"scale": {"action": "resume", "names": ["node001"], "extra": 1}}', 400),
])
def test_bad_scale_bodies_are_refused(alice, elastic, raw, status):
    r = alice["client"].post(f"{API}/clusters/ela/scale", content=raw, headers={"Content-Type": "application/json"})
    error(r, status)


@pytest.mark.parametrize("names", [["node005"], ["node0001"], ["node001;reboot"], ["$(reboot)"], ["../node001"],
                                   ["node001", "head"]])
def test_names_outside_the_clusters_elastic_nodes_are_refused(alice, elastic, names):
    message = error(scale(alice["client"], "ela", "resume", names), 400)["message"]
    assert "no node" in message or "invalid node name" in message
    assert wait(alice["client"], "ela")["node_count"] <= 1


def test_oversized_unknown_and_foreign(alice, bob, elastic):
    c = alice["client"]
    r = c.post(f"{API}/clusters/ela/scale", content=b'{"scale": {"action": "resume", "names": ["' + b"n" * (2 << 20)
               + b'"]}}', headers={"Content-Type": "application/json"})
    error(r, 413)
    error(scale(c, "nosuch", "resume", ["node001"]), 404)
    error(scale(bob["client"], elastic["id"], "resume", ["node001"]), 404)  # another project's: not seen
    error(scale(bob["client"], "ela", "resume", ["node001"]), 404)


def test_an_existing_slurm_cluster_is_made_elastic(alice, bob):
    c = alice["client"]
    create(c, "grow", 2, profile="slurm")
    url = f"{API}/clusters/grow/elastic"
    assert "beyond max_nodes" in error(c.put(url, json={"elastic": {"max_nodes": 1}}), 409)["message"]
    assert "max_nodes" in error(c.put(url, json={"elastic": {"min_nodes": 1}}), 400)["message"]
    for bad in ({"elastic": {"max_nodes": "4"}}, {"elastic": {"max_nodes": 4, "extra": 1}}, {"elastic": []},
                {"max_nodes": 4}, {"elastic": {"max_nodes": 4, "idle_time": 1}},
                {"elastic": {"max_nodes": 4, "min_nodes": 3}}):
        error(c.put(url, json=bad), 400)
    error(c.put(url, content=b"{", headers={"Content-Type": "application/json"}), 400)
    error(c.put(f"{API}/clusters/nosuch/elastic", json={"elastic": {"max_nodes": 4}}), 404)
    error(bob["client"].put(url, json={"elastic": {"max_nodes": 4}}), 404)
    r = c.put(url, json={"elastic": {"max_nodes": 4, "idle_time": 60}})
    assert r.status_code == 202, r.text
    v = wait(c, "grow")
    assert v["status"] == "ACTIVE" and v["options"]["max_nodes"] == 4 and v["options"]["min_nodes"] == 0
    assert v["options"]["idle_time"] == 60 and v["node_count"] == 2
    assert scale(c, "grow", "resume", ["node003"]).status_code == 202  # now elastic
    assert wait(c, "grow")["node_count"] == 3
    base = create(c, "plain", 1)
    assert "no elastic nodes" in error(c.put(f"{API}/clusters/plain/elastic", json={"elastic": {"max_nodes": 4}}),
                                       400)["message"]
    delete(c, "plain")
    delete(c, "grow")
    assert base["profile"] == "base"
