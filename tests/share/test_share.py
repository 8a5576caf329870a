"""Shared File Systems v2 (Manila subset), in process on SQLite: version discovery and
microversions, the catalog (and an existing cloud gaining the service on restart), the share
lifecycle on directories (creating -> available, deleting -> gone, with the directory),
views by microversion, lists (filters, paging, all_tenants), update, metadata, export
locations, access rules (actions and /share-access-rules, gated by microversion), quotas,
visibility and policy; and what compute gives the driver: the shares an instance's fixed IPs
are allowed, on the fake driver."""

from __future__ import annotations

import uuid

import pytest

from tests.compute.conftest import boot, delete as delete_server, make_network
from tests.conftest import client_for, make_member
from tests.share import LATEST, V2, action, allow, available, create, delete, fault, show, uniq, wait_status

pytestmark = [pytest.mark.inprocess, pytest.mark.backends("sqlite", "postgresql")]  # quota claims: the database decides

MV = "X-OpenStack-Manila-API-Version"


def test_version_discovery(A):
    r = A.get("/share/")
    assert r.status_code == 300
    (doc,) = r.json()["versions"]
    assert doc["id"] == "v2.0" and doc["min_version"] == "2.0" and doc["version"] == "2.65"
    assert doc["status"] == "CURRENT" and any(link["rel"] == "self" for link in doc["links"])
    for path in ("/share/v2", "/share/v2/"):
        r = A.get(path)
        assert r.status_code == 200 and r.json()["versions"][0]["id"] == "v2.0"


def test_microversion_headers(A):
    r = A.get(f"{V2}/shares")
    assert r.headers[MV] == "2.0" and r.headers["OpenStack-API-Version"] == "sharev2 2.0"
    r = A.get(f"{V2}/shares", headers={MV: "2.45"})
    assert r.headers[MV] == "2.45"
    r = A.get(f"{V2}/shares", headers={"OpenStack-API-Version": "sharev2 2.60"})
    assert r.headers[MV] == "2.60"
    assert A.get(f"{V2}/shares", headers={MV: "latest"}).headers[MV] == "2.65"
    fault(A.get(f"{V2}/shares", headers={MV: "2.66"}), 406)
    fault(A.get(f"{V2}/shares", headers={MV: "1.0"}), 406)
    fault(A.get(f"{V2}/shares", headers={MV: "two"}), 400)


def test_catalog_has_sharev2(server, A, member_a):
    r = A.get("/identity/v3/auth/catalog")
    entries = [e for e in r.json()["catalog"] if e["type"] == "sharev2"]
    assert len(entries) == 1 and entries[0]["name"] == "manilav2"
    urls = {ep["interface"]: ep["url"] for ep in entries[0]["endpoints"]}
    assert urls["public"].endswith(f"/share/v2/{member_a['project_id']}")
    # Through the catalog's URL (with the project id) and without it (2.60).
    sh = available(A)
    assert A.get(f"/share/v2/{member_a['project_id']}/shares/{sh['id']}", headers=LATEST).status_code == 200
    fault(A.get(f"/share/v2/{uuid.uuid4().hex}/shares/{sh['id']}", headers=LATEST), 400)
    delete(A, sh["id"])


def test_existing_catalog_gains_the_service_on_restart(server, admin):
    """A cloud made before the share service: its catalog has no sharev2 until the next start
    runs bootstrap (sync_catalog), which adds it and leaves the rest as it was."""
    from sqlalchemy import delete as sql_delete, select

    from caas.identity.bootstrap import bootstrap
    from caas.identity.models import Endpoint, Service

    cloud = server.cloud
    with cloud.db.write() as s:
        svc = s.scalar(select(Service).where(Service.caas_key == "sharev2"))
        s.execute(sql_delete(Endpoint).where(Endpoint.service_id == svc.id))
        s.delete(svc)
    assert not [e for e in admin.get("/identity/v3/auth/catalog").json()["catalog"] if e["type"] == "sharev2"]
    bootstrap(cloud.db, cloud.settings)  # what every start runs
    (entry,) = [e for e in admin.get("/identity/v3/auth/catalog").json()["catalog"] if e["type"] == "sharev2"]
    assert {ep["interface"] for ep in entry["endpoints"]} == {"public", "internal", "admin"}


