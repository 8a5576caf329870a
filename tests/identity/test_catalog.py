"""The catalog written: regions (a tree), services and endpoints with Keystone's validation and
answers, OS-EP-FILTER endpoint groups and project endpoints, the token catalog that reflects
the writes and a project's filters; and caas's own entries after a restart on another port,
beside an operator's."""

import uuid

import pytest

from tests.conftest import CaasServer, client_for, finish_server, issue_token, make_member, password_auth

pytestmark = pytest.mark.backends("sqlite", "postgresql")

V3 = "/identity/v3"
EPF = V3 + "/OS-EP-FILTER"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _service(admin, **more) -> dict:
    r = admin.post(f"{V3}/services", json={"service": {"type": _name("t"), "name": _name("s"), **more}})
    assert r.status_code == 201, r.text
    return r.json()["service"]


def _endpoint(admin, service_id: str, **more) -> dict:
    body = {"service_id": service_id, "interface": "public", "url": "http://svc.example/v1", **more}
    r = admin.post(f"{V3}/endpoints", json={"endpoint": body})
    assert r.status_code == 201, r.text
    return r.json()["endpoint"]


def _catalog(token_holder_client) -> dict:
    """The caller's /v3/auth/catalog by service type."""
    r = token_holder_client.get(f"{V3}/auth/catalog")
    assert r.status_code == 200, r.text
    return {s["type"]: s for s in r.json()["catalog"]}


def test_service_crud_keeps_extra_attributes(admin):
    svc = _service(admin, colour="red")
    assert svc["colour"] == "red" and svc["enabled"] is True and "description" not in svc
    r = admin.patch(f"{V3}/services/{svc['id']}", json={"service": {"description": "d", "size": 1}})
    assert r.status_code == 200
    got = admin.get(f"{V3}/services/{svc['id']}").json()["service"]
    assert (got["colour"], got["size"], got["description"]) == ("red", 1, "d")
    assert [s["id"] for s in admin.get(f"{V3}/services", params={"type": svc["type"]}).json()["services"]] == [svc["id"]]
    assert [s["id"] for s in admin.get(f"{V3}/services", params={"name": svc["name"]}).json()["services"]] == [svc["id"]]
    for body in ({"name": "x"}, {"type": ""}, {"type": "t" * 256}, {"type": "t", "enabled": "yes"}):
        assert admin.post(f"{V3}/services", json={"service": body}).status_code == 400, body
    assert admin.patch(f"{V3}/services/{svc['id']}", json={"service": {"type": None}}).status_code == 400
    assert admin.patch(f"{V3}/services/{svc['id']}", json={"service": {"id": "x"}}).status_code == 400
    assert admin.patch(f"{V3}/services/nope", json={"service": {"description": "d"}}).status_code == 404
    ep = _endpoint(admin, svc["id"])
    assert admin.delete(f"{V3}/services/{svc['id']}").status_code == 204
    assert admin.get(f"{V3}/endpoints/{ep['id']}").status_code == 404  # its endpoints went with it


def test_endpoint_validation_and_filters(admin):
    svc = _service(admin)
    region = admin.post(f"{V3}/regions", json={"region": {"id": _name("r")}}).json()["region"]["id"]
    ep = _endpoint(admin, svc["id"], region=region, weight=3)  # the legacy name of region_id
    assert (ep["region_id"], ep["region"], ep["weight"]) == (region, region, 3)
    bare = _endpoint(admin, svc["id"], interface="admin")
    assert bare["region_id"] is None
    good = {"service_id": svc["id"], "interface": "public", "url": "http://x.example/"}
    for change, status in (({"interface": "bogus"}, 400), ({"service_id": "nope"}, 400),
                           ({"region_id": "nope"}, 400), ({"url": "notaurl"}, 400),
                           ({"url": "http://x/$(foo)s"}, 400), ({"enabled": 1}, 400)):
        r = admin.post(f"{V3}/endpoints", json={"endpoint": {**good, **change}})
        assert r.status_code == status, (change, r.text)
    assert "service_id in service table" in admin.post(
        f"{V3}/endpoints", json={"endpoint": {**good, "service_id": "nope"}}).json()["error"]["message"]
    found = admin.get(f"{V3}/endpoints", params={"service_id": svc["id"], "interface": "public",
                                                  "region_id": region}).json()["endpoints"]
    assert [e["id"] for e in found] == [ep["id"]]
    r = admin.patch(f"{V3}/endpoints/{ep['id']}", json={"endpoint": {"url": "http://y.example/", "enabled": False}})
    assert r.status_code == 200 and r.json()["endpoint"]["url"] == "http://y.example/"
    assert admin.patch(f"{V3}/endpoints/{ep['id']}", json={"endpoint": {"region_id": "nope"}}).status_code == 400
    assert admin.delete(f"{V3}/endpoints/{bare['id']}").status_code == 204
    assert admin.delete(f"{V3}/endpoints/{bare['id']}").status_code == 404


