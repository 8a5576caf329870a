"""Block Storage v3 (Cinder) over HTTP, on both backends: version discovery and microversions,
the catalog, the volume lifecycle on sparse files (creating -> available, extend, delete),
views, lists (filters, sorting, paging), metadata, admin actions, the volume type, visibility
and policy; crash reconciliation on restart; and the attach/detach interface the compute
service calls in-process, against a real SQLite database."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest

from tests.conftest import CaasServer, client_for, issue_token, make_member
from tests.volume import V3, action, available, create, delete, fault, show, uniq, wait_gone, wait_status

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent attachments and quotas: the database decides

GIB = 1024 ** 3


def _token(c) -> dict:
    """The body of the client's own token (project, catalog)."""
    r = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": c.headers["X-Auth-Token"]})
    assert r.status_code == 200, r.text
    return r.json()["token"]


# ---- discovery, microversions, catalog ------------------------------------------------------
def test_version_discovery_needs_no_token(server):
    with client_for(server) as c:
        for path in ("/volume", "/volume/"):
            r = c.get(path)
            assert r.status_code == 300, r.text
            (v,) = r.json()["versions"]
            assert v["id"] == "v3.0" and v["status"] == "CURRENT"
            assert v["min_version"] == "3.0" and v["version"] == "3.0" and v["updated"]
            assert {"rel": "self", "href": f"{server.url}/volume/v3/"} in v["links"]
            assert v["media-types"][0]["type"] == "application/vnd.openstack.volume+json;version=3"
        for path in (V3, V3 + "/"):
            r = c.get(path)
            assert r.status_code == 200 and r.json()["versions"][0]["id"] == "v3.0"
        # Discovery answers whatever microversion is asked for.
        assert c.get(V3 + "/", headers={"OpenStack-API-Version": "volume 9.9"}).status_code == 200
        assert fault(c.get(f"{V3}/volumes"), 401)


