"""The shared file systems service through its real clients against ``caas up`` on SQLite:
openstacksdk, making exactly the calls the cluster layer makes (create_share, wait_for_status,
create_access_rule, export_locations, access_rules, delete_access_rule, delete_share), and
python-manilaclient's ``openstack share`` commands as a process (the service's one sequence
so): create, list, show, set, access-create, access-list, export-location list,
access-delete, delete."""

from __future__ import annotations

import time

import pytest

from tests.e2e.osc import Sequence, requires_cli

openstack = pytest.importorskip("openstack")
pytest.importorskip("manilaclient")

pytestmark = requires_cli


def connect(server):
    return openstack.connect(auth_url=server.url + "/identity/v3", username="admin",
                             password=server.admin_password, project_name="admin", user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3")


def test_openstacksdk_as_the_cluster_layer_calls_it(server):
    conn = connect(server)
    sfs = conn.shared_file_system
    share = sfs.create_share(name="home; $(id)", size=2, share_proto="NFS", description="cluster /home")
    share = sfs.wait_for_status(share, status="available", failures=["error"], interval=0.2, wait=60)
    assert share.status == "available" and share.size == 2 and share.name == "home; $(id)"
    assert sfs.get_share(share.id).share_protocol == "NFS"
    assert share.id in {s.id for s in sfs.shares()}
    rule = sfs.create_access_rule(share.id, access_type="ip", access_to="10.0.0.0/24", access_level="rw")
    assert rule.access_to == "10.0.0.0/24" and rule.state in ("active", "queued_to_apply")
    (location,) = list(sfs.export_locations(share.id))
    assert location.path.endswith(f":/shares/{share.id}") and location.is_preferred is True
    assert [r.id for r in sfs.access_rules(share)] == [rule.id]
    assert sfs.get_access_rule(rule.id).access_level == "rw"
    sfs.delete_access_rule(rule.id, share.id)
    assert list(sfs.access_rules(share)) == []
    sfs.delete_share(share)
    sfs.wait_for_delete(share, interval=0.2, wait=60)
    assert sfs.find_share("home; $(id)") is None
    conn.close()


def test_openstack_share_sequence(server):
    seq = Sequence()
    env = {**server.os_env(), "OS_SHARE_API_VERSION": "2.65"}
    made = seq.json(env, "share", "create", "NFS", "1", "--name", "scratch", "--description", "d")
    assert made["name"] == "scratch" and made["size"] == 1
    deadline = time.monotonic() + 60
    while seq.json(env, "share", "show", "scratch")["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "scratch" in {row["Name"] for row in seq.json(env, "share", "list")}
    seq(env, "share", "set", "--name", "scratch2", "scratch")
    rule = seq.json(env, "share", "access", "create", "scratch2", "ip", "192.168.10.0/24", "--access-level", "ro")
    assert rule["access_to"] == "192.168.10.0/24" and rule["access_level"] == "ro"
    rows = seq.json(env, "share", "access", "list", "scratch2")
    assert [r["ID"] for r in rows] == [rule["id"]]
    (location,) = seq.json(env, "share", "export", "location", "list", "scratch2")
    assert location["Path"].endswith(":/shares/" + made["id"])
    seq(env, "share", "access", "delete", "scratch2", rule["id"])
    seq(env, "share", "delete", "scratch2", "--wait")
    assert "scratch2" not in {row["Name"] for row in seq.json(env, "share", "list")}
