"""Volumes made from an image (``imageRef``) or from another volume (``source_volid``), as
Cinder makes them, on both backends: the bytes in the backing files, the fields shown
(``source_volid``, ``volume_image_metadata``, ``bootable``), the statuses, the quota, and every
refusal (malformed, wrong types, unknown ids, other projects' ids, sizes too small, images caas
cannot copy) in Cinder's fault format with nothing made. A source that fails during the copy
leaves the volume ``error`` and no file."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from tests.conftest import client_for, make_member
from tests.image.conftest import V2, upload
from tests.image.conftest import create as create_image
from tests.volume import V3, action, available, create, delete, fault, set_quota, show, uniq, wait_status

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # quotas, and concurrent creates against them

GIB = 1024 ** 3
MIB = 1024 ** 2
# An image with data, a run of zeros (a hole in the volume) and more data after it.
IMAGE_BYTES = os.urandom(MIB + 123) + bytes(3 * MIB) + os.urandom(4321)


@pytest.fixture(scope="module")
def image(A):
    """A's private raw image with IMAGE_BYTES and a property."""
    img = create_image(A, name=uniq("raw"), min_disk=1, min_ram=64, os_distro="cirros")
    upload(A, img["id"], IMAGE_BYTES)
    return A.get(f"{V2}/images/{img['id']}").json()


def backing(server, volume_id: str):
    return server.data_dir / "volumes" / volume_id


def head(server, volume_id: str, n: int) -> bytes:
    with open(backing(server, volume_id), "rb") as f:
        return f.read(n)


def post(c, **volume):
    return c.post(f"{V3}/volumes", json={"volume": volume})


def volume_ids(c) -> set[str]:
    return {v["id"] for v in c.get(f"{V3}/volumes", params={"all_tenants": 1}).json()["volumes"]}


# ---- from an image ----------------------------------------------------------------------------
def test_volume_from_an_image_holds_its_bytes(server, A, image):
    r = post(A, size=1, name="from-image", imageRef=image["id"])
    assert r.status_code == 202, r.text
    created = r.json()["volume"]
    # As Cinder: the create answers before the copy; bootable comes with the bytes.
    assert created["status"] == "creating" and created["bootable"] == "false"
    assert created["source_volid"] is None and "volume_image_metadata" not in created
    vol = wait_status(A, created["id"], "available")
    assert vol["bootable"] == "true" and vol["size"] == 1 and vol["source_volid"] is None
    assert vol["volume_image_metadata"] == {
        "image_id": image["id"], "image_name": image["name"], "checksum": hashlib.md5(IMAGE_BYTES).hexdigest(),
        "container_format": "bare", "disk_format": "raw", "min_disk": "1", "min_ram": "64",
        "size": str(len(IMAGE_BYTES)), "os_distro": "cirros"}
    path = backing(server, vol["id"])
    st = path.stat()
    assert st.st_size == GIB and st.st_mode & 0o777 == 0o600
    assert st.st_blocks * 512 < 16 * MIB, "the copy must stay sparse (zeros and the tail are holes)"
    with open(path, "rb") as f:
        assert f.read(len(IMAGE_BYTES)) == IMAGE_BYTES
        assert f.read(MIB) == bytes(MIB)
        f.seek(GIB - MIB)
        assert f.read() == bytes(MIB)
    detail = {v["id"]: v for v in A.get(f"{V3}/volumes/detail").json()["volumes"]}
    assert detail[vol["id"]]["volume_image_metadata"]["image_id"] == image["id"]
    delete(A, vol["id"])
    assert not path.exists()


def test_image_references_as_cinder_reads_them(server, A, image):
    """``imageRef`` may be an id, a URL ending in one, or a name; ``image_id`` is its alias
    (and wins). The size must be given."""
    made = []
    for ref in (f"{server.url}/image/v2/images/{image['id']}", image["name"]):
        r = post(A, size=2, imageRef=ref)
        assert r.status_code == 202, r.text
        made.append(r.json()["volume"]["id"])
    r = post(A, size=1, image_id=image["id"], imageRef="no-such-image")
    assert r.status_code == 202, r.text
    made.append(r.json()["volume"]["id"])
    for vid in made:
        vol = wait_status(A, vid, "available")
        assert vol["volume_image_metadata"]["image_id"] == image["id"]
        assert head(server, vid, len(IMAGE_BYTES)) == IMAGE_BYTES
        delete(A, vid)
    assert "'None' must be an integer" in fault(post(A, imageRef=image["id"]), 400)


