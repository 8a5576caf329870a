"""Volume attachments through Nova (os-volume_attachments) and what Cinder then shows: devices
from /dev/vdb, ``in-use`` with the attachment, refusals (an in-use volume, deleting an
attached volume, a server that is not ready, another project's volume), detach, and the
detach that deleting a server does."""

from __future__ import annotations

import pytest

from tests.compute.conftest import C, boot, create, delete, error_of, show, uniq, wait_for, wait_until

pytestmark = pytest.mark.inprocess  # API shapes: the app in process, no caas up

ZERO = "00000000-0000-0000-0000-000000000000"


def volumes_url(project_id: str) -> str:
    return f"/volume/v3/{project_id}/volumes"


def make_volume(m, size: int = 1) -> dict:
    r = m.client.post(volumes_url(m.project_id), json={"volume": {"size": size, "name": uniq("vol")}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    return wait_until(lambda: (v := volume(m, vid))["status"] == "available" and v, what="volume available")


def volume(m, vid: str) -> dict:
    r = m.client.get(f"{volumes_url(m.project_id)}/{vid}")
    assert r.status_code == 200, r.text
    return r.json()["volume"]


def attach(c, sid: str, vid: str, status: int = 200, **extra):
    r = c.post(f"{C}/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": vid, **extra}})
    assert r.status_code == status, r.text
    return r


@pytest.fixture(scope="module")
def vm(member):
    return boot(member.client, name="with-volumes")


def test_attach_show_list_detach(member, vm):
    c, sid = member.client, vm["id"]
    v1, v2 = make_volume(member), make_volume(member)
    a1 = attach(c, sid, v1["id"]).json()["volumeAttachment"]
    assert a1 == {"id": v1["id"], "serverId": sid, "volumeId": v1["id"], "device": "/dev/vdb"}
    a2 = attach(c, sid, v2["id"]).json()["volumeAttachment"]
    assert a2["device"] == "/dev/vdc"
    # Cinder's side: in-use, with the attachment.
    seen = volume(member, v1["id"])
    assert seen["status"] == "in-use"
    (att,) = seen["attachments"]
    assert att["server_id"] == sid and att["device"] == "/dev/vdb" and att["volume_id"] == v1["id"]
    listed = c.get(f"{C}/servers/{sid}/os-volume_attachments").json()["volumeAttachments"]
    assert [(a["volumeId"], a["device"]) for a in listed] == [(v1["id"], "/dev/vdb"), (v2["id"], "/dev/vdc")]
    one = c.get(f"{C}/servers/{sid}/os-volume_attachments/{v2['id']}")
    assert one.status_code == 200 and one.json()["volumeAttachment"] == a2
    view = show(c, sid, "2.60")
    assert sorted(v["id"] for v in view["os-extended-volumes:volumes_attached"]) == sorted([v1["id"], v2["id"]])
    assert all(v["delete_on_termination"] is False for v in view["os-extended-volumes:volumes_attached"])
    assert [set(v) for v in show(c, sid, "2.1")["os-extended-volumes:volumes_attached"]] == [{"id"}, {"id"}]
    # Detach: available again, and the device is free for the next attach.
    r = c.delete(f"{C}/servers/{sid}/os-volume_attachments/{v1['id']}")
    assert r.status_code == 202
    assert volume(member, v1["id"])["status"] == "available" and volume(member, v1["id"])["attachments"] == []
    r = c.get(f"{C}/servers/{sid}/os-volume_attachments/{v1['id']}")
    assert r.status_code == 404 and error_of(r, "itemNotFound")
    r = c.delete(f"{C}/servers/{sid}/os-volume_attachments/{v1['id']}")
    assert r.status_code == 404 and error_of(r, "itemNotFound")
    again = attach(c, sid, v1["id"]).json()["volumeAttachment"]
    assert again["device"] == "/dev/vdb"
    for v in (v1, v2):
        assert c.delete(f"{C}/servers/{sid}/os-volume_attachments/{v['id']}").status_code == 202
        assert member.client.delete(f"{volumes_url(member.project_id)}/{v['id']}").status_code == 202


