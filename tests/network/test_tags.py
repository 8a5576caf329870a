"""Neutron's tag extensions (``standard-attr-tag``, ``tag-creation``) over HTTP, on both
backends: tags in create bodies, the ``/{collection}/{id}/tags`` sub-resource (list, replace,
add many, add one, check one, remove one, remove all) on networks, subnets, ports, routers,
floating IPs and security groups, the four tag filters of every list, who may read and change
tags, the refusals in Neutron's error format, and openstacksdk's tag calls."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.conftest import client_for, issue_token, make_member
from tests.network.test_bad_input import BAD, UNLIMITED, neutron_error

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent tag changes: none lost

N = "/network/v2.0"
COLLECTIONS = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups"]
KEY = {"networks": "network", "subnets": "subnet", "ports": "port", "routers": "router", "floatingips": "floatingip",
       "security-groups": "security_group"}


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def members(server, admin):
    a, b = make_member(server, admin), make_member(server, admin)
    # Many small resources of every kind: no quota gets in the way.
    assert admin.put(f"{N}/quotas/{a['project_id']}", json={"quota": UNLIMITED}).status_code == 200
    with client_for(server, a["token"]) as ca, client_for(server, b["token"]) as cb:
        yield a, ca, b, cb


class Maker:
    """Makes one resource of any taggable collection in a project (networks with a subnet, so
    that ports can be made; floating IPs on ``public``)."""

    def __init__(self, client) -> None:
        self.c = client
        self.n = 0
        self.public = client.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]["id"]
        self.net = self.make("networks", name="tag-base")
        self.make("subnets", network_id=self.net["id"], cidr="10.61.0.0/24")

    def make(self, collection: str, **body) -> dict:
        self.n += 1
        if collection == "subnets" and "network_id" not in body:
            net = self.make("networks")
            body = {"network_id": net["id"], "cidr": f"10.62.{self.n % 250}.0/24", **body}
        elif collection == "ports":
            body = {"network_id": self.net["id"], **body}
        elif collection == "floatingips":
            body = {"floating_network_id": self.public, **body}
        elif collection != "subnets":
            body = {"name": f"{collection}-{self.n}", **body}
        key = KEY[collection]
        # as Neutron 29: only a port's create takes tags; the others get them through the tags API
        tags = body.pop("tags", None) if collection != "ports" else None
        r = self.c.post(f"{N}/{collection}", json={key: body})
        assert r.status_code == 201, r.text
        item = r.json()[key]
        if tags is not None:
            r = self.c.put(tags_url(collection, item["id"]), json={"tags": tags})
            assert r.status_code == 200, r.text
            item = self.show(collection, item["id"])
        return item

    def show(self, collection: str, id_: str) -> dict:
        r = self.c.get(f"{N}/{collection}/{id_}")
        assert r.status_code == 200, r.text
        return r.json()[KEY[collection]]


@pytest.fixture(scope="module")
def maker(members):
    return Maker(members[1])


def tags_url(collection: str, id_: str, tag: str | None = None) -> str:
    url = f"{N}/{collection}/{id_}/tags"
    return url if tag is None else f"{url}/{quote(tag, safe='')}"


# ---- discovery -----------------------------------------------------------------------------
def test_the_extensions_are_listed(members):
    _, ca, _, _ = members
    aliases = {e["alias"] for e in ca.get(f"{N}/extensions").json()["extensions"]}
    assert {"standard-attr-tag", "tag-creation", "tag-ports-during-bulk-creation"} <= aliases
    for alias in ("standard-attr-tag", "tag-creation"):
        r = ca.get(f"{N}/extensions/{alias}")
        assert r.status_code == 200 and r.json()["extension"]["alias"] == alias


def test_only_a_ports_create_takes_tags(members, maker):
    """As Neutron 29 (its tags attribute allows POST for ports only): a create of any other
    taggable resource with ``tags`` is 400 in its words and makes nothing; a port's takes them."""
    _, ca, _, _ = members
    for collection in COLLECTIONS:
        if collection == "ports":
            assert maker.make(collection, tags=["on-post"])["tags"] == ["on-post"]
            continue
        body = {"subnets": {"network_id": maker.net["id"], "cidr": "10.63.0.0/24"},
                "floatingips": {"floating_network_id": maker.public}}.get(collection, {"name": f"refused-{collection}"})
        before = len(ca.get(f"{N}/{collection}").json()[collection.replace("-", "_")])
        r = ca.post(f"{N}/{collection}", json={KEY[collection]: {**body, "tags": ["t1"]}})
        err = neutron_error(r, 400, "HTTPBadRequest")
        assert err["message"] == "Attribute 'tags' not allowed in POST"
        assert len(ca.get(f"{N}/{collection}").json()[collection.replace("-", "_")]) == before