def test_images_that_cannot_be_used(server, admin, A, B, image):
    before = volume_ids(admin)
    # Unknown, another project's private image, a malformed reference: Cinder's one 400.
    for ref in (str(uuid.uuid4()), "no-such-image", "", "a/b/c"):
        assert fault(post(A, size=1, imageRef=ref), 400) == \
            "Invalid image identifier or unable to access requested image."
    assert fault(post(B, size=1, imageRef=image["id"]), 400) == \
        "Invalid image identifier or unable to access requested image."
    for bad in (5, True, ["x"], {"id": image["id"]}, "x" * 256):
        assert "imageRef" in fault(post(A, size=1, imageRef=bad), 400)
        assert "image_id" in fault(post(A, size=1, image_id=bad), 400)
    # Too small for the image's min_disk.
    small = create_image(A, min_disk=3)
    upload(A, small["id"], b"\x01" * 1000)
    assert fault(post(A, size=2, imageRef=small["id"]), 400) == \
        "Invalid input received: Volume size 2GB cannot be smaller than the image minDisk size 3GB."
    # Not active: queued (no data yet) and deactivated.
    queued = create_image(A)
    assert fault(post(A, size=1, imageRef=queued["id"]), 400) == \
        f"Invalid input received: Image {queued['id']} is not active."
    assert A.post(f"{V2}/images/{small['id']}/actions/deactivate").status_code == 204
    for c in (A, admin):
        assert fault(post(c, size=5, imageRef=small["id"]), 400) == \
            f"Invalid input received: Image {small['id']} is not active."
    # Formats caas does not convert, and the host image (no data: the host's root file system).
    qcow = create_image(A, disk_format="qcow2")
    upload(A, qcow["id"], b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + GIB.to_bytes(8, "big") + bytes(100))
    assert "qemu-img convert -O raw" in fault(post(A, size=1, imageRef=qcow["id"]), 400)
    ova = create_image(A, container_format="ova")
    upload(A, ova["id"], b"x" * 10)
    assert f"Image {ova['id']} is unacceptable" in fault(post(A, size=1, imageRef=ova["id"]), 400)
    host = A.get(f"{V2}/images", params={"name": "host"}).json()["images"][0]
    assert "has no data" in fault(post(A, size=1, imageRef=host["id"]), 400)
    # Two images of one name: Cinder's 409.
    twins = [create_image(A, name=uniq("twin")) for _ in range(2)]
    r = A.patch(f"{V2}/images/{twins[1]['id']}", json=[{"op": "replace", "path": "/name", "value": twins[0]["name"]}],
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200, r.text
    for twin in twins:
        upload(A, twin["id"], b"t")
    assert "Multiple matches found" in fault(post(A, size=1, imageRef=twins[0]["name"]), 409)
    assert volume_ids(admin) == before


# ---- from another volume ----------------------------------------------------------------------
def test_a_copy_of_a_volume(server, A):
    source = available(A, 2, name="source")
    with open(backing(server, source["id"]), "r+b") as f:  # what a guest would have written
        f.write(b"boot sector")
        f.seek(GIB + 5)
        f.write(b"past the first GiB")
    assert action(A, source["id"], {"os-set_bootable": {"bootable": True}}).status_code == 200
    r = post(A, source_volid=source["id"], name="copy")  # no size: the source's
    assert r.status_code == 202, r.text
    created = r.json()["volume"]
    assert created["status"] == "creating" and created["size"] == 2 and created["source_volid"] == source["id"]
    bigger = post(A, source_volid=source["id"], size=3).json()["volume"]
    for vid, size in ((created["id"], 2), (bigger["id"], 3)):
        vol = wait_status(A, vid, "available")
        assert vol["source_volid"] == source["id"] and vol["size"] == size and vol["bootable"] == "true"
        assert "volume_image_metadata" not in vol  # the source was not made from an image
        path = backing(server, vid)
        assert path.stat().st_size == size * GIB and path.stat().st_blocks * 512 < 16 * MIB
        with open(path, "rb") as f:
            assert f.read(11) == b"boot sector"
            f.seek(GIB + 5)
            assert f.read(18) == b"past the first GiB"
    # The copy is independent of its source, which may now go.
    delete(A, source["id"])
    assert show(A, created["id"])["source_volid"] == source["id"]
    for vid in (created["id"], bigger["id"]):
        delete(A, vid)


def test_a_copy_of_a_volume_made_from_an_image(server, A, image):
    vol = available(A, 1, imageRef=image["id"])
    copy = wait_status(A, create(A, 1, source_volid=vol["id"])["id"], "available")
    assert copy["bootable"] == "true" and copy["volume_image_metadata"] == vol["volume_image_metadata"]
    assert head(server, copy["id"], len(IMAGE_BYTES)) == IMAGE_BYTES
    for v in (copy, vol):
        delete(A, v["id"])


def test_sources_that_cannot_be_used(server, admin, A, B, image):
    source = available(A, 2)
    before = volume_ids(admin)
    # Unknown and another project's volume: 404, as Cinder; malformed ids and wrong types: 400.
    for vid in (str(uuid.uuid4()), str(uuid.uuid4()).upper()):
        assert fault(post(A, source_volid=vid), 404) == f"Volume {vid} could not be found."
    assert fault(post(B, source_volid=source["id"]), 404) == f"Volume {source['id']} could not be found."
    for bad in ("abc", "", "x" * 37, 5, True, [source["id"]], {"id": source["id"]}):
        assert "source_volid" in fault(post(A, source_volid=bad), 400)
    # Smaller than the source, a size of the wrong type, both sources at once.
    assert fault(post(A, source_volid=source["id"], size=1), 400) == (
        "Invalid input received: Volume size '1'GB cannot be smaller than original volume size  2GB. "
        "They must be >= original volume size.")
    fault(post(A, source_volid=source["id"], size="2"), 400)
    assert fault(post(A, source_volid=source["id"], imageRef=image["id"], size=2), 400) == \
        "Invalid input received: May specify only one of backup, imageRef, snapshot, source volume"
    # A source neither available nor in-use.
    assert action(admin, source["id"], {"os-reset_status": {"status": "error"}}).status_code == 202
    assert fault(post(A, source_volid=source["id"]), 400) == \
        "Invalid volume: Originating source volume status must be one of 'available, in-use' values"
    assert volume_ids(admin) == before
    delete(A, source["id"])


def test_a_copy_claims_gigabytes(server, admin):
    m = make_member(server, admin)
    set_quota(admin, m["project_id"], gigabytes=3)
    with client_for(server, m["token"]) as c:
        source = available(c, 2)
        assert "VolumeSizeExceedsAvailableQuota" in fault(post(c, source_volid=source["id"]), 413)
        r = c.get(f"{V3}/os-quota-sets/{m['project_id']}", params={"usage": "true"})
        assert r.json()["quota_set"]["gigabytes"]["in_use"] == 2
        delete(c, source["id"])
        source = available(c, 1)
        copy = available(c, source_volid=source["id"], size=2)
        assert c.get(f"{V3}/os-quota-sets/{m['project_id']}", params={"usage": "true"}) \
            .json()["quota_set"]["gigabytes"]["in_use"] == 3
        for v in (copy, source):
            delete(c, v["id"])


# ---- failures during the copy -----------------------------------------------------------------
def test_a_source_gone_before_the_copy_leaves_an_error_and_no_file(server, admin, A):
    """The image's file (or the source volume's) vanishes behind caas's back after the request
    was accepted: the worker cannot copy, so the volume ends ``error`` with no file; it still
    counts in the quota until deleted, as in Cinder."""
    img = create_image(A)
    upload(A, img["id"], b"gone soon")
    (server.data_dir / "images" / img["id"]).unlink()
    vol = wait_status(A, create(A, 1, imageRef=img["id"])["id"], "error", "available")
    assert vol["status"] == "error" and vol["bootable"] == "false"
    assert not backing(server, vol["id"]).exists()
    source = available(A, 1)
    backing(server, source["id"]).unlink()
    copy = wait_status(A, create(A, 1, source_volid=source["id"])["id"], "error", "available")
    assert copy["status"] == "error" and not backing(server, copy["id"]).exists()
    for v in (vol, copy):
        delete(A, v["id"])
    assert action(admin, source["id"], {"os-reset_status": {"status": "error"}}).status_code == 202
    delete(A, source["id"])