def test_region_tree(admin):
    top = admin.post(f"{V3}/regions", json={"region": {"description": "top"}}).json()["region"]["id"]
    mid = _name("mid")
    r = admin.put(f"{V3}/regions/{mid}", json={"region": {"parent_region_id": top, "zone": "a"}})
    assert r.status_code == 201 and r.json()["region"]["parent_region_id"] == top and r.json()["region"]["zone"] == "a"
    assert admin.put(f"{V3}/regions/{mid}", json={"region": {}}).status_code == 409
    assert admin.put(f"{V3}/regions/{_name('x')}", json={"region": {"id": "other"}}).status_code == 400
    assert admin.post(f"{V3}/regions", json={"region": {"parent_region_id": "nope"}}).status_code == 404
    leaf = admin.post(f"{V3}/regions", json={"region": {"parent_region_id": mid}}).json()["region"]["id"]
    assert [x["id"] for x in admin.get(f"{V3}/regions", params={"parent_region_id": mid}).json()["regions"]] == [leaf]
    for parent in (leaf, top):  # below itself, or itself: a cycle
        r = admin.patch(f"{V3}/regions/{top}", json={"region": {"parent_region_id": parent}})
        assert r.status_code == 400 and "circular" in r.json()["error"]["message"]
    assert admin.patch(f"{V3}/regions/{mid}", json={"region": {"id": "z"}}).status_code == 400
    ep = _endpoint(admin, _service(admin)["id"], region_id=leaf)
    r = admin.delete(f"{V3}/regions/{top}")
    assert r.status_code == 403 and "associated endpoints" in r.json()["error"]["message"]
    assert admin.delete(f"{V3}/endpoints/{ep['id']}").status_code == 204
    assert admin.delete(f"{V3}/regions/{top}").status_code == 204
    assert admin.get(f"{V3}/regions/{leaf}").status_code == 404  # the subtree went with it


def test_token_catalog_reflects_writes(server, admin):
    m = make_member(server, admin)
    svc = _service(admin)
    ep = _endpoint(admin, svc["id"], url="http://svc.example/$(project_id)s/$(user_id)s")
    with client_for(server, m["token"]) as c:
        entry = _catalog(c)[svc["type"]]
        assert entry["name"] == svc["name"]
        assert entry["endpoints"][0]["url"] == f"http://svc.example/{m['project_id']}/{m['user_id']}"
        admin.patch(f"{V3}/endpoints/{ep['id']}", json={"endpoint": {"enabled": False}})
        assert _catalog(c)[svc["type"]]["endpoints"] == []
        admin.patch(f"{V3}/endpoints/{ep['id']}", json={"endpoint": {"enabled": True}})
        admin.patch(f"{V3}/services/{svc['id']}", json={"service": {"enabled": False}})
        assert svc["type"] not in _catalog(c)
        admin.delete(f"{V3}/services/{svc['id']}")
        assert svc["type"] not in _catalog(c)
    # A domain-scoped token has no project: an endpoint that needs one is left out of its body's
    # catalog; /v3/auth/catalog is a project-scoped token's only (Keystone: 403 for any other).
    svc = _service(admin)
    _endpoint(admin, svc["id"], url="http://svc.example/$(project_id)s")
    with client_for(server) as c:
        r = c.post(f"{V3}/auth/tokens", json=password_auth("admin", server.admin_password, None, "default"))
        assert r.status_code == 201, r.text
        assert {s["type"]: s for s in r.json()["token"]["catalog"]}[svc["type"]]["endpoints"] == []
        refused = c.get(f"{V3}/auth/catalog", headers={"X-Auth-Token": r.headers["X-Subject-Token"]})
        assert refused.status_code == 403, refused.text