# ---- the tags sub-resource -------------------------------------------------------------------
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_tag_lifecycle(members, maker, collection):
    _, ca, _, _ = members
    item = maker.make(collection, tags=["red", "blue", "red"])
    assert item["tags"] == ["red", "blue"]  # duplicates collapsed, order kept
    rid, url = item["id"], tags_url(collection, item["id"])
    r = ca.get(url)
    assert r.status_code == 200 and r.json() == {"tags": ["red", "blue"]}

    # Replace all: 200 with the tags; the resource's revision and update time move.
    before = maker.show(collection, rid)
    r = ca.put(url, json={"tags": ["green", "yellow"]})
    assert r.status_code == 200 and r.json() == {"tags": ["green", "yellow"]}
    after = maker.show(collection, rid)
    assert sorted(after["tags"]) == ["green", "yellow"]
    assert after["revision_number"] == before["revision_number"] + 1 and after["updated_at"] >= before["updated_at"]
    # The same set again changes nothing.
    assert ca.put(url, json={"tags": ["yellow", "green"]}).status_code == 200
    assert maker.show(collection, rid)["revision_number"] == after["revision_number"]

    # Add one: 201 without a body; adding it again is no error.
    for _ in range(2):
        r = ca.put(tags_url(collection, rid, "violet"))
        assert r.status_code == 201 and r.content == b""
    assert sorted(ca.get(url).json()["tags"]) == ["green", "violet", "yellow"]
    # Check one: 204 if present, 404 if not.
    r = ca.get(tags_url(collection, rid, "violet"))
    assert r.status_code == 204 and r.content == b""
    neutron_error(ca.get(tags_url(collection, rid, "black")), 404, "TagNotFound")
    # Remove one: 204, then 404.
    assert ca.delete(tags_url(collection, rid, "violet")).status_code == 204
    neutron_error(ca.delete(tags_url(collection, rid, "violet")), 404, "TagNotFound")
    neutron_error(ca.get(tags_url(collection, rid, "violet")), 404, "TagNotFound")

    # Add many (tag-creation): 200 with the tags asked for; those present stay.
    r = ca.post(url, json={"tags": ["green", "orange"]})
    assert r.status_code == 200 and r.json() == {"tags": ["green", "orange"]}
    assert sorted(ca.get(url).json()["tags"]) == ["green", "orange", "yellow"]

    # Remove all: 204; the resource's views agree.
    r = ca.delete(url)
    assert r.status_code == 204 and r.content == b""
    assert ca.get(url).json() == {"tags": []}
    assert maker.show(collection, rid)["tags"] == []
    assert ca.delete(url).status_code == 204  # nothing left to remove is no error


def test_tags_show_in_lists_and_field_selection(members, maker):
    _, ca, _, _ = members
    net = maker.make("networks", tags=["listed"])
    (seen,) = ca.get(f"{N}/networks", params={"id": net["id"], "fields": "tags"}).json()["networks"]
    assert seen == {"tags": ["listed"]}
    assert ca.get(f"{N}/networks/{net['id']}", params={"fields": "tags"}).json() == {"network": {"tags": ["listed"]}}


# ---- list filters ------------------------------------------------------------------------------
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_tag_filters(members, maker, collection):
    _, ca, _, _ = members
    mark = uuid.uuid4().hex[:8]  # keeps this test's resources apart from the others'
    a, b, c = (f"{mark}-{x}" for x in "abc")
    items = {name: maker.make(collection, tags=tags)["id"] for name, tags in
             {"ab": [a, b], "a": [a], "bc": [b, c], "none": [mark + "-z"]}.items()}
    mine = set(items.values())

    def listed(**params) -> set[str]:
        r = ca.get(f"{N}/{collection}", params=params)
        assert r.status_code == 200, r.text
        found = {i["id"] for i in r.json()[collection.replace("-", "_")]}
        return {name for name, id_ in items.items() if id_ in found & mine}

    assert listed(tags=a) == {"ab", "a"}
    assert listed(tags=f"{a},{b}") == {"ab"}
    assert listed(**{"tags-any": f"{a},{c}"}) == {"ab", "a", "bc"}
    assert listed(**{"not-tags": f"{a},{b}"}) == {"a", "bc", "none"}
    assert listed(**{"not-tags-any": f"{a},{c}"}) == {"none"}
    assert listed(tags=b, **{"not-tags": c}) == {"ab"}
    assert listed(tags=[a, b]) == {"ab"}  # a repeated key: all of them
    assert listed(tags=f"{mark}-nothing") == set()