def test_lifecycle_on_a_directory(server, A):
    name = "home; rm -rf / $(touch /tmp/x) `id` | & > ../../etc"
    sh = create(A, 3, name=name, description="d\n'\"", metadata={"k": "v"})
    assert sh["status"] in ("creating", "available") and sh["name"] == name
    sh = wait_status(A, sh["id"], "available")
    assert sh["size"] == 3 and sh["share_proto"] == "NFS" and sh["metadata"] == {"k": "v"}
    assert sh["description"] == "d\n'\"" and sh["is_public"] is False and sh["access_rules_status"] == "active"
    path = server.cloud.settings.share_dir / sh["id"]
    assert path.is_dir() and all(len(p.name) == 36 for p in path.parent.iterdir())  # ids only, never names
    delete(A, sh["id"])
    assert not path.exists()


def test_the_default_share_type(A, admin):
    """One share type, ``default``, every share's (what ``openstack share create`` asks first)."""
    r = A.get(f"{V2}/types/default", headers=LATEST)
    t = r.json()["share_type"]
    assert r.json()["volume_type"] == t and t["name"] == "default" and t["is_default"] is True
    assert t["required_extra_specs"] == {"driver_handles_share_servers": "False"}
    assert A.get(f"{V2}/types/{t['id']}", headers=LATEST).json()["share_type"]["id"] == t["id"]
    assert [x["id"] for x in A.get(f"{V2}/types").json()["share_types"]] == [t["id"]]
    fault(A.get(f"{V2}/types/gold"), 404)
    sh = create(A, share_type=t["id"])
    assert sh["share_type"] == t["id"] and sh["share_type_name"] == "default"
    fault(A.post(f"{V2}/shares", json={"share": {"size": 1, "share_proto": "NFS", "share_type": "gold"}}), 404)
    # reset_task_state (2.22+, admins): shares here have no task, so only null.
    wait_status(A, sh["id"], "available")
    fault(action(A, sh["id"], {"reset_task_state": {"task_state": None}}), 403)
    assert action(admin, sh["id"], {"reset_task_state": {"task_state": None}}).status_code == 202
    fault(action(admin, sh["id"], {"reset_task_state": {"task_state": "migration_starting"}}), 400)
    fault(action(admin, sh["id"], {"reset_task_state": {"task_state": None}}, headers={MV: "2.21"}), 404)
    delete(A, sh["id"])


def test_views_by_microversion(A):
    sh = available(A)
    old = show(A, sh["id"], headers={MV: "2.0"})
    assert old["export_location"].endswith(f":/shares/{sh['id']}") and old["export_locations"] == [old["export_location"]]
    assert "snapshot_support" not in old and "user_id" not in old
    new = show(A, sh["id"])
    assert "export_location" not in new and "export_locations" not in new
    assert new["user_id"] and new["progress"] == "100%" and new["mount_snapshot_support"] is False
    assert "host" not in new  # admins only
    delete(A, sh["id"])


def test_list_filters_paging_and_update(A, B):
    names = [uniq("lst") for _ in range(3)]
    made = [available(A, name=n) for n in names]
    found = A.get(f"{V2}/shares", params={"name": names[1]}).json()["shares"]
    assert [s["id"] for s in found] == [made[1]["id"]] and set(found[0]) == {"id", "name", "links"}
    detail = A.get(f"{V2}/shares/detail", params={"status": "available"}, headers=LATEST).json()["shares"]
    assert {s["id"] for s in made} <= {s["id"] for s in detail}
    page = A.get(f"{V2}/shares", params={"limit": 2, "sort_key": "created_at", "sort_dir": "asc"}).json()
    assert len(page["shares"]) == 2 and "offset=2" in page["shares_links"][0]["href"]
    assert B.get(f"{V2}/shares").json()["shares"] == []
    r = A.put(f"{V2}/shares/{made[0]['id']}", json={"share": {"display_name": "renamed", "description": "new"}},
              headers=LATEST)
    assert r.status_code == 200 and r.json()["share"]["name"] == "renamed"
    assert r.json()["share"]["description"] == "new"
    for sh in made:
        delete(A, sh["id"])


