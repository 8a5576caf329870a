"""openstacksdk against the image service: endpoint discovery through keystoneauth, the cloud
layer's ``create_image(..., wait=True)`` with its checksum check (which deletes the image if
the checksum differs), download, update, tags, pagination and delete."""

from __future__ import annotations

import hashlib
import os

import pytest

openstack = pytest.importorskip("openstack")


@pytest.fixture(scope="module")
def conn(server):
    c = openstack.connect(auth_url=server.url + "/identity/v3", username="admin", password=server.admin_password,
                          project_name="admin", user_domain_name="Default", project_domain_name="Default",
                          region_name="RegionOne", identity_api_version="3")
    yield c
    c.close()


def test_discovery_finds_v2(server, conn):
    assert conn.image.get_endpoint().rstrip("/") == f"{server.url}/image/v2"


def test_create_image_wait_checksum_download(conn, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 7)
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    img = conn.create_image("sdk-image", filename=str(src), disk_format="raw", container_format="bare",
                            wait=True, validate_checksum=True, timeout=60)
    assert img.status == "active" and img.checksum == hashlib.md5(data).hexdigest()
    again = conn.get_image("sdk-image")  # the checksum check passed: the image is still there
    assert again is not None and again.id == img.id and again.size == len(data)
    assert again.hash_algo == "sha512" and again.hash_value == hashlib.sha512(data).hexdigest()
    assert conn.image.download_image(img).content == data
    out = tmp_path / "out.raw"
    conn.image.download_image(img, output=str(out))
    assert out.read_bytes() == data
    with open(out, "wb") as fh:
        conn.image.download_image(img, output=fh, chunk_size=65536)
    assert out.read_bytes() == data


def test_update_tags_list_delete(conn):
    img = conn.image.create_image(name="sdk-meta", disk_format="qcow2", container_format="bare",
                                  os_distro="debian")
    assert img.status == "queued" and img.os_distro == "debian"
    conn.image.update_image(img, min_ram=256, hw_disk_bus="virtio", build="42", tags=["a", "b"])
    got = conn.image.get_image(img.id)
    assert got.min_ram == 256 and got.hw_disk_bus == "virtio" and got.properties["build"] == "42" and sorted(got.tags) == ["a", "b"]
    conn.image.add_tag(got, "c")
    conn.image.remove_tag(got, "a")
    assert sorted(conn.image.get_image(img.id).tags) == ["b", "c"]
    for i in range(3):
        conn.image.create_image(name=f"sdk-page-{i}", disk_format="raw", container_format="bare")
    listed = [i.name for i in conn.image.images(limit=1)]  # the SDK follows "next" one image at a time
    assert {"sdk-page-0", "sdk-page-1", "sdk-page-2", "sdk-meta", "host"} <= set(listed)
    assert len(listed) == len(set(i.id for i in conn.image.images(limit=2)))
    assert conn.image.find_image("sdk-meta").id == img.id
    conn.image.deactivate_image(conn.image.find_image("sdk-image"))
    assert conn.image.find_image("sdk-image").status == "deactivated"
    conn.image.reactivate_image(conn.image.find_image("sdk-image"))
    conn.delete_image("sdk-meta", wait=True)
    assert conn.get_image("sdk-meta") is None