# ---- who may read and change tags ----------------------------------------------------------------
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_other_projects_and_unknown_ids_are_404(members, maker, collection):
    _, ca, _, cb = members
    item = maker.make(collection, tags=["mine"])
    kind = {"networks": "NetworkNotFound", "subnets": "SubnetNotFound", "ports": "PortNotFound",
            "routers": "RouterNotFound", "floatingips": "FloatingIPNotFound",
            "security-groups": "SecurityGroupNotFound"}[collection]
    for client, rid in ((cb, item["id"]), (ca, uid()), (ca, "nonsense")):
        url = tags_url(collection, rid)
        for r in (client.get(url), client.put(url, json={"tags": ["x"]}), client.post(url, json={"tags": ["x"]}),
                  client.delete(url), client.get(tags_url(collection, rid, "mine")),
                  client.put(tags_url(collection, rid, "x")), client.delete(tags_url(collection, rid, "mine"))):
            neutron_error(r, 404, kind)
    assert ca.get(tags_url(collection, item["id"])).json() == {"tags": ["mine"]}


def test_admin_tags_any_project(members, maker, admin):
    _, ca, _, _ = members
    net = maker.make("networks")
    assert admin.put(tags_url("networks", net["id"], "by-admin")).status_code == 201
    assert ca.get(tags_url("networks", net["id"])).json() == {"tags": ["by-admin"]}


def test_shared_and_external_networks_tags_read_but_not_written(members, admin):
    _, ca, _, _ = members
    public = ca.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]["id"]
    shared = admin.post(f"{N}/networks", json={"network": {"name": "shared-tags", "shared": True}}).json()["network"]
    assert admin.put(tags_url("networks", shared["id"]), json={"tags": ["shared"]}).status_code == 200
    assert ca.get(tags_url("networks", shared["id"])).json() == {"tags": ["shared"]}
    assert ca.get(tags_url("networks", shared["id"], "shared")).status_code == 204
    assert ca.get(tags_url("networks", public)).status_code == 200
    for net_id in (shared["id"], public):
        neutron_error(ca.put(tags_url("networks", net_id), json={"tags": ["mine"]}), 404, "NetworkNotFound")
        neutron_error(ca.put(tags_url("networks", net_id, "mine")), 404, "NetworkNotFound")
        neutron_error(ca.delete(tags_url("networks", net_id)), 404, "NetworkNotFound")
    assert admin.get(tags_url("networks", shared["id"])).json() == {"tags": ["shared"]}


def test_a_reader_reads_tags_only(server, members, maker, admin):
    a, ca, _, _ = members
    net = maker.make("networks", tags=["kept"])
    reader = make_member(server, admin, role="reader")
    r = admin.put(f"/identity/v3/projects/{a['project_id']}/users/{reader['user_id']}/roles/{reader['role_id']}")
    assert r.status_code == 204
    with client_for(server, issue_token(server, reader["name"], reader["password"], a["name"])) as rc:
        url = tags_url("networks", net["id"])
        assert rc.get(url).json() == {"tags": ["kept"]}
        assert rc.get(tags_url("networks", net["id"], "kept")).status_code == 204
        for r in (rc.put(url, json={"tags": []}), rc.post(url, json={"tags": ["x"]}), rc.delete(url),
                  rc.put(tags_url("networks", net["id"], "x")), rc.delete(tags_url("networks", net["id"], "kept"))):
            neutron_error(r, 403, "PolicyNotAuthorized")
    assert ca.get(url).json() == {"tags": ["kept"]}


