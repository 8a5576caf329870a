"""Nested projects (parent_id, subtree and parents as lists and ids, Keystone's cascade rules,
the depth limit, projects acting as domains, ``project_ancestors``) and project tags (the tag
calls, tags on create and update, the filters, Keystone's validation)."""

import uuid

import pytest

from caas.db import Database
from caas.identity.projects import project_ancestors
from tests.conftest import client_for, make_member

pytestmark = pytest.mark.backends("sqlite", "postgresql")

P = "/identity/v3/projects"


def _name(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create(admin, **body) -> dict:
    r = admin.post(P, json={"project": {"name": _name(), **body}})
    assert r.status_code == 201, r.text
    return r.json()["project"]


def _chain(admin, n: int) -> list[dict]:
    """``n`` projects, each the child of the one before (the first under Default)."""
    out = [_create(admin)]
    for _ in range(n - 1):
        out.append(_create(admin, parent_id=out[-1]["id"]))
    return out


def test_parent_id_and_domain_as_parent(admin):
    a, b = _chain(admin, 2)
    assert a["parent_id"] == "default" and b["parent_id"] == a["id"] and b["domain_id"] == "default"
    assert a["is_domain"] is False
    dom = admin.post("/identity/v3/domains", json={"domain": {"name": _name("d")}}).json()["domain"]["id"]
    under = _create(admin, parent_id=dom, domain_id=dom)
    assert (under["domain_id"], under["parent_id"]) == (dom, dom)
    for body, words in (({"parent_id": "nope"}, "Could not find project: nope"),
                        ({"parent_id": a["id"], "domain_id": dom}, "a parent in a different domain"),
                        ({"parent_id": dom}, "is acting as a domain"),
                        ({"domain_id": "nope"}, "Could not find domain")):
        r = admin.post(P, json={"project": {"name": _name(), **body}})
        assert r.status_code == 400 and words in r.json()["error"]["message"], (body, r.text)
    assert [p["id"] for p in admin.get(P, params={"parent_id": a["id"]}).json()["projects"]] == [b["id"]]
    assert admin.get(P, params={"parent_id": "nope"}).status_code == 400
    assert admin.patch(f"{P}/{b['id']}", json={"project": {"parent_id": dom}}).status_code == 403
    assert admin.patch(f"{P}/{b['id']}", json={"project": {"is_domain": True}}).status_code == 400


def test_subtree_and_parents(server, admin):
    a, b, c = _chain(admin, 3)
    got = admin.get(f"{P}/{a['id']}", params={"subtree_as_ids": ""}).json()["project"]
    assert got["subtree"] == {b["id"]: {c["id"]: None}}
    got = admin.get(f"{P}/{c['id']}", params={"parents_as_ids": ""}).json()["project"]
    assert got["parents"] == {b["id"]: {a["id"]: {"default": None}}}
    # The lists hold only the projects the caller has a role on.
    assert admin.get(f"{P}/{a['id']}?subtree_as_list").json()["project"]["subtree"] == []
    m = make_member(server, admin)
    admin.put(f"{P}/{b['id']}/users/{admin_id(admin)}/roles/{m['role_id']}")
    assert [x["project"]["id"] for x in admin.get(f"{P}/{a['id']}?subtree_as_list").json()["project"]["subtree"]] \
        == [b["id"]]
    assert [x["project"]["id"] for x in admin.get(f"{P}/{c['id']}?parents_as_list").json()["project"]["parents"]] \
        == [b["id"]]
    assert admin.get(f"{P}/{a['id']}?subtree_as_list&subtree_as_ids").status_code == 400


def admin_id(admin) -> str:
    token = admin.headers["X-Auth-Token"]
    return admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]["user"]["id"]


def test_cascade_rules(admin):
    a, b, c = _chain(admin, 3)
    r = admin.delete(f"{P}/{a['id']}")
    assert r.status_code == 403 and "not a leaf" in r.json()["error"]["message"]
    r = admin.patch(f"{P}/{a['id']}", json={"project": {"enabled": False}})
    assert r.status_code == 403 and "subtree contains enabled projects" in r.json()["error"]["message"]
    for p in (c, b, a):
        assert admin.patch(f"{P}/{p['id']}", json={"project": {"enabled": False}}).status_code == 200
    r = admin.patch(f"{P}/{c['id']}", json={"project": {"enabled": True}})
    assert r.status_code == 403 and "disabled parents" in r.json()["error"]["message"]
    r = admin.post(P, json={"project": {"name": _name(), "parent_id": b["id"]}})
    assert r.status_code == 400 and "disabled project" in r.json()["error"]["message"]
    for p in (a, b, c):
        r = admin.patch(f"{P}/{p['id']}", json={"project": {"enabled": True}})
        assert r.status_code == 200 and r.json()["project"]["extra"] == {}
    for p in (c, b, a):
        assert admin.delete(f"{P}/{p['id']}").status_code == 204