def test_admin_lists_all_tenants(A, admin):
    sh = available(A)
    mine = {s["id"] for s in admin.get(f"{V2}/shares").json()["shares"]}
    every = {s["id"] for s in admin.get(f"{V2}/shares", params={"all_tenants": "1"}).json()["shares"]}
    assert sh["id"] not in mine and sh["id"] in every
    assert show(admin, sh["id"])["host"]  # admins see the host
    delete(A, sh["id"])


def test_metadata(A):
    sh = available(A, metadata={"a": "1"})
    base = f"{V2}/shares/{sh['id']}/metadata"
    assert A.post(base, json={"metadata": {"b": "2"}}).json()["metadata"] == {"a": "1", "b": "2"}
    assert A.get(base).json()["metadata"] == {"a": "1", "b": "2"}
    assert A.put(base, json={"metadata": {"c": "3"}}).json()["metadata"] == {"c": "3"}
    assert A.get(f"{base}/c").json() == {"meta": {"c": "3"}}
    assert A.put(f"{base}/c", json={"meta": {"c": "4"}}).json() == {"meta": {"c": "4"}}
    assert A.delete(f"{base}/c").status_code == 200
    fault(A.get(f"{base}/c"), 404)
    fault(A.delete(f"{base}/c"), 404)
    fault(A.put(f"{base}/c", json={"meta": {"d": "4"}}), 400)
    delete(A, sh["id"])


def test_export_locations(A):
    sh = available(A)
    r = A.get(f"{V2}/shares/{sh['id']}/export_locations", headers=LATEST)
    (el,) = r.json()["export_locations"]
    assert el["path"] == f"172.24.4.1:/shares/{sh['id']}" and el["preferred"] is True
    one = A.get(f"{V2}/shares/{sh['id']}/export_locations/{el['id']}", headers=LATEST).json()["export_location"]
    assert one["path"] == el["path"] and one["created_at"]
    fault(A.get(f"{V2}/shares/{sh['id']}/export_locations/{uuid.uuid4()}", headers=LATEST), 404)
    fault(A.get(f"{V2}/shares/{sh['id']}/export_locations", headers={MV: "2.8"}), 404)  # from 2.9
    delete(A, sh["id"])


def test_access_rules(A):
    sh = available(A)
    rule = allow(A, sh["id"], "10.0.0.0/24")
    assert rule["state"] == "active" and rule["share_id"] == sh["id"] and rule["access_level"] == "rw"
    ro = allow(A, sh["id"], "192.168.1.7", "ro")
    fault(action(A, sh["id"], {"allow_access": {"access_type": "ip", "access_to": "10.0.0.0/24"}}), 400)  # exists
    rules = A.get(f"{V2}/share-access-rules", params={"share_id": sh["id"]}, headers=LATEST).json()["access_list"]
    assert {r["id"] for r in rules} == {rule["id"], ro["id"]} and all("share_id" not in r for r in rules)
    got = A.get(f"{V2}/share-access-rules/{ro['id']}", headers=LATEST).json()["access"]
    assert got["access_to"] == "192.168.1.7" and got["access_level"] == "ro"
    # The older spellings, each at its microversions only.
    old = {MV: "2.6"}
    legacy = action(A, sh["id"], {"os-access_list": None}, headers=old).json()["access_list"]
    assert {r["id"] for r in legacy} == {rule["id"], ro["id"]}
    assert action(A, sh["id"], {"access_list": None}, headers={MV: "2.44"}).status_code == 200
    fault(action(A, sh["id"], {"access_list": None}), 404)
    fault(action(A, sh["id"], {"os-allow_access": {"access_type": "ip", "access_to": "10.1.0.1"}}), 404)
    r = action(A, sh["id"], {"os-allow_access": {"access_type": "ip", "access_to": "10.1.0.1"}}, headers=old)
    assert r.status_code == 200 and "created_at" not in r.json()["access"]
    fault(A.get(f"{V2}/share-access-rules", params={"share_id": sh["id"]}, headers={MV: "2.44"}), 404)
    # IPv6 from 2.38 only.
    fault(action(A, sh["id"], {"allow_access": {"access_type": "ip", "access_to": "fd00::/64"}},
                 headers={MV: "2.37"}), 400)
    allow(A, sh["id"], "fd00::/64")
    assert action(A, sh["id"], {"deny_access": {"access_id": rule["id"]}}).status_code == 202
    fault(action(A, sh["id"], {"deny_access": {"access_id": rule["id"]}}), 404)
    fault(A.get(f"{V2}/share-access-rules/{rule['id']}", headers=LATEST), 404)
    delete(A, sh["id"])  # with its rules
    fault(A.get(f"{V2}/share-access-rules/{ro['id']}", headers=LATEST), 404)