def test_microversions(admin):
    r = admin.get(f"{V3}/volumes")
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "volume 3.0"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    for asked in ("volume 3.0", "volume latest", "compute 2.90"):
        r = admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": asked})
        assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "volume 3.0", asked
    for asked in ("volume 3.1", "volume 3.71", "volume 2.0", "volume 4.0"):
        r = admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": asked})
        assert "not supported" in fault(r, 406, "computeFault"), asked
        assert r.headers["OpenStack-API-Version"] == "volume 3.0"
    fault(admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": "volume 3"}), 400)
    fault(admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": "volume x.y"}), 400)
    # The summary arrives with 3.12: at 3.0 there is no such call.
    fault(admin.get(f"{V3}/volumes/summary"), 404)


def test_catalog_names_block_storage_twice(server, admin):
    token = _token(admin)
    project = token["project"]["id"]
    by_type = {e["type"]: e for e in token["catalog"]}
    for type_, name in (("block-storage", "cinder"), ("volumev3", "cinderv3")):
        entry = by_type[type_]
        assert entry["name"] == name
        assert {ep["interface"] for ep in entry["endpoints"]} == {"public", "internal", "admin"}
        assert all(ep["url"] == f"{server.url}/volume/v3/{project}" for ep in entry["endpoints"])
        services = admin.get("/identity/v3/services", params={"type": type_}).json()["services"]
        assert len(services) == 1


# ---- lifecycle --------------------------------------------------------------------------------
def test_lifecycle_on_a_sparse_file(server, admin, A, member_a):
    vol = create(A, 1, name="life", description="a disk", metadata={"k": "v"})
    assert vol["status"] == "creating" and vol["size"] == 1 and vol["name"] == "life"
    assert vol["updated_at"] is None and vol["created_at"]
    assert "os-vol-tenant-attr:tenant_id" not in vol  # the extensions extend show and detail only
    vol = wait_status(A, vol["id"], "available")
    assert vol["os-vol-tenant-attr:tenant_id"] == member_a["project_id"]
    assert vol["user_id"] == member_a["user_id"] and vol["metadata"] == {"k": "v"}
    assert vol["bootable"] == "false" and vol["encrypted"] is False and vol["multiattach"] is False
    assert vol["volume_type"] == "__DEFAULT__" and vol["availability_zone"] == "nova"
    assert vol["attachments"] == [] and vol["snapshot_id"] is None and vol["source_volid"] is None
    assert "os-vol-host-attr:host" not in vol and "migration_status" not in vol  # admins only
    path = server.data_dir / "volumes" / vol["id"]
    st = path.stat()
    assert st.st_size == GIB and st.st_mode & 0o777 == 0o600
    assert st.st_blocks * 512 < 1024 * 1024, "the file must be sparse"
    assert (server.data_dir / "volumes").stat().st_mode & 0o777 == 0o700
    shown = show(admin, vol["id"])
    assert shown["os-vol-host-attr:host"].endswith("#" + str(server.data_dir / "volumes"))
    assert shown["migration_status"] is None and shown["os-vol-mig-status-attr:migstat"] is None

    r = A.put(f"{V3}/volumes/{vol['id']}", json={"volume": {"name": "renamed", "description": "d2",
                                                             "metadata": {"x": "y"}}})
    assert r.status_code == 200, r.text
    updated = r.json()["volume"]
    assert updated["name"] == "renamed" and updated["description"] == "d2" and updated["metadata"] == {"x": "y"}
    assert updated["updated_at"] >= vol["updated_at"]

    assert action(A, vol["id"], {"os-extend": {"new_size": 3}}).status_code == 202
    vol = wait_status(A, vol["id"], "available")
    assert vol["size"] == 3 and path.stat().st_size == 3 * GIB

    assert action(A, vol["id"], {"os-set_bootable": {"bootable": True}}).status_code == 200
    assert show(A, vol["id"])["bootable"] == "true"

    r = A.delete(f"{V3}/volumes/{vol['id']}")
    assert r.status_code == 202 and r.content == b""
    wait_gone(A, vol["id"])
    assert not path.exists()
    fault(A.get(f"{V3}/volumes/{vol['id']}"), 404)


def test_paths_with_and_without_the_project(server, A, member_a):
    project = member_a["project_id"]
    vol = available(A)
    with_project = A.get(f"{V3}/{project}/volumes/{vol['id']}")
    assert with_project.status_code == 200
    links = {link["rel"]: link["href"] for link in with_project.json()["volume"]["links"]}
    assert links == {"self": f"{server.url}/volume/v3/{project}/volumes/{vol['id']}",
                     "bookmark": f"{server.url}/volume/{project}/volumes/{vol['id']}"}
    links = {link["rel"]: link["href"] for link in show(A, vol["id"])["links"]}
    assert links["self"] == f"{server.url}/volume/v3/volumes/{vol['id']}"
    # Another project's id in the path is a malformed URL, as Cinder says.
    other = uuid.uuid4().hex
    assert fault(A.get(f"{V3}/{other}/volumes/{vol['id']}"), 400) == "Malformed request url"
    assert fault(A.get(f"{V3}/{other}/volumes"), 400) == "Malformed request url"
    created = A.post(f"{V3}/{project}/volumes", json={"volume": {"size": 1}})
    assert created.status_code == 202
    wait_status(A, created.json()["volume"]["id"], "available")
    delete(A, created.json()["volume"]["id"])
    delete(A, vol["id"])


def test_names_are_kept_verbatim_but_stripped(A):
    name = "  $(rm -rf /); `id` | tee >x && echo 'q' \"dq\" * ?  "
    vol = create(A, name=name, description="  ;& <> ")
    assert vol["name"] == name.strip() and vol["description"] == ";& <>"
    got = A.get(f"{V3}/volumes/detail", params={"name": name.strip()}).json()["volumes"]
    assert [v["id"] for v in got] == [vol["id"]]
    unnamed = create(A, name=None)
    assert unnamed["name"] is None
    for v in (vol, unnamed):
        wait_status(A, v["id"], "available")
        delete(A, v["id"])


# ---- lists ------------------------------------------------------------------------------------
def test_list_detail_filters_sorting_and_paging(server, A):
    tag = uniq("set")
    made = []
    for i, (size, meta) in enumerate(((1, {"grp": tag, "n": "0"}), (2, {"grp": tag, "n": "1"}),
                                      (1, {"grp": tag, "n": "2"}), (3, {"grp": tag}))):
        made.append(available(A, size, name=f"{tag}-{i}", metadata=meta))
    ids = [v["id"] for v in made]

    summary = A.get(f"{V3}/volumes").json()["volumes"]
    mine = [v for v in summary if v["id"] in ids]
    assert len(mine) == 4 and set(mine[0]) == {"id", "name", "links"}
    detail = A.get(f"{V3}/volumes/detail", params={"metadata": str({"grp": tag})}).json()["volumes"]
    # Newest first by default (created_at desc, then id).
    assert [v["id"] for v in detail] == ids[::-1]
    assert "os-vol-tenant-attr:tenant_id" in detail[0] and detail[0]["status"] == "available"

    def names(**params):
        r = A.get(f"{V3}/volumes/detail", params={"metadata": str({"grp": tag}), **params})
        assert r.status_code == 200, r.text
        return [v["name"] for v in r.json()["volumes"]]

    assert names(name=f"{tag}-2") == [f"{tag}-2"]
    assert names(size="1", sort="name:asc") == [f"{tag}-0", f"{tag}-2"]
    assert names(status="available", sort_key="size", sort_dir="asc")[-1] == f"{tag}-3"
    assert names(metadata=str({"grp": tag, "n": "1"})) == [f"{tag}-1"]
    assert names(status="error") == []
    assert names(bootable="false") == [f"{tag}-{i}" for i in (3, 2, 1, 0)]
    assert names(bootable="true") == []
    assert names(sort="size:desc,name:asc") == [f"{tag}-3", f"{tag}-1", f"{tag}-0", f"{tag}-2"]
    # Filters a member may not use are dropped (Cinder), so they do not narrow anything.
    assert len(names(host="nowhere", user_id="nobody")) == 4

    # Paging: limit, a next link carrying the query, marker.
    r = A.get(f"{V3}/volumes/detail", params={"metadata": str({"grp": tag}), "sort": "name:asc", "limit": 3})
    page = r.json()
    assert [v["name"] for v in page["volumes"]] == [f"{tag}-{i}" for i in range(3)]
    (link,) = page["volumes_links"]
    assert link["rel"] == "next" and link["href"].startswith(f"{server.url}/volume/v3/volumes/detail?")
    assert f"marker={ids[2]}" in link["href"] and "limit=3" in link["href"]
    nxt = A.get(link["href"]).json()
    assert [v["name"] for v in nxt["volumes"]] == [f"{tag}-3"] and "volumes_links" not in nxt
    page = A.get(f"{V3}/volumes", params={"metadata": str({"grp": tag}), "sort": "name:asc", "limit": 2,
                                          "offset": 1}).json()
    assert [v["name"] for v in page["volumes"]] == [f"{tag}-1", f"{tag}-2"]
    assert page["volumes_links"][0]["href"].startswith(f"{server.url}/volume/v3/volumes?")
    assert names(sort="name:asc", marker=ids[3]) == []
    assert names(limit="0") == []
    fault(A.get(f"{V3}/volumes/detail", params={"marker": str(uuid.uuid4())}), 404)
    for v in made:
        delete(A, v["id"])


def test_admin_lists_every_project_with_all_tenants(admin, A, B, member_a):
    vol = available(A)
    r = admin.get(f"{V3}/volumes/detail", params={"all_tenants": "1"})
    found = {v["id"]: v for v in r.json()["volumes"]}
    assert found[vol["id"]]["os-vol-tenant-attr:tenant_id"] == member_a["project_id"]
    assert vol["id"] not in {v["id"] for v in admin.get(f"{V3}/volumes/detail").json()["volumes"]}
    by_project = admin.get(f"{V3}/volumes", params={"all_tenants": "true",
                                                   "project_id": member_a["project_id"]}).json()["volumes"]
    assert vol["id"] in {v["id"] for v in by_project}
    # Admins filter on any column; one that does not exist matches nothing, as in Cinder.
    assert admin.get(f"{V3}/volumes", params={"all_tenants": "1", "nonsense": "x"}).json()["volumes"] == []
    fault(admin.get(f"{V3}/volumes", params={"all_tenants": "maybe"}), 400)
    # A member's all_tenants is ignored.
    assert vol["id"] not in {v["id"] for v in B.get(f"{V3}/volumes", params={"all_tenants": "1"}).json()["volumes"]}
    delete(A, vol["id"])


# ---- metadata ---------------------------------------------------------------------------------
def test_metadata_calls(A):
    vol = available(A, metadata={"a": "1"})
    base = f"{V3}/volumes/{vol['id']}/metadata"
    assert A.get(base).json() == {"metadata": {"a": "1"}}
    r = A.post(base, json={"metadata": {"b": "2"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "1", "b": "2"}}
    r = A.put(base, json={"metadata": {"c": "3", "a": "9"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "9", "c": "3"}}
    assert A.get(f"{base}/c").json() == {"meta": {"c": "3"}}
    r = A.put(f"{base}/c", json={"meta": {"c": "4"}})
    assert r.status_code == 200 and r.json() == {"meta": {"c": "4"}}
    fault(A.put(f"{base}/c", json={"meta": {"d": "4"}}), 400)
    fault(A.put(f"{base}/c", json={"meta": {"c": "4", "d": "5"}}), 400)
    assert A.delete(f"{base}/c").status_code == 200
    assert "has no metadata with key c" in fault(A.get(f"{base}/c"), 404)
    fault(A.delete(f"{base}/c"), 404)
    assert show(A, vol["id"])["metadata"] == {"a": "9"}
    delete(A, vol["id"])


# ---- admin actions and statuses ---------------------------------------------------------------
def test_reset_status_force_delete_and_delete_refusals(admin, A):
    vol = available(A)
    fault(action(A, vol["id"], {"os-reset_status": {"status": "error"}}), 403)
    for status in ("maintenance", "error_deleting", "creating"):
        assert action(admin, vol["id"], {"os-reset_status": {"status": status}}).status_code == 202
        assert show(A, vol["id"])["status"] == status
        message = fault(A.delete(f"{V3}/volumes/{vol['id']}"), 400)
        assert message.startswith("Invalid volume: Volume status must be available or error or error_restoring or "
                                  "error_extending or error_managing and must not be migrating, attached")
    fault(action(admin, vol["id"], {"os-reset_status": {"status": "deleting"}}), 400)
    fault(action(admin, vol["id"], {"os-reset_status": {"status": "in-use"}}), 400)  # no attachment
    fault(action(admin, vol["id"], {"os-reset_status": {"status": "bogus"}}), 400)
    fault(action(admin, vol["id"], {"os-reset_status": {}}), 400)
    assert action(admin, vol["id"], {"os-reset_status": {"migration_status": "error"}}).status_code == 202
    assert show(admin, vol["id"])["os-vol-mig-status-attr:migstat"] == "error"
    # Extending needs 'available'.
    assert "to extend, currently creating" in fault(action(A, vol["id"], {"os-extend": {"new_size": 2}}), 400)
    fault(action(A, vol["id"], {"os-force_delete": {}}), 403)
    assert action(admin, vol["id"], {"os-force_delete": {}}).status_code == 202
    wait_gone(A, vol["id"])


def test_error_volume_can_be_deleted(admin, A):
    vol = available(A)
    assert action(admin, vol["id"], {"os-reset_status": {"status": "error"}}).status_code == 202
    delete(A, vol["id"])


def test_volume_type_and_availability_zone(A, admin):
    types = A.get(f"{V3}/types").json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"]
    t = types[0]
    assert t["is_public"] is True and t["os-volume-type-access:is_public"] is True and t["extra_specs"] == {}
    assert "qos_specs_id" not in t and "qos_specs_id" in admin.get(f"{V3}/types").json()["volume_types"][0]
    assert A.get(f"{V3}/types/{t['id']}").json()["volume_type"]["name"] == "__DEFAULT__"
    assert A.get(f"{V3}/types/default").json()["volume_type"]["id"] == t["id"]
    fault(A.get(f"{V3}/types/__DEFAULT__"), 404)  # types are shown by id, as in Cinder
    for named in ("__DEFAULT__", t["id"], "", None):
        vol = create(A, volume_type=named)
        assert vol["volume_type"] == "__DEFAULT__"
        wait_status(A, vol["id"], "available")
        delete(A, vol["id"])
    zones = A.get(f"{V3}/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}}]


# ---- visibility and policy --------------------------------------------------------------------
def test_projects_see_only_their_own(admin, A, B):
    vol = available(A)
    vid = vol["id"]
    assert vid not in {v["id"] for v in B.get(f"{V3}/volumes/detail").json()["volumes"]}
    unknown = str(uuid.uuid4())
    for target in (vid, unknown):
        msgs = [fault(B.get(f"{V3}/volumes/{target}"), 404),
                fault(B.put(f"{V3}/volumes/{target}", json={"volume": {"name": "x"}}), 404),
                fault(B.delete(f"{V3}/volumes/{target}"), 404),
                fault(action(B, target, {"os-extend": {"new_size": 5}}), 404),
                fault(B.get(f"{V3}/volumes/{target}/metadata"), 404),
                fault(B.post(f"{V3}/volumes/{target}/metadata", json={"metadata": {"a": "b"}}), 404),
                fault(B.delete(f"{V3}/volumes/{target}/metadata/a"), 404)]
        assert set(msgs) == {f"Volume {target} could not be found."}
    # Admins reach it by id.
    assert show(admin, vid)["id"] == vid
    r = admin.put(f"{V3}/volumes/{vid}", json={"volume": {"description": "by admin"}})
    assert r.status_code == 200 and show(A, vid)["description"] == "by admin"
    delete(admin, vid)


def test_readers_only_read(server, admin, A, member_a):
    vol = available(A)
    reader = make_member(server, admin, role="reader")
    # The reader of A's project, not a member of it.
    reader_role = reader["role_id"]
    r = admin.put(f"/identity/v3/projects/{member_a['project_id']}/users/{reader['user_id']}/roles/{reader_role}")
    assert r.status_code == 204
    token = issue_token(server, reader["name"], reader["password"], member_a["name"])
    with client_for(server, token) as R:
        assert show(R, vol["id"])["id"] == vol["id"]
        assert vol["id"] in {v["id"] for v in R.get(f"{V3}/volumes").json()["volumes"]}
        assert R.get(f"{V3}/volumes/{vol['id']}/metadata").status_code == 200
        assert R.get(f"{V3}/limits").status_code == 200
        assert R.get(f"{V3}/os-quota-sets/{member_a['project_id']}").status_code == 200
        assert "volume:create" in fault(R.post(f"{V3}/volumes", json={"volume": {"size": 1}}), 403)
        fault(R.put(f"{V3}/volumes/{vol['id']}", json={"volume": {"name": "x"}}), 403)
        fault(R.delete(f"{V3}/volumes/{vol['id']}"), 403)
        fault(action(R, vol["id"], {"os-extend": {"new_size": 2}}), 403)
        fault(R.post(f"{V3}/volumes/{vol['id']}/metadata", json={"metadata": {"a": "b"}}), 403)
        assert fault(R.put(f"{V3}/os-quota-sets/{member_a['project_id']}", json={"quota_set": {"volumes": 1}}),
                     403) == "Policy doesn't allow volume_extension:quotas:update to be performed."
    delete(A, vol["id"])


# ---- crash reconciliation -------------------------------------------------------------------
def test_restart_finishes_what_a_crash_left(tmp_path):
    """A crash can leave a volume creating (no file yet, or part of a copy), deleting (file and
    row), extending (the file still small) or a file no volume owns. The next start finishes
    each."""
    srv = CaasServer(tmp_path / "data").start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            creating, deleting, extending, lost, source = (available(c)["id"] for _ in range(5))
            with open(srv.data_dir / "volumes" / source, "r+b") as f:
                f.write(b"copied again")
            copying = available(c, source_volid=source)["id"]
    finally:
        assert srv.stop() == 0
    files = srv.data_dir / "volumes"
    (files / creating).unlink()
    (files / copying).write_bytes(b"half")
    (files / lost).unlink()
    stray = str(uuid.uuid4())
    (files / stray).write_bytes(b"")
    (files / "not-a-volume").write_bytes(b"")  # never a name of ours: left alone
    with sqlite3.connect(srv.data_dir / "caas.db") as db:
        db.execute("UPDATE volume SET status='creating' WHERE id IN (?, ?)", (creating, copying))
        db.execute("UPDATE volume SET status='deleting' WHERE id=?", (deleting,))
        db.execute("UPDATE volume SET status='extending', new_size=4 WHERE id=?", (extending,))
    srv = CaasServer(tmp_path / "data").start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            assert show(c, creating)["status"] == "available" and (files / creating).stat().st_size == GIB
            assert show(c, copying)["status"] == "available" and (files / copying).stat().st_size == GIB
            with open(files / copying, "rb") as f:
                assert f.read(16) == b"copied again" + bytes(4)
            fault(c.get(f"{V3}/volumes/{deleting}"), 404)
            assert not (files / deleting).exists()
            grown = show(c, extending)
            assert grown["status"] == "available" and grown["size"] == 4
            assert (files / extending).stat().st_size == 4 * GIB
            assert show(c, lost)["status"] == "error"
            assert not (files / stray).exists() and (files / "not-a-volume").exists()
            project = _token(c)["project"]["id"]
            usage = c.get(f"{V3}/os-quota-sets/{project}", params={"usage": "true"}).json()["quota_set"]
            assert usage["volumes"]["in_use"] == 5
            delete(c, lost)
            # The restart kept one service per type (both on the same path) and three endpoints each.
            for type_ in ("block-storage", "volumev3"):
                (svc,) = c.get("/identity/v3/services", params={"type": type_}).json()["services"]
                eps = c.get("/identity/v3/endpoints", params={"service_id": svc["id"]}).json()["endpoints"]
                assert len(eps) == 3 and all(ep["url"].endswith("/volume/v3/$(project_id)s") for ep in eps)
    finally:
        errors = srv.server_errors()
        assert srv.stop() == 0
    assert errors == 0


# ---- the compute service's interface, in-process --------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def volume_service(request, tmp_path):
    """The service itself on a fresh, migrated database (no HTTP: this is the contract the
    compute service calls in-process)."""
    from caas.config import Settings
    from caas.db import Database
    from caas.db.migrate import upgrade
    from caas.volume.service import VolumeService
    from tests.conftest import fresh_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'caas.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server_url"))
    upgrade(url)
    db = Database(url)
    svc = VolumeService(db, Settings(data_dir=tmp_path))
    svc.bootstrap()
    yield svc
    svc.shutdown()
    db.dispose()


def _ctx(project_id: str, roles=("member",)):
    from caas.context import AuthContext, Ref
    from caas.identity.tokens import TokenData

    now = time.time()
    user = uuid.uuid4().hex
    token = TokenData(user_id=user, methods=("password",), issued_at=now, expires_at=now + 3600,
                      audit_ids=("x",), project_id=project_id)
    return AuthContext(token_id="t", token=token, user=Ref(user, "u"), user_domain=Ref("default", "Default"),
                       project=Ref(project_id, "p"), project_domain=Ref("default", "Default"),
                       roles=tuple(Ref(r, r) for r in roles))


def _available(svc, ctx, size: int = 1) -> str:
    vid = svc.create_volume(ctx, size).id
    deadline = time.monotonic() + 10
    while svc.show_volume(ctx, vid).status != "available":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return vid


def test_attach_detach_interface(volume_service):
    from caas.errors import BadRequest, NotFound
    from caas.volume.service import device_names

    svc = volume_service
    ctx, other, admin = _ctx(uuid.uuid4().hex), _ctx(uuid.uuid4().hex), _ctx(uuid.uuid4().hex, ("admin",))
    server, server2 = str(uuid.uuid4()), str(uuid.uuid4())
    v1, v2, v3 = (_available(svc, ctx) for _ in range(3))

    a1 = svc.attach(ctx, v1, server, "host-1")
    assert set(a1) == {"id", "attachment_id", "volume_id", "server_id", "device", "host_name", "attached_at"}
    assert a1["id"] == a1["attachment_id"] and a1["volume_id"] == v1 and a1["server_id"] == server
    assert a1["device"] == "/dev/vdb" and a1["host_name"] == "host-1" and a1["attached_at"]
    vol = svc.show_volume(ctx, v1)
    assert vol.status == "in-use" and [a.server_id for a in vol.attachments] == [server]
    a2 = svc.attach(admin, v2, server, None)  # admins attach any project's volume
    assert a2["device"] == "/dev/vdc"
    assert svc.attach(ctx, v3, server2, None)["device"] == "/dev/vdb"  # devices are per server

    with pytest.raises(BadRequest) as exc:
        svc.attach(ctx, v1, server2, None)
    assert exc.value.message == f"Invalid volume: volume {v1} status must be available, but current status is: in-use."
    with pytest.raises(NotFound) as exc:
        svc.attach(other, v3, server, None)
    assert exc.value.message == f"Volume {v3} could not be found."
    with pytest.raises(NotFound):
        svc.attach(ctx, str(uuid.uuid4()), server, None)
    # An attached volume cannot be deleted.
    with pytest.raises(BadRequest) as exc:
        svc.delete_volume(ctx, v1)
    assert "must not be migrating, attached" in exc.value.message

    assert [a["volume_id"] for a in svc.server_attachments(server)] == [v1, v2]
    nobody = str(uuid.uuid4())
    assert svc.attachments_by_server([server, server2, nobody]) == {
        server: svc.server_attachments(server), server2: svc.server_attachments(server2), nobody: []}
    assert svc.server_attachment(server, v2) == a2
    with pytest.raises(NotFound):
        svc.server_attachment(server, v3)

    # Detach frees the device, which the next attach takes again.
    svc.detach(ctx, v1, server)
    assert svc.show_volume(ctx, v1).status == "available" and svc.show_volume(ctx, v1).attachments == []
    with pytest.raises(NotFound):
        svc.detach(ctx, v1, server)
    with pytest.raises(NotFound):
        svc.detach(other, v2, server)
    assert svc.attach(ctx, v1, server, None)["device"] == "/dev/vdb"

    svc.detach_all(server)
    svc.detach_all(server)  # idempotent
    assert svc.server_attachments(server) == []
    assert {svc.show_volume(ctx, v).status for v in (v1, v2)} == {"available"}
    assert svc.server_attachments(server2)[0]["volume_id"] == v3

    path = svc.volume_path(v1)
    assert path == svc.settings.volume_dir / v1 and path.stat().st_size == GIB
    with pytest.raises(NotFound):
        svc.volume_path("../../etc/passwd")

    names = list(device_names())
    assert names[:3] == ["/dev/vdb", "/dev/vdc", "/dev/vdd"] and names[24] == "/dev/vdz"
    assert names[25:27] == ["/dev/vdaa", "/dev/vdab"] and len(set(names)) == len(names)


def test_device_order_past_vdz(volume_service):
    svc = volume_service
    ctx = _ctx(uuid.uuid4().hex)
    svc.update_quota(_ctx("x", ("admin",)), ctx.project_id, {"volumes": -1, "gigabytes": -1})
    server = str(uuid.uuid4())
    devices = [svc.attach(ctx, _available(svc, ctx), server, None)["device"] for _ in range(27)]
    assert devices[-3:] == ["/dev/vdz", "/dev/vdaa", "/dev/vdab"]
    assert [a["device"] for a in svc.server_attachments(server)] == devices


def test_parallel_attaches_take_distinct_devices(volume_service):
    """Attaches to one server are serialised on its lock row: parallel ones never share a
    device; parallel attaches of one volume to several servers: exactly one wins."""
    from caas.errors import BadRequest

    svc = volume_service
    ctx = _ctx(uuid.uuid4().hex)
    svc.update_quota(_ctx("x", ("admin",)), ctx.project_id, {"volumes": -1, "gigabytes": -1})
    server = str(uuid.uuid4())
    vids = [_available(svc, ctx) for _ in range(8)]
    devices, errors = [], []

    def attach(vid: str, server_id: str) -> None:
        try:
            devices.append(svc.attach(ctx, vid, server_id, None)["device"])
        except BadRequest as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attach, args=(vid, server)) for vid in vids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(devices) == [f"/dev/vd{c}" for c in "bcdefghi"]

    devices.clear()
    lone = _available(svc, ctx)
    threads = [threading.Thread(target=attach, args=(lone, str(uuid.uuid4()))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert devices == ["/dev/vdb"] and len(errors) == 5