def test_depth_limit_and_ancestors(server, admin):
    chain = _chain(admin, 5)
    r = admin.post(P, json={"project": {"name": _name(), "parent_id": chain[-1]["id"]}})
    assert r.status_code == 403 and "Max hierarchy depth" in r.json()["error"]["message"]
    db = Database(server.database_url or f"sqlite:///{server.data_dir / 'caas.db'}")
    try:
        with db.read() as s:
            assert project_ancestors(s, chain[-1]["id"]) == [p["id"] for p in reversed(chain[:-1])]
            assert project_ancestors(s, chain[0]["id"]) == []
            assert project_ancestors(s, "nope") == []
    finally:
        db.engine.dispose()


def test_project_acting_as_domain(admin):
    r = admin.post(P, json={"project": {"name": _name("isd"), "is_domain": True}})
    assert r.status_code == 201
    got = r.json()["project"]
    assert (got["is_domain"], got["domain_id"], got["parent_id"]) == (True, None, None)
    assert admin.get(f"/identity/v3/domains/{got['id']}").status_code == 200
    assert admin.get(f"{P}/{got['id']}").json()["project"]["is_domain"] is True
    assert got["id"] in {p["id"] for p in admin.get(P, params={"is_domain": "true"}).json()["projects"]}
    assert admin.delete(f"{P}/{got['id']}").status_code == 403  # enabled
    assert admin.patch(f"{P}/{got['id']}", json={"project": {"enabled": False}}).status_code == 200
    assert admin.delete(f"{P}/{got['id']}").status_code == 204
    assert admin.get(f"/identity/v3/domains/{got['id']}").status_code == 404


def test_tags(server, admin):
    p = _create(admin, tags=["t1", "t2"])
    t = f"{P}/{p['id']}/tags"
    assert p["tags"] == ["t1", "t2"] and admin.get(t).json()["tags"] == ["t1", "t2"]
    assert admin.put(f"{t}/t3").status_code == 201
    assert admin.put(f"{t}/t3").status_code == 400  # already there
    assert admin.get(f"{t}/t3").status_code == 204 and admin.head(f"{t}/t3").status_code == 204
    assert admin.get(f"{t}/zz").status_code == 404 and admin.delete(f"{t}/zz").status_code == 404
    assert admin.delete(f"{t}/t3").status_code == 204
    r = admin.put(t, json={"tags": ["x", "y"]})
    assert r.status_code == 200 and r.json()["tags"] == ["x", "y"]
    for bad in (["x/y"], ["x,y"], ["a" * 256], [str(i) for i in range(81)], ["d", "d"], [""], "x"):
        assert admin.put(t, json={"tags": bad}).status_code == 400, bad
        assert admin.post(P, json={"project": {"name": _name(), "tags": bad}}).status_code == 400, bad
    assert admin.put(f"{t}/a,b").status_code == 400
    assert admin.put(f"{P}/nope/tags/a").status_code == 404
    assert admin.put(t, json={"tags": [str(i) for i in range(80)]}).status_code == 200
    assert admin.put(f"{t}/one-more").status_code == 400  # 80 at most
    assert admin.delete(t).status_code == 204 and admin.get(t).json()["tags"] == []
    with client_for(server, make_member(server, admin)["token"]) as c:
        assert c.put(t, json={"tags": ["m"]}).status_code == 403


def test_tag_filters(admin):
    k = uuid.uuid4().hex[:6]
    both = _create(admin, tags=[f"a{k}", f"b{k}"])
    only_a = _create(admin, tags=[f"a{k}"])
    neither = _create(admin, tags=[f"c{k}"])
    r = admin.patch(f"{P}/{neither['id']}", json={"project": {"tags": [f"c{k}", f"d{k}"]}})
    assert r.json()["project"]["tags"] == [f"c{k}", f"d{k}"]
    mine = {both["id"], only_a["id"], neither["id"]}

    def ids(**params) -> set[str]:
        return {p["id"] for p in admin.get(P, params=params).json()["projects"]} & mine

    assert ids(tags=f"a{k},b{k}") == {both["id"]}
    assert ids(**{"tags-any": f"b{k},c{k}"}) == {both["id"], neither["id"]}
    assert ids(**{"not-tags": f"a{k},b{k}"}) == {only_a["id"], neither["id"]}
    assert ids(**{"not-tags-any": f"b{k},c{k}"}) == {only_a["id"]}


def test_deleting_a_domain_deletes_its_tree(admin):
    """The domain's projects go in one statement: parents with children, and their tags."""
    dom = admin.post("/identity/v3/domains", json={"domain": {"name": _name("d")}}).json()["domain"]["id"]
    top = _create(admin, domain_id=dom, tags=["x"])
    child = _create(admin, domain_id=dom, parent_id=top["id"], tags=["y"])
    assert admin.patch(f"/identity/v3/domains/{dom}", json={"domain": {"enabled": False}}).status_code == 200
    assert admin.delete(f"/identity/v3/domains/{dom}").status_code == 204
    assert admin.get(f"{P}/{child['id']}").status_code == 404 and admin.get(f"{P}/{top['id']}").status_code == 404