def test_other_projects_see_nothing(A, B):
    sh = available(A)
    rule = allow(A, sh["id"], "10.0.0.0/24")
    for r in (B.get(f"{V2}/shares/{sh['id']}"), B.put(f"{V2}/shares/{sh['id']}", json={"share": {"name": "x"}}),
              B.delete(f"{V2}/shares/{sh['id']}"), B.get(f"{V2}/shares/{sh['id']}/metadata"),
              B.get(f"{V2}/shares/{sh['id']}/export_locations", headers=LATEST),
              action(B, sh["id"], {"allow_access": {"access_type": "ip", "access_to": "10.9.0.0/24"}}),
              action(B, sh["id"], {"deny_access": {"access_id": rule["id"]}}),
              B.get(f"{V2}/share-access-rules/{rule['id']}", headers=LATEST)):
        fault(r, 404)
    fault(B.get(f"{V2}/share-access-rules", params={"share_id": sh["id"]}, headers=LATEST), 400)
    assert show(A, sh["id"])["name"] == sh["name"]
    delete(A, sh["id"])


def test_reader_only_reads(server, admin, A, member_a):
    sh = available(A)
    reader = make_member(server, admin, role="reader")
    # the reader on A's project
    role_id = reader["role_id"]
    r = admin.put(f"/identity/v3/projects/{member_a['project_id']}/users/{reader['user_id']}/roles/{role_id}")
    assert r.status_code == 204
    from tests.conftest import issue_token
    token = issue_token(server, reader["name"], reader["password"], member_a["name"])
    with client_for(server, token) as R:
        assert show(R, sh["id"])["id"] == sh["id"]
        fault(R.post(f"{V2}/shares", json={"share": {"size": 1, "share_proto": "NFS"}}), 403)
        fault(R.delete(f"{V2}/shares/{sh['id']}"), 403)
        fault(action(R, sh["id"], {"allow_access": {"access_type": "ip", "access_to": "10.0.0.1"}}), 403)
    delete(A, sh["id"])


