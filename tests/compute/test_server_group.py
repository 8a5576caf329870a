"""Server groups over HTTP on both backends: Nova's shapes at 2.1, 2.13 and 2.15 (soft
policies), projects' isolation (another project's group is 404), ``all_projects`` for admins,
``limit``/``offset``, the ``server_groups`` quota, roles, and bad input in Nova's error format.
The server fixture fails the module on any 5xx."""

from __future__ import annotations

import json

import pytest

from tests.compute.conftest import C, Member, error_of, mv, set_quota, uniq
from tests.conftest import client_for, make_member

pytestmark = pytest.mark.inprocess  # API shapes: the app in process, no caas up

G = f"{C}/os-server-groups"


def create(client, version="2.60", status=200, name=None, policies=("anti-affinity",)):
    r = client.post(G, json={"server_group": {"name": name or uniq("g"), "policies": list(policies)}},
                    headers=mv(version))
    assert r.status_code == status, r.text
    return r.json()["server_group"] if status == 200 else r


def test_shapes_by_version(member):
    for version, keys in (("2.1", {"id", "name", "policies", "members", "metadata"}),
                          ("2.12", {"id", "name", "policies", "members", "metadata"}),
                          ("2.13", {"id", "name", "policies", "members", "metadata", "project_id", "user_id"}),
                          ("2.60", {"id", "name", "policies", "members", "metadata", "project_id", "user_id"})):
        g = create(member.client, version, policies=["affinity"])
        assert set(g) == keys, version
        assert g["policies"] == ["affinity"] and g["members"] == [] and g["metadata"] == {}
        if "project_id" in keys:
            assert g["project_id"] == member.project_id and g["user_id"] == member.user_id
        shown = member.client.get(f"{G}/{g['id']}", headers=mv(version)).json()["server_group"]
        assert shown == g
        listed = member.client.get(G, headers=mv(version)).json()
        assert set(listed) == {"server_groups"}
        assert next(x for x in listed["server_groups"] if x["id"] == g["id"]) == g


def test_soft_policies_from_2_15(member):
    for policy in ("soft-affinity", "soft-anti-affinity"):
        r = create(member.client, "2.14", 400, policies=[policy])
        assert policy in error_of(r, "badRequest")
        assert create(member.client, "2.15", policies=[policy])["policies"] == [policy]


def test_names_are_verbatim(member):
    name = "g;$(rm -rf /)|`id`&<x> 'q' ünï"
    g = create(member.client, name=name)
    assert g["name"] == name
    assert member.client.get(f"{G}/{g['id']}").json()["server_group"]["name"] == name


def test_projects_are_isolated(admin, member, other):
    mine = create(member.client)
    theirs = create(other.client)
    r = member.client.get(f"{G}/{theirs['id']}")
    assert r.status_code == 404
    assert error_of(r, "itemNotFound") == f"Instance group {theirs['id']} could not be found."
    assert member.client.delete(f"{G}/{theirs['id']}").status_code == 404
    ids = {g["id"] for g in member.client.get(G).json()["server_groups"]}
    assert mine["id"] in ids and theirs["id"] not in ids
    # Non-admins asking for all projects get their own (as Nova); admins get everyone's.
    ids = {g["id"] for g in member.client.get(G, params={"all_projects": "True"}).json()["server_groups"]}
    assert theirs["id"] not in ids
    ids = {g["id"] for g in admin.get(G, params={"all_projects": "True"}).json()["server_groups"]}
    assert {mine["id"], theirs["id"]} <= ids
    assert theirs["id"] not in {g["id"] for g in admin.get(G).json()["server_groups"]}
    assert admin.get(f"{G}/{theirs['id']}").status_code == 200
    assert other.client.get(f"{G}/{theirs['id']}").status_code == 200


def test_limit_and_offset(server, admin):
    m = Member(server, admin)
    try:
        made = [create(m.client)["id"] for _ in range(4)]
        listed = [g["id"] for g in m.client.get(G).json()["server_groups"]]
        assert listed == made  # oldest first
        assert [g["id"] for g in m.client.get(G, params={"limit": 2}).json()["server_groups"]] == made[:2]
        assert [g["id"] for g in m.client.get(G, params={"limit": 2, "offset": 1}).json()["server_groups"]] \
            == made[1:3]
        assert [g["id"] for g in m.client.get(G, params={"offset": 3}).json()["server_groups"]] == made[3:]
        assert m.client.get(G, params={"offset": 10}).json() == {"server_groups": []}
        assert [g["id"] for g in m.client.get(G, params={"limit": 0}).json()["server_groups"]] == made
        for params in ({"limit": "-1"}, {"limit": "x"}, {"offset": "-2"}, {"offset": "1.5"}):
            r = m.client.get(G, params=params)
            assert r.status_code == 400, (params, r.text)
            error_of(r, "badRequest")
    finally:
        m.close()