def test_endpoint_filter_narrows_a_projects_catalog(server, admin):
    m = make_member(server, admin)
    svc = _service(admin)
    pub = _endpoint(admin, svc["id"])
    internal = _endpoint(admin, svc["id"], interface="internal")
    p, e = m["project_id"], pub["id"]
    with client_for(server, m["token"]) as c:
        assert {"identity", svc["type"]} <= set(_catalog(c))  # no filter: everything
        assert admin.put(f"{EPF}/projects/{p}/endpoints/{e}").status_code == 204
        assert admin.head(f"{EPF}/projects/{p}/endpoints/{e}").status_code == 204
        cat = _catalog(c)
        assert set(cat) == {svc["type"]} and [x["id"] for x in cat[svc["type"]]["endpoints"]] == [e]
        assert [x["id"] for x in admin.get(f"{EPF}/projects/{p}/endpoints").json()["endpoints"]] == [e]
        assert [x["id"] for x in admin.get(f"{EPF}/endpoints/{e}/projects").json()["projects"]] == [p]
        group = admin.post(f"{EPF}/endpoint_groups", json={"endpoint_group": {
            "name": _name("g"), "filters": {"service_id": svc["id"], "interface": "internal"}}})
        assert group.status_code == 201 and group.json()["endpoint_group"]["description"] is None
        g = group.json()["endpoint_group"]["id"]
        assert [x["id"] for x in admin.get(f"{EPF}/endpoint_groups/{g}/endpoints").json()["endpoints"]] == [
            internal["id"]]
        assert admin.put(f"{EPF}/endpoint_groups/{g}/projects/{p}").status_code == 204
        assert admin.get(f"{EPF}/endpoint_groups/{g}/projects/{p}").json()["project_endpoint_group"]["project_id"] == p
        assert {x["id"] for x in _catalog(c)[svc["type"]]["endpoints"]} == {e, internal["id"]}
        assert [x["id"] for x in admin.get(f"{EPF}/projects/{p}/endpoint_groups").json()["endpoint_groups"]] == [g]
        assert admin.delete(f"{EPF}/projects/{p}/endpoints/{e}").status_code == 204
        assert admin.delete(f"{EPF}/projects/{p}/endpoints/{e}").status_code == 404
        assert admin.delete(f"{EPF}/endpoint_groups/{g}").status_code == 204
        assert admin.get(f"{EPF}/endpoint_groups/{g}").status_code == 404
        assert "identity" in _catalog(c)  # no filter left: everything again


def test_endpoint_group_validation_and_unknowns(admin):
    for body in ({"name": "g", "filters": {"bogus": "x"}}, {"name": "g"}, {"filters": {"interface": "public"}},
                 {"name": "g", "filters": {}}):
        assert admin.post(f"{EPF}/endpoint_groups", json={"endpoint_group": body}).status_code == 400, body
    g = admin.post(f"{EPF}/endpoint_groups", json={"endpoint_group": {
        "name": _name("g"), "filters": {"interface": "admin"}}}).json()["endpoint_group"]["id"]
    r = admin.patch(f"{EPF}/endpoint_groups/{g}", json={"endpoint_group": {"description": "d"}})
    assert r.status_code == 200 and r.json()["endpoint_group"]["description"] == "d"
    assert admin.patch(f"{EPF}/endpoint_groups/{g}", json={"endpoint_group": {"filters": {"x": 1}}}).status_code == 400
    assert admin.put(f"{EPF}/endpoint_groups/{g}/projects/nope").status_code == 404
    assert admin.delete(f"{EPF}/endpoint_groups/{g}/projects/nope").status_code == 404
    assert admin.put(f"{EPF}/projects/nope/endpoints/nope").status_code == 404
    assert admin.delete(f"{EPF}/endpoint_groups/{g}").status_code == 204