# ---- bad input ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def target(members, maker):
    """A network whose tags are ["keep"] after every refused request."""
    net = maker.make("networks", tags=["keep"])
    yield tags_url("networks", net["id"])
    assert members[1].get(tags_url("networks", net["id"])).json() == {"tags": ["keep"]}


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("body", [
    {}, {"tag": ["a"]}, {"tags": "a"}, {"tags": None}, {"tags": {"a": 1}}, {"tags": [1]}, {"tags": [None]},
    {"tags": [["a"]]}, {"tags": ["a" * 256]}, {"tags": ["a,b"]}, {"tags": [""]}, {"tags": ["ok", "x" * 256]},
    {"tags": [f"t{i}" for i in range(51)]}, {"tags": ["a\u0000b"]}, {"tags": ["a"], "extra": 1}, [], "tags", 7,
], ids=["empty", "wrong-key", "string", "null", "object", "number", "null-tag", "nested", "too-long", "comma",
        "empty-tag", "one-too-long", "51-tags", "nul", "extra-key", "list", "bare-string", "bare-number"])
def test_bad_tag_bodies(members, target, method, body):
    _, ca, _, _ = members
    neutron_error(ca.request(method, target, json=body), 400, BAD)


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("raw", [b"{bad", b'{"tags": [', b"\xff\xfe", b""], ids=["brace", "cut", "not-utf8", "no-body"])
def test_malformed_tag_bodies(members, target, method, raw):
    _, ca, _, _ = members
    neutron_error(ca.request(method, target, content=raw, headers={"Content-Type": "application/json"}), 400,
                  BAD | {"MalformedRequestBody"})


def test_oversized_tag_body(members, target):
    _, ca, _, _ = members
    big = {"tags": ["x" * 200] * 6000}  # about 1.2 MB, over the body limit
    neutron_error(ca.put(target, json=big), 413, {"PayloadTooLarge", "HTTPRequestEntityTooLarge"})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("tag", ["a" * 256, "a,b", "a\u0000b"], ids=["too-long", "comma", "nul"])
def test_bad_single_tags(members, target, method, tag):
    _, ca, _, _ = members
    neutron_error(ca.request(method, f"{target}/{quote(tag, safe='')}"), 400, BAD)


def test_limits(members, maker):
    _, ca, _, _ = members
    net = maker.make("networks", tags=["a" * 255])
    url = tags_url("networks", net["id"])
    fifty = [f"t{i}" for i in range(50)]
    assert ca.put(url, json={"tags": fifty + ["t0"]}).json() == {"tags": fifty}  # 51 with a duplicate is 50
    neutron_error(ca.put(tags_url("networks", net["id"], "t50")), 400, BAD)
    neutron_error(ca.post(url, json={"tags": ["t50"]}), 400, BAD)
    assert ca.put(tags_url("networks", net["id"], "t49")).status_code == 201  # present already: no 51st
    assert ca.post(url, json={"tags": ["t1", "t2"]}).status_code == 200
    assert sorted(ca.get(url).json()["tags"]) == sorted(fifty)
    # Too many in a create body, or bad ones, are refused and nothing is made.
    for tags in (fifty + ["t50"], ["a,b"], "a", None, [3]):
        for collection in ("networks", "ports", "security-groups", "floatingips"):
            body = {"name": "refused", "tags": tags} if collection != "floatingips" else {"tags": tags}
            if collection == "ports":
                body["network_id"] = maker.net["id"]
            if collection == "floatingips":
                body["floating_network_id"] = maker.public
            neutron_error(ca.post(f"{N}/{collection}", json={KEY[collection]: body}), 400, BAD)
    assert ca.get(f"{N}/networks", params={"name": "refused"}).json()["networks"] == []


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_tags_are_not_an_attribute_of_updates(members, maker, collection):
    """As in Neutron (``allow_put: False``): tags change through their sub-resource only."""
    _, ca, _, _ = members
    item = maker.make(collection, tags=["before"])
    r = ca.put(f"{N}/{collection}/{item['id']}", json={KEY[collection]: {"tags": ["after"]}})
    neutron_error(r, 400, BAD)
    assert maker.show(collection, item["id"])["tags"] == ["before"]


SHELLISH = ["$(touch /tmp/caas-tag-pwned)", "`id`", "; rm -rf /", "a|b&&c", "'\"\\", "<b>x</b>", "%s%n", "../..",
            "a b\tc", "ünïcødé ✓", "a/b", "?x=1#y", "*", "-rf", "${HOME}"]
# In bodies only: the /network mount does not route a path with a newline in it.
UNROUTABLE = ["line\nbreak", "\r\n"]