def test_delete_is_204_then_404(member):
    g = create(member.client)
    r = member.client.delete(f"{G}/{g['id']}")
    assert r.status_code == 204 and r.content == b""
    assert member.client.get(f"{G}/{g['id']}").status_code == 404
    assert member.client.delete(f"{G}/{g['id']}").status_code == 404


def test_server_group_quota(server, admin):
    m = Member(server, admin)
    try:
        set_quota(admin, m.project_id, server_groups=1)
        g = create(m.client)
        r = create(m.client, status=403)
        assert error_of(r, "forbidden") == "Quota exceeded, too many server groups."
        assert m.client.delete(f"{G}/{g['id']}").status_code == 204
        create(m.client)
    finally:
        m.close()


def test_readers_look_but_do_not_touch(server, admin, member):
    info = make_member(server, admin, role="reader")
    with client_for(server, info["token"]) as reader:
        r = reader.post(G, json={"server_group": {"name": "r", "policies": ["affinity"]}})
        assert r.status_code == 403 and "os-server-groups:create" in error_of(r, "forbidden")
        assert reader.get(G).status_code == 200
    g = create(member.client)
    assert member.client.get(f"{G}/{g['id']}").status_code == 200


BAD = [None, [], {}, {"server_group": None}, {"server_group": []},
       {"server_group": {"policies": ["affinity"]}}, {"server_group": {"name": "x"}},
       {"server_group": {"name": "x", "policies": []}},
       {"server_group": {"name": "x", "policies": ["affinity", "anti-affinity"]}},
       {"server_group": {"name": "x", "policies": ["affinity", "affinity"]}},
       {"server_group": {"name": "x", "policies": "affinity"}},
       {"server_group": {"name": "x", "policies": ["sticky"]}},
       {"server_group": {"name": "x", "policies": [None]}},
       {"server_group": {"name": "x", "policies": [["affinity"]]}},
       {"server_group": {"name": "x", "policy": "affinity"}},
       {"server_group": {"name": "x", "policies": ["affinity"], "rules": {}}},
       {"server_group": {"name": "x", "policies": ["affinity"], "metadata": {}}},
       {"server_group": {"name": "x", "policies": ["affinity"]}, "extra": 1},
       {"server_group": {"name": "", "policies": ["affinity"]}},
       {"server_group": {"name": " lead", "policies": ["affinity"]}},
       {"server_group": {"name": "trail ", "policies": ["affinity"]}},
       {"server_group": {"name": "tab\there", "policies": ["affinity"]}},
       {"server_group": {"name": "x" * 256, "policies": ["affinity"]}},
       {"server_group": {"name": 5, "policies": ["affinity"]}},
       {"server_group": {"name": None, "policies": ["affinity"]}}]


@pytest.mark.parametrize("body", BAD, ids=[json.dumps(b)[:60] for b in BAD])
def test_bad_bodies(member, body):
    r = member.client.post(G, content=json.dumps(body), headers={**mv("2.60"), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


def test_malformed_json_surrogates_and_huge_bodies(member):
    headers = {"Content-Type": "application/json"}
    assert member.client.post(G, content=b'{"server_group": {', headers=headers).status_code == 400
    r = member.client.post(G, content=b'{"server_group": {"name": "\\udc00", "policies": ["affinity"]}}',
                           headers=headers)
    assert r.status_code == 400, r.text
    r = member.client.post(G, json={"server_group": {"name": "x" * (1024 * 1024 + 1), "policies": ["affinity"]}})
    assert r.status_code == 413 and error_of(r, "overLimit")


def test_unknown_ids(member):
    for gid in ("nope", "00000000-0000-0000-0000-000000000000", "x" * 300, "%E2%98%83"):
        r = member.client.get(f"{G}/{gid}")
        assert r.status_code == 404, (gid, r.text)
        error_of(r, "itemNotFound")
        assert member.client.delete(f"{G}/{gid}").status_code == 404


def test_members_are_the_groups_servers(member):
    from tests.compute.conftest import boot, delete

    if member.client.get(f"{C}/servers").status_code != 200:
        pytest.skip("the servers API is not there yet")
    g = create(member.client, policies=["affinity"])
    server = boot(member.client, hints={"group": g["id"]})
    assert member.client.get(f"{G}/{g['id']}").json()["server_group"]["members"] == [server["id"]]
    listed = next(x for x in member.client.get(G).json()["server_groups"] if x["id"] == g["id"])
    assert listed["members"] == [server["id"]]
    # Deleting a group with members is allowed (as Nova): the server stays.
    assert member.client.delete(f"{G}/{g['id']}").status_code == 204
    assert member.client.get(f"{C}/servers/{server['id']}").status_code == 200
    delete(member.client, server["id"])