def test_refusals(member, other, vm):
    c, sid = member.client, vm["id"]
    vol = make_volume(member)
    attach(c, sid, vol["id"])
    # In use: not again, here or elsewhere.
    r = attach(c, sid, vol["id"], status=400)
    assert "must be available" in error_of(r, "badRequest")
    second = boot(c)
    r = attach(c, second["id"], vol["id"], status=400)
    assert "must be available" in error_of(r, "badRequest")
    # Cinder refuses to delete an attached volume.
    r = member.client.delete(f"{volumes_url(member.project_id)}/{vol['id']}")
    assert r.status_code == 400 and "attached" in r.json()["badRequest"]["message"]
    assert volume(member, vol["id"])["status"] == "in-use"
    # Unknown volume, another project's volume, bad bodies.
    r = attach(c, sid, ZERO, status=404)
    assert ZERO in error_of(r, "itemNotFound")
    theirs = make_volume(other)
    r = attach(c, sid, theirs["id"], status=404)
    assert theirs["id"] in error_of(r, "itemNotFound")
    assert volume(other, theirs["id"])["status"] == "available"
    for body in ({"volumeAttachment": {}}, {"volumeAttachment": {"volumeId": 5}}, {"volumeAttachment": None},
                 {"volumeAttachment": {"volumeId": vol["id"], "bogus": 1}}, {}, []):
        r = c.post(f"{C}/servers/{sid}/os-volume_attachments", json=body)
        assert r.status_code == 400, (body, r.text)
        assert error_of(r, "badRequest")
    # Another project cannot see or change the attachments.
    r = other.client.get(f"{C}/servers/{sid}/os-volume_attachments")
    assert r.status_code == 404 and error_of(r, "itemNotFound")
    r = other.client.delete(f"{C}/servers/{sid}/os-volume_attachments/{vol['id']}")
    assert r.status_code == 404
    assert volume(member, vol["id"])["status"] == "in-use"
    assert c.delete(f"{C}/servers/{sid}/os-volume_attachments/{vol['id']}").status_code == 202
    delete(c, second["id"])
    for m, v in ((member, vol), (other, theirs)):
        assert m.client.delete(f"{volumes_url(m.project_id)}/{v['id']}").status_code == 202


def test_stopped_and_deleted_servers(member):
    c = member.client
    vol = make_volume(member)
    sid = create(c).json()["server"]["id"]
    view = wait_for(c, sid, "ACTIVE")
    assert c.post(f"{C}/servers/{sid}/action", json={"os-stop": None}).status_code == 202
    wait_for(c, sid, "SHUTOFF")
    # A stopped server takes volumes, as in Nova.
    assert attach(c, sid, vol["id"]).json()["volumeAttachment"]["device"] == "/dev/vdb"
    assert c.delete(f"{C}/servers/{sid}/os-volume_attachments/{vol['id']}").status_code == 202
    assert c.delete(f"{C}/servers/{sid}").status_code == 204
    r = c.post(f"{C}/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert r.status_code in (404, 409), r.text
    assert view["id"] == sid
    wait_until(lambda: c.get(f"{C}/servers/{sid}").status_code == 404, what="server gone")
    assert volume(member, vol["id"])["status"] == "available"
    assert member.client.delete(f"{volumes_url(member.project_id)}/{vol['id']}").status_code == 202


def test_server_delete_detaches(member):
    c = member.client
    sid = boot(c)["id"]
    vols = [make_volume(member) for _ in range(2)]
    for v in vols:
        attach(c, sid, v["id"])
    assert all(volume(member, v["id"])["status"] == "in-use" for v in vols)
    delete(c, sid)
    for v in vols:
        after = volume(member, v["id"])
        assert after["status"] == "available" and after["attachments"] == []
        assert member.client.delete(f"{volumes_url(member.project_id)}/{v['id']}").status_code == 202
