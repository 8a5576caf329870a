"""Image data: upload and download streamed through the server (checksums, sizes, headers),
the status machine (queued -> saving -> active, killed on a failed transfer), an upload of
64 MiB that leaves the server's memory flat, a client that goes away, a delete during an
upload, and the reconciler that cleans up after a crash."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import time

import pytest

from tests.conftest import CaasServer, client_for, issue_token
from tests.image.conftest import OCTET, V2, create, show, upload

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # an upload racing a delete, the status machine: row locks decide

MIB = 1024 * 1024


def _status(c, iid: str) -> str:
    return show(c, iid)["status"]


def test_upload_download_roundtrip(server, admin):
    data = os.urandom(3 * MIB + 12345)
    img = create(admin)
    assert admin.get(f"{V2}/images/{img['id']}/file").status_code == 204  # no data yet
    upload(admin, img["id"], data)
    got = show(admin, img["id"])
    assert got["status"] == "active" and got["size"] == len(data) and got["virtual_size"] == len(data)
    assert got["checksum"] == hashlib.md5(data).hexdigest()
    assert got["os_hash_algo"] == "sha512" and got["os_hash_value"] == hashlib.sha512(data).hexdigest()
    r = admin.get(f"{V2}/images/{img['id']}/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-md5"] == got["checksum"]
    head = admin.head(f"{V2}/images/{img['id']}/file")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data)) and head.content == b""
    # The file lives in the data dir under the image's id, 0600, and goes with the image.
    path = server.data_dir / "images" / img["id"]
    assert path.stat().st_size == len(data) and path.stat().st_mode & 0o777 == 0o600
    assert admin.delete(f"{V2}/images/{img['id']}").status_code == 204
    assert not path.exists()


def test_empty_and_chunked_uploads(admin):
    img = create(admin)
    upload(admin, img["id"], b"")
    got = show(admin, img["id"])
    assert got["status"] == "active" and got["size"] == 0 and got["checksum"] == hashlib.md5(b"").hexdigest()
    assert admin.get(f"{V2}/images/{img['id']}/file").content == b""

    def gen():  # no Content-Length: chunked transfer encoding
        for i in range(7):
            yield bytes([i]) * 100_000
    img = create(admin)
    upload(admin, img["id"], gen())
    expected = b"".join(gen())
    assert show(admin, img["id"])["checksum"] == hashlib.md5(expected).hexdigest()
    assert admin.get(f"{V2}/images/{img['id']}/file").content == expected


def test_qcow2_virtual_size_from_header(admin):
    header = b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + (10 * 1024**3).to_bytes(8, "big")
    img = create(admin, disk_format="qcow2")
    upload(admin, img["id"], header + bytes(1000))
    assert show(admin, img["id"])["virtual_size"] == 10 * 1024**3
    img = create(admin, disk_format="vmdk")
    upload(admin, img["id"], b"x" * 10)
    assert show(admin, img["id"])["virtual_size"] is None


def test_upload_status_errors(admin):
    img = create(admin)
    iid = img["id"]
    r = admin.put(f"{V2}/images/{iid}/file", content=b"abc", headers={"Content-Type": "application/json"})
    assert r.status_code == 415 and r.json()["code"] == 415
    r = admin.put(f"{V2}/images/{iid}/file", content=b"abc")
    assert r.status_code == 415
    assert _status(admin, iid) == "queued"  # untouched
    r = admin.put(f"{V2}/images/{iid}/file", content=b"abc", headers={**OCTET, "X-OpenStack-Image-Size": "x"})
    assert r.status_code == 400 and _status(admin, iid) == "queued"
    r = admin.put(f"{V2}/images/{iid}/file", content=b"abc", headers={**OCTET, "X-OpenStack-Image-Size": str(2**41)})
    assert r.status_code == 413 and _status(admin, iid) == "queued"
    upload(admin, iid, b"abc")
    r = admin.put(f"{V2}/images/{iid}/file", content=b"other", headers=OCTET)
    assert r.status_code == 409 and r.json()["code"] == 409
    assert admin.get(f"{V2}/images/{iid}/file").content == b"abc"


def test_announced_size_mismatch_kills(admin):
    iid = create(admin)["id"]
    r = admin.put(f"{V2}/images/{iid}/file", content=b"abcd", headers={**OCTET, "X-OpenStack-Image-Size": "5"})
    assert r.status_code == 400
    assert _status(admin, iid) == "killed"
    assert admin.get(f"{V2}/images/{iid}/file").status_code == 204
    assert admin.put(f"{V2}/images/{iid}/file", content=b"abcde", headers=OCTET).status_code == 409
    assert admin.delete(f"{V2}/images/{iid}").status_code == 204


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_upload_keeps_memory_flat(server, admin):
    size = 64 * MIB
    block = os.urandom(MIB)
    md5 = hashlib.md5()

    def gen():
        for i in range(size // MIB):
            chunk = block[:8] + i.to_bytes(8, "big") + block[16:]
            md5.update(chunk)
            yield chunk

    warm = create(admin)  # the first upload loads what uploads need; measure after it
    upload(admin, warm["id"], os.urandom(2 * MIB))
    admin.get(f"{V2}/images/{warm['id']}/file")
    before = _rss_kib(server.proc.pid)
    img = create(admin)
    upload(admin, img["id"], gen())
    after_upload = _rss_kib(server.proc.pid)
    got = show(admin, img["id"])
    assert got["status"] == "active" and got["size"] == size and got["checksum"] == md5.hexdigest()
    down = hashlib.md5()
    n = 0
    with admin.stream("GET", f"{V2}/images/{img['id']}/file") as r:
        assert r.status_code == 200 and r.headers["content-length"] == str(size)
        for chunk in r.iter_bytes():
            down.update(chunk)
            n += len(chunk)
    after_download = _rss_kib(server.proc.pid)
    assert n == size and down.hexdigest() == md5.hexdigest()
    growth = max(after_upload, after_download) - before
    assert growth < 32 * 1024, f"server RSS grew by {growth / 1024:.1f} MiB for a {size // MIB} MiB image"
    admin.delete(f"{V2}/images/{img['id']}")


def _start_upload(server, token: str, iid: str, length: int, first: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall((f"PUT {V2}/images/{iid}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
               f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n").encode() + first)
    return s


def _wait_status(c, iid: str, want: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _status(c, iid) != want:
        assert time.monotonic() < deadline, f"image {iid} is {_status(c, iid)}, never {want}"
        time.sleep(0.05)


def test_client_gone_mid_upload_kills_the_image(server, admin):
    token = issue_token(server)
    iid = create(admin)["id"]
    s = _start_upload(server, token, iid, 8 * MIB, os.urandom(2 * MIB))
    _wait_status(admin, iid, "saving")
    s.close()
    _wait_status(admin, iid, "killed")
    assert not (server.data_dir / "images" / iid).exists()
    assert not (server.data_dir / "images" / "tmp" / iid).exists()


def test_delete_during_upload_is_410_and_leaves_no_file(server, admin):
    token = issue_token(server)
    iid = create(admin)["id"]
    s = _start_upload(server, token, iid, 4 * MIB, os.urandom(MIB))
    _wait_status(admin, iid, "saving")
    assert admin.delete(f"{V2}/images/{iid}").status_code == 204
    s.sendall(os.urandom(3 * MIB))
    reply = s.recv(65536).decode(errors="replace")
    s.close()
    assert reply.startswith("HTTP/1.1 410"), reply[:200]
    assert admin.get(f"{V2}/images/{iid}").status_code == 404
    assert not (server.data_dir / "images" / iid).exists()
    assert not (server.data_dir / "images" / "tmp" / iid).exists()


def test_restart_reconciles_and_keeps_one_host_image(tmp_path):
    """A crash mid-upload leaves a partial file and a 'saving' image; a file may outlive its
    image. The next start kills the one and removes both files; the host image stays single."""
    srv = CaasServer(tmp_path / "data").start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            saving = create(c)["id"]
            kept = create(c)["id"]
            upload(c, kept, b"keep me")
    finally:
        assert srv.stop() == 0
    images = srv.data_dir / "images"
    (images / "tmp" / saving).write_bytes(b"partial")
    orphan = "0f9d8e7c-6b5a-4a3b-9c2d-1e0f9a8b7c6d"
    (images / orphan).write_bytes(b"nobody's")
    with sqlite3.connect(srv.data_dir / "caas.db") as db:
        db.execute("UPDATE image SET status='saving' WHERE id=?", (saving,))
    srv = CaasServer(tmp_path / "data").start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            assert show(c, saving)["status"] == "killed"
            assert c.get(f"{V2}/images/{kept}/file").content == b"keep me"
            hosts = c.get(f"{V2}/images", params={"name": "host"}).json()["images"]
            assert len(hosts) == 1
        assert not (images / "tmp" / saving).exists() and not (images / orphan).exists()
        assert (images / kept).exists()
    finally:
        errors = srv.server_errors()
        assert srv.stop() == 0
    assert errors == 0


def test_download_needs_member_role(server, admin):
    from tests.conftest import make_member

    reader = make_member(server, admin, role="reader")
    img = create(admin, visibility="public")
    upload(admin, img["id"], b"x")
    with client_for(server, reader["token"]) as c:
        assert c.get(f"{V2}/images/{img['id']}").status_code == 200
        assert c.get(f"{V2}/images/{img['id']}/file").status_code == 403