def test_endpoint_filters_through_openstacksdk(server, admin):
    """OS-EP-FILTER as openstacksdk's identity proxy drives it: a project's endpoints, endpoint
    groups (create, show, find, list, update, delete) and their projects, and the catalog the
    filters leave a member of the project."""
    openstack = pytest.importorskip("openstack")
    m = make_member(server, admin)
    conn = openstack.connect(auth_url=server.url + "/identity/v3", username="admin", password=server.admin_password,
                             project_name="admin", user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne", identity_api_version="3")
    ident = conn.identity
    try:
        svc = ident.create_service(type=_name("t"), name=_name("s"))
        pub = ident.create_endpoint(service_id=svc.id, interface="public", url="http://sdk.example/v1")
        internal = ident.create_endpoint(service_id=svc.id, interface="internal", url="http://sdk.example/i")
        project = ident.get_project(m["project_id"])
        ident.associate_endpoint_with_project(project, pub)
        assert [e.id for e in ident.project_endpoints(project)] == [pub.id]
        assert [p.id for p in ident.endpoint_projects(pub)] == [project.id]
        name = _name("g")
        group = ident.create_endpoint_group(name=name, filters={"interface": "internal", "service_id": svc.id})
        assert ident.get_endpoint_group(group).filters == {"interface": "internal", "service_id": svc.id}
        assert ident.find_endpoint_group(name).id == group.id and group.id in [g.id for g in ident.endpoint_groups()]
        assert ident.update_endpoint_group(group, description="d").description == "d"
        assert [e.id for e in ident.endpoint_group_endpoints(group)] == [internal.id]
        ident.associate_project_with_endpoint_group(group, project)
        assert [p.id for p in ident.endpoint_group_projects(group)] == [project.id]
        assert [g.id for g in ident.project_endpoint_groups(project)] == [group.id]
        with client_for(server, m["token"]) as c:  # the filters: only their endpoints and services
            assert {e["id"] for e in _catalog(c)[svc.type]["endpoints"]} == {pub.id, internal.id}
            assert "identity" not in _catalog(c)
        ident.disassociate_project_from_endpoint_group(group, project)
        assert list(ident.project_endpoint_groups(project)) == []
        ident.disassociate_endpoint_from_project(project, pub)
        assert list(ident.project_endpoints(project)) == []
        ident.delete_endpoint_group(group, ignore_missing=False)
        assert ident.find_endpoint_group(name) is None
        ident.delete_service(svc)
    finally:
        conn.close()


def test_catalog_writes_are_admins(server, admin):
    m = make_member(server, admin)
    svc = _service(admin)
    with client_for(server, m["token"]) as c:
        assert c.post(f"{V3}/services", json={"service": {"type": "t"}}).status_code == 403
        assert c.patch(f"{V3}/services/{svc['id']}", json={"service": {"name": "n"}}).status_code == 403
        assert c.post(f"{V3}/regions", json={"region": {}}).status_code == 403
        assert c.post(f"{V3}/endpoints", json={"endpoint": {"service_id": svc["id"], "interface": "public",
                                                             "url": "http://x/"}}).status_code == 403
        assert c.get(f"{EPF}/endpoint_groups").status_code == 403
        assert c.put(f"{EPF}/projects/{m['project_id']}/endpoints/x").status_code == 403
        assert c.get(f"{V3}/regions").status_code == 200  # regions are anybody's to read


def test_restart_on_another_port_keeps_operators_entries(tmp_path_factory):
    """caas re-points its own entries at the new URL on start and leaves an operator's alone:
    a region, a service, an extra endpoint on caas's own identity service, and a description
    set on caas's own compute service. (On SQLite only: the marks are the same rows on both.)"""
    data_dir = tmp_path_factory.mktemp("restart") / "data"
    first = CaasServer(data_dir).start()
    try:
        with client_for(first, issue_token(first)) as c:
            region = c.post(f"{V3}/regions", json={"region": {"id": "Edge"}}).json()["region"]["id"]
            svc = _service(c)
            mine = _endpoint(c, svc["id"], region_id=region, url="http://operator.example/")
            identity = c.get(f"{V3}/services", params={"type": "identity"}).json()["services"][0]
            extra = _endpoint(c, identity["id"], interface="public", region_id=region, url="http://edge.example/")
            compute = c.get(f"{V3}/services", params={"type": "compute"}).json()["services"][0]
            c.patch(f"{V3}/services/{compute['id']}", json={"service": {"description": "ours"}})
    finally:
        finish_server(first)
    second = CaasServer(data_dir).start()
    try:
        assert second.port != first.port
        with client_for(second, issue_token(second)) as c:
            eps = {e["id"]: e for e in c.get(f"{V3}/endpoints").json()["endpoints"]}
            assert eps[mine["id"]] == {**mine, "links": eps[mine["id"]]["links"]}
            assert eps[extra["id"]]["url"] == "http://edge.example/" and eps[extra["id"]]["region_id"] == "Edge"
            own = [e for e in eps.values() if e["service_id"] == identity["id"] and e["id"] != extra["id"]]
            assert {e["interface"] for e in own} == {"public", "internal", "admin"}
            assert all(e["url"] == f"{second.url}/identity" and e["region_id"] == "RegionOne" for e in own)
            assert c.get(f"{V3}/regions/{region}").status_code == 200
            assert c.get(f"{V3}/services/{svc['id']}").json()["service"]["name"] == svc["name"]
            assert c.get(f"{V3}/services/{compute['id']}").json()["service"]["description"] == "ours"
            assert len(c.get(f"{V3}/services", params={"type": "identity"}).json()["services"]) == 1
    finally:
        finish_server(second)
