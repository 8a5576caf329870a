"""The catalog and nested projects as an operator drives them: the real ``openstack`` CLI
(``region``, ``service``, ``endpoint``, ``endpoint group`` commands, ``project create --parent``,
``project show --children``, ``project set --tag``; each kind of command once as a process,
through ``Sequence``) and openstacksdk's equivalents, against ``caas up`` on SQLite."""

import json

import openstack

from tests.e2e.osc import Sequence, requires_cli

pytestmark = requires_cli


def test_catalog_cli(sqlite_server, tmp_path):
    seq = Sequence()
    env = sqlite_server.os_env()
    region = seq.json(env, "region", "create", "--description", "edge site", "Edge")
    assert region["region"] == "Edge"
    seq(env, "region", "set", "--description", "the edge", "Edge")
    assert seq.json(env, "region", "show", "Edge")["description"] == "the edge"
    svc = seq.json(env, "service", "create", "--name", "billing", "--description", "Billing", "rating")
    assert (svc["type"], svc["name"], svc["enabled"]) == ("rating", "billing", True)
    seq(env, "service", "set", "--disable", "billing")
    assert seq.json(env, "service", "show", "billing")["enabled"] is False
    seq(env, "service", "set", "--enable", "billing")
    assert "rating" in {s["Type"] for s in seq.json(env, "service", "list")}
    ep = seq.json(env, "endpoint", "create", "--region", "Edge", "billing", "public", "http://billing.example/v1")
    assert (ep["region"], ep["interface"], ep["url"]) == ("Edge", "public", "http://billing.example/v1")
    seq(env, "endpoint", "set", "--url", "http://billing.example/v2", ep["id"])
    assert seq.json(env, "endpoint", "show", ep["id"])["url"] == "http://billing.example/v2"
    listed = seq.json(env, "endpoint", "list", "--service", "billing", "--interface", "public")
    assert [e["ID"] for e in listed] == [ep["id"]]
    assert any(c["Type"] == "rating" for c in seq.json(env, "catalog", "list"))

    seq(env, "project", "create", "tenant-a")
    seq(env, "endpoint", "add", "project", ep["id"], "tenant-a")
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"service_id": svc["id"]}))
    group = seq.json(env, "endpoint", "group", "create", "--description", "billing's", "billing-eps", str(filters))
    assert group["filters"] == {"service_id": svc["id"]}
    seq(env, "endpoint", "group", "add", "project", "billing-eps", "tenant-a")
    assert seq.json(env, "endpoint", "group", "show", "billing-eps")["name"] == "billing-eps"
    assert "billing-eps" in {g["Name"] for g in seq.json(env, "endpoint", "group", "list")}
    seq(env, "endpoint", "group", "remove", "project", "billing-eps", "tenant-a")
    seq(env, "endpoint", "group", "delete", "billing-eps")
    seq(env, "endpoint", "remove", "project", ep["id"], "tenant-a")

    refused = seq(env, "region", "delete", "Edge", check=False)
    assert refused.returncode != 0  # it has an endpoint
    seq(env, "endpoint", "delete", ep["id"])
    seq(env, "service", "delete", "billing")
    seq(env, "region", "delete", "Edge")
    assert "Edge" not in {r["Region"] for r in seq.json(env, "region", "list")}


def test_project_hierarchy_and_tags_cli(sqlite_server):
    seq = Sequence()
    env = sqlite_server.os_env()
    top = seq.json(env, "project", "create", "--tag", "gold", "org")
    assert top["tags"] == ["gold"]
    team = seq.json(env, "project", "create", "--parent", "org", "team")
    assert team["parent_id"] == top["id"]
    assert [p["Name"] for p in seq.json(env, "project", "list", "--parent", "org")] == ["team"]
    shown = seq.json(env, "project", "show", "--children", "org")
    assert shown["subtree"] == {team["id"]: None}  # the CLI asks for subtree_as_ids
    seq(env, "project", "set", "--tag", "blue", "--tag", "green", "team")
    assert sorted(seq.json(env, "project", "show", "team")["tags"]) == ["blue", "green"]
    assert [p["Name"] for p in seq.json(env, "project", "list", "--tags", "blue,green")] == ["team"]
    seq(env, "project", "set", "--remove-tag", "blue", "team")
    assert seq.json(env, "project", "show", "team")["tags"] == ["green"]
    seq(env, "project", "set", "--clear-tags", "team")
    assert seq.json(env, "project", "show", "team")["tags"] == []
    refused = seq(env, "project", "delete", "org", check=False)
    assert refused.returncode != 0 and "not a leaf" in refused.stderr + refused.stdout
    seq(env, "project", "delete", "team")
    seq(env, "project", "delete", "org")


def test_openstacksdk_catalog_and_projects(sqlite_server):
    conn = openstack.connect(auth_url=sqlite_server.url + "/identity/v3", username="admin",
                             password=sqlite_server.admin_password, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    ident = conn.identity
    region = ident.create_region(id="sdk-region", description="sdk")
    svc = ident.create_service(type="sdk-type", name="sdk-svc", description="from the sdk")
    ep = ident.create_endpoint(service_id=svc.id, interface="internal", url="http://sdk.example/",
                               region_id=region.id)
    assert ident.get_endpoint(ep.id).url == "http://sdk.example/"
    ident.update_endpoint(ep, url="http://sdk.example/v2")
    assert [e.id for e in ident.endpoints(service_id=svc.id)] == [ep.id]
    assert ident.update_service(svc, enabled=False).is_enabled is False
    parent = ident.create_project(name="sdk-parent", domain_id="default")
    child = ident.create_project(name="sdk-child", parent_id=parent.id, domain_id="default")
    assert ident.get_project(child.id).parent_id == parent.id
    child.add_tag(ident, "sdk-tag")
    assert ident.get_project(child.id).tags == ["sdk-tag"]
    assert [p.id for p in ident.projects(tags="sdk-tag")] == [child.id]
    ident.delete_project(child)
    ident.delete_project(parent)
    ident.delete_endpoint(ep)
    ident.delete_service(svc)
    ident.delete_region(region)
    assert ident.find_service("sdk-svc") is None
    conn.close()