def test_tags_are_data(members, maker):
    """Shell metacharacters, quotes, slashes and unicode are stored and returned verbatim,
    whether they come in a body or in the URL."""
    _, ca, _, _ = members
    net = maker.make("networks", tags=SHELLISH[:5])
    assert net["tags"] == SHELLISH[:5]
    url = tags_url("networks", net["id"])
    assert ca.put(url, json={"tags": SHELLISH + UNROUTABLE}).json() == {"tags": SHELLISH + UNROUTABLE}
    assert ca.get(url).json() == {"tags": SHELLISH + UNROUTABLE}
    assert ca.post(url, json={"tags": UNROUTABLE[:1]}).status_code == 200
    assert ca.put(url, json={"tags": SHELLISH}).json() == {"tags": SHELLISH}
    for tag in SHELLISH:
        assert ca.get(tags_url("networks", net["id"], tag)).status_code == 204, tag
        assert ca.delete(tags_url("networks", net["id"], tag)).status_code == 204, tag
    assert ca.get(url).json() == {"tags": []}
    for tag in SHELLISH:
        assert ca.put(tags_url("networks", net["id"], tag)).status_code == 201, tag
    assert ca.get(url).json() == {"tags": SHELLISH}
    (found,) = ca.get(f"{N}/networks", params={"tags": "`id`,'\"\\", "id": net["id"]}).json()["networks"]
    assert found["id"] == net["id"]
    assert ca.get(f"{N}/networks", params={"tags": SHELLISH[0], "not-tags-any": "*"}).json()["networks"] == []


# ---- openstacksdk ----------------------------------------------------------------------------------
def test_openstacksdk_tags(server, members):
    openstack = pytest.importorskip("openstack")
    a, _, _, _ = members
    conn = openstack.connect(auth_url=server.url + "/identity/v3", username=a["name"], password=a["password"],
                             project_name=a["name"], user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne", identity_api_version="3")
    try:
        net = conn.network.create_network(name="sdk-tags")
        conn.network.set_tags(net, ["sdk-a", "sdk-b"])
        assert sorted(conn.network.get_tags(net)) == ["sdk-a", "sdk-b"]
        conn.network.add_tag(net, "sdk-c")
        conn.network.add_tags(net, ["sdk-d", "sdk-a"])
        conn.network.remove_tag(net, "sdk-b")
        assert sorted(conn.network.get_network(net.id).tags) == ["sdk-a", "sdk-c", "sdk-d"]
        net.check_tag(conn.network, "sdk-c")
        with pytest.raises(openstack.exceptions.NotFoundException):
            net.check_tag(conn.network, "sdk-b")
        assert [n.id for n in conn.network.networks(tags="sdk-a,sdk-c")] == [net.id]
        assert [n.id for n in conn.network.networks(any_tags="sdk-b,sdk-d")] == [net.id]
        assert net.id not in {n.id for n in conn.network.networks(not_any_tags="sdk-d")}
        assert net.id in {n.id for n in conn.network.networks(not_tags="sdk-a,sdk-b")}
        port = conn.network.create_port(network_id=net.id, tags=["on-create"])
        assert port.tags == ["on-create"]
        assert [p.id for p in conn.network.ports(tags="on-create")] == [port.id]
        group = conn.network.create_security_group(name="sdk-tags")
        conn.network.set_tags(group, ["sg"])
        assert [g.id for g in conn.network.security_groups(tags="sg")] == [group.id]
        conn.network.remove_all_tags(net)
        assert conn.network.get_network(net.id).tags == []
        conn.network.delete_port(port)
        conn.network.delete_security_group(group)
        conn.network.delete_network(net)
    finally:
        conn.close()


def test_concurrent_tag_changes_are_not_lost(server, members, maker):
    """Each change locks the resource's row: parallel adds of different tags all stay, and each
    counts as one revision."""
    from concurrent.futures import ThreadPoolExecutor

    a, _, _, _ = members
    net = maker.make("networks")
    url = tags_url("networks", net["id"])

    def add(i: int) -> int:
        with client_for(server, a["token"]) as c:
            return c.put(f"{url}/p{i}").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(add, range(24))) == {201}
    assert sorted(members[1].get(url).json()["tags"]) == sorted(f"p{i}" for i in range(24))
    assert maker.show("networks", net["id"])["revision_number"] == net["revision_number"] + 24
