"""Who may do what on /caas/v1 (issue 14, finding 1): every call of the API against every
persona. The cluster service acts in the cloud with more rights than its caller, so it must
refuse what the services it drives would refuse: a reader only reads (403 on every write, with
nothing made), any other role on the project (member, or a custom one such as the seed's
``fabric``) writes, also on a colleague's cluster; another project's clusters are 404; only
admins list every project's. The dashboard's cluster forms answer a reader 403 too."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.clusters.common import API, body, create, delete, leftovers, wait
from tests.conftest import client_for, issue_token, make_member
from tests.dashboard.common import Browser

PASSWORD = "Secret_123"


def _user_with(srv, admin: httpx.Client, project_id: str, role: str) -> httpx.Client:
    """A new user with only ``role`` on the project, as a client with a token scoped to it."""
    name = f"p{uuid.uuid4().hex[:8]}"
    user = admin.post("/identity/v3/users", json={"user": {"name": name, "password": PASSWORD}}).json()["user"]
    roles = admin.get("/identity/v3/roles", params={"name": role}).json()["roles"]
    role_id = roles[0]["id"] if roles else admin.post("/identity/v3/roles", json={"role": {"name": role}}).json()["role"]["id"]
    assert admin.put(f"/identity/v3/projects/{project_id}/users/{user['id']}/roles/{role_id}").status_code == 204
    project = admin.get(f"/identity/v3/projects/{project_id}").json()["project"]["name"]
    c = client_for(srv, issue_token(srv, name, PASSWORD, project))
    c.user_name = name
    c.project_name = project
    return c


@pytest.fixture(scope="module")
def people(sqlite_server):
    srv = sqlite_server
    with client_for(srv, issue_token(srv)) as admin:
        owner = make_member(srv, admin)
        pid = owner["project_id"]
        stranger = make_member(srv, admin)
        clients = {"owner": client_for(srv, owner["token"]),
                   "colleague": _user_with(srv, admin, pid, "member"),
                   "reader": _user_with(srv, admin, pid, "reader"),
                   "custom": _user_with(srv, admin, pid, "fabric"),
                   "stranger": client_for(srv, stranger["token"]),
                   "admin": client_for(srv, issue_token(srv)),
                   "nobody": client_for(srv)}
        clients["owner"].project_name = owner["name"]
        cluster = create(clients["owner"], "mine", 1)
        assert cluster["status"] == "ACTIVE", cluster
        yield clients, cluster
        for c in clients.values():
            c.close()


def _status(c: httpx.Client, method: str, path: str, json: dict | None = None) -> httpx.Response:
    r = c.request(method, API + path, json=json)
    if r.status_code >= 400:
        e = r.json()["error"]
        assert e["code"] == r.status_code and e["message"], r.text
    return r


READS = [("GET", "/profiles"), ("GET", "/clusters"), ("GET", "/clusters/{id}"), ("GET", "/clusters/{id}/events"),
         ("GET", "/clusters/{id}/nodes"), ("GET", "/clusters/mine")]
WRITES = [("POST", "/clusters", body("readers-may-not", 1)),
          ("POST", "/clusters", {**body("readers-may-not", 1), "dry_run": True}),
          ("POST", "/clusters/{id}/nodes", {"nodes": {"count": 1}}),
          ("POST", "/clusters/{id}/nodes", {"nodes": {"names": "node0[05-06]"}}),
          ("DELETE", "/clusters/{id}/nodes/node001", None),
          ("DELETE", "/clusters/{id}", None),
          ("DELETE", "/clusters/mine", None)]


def _snapshot(people) -> tuple:
    clients, cluster = people
    owner = clients["owner"]
    v = owner.get(f"{API}/clusters/{cluster['id']}").json()["cluster"]
    return (v["status"], [(n["name"], n["status"]) for n in v["nodes"]], len(owner.get(f"{API}/clusters").json()["clusters"]),
            sorted(s["name"] for s in owner.get("/compute/v2.1/servers").json()["servers"]))


@pytest.mark.parametrize("persona", ["owner", "colleague", "reader", "custom", "admin"])
@pytest.mark.parametrize("call", READS, ids=lambda c: f"{c[0]} {c[1]}")
def test_who_reads(people, persona, call):
    clients, cluster = people
    c = clients[persona]
    if persona == "admin" and call[1] == "/clusters/mine":
        pytest.skip("an admin reaches another project's cluster by id, not by name")
    r = _status(c, call[0], call[1].format(id=cluster["id"]))
    assert r.status_code == 200, r.text
    if call[1] == "/clusters":
        names = [v["name"] for v in r.json()["clusters"]]
        assert ("mine" in names) == (persona != "admin")


@pytest.mark.parametrize("call", READS + WRITES, ids=lambda c: f"{c[0]} {c[1]}")
def test_another_project_sees_nothing(people, call):
    clients, cluster = people
    before = _snapshot(people)
    r = _status(clients["stranger"], call[0], call[1].format(id=cluster["id"]), call[2] if len(call) > 2 else None)
    if call[1] in ("/profiles", "/clusters"):
        assert r.status_code in (200, 202), r.text
        if r.status_code == 202:  # its own project's cluster: made there, not in the owner's
            wait(clients["stranger"], "readers-may-not")
            delete(clients["stranger"], "readers-may-not")
        elif r.status_code == 200 and call[0] == "GET" and call[1] == "/clusters":
            assert r.json()["clusters"] == []
    else:
        assert r.status_code == 404, r.text
    assert _snapshot(people) == before


@pytest.mark.parametrize("call", WRITES, ids=lambda c: f"{c[0]} {c[1]}")
def test_a_reader_writes_nothing(people, call):
    clients, cluster = people
    before = _snapshot(people)
    r = _status(clients["reader"], call[0], call[1].format(id=cluster["id"]), call[2])
    assert r.status_code == 403, r.text
    assert _snapshot(people) == before
    assert clients["owner"].get(f"{API}/clusters/readers-may-not").status_code == 404


@pytest.mark.parametrize("call", READS + WRITES, ids=lambda c: f"{c[0]} {c[1]}")
def test_no_token(people, call):
    clients, cluster = people
    r = _status(clients["nobody"], call[0], call[1].format(id=cluster["id"]), call[2] if len(call) > 2 else None)
    assert r.status_code == 401, r.text


def test_only_admins_list_every_project(people):
    clients, cluster = people
    for persona in ("owner", "reader", "custom", "stranger"):
        assert _status(clients[persona], "GET", "/clusters?all_projects=true").status_code == 403
    listed = _status(clients["admin"], "GET", "/clusters?all_projects=true").json()["clusters"]
    assert cluster["id"] in [v["id"] for v in listed]


def test_any_other_role_writes_also_on_a_colleagues_cluster(people):
    """A colleague (member) grows and shrinks the owner's cluster; a custom role makes and
    deletes one of its own; an admin of another project may act on it by id."""
    clients, cluster = people
    col = clients["colleague"]
    assert _status(col, "POST", f"/clusters/{cluster['id']}/nodes", {"nodes": {"count": 1}}).status_code == 202
    v = wait(col, cluster["id"])
    assert [n["name"] for n in v["nodes"] if n["role"] == "compute"] == ["node001", "node002"]
    assert _status(col, "DELETE", f"/clusters/{cluster['id']}/nodes/node002").status_code == 202
    assert [n["name"] for n in wait(col, cluster["id"])["nodes"] if n["role"] == "compute"] == ["node001"]
    custom = clients["custom"]
    assert create(custom, "fabric-made", 0)["status"] == "ACTIVE"
    delete(custom, "fabric-made")
    assert _status(clients["admin"], "POST", f"/clusters/{cluster['id']}/nodes",
                   {"nodes": {"count": 1}}).status_code == 202
    assert len(wait(col, cluster["id"])["nodes"]) == 3


def test_the_dashboard_refuses_a_reader(people, sqlite_server):
    clients, cluster = people
    reader = clients["reader"]
    before = _snapshot(people)
    with Browser(sqlite_server) as b:
        b.login(reader.user_name, PASSWORD, reader.project_name)
        page = b.get("/dashboard/clusters")
        assert "mine" in page.text and "/clusters/new" not in page.text  # no Add button
        page = b.get(f"/dashboard/clusters/{cluster['id']}")
        assert 'name="node"' not in page.text and "/delete" not in page.text and 'name="count"' not in page.text
        b.get("/dashboard/clusters/new", status=403)
        b.get(f"/dashboard/clusters/{cluster['id']}/delete", status=403)
        form = {"name": "readers-may-not", "node_count": "1", "node_flavor": "m1.nano", "image": "host",
                "profile": "base"}
        for action in ("plan", "create"):
            b.post("/dashboard/clusters/new", {**form, "action": action}, status=403)
        b.post(f"/dashboard/clusters/{cluster['id']}/nodes", {"count": "1"}, status=403)
        b.post(f"/dashboard/clusters/{cluster['id']}/nodes/remove", {"node": "node001"}, status=403)
        b.post(f"/dashboard/clusters/{cluster['id']}/delete", {"confirm": "mine"}, status=403)
    assert _snapshot(people) == before
    assert clients["owner"].get(f"{API}/clusters/readers-may-not").status_code == 404


def test_cleanup(people):
    clients, cluster = people
    delete(clients["owner"], cluster["id"])
    assert leftovers(clients["owner"]) == {}