def test_quota(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        msg = fault(c.post(f"{V2}/shares", json={"share": {"size": 1001, "share_proto": "NFS"}}), 413)
        assert "gigabytes" in msg
        big = available(c, 999)
        fault(c.post(f"{V2}/shares", json={"share": {"size": 2, "share_proto": "NFS"}}), 413)
        delete(c, big["id"])
        assert c.get(f"{V2}/shares").json()["shares"] == []


def test_delete_refused_while_creating(server, A):
    """Manila deletes only available, error or inactive shares (400 otherwise)."""
    from caas.share.models import Share

    sh = available(A)
    with server.cloud.db.write() as s:
        s.get(Share, sh["id"]).status = "creating"
    assert "status must be one of" in fault(A.delete(f"{V2}/shares/{sh['id']}"), 400)
    with server.cloud.db.write() as s:
        s.get(Share, sh["id"]).status = "available"
    delete(A, sh["id"])


# ---- what compute gives the driver ----------------------------------------------------------
def test_boot_spec_carries_the_allowed_shares(server, admin, A, B, member_a):
    """A server gets exactly the shares of its project whose rules allow one of its fixed IPs;
    another project's server on the same addresses gets none; a rule removed is gone at the
    next boot; a ro rule gives a read-only mount."""
    fake = server.cloud.driver.local
    net, _ = make_network(A, "10.0.0.0/24")
    other_net, _ = make_network(A, "10.0.7.0/24")
    b_net, _ = make_network(B, "10.0.0.0/24")
    home = available(A, name="home")
    scratch = available(A, name="scratch")
    unrelated = available(A, name="unrelated")
    rule = allow(A, home["id"], "10.0.0.0/24")
    allow(A, scratch["id"], "10.0.0.0/16", "ro")
    allow(A, unrelated["id"], "192.168.0.0/24")
    s1 = boot(A, networks=[{"uuid": net["id"]}])
    s2 = boot(A, networks=[{"uuid": other_net["id"]}])
    s3 = boot(B, networks=[{"uuid": b_net["id"]}])
    exports = {sh["id"]: f"172.24.4.1:/shares/{sh['id']}" for sh in (home, scratch)}
    got = {m.export: m for m in fake.shares(s1["id"])}
    assert set(got) == set(exports.values())
    assert got[exports[home["id"]]].read_only is False and got[exports[scratch["id"]]].read_only is True
    assert got[exports[home["id"]]].source == str(server.cloud.settings.share_dir / home["id"])
    assert [m.export for m in fake.shares(s2["id"])] == [exports[scratch["id"]]]  # 10.0.7.x: in 10.0.0.0/16, not in 10.0.0.0/24
    assert fake.shares(s3["id"]) == ()  # another project: same addresses, no shares
    assert action(A, home["id"], {"deny_access": {"access_id": rule["id"]}}).status_code == 202
    r = A.post(f"/compute/v2.1/servers/{s1['id']}/action", json={"reboot": {"type": "HARD"}})
    assert r.status_code == 202, r.text
    import time
    deadline = time.monotonic() + 15
    while [m.export for m in fake.shares(s1["id"])] != [exports[scratch["id"]]]:
        assert time.monotonic() < deadline, fake.shares(s1["id"])
        time.sleep(0.05)
    for sid, c in ((s1["id"], A), (s2["id"], A), (s3["id"], B)):
        delete_server(c, sid)
    for sh in (home, scratch, unrelated):
        delete(A, sh["id"])


def test_mounts_for(server, member_a):
    """The service's interface, directly: bad addresses are skipped, shares not available are
    left out."""
    shares = server.cloud.share
    assert shares.mounts_for(member_a["project_id"], ["not an ip", ""]) == []
    assert shares.mounts_for("no-such-project", ["10.0.0.5"]) == []


def test_reconcile_finishes_what_a_crash_left(server, A):
    """On start: a share left ``creating`` gets its directory and becomes available, one left
    ``deleting`` goes with its directory, and a directory no share owns is removed."""
    from caas.share.models import Share

    svc = server.cloud.share
    creating, deleting = available(A), available(A)
    stray = svc.store.root / str(uuid.uuid4())
    stray.mkdir()
    (stray / "f").write_text("x")
    svc.store.delete(creating["id"])
    with server.cloud.db.write() as s:
        s.get(Share, creating["id"]).status = "creating"
        s.get(Share, deleting["id"]).status = "deleting"
    svc.reconcile()
    assert show(A, creating["id"])["status"] == "available" and (svc.store.root / creating["id"]).is_dir()
    fault(A.get(f"{V2}/shares/{deleting['id']}"), 404)
    assert not (svc.store.root / deleting["id"]).exists() and not stray.exists()
    delete(A, creating["id"])
