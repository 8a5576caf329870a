"""The image half of the seed documents through the real ``openstack`` CLI as a process (the
image service's one sequence so) against ``caas up`` on SQLite: create with a file, save, list,
show, set, unset, delete; and, through the same CLI in the test process (tests/e2e/osc.py), what
a member of another project may and may not do."""

import hashlib
import os

from tests.conftest import make_member
from tests.conftest import client_for, issue_token
from tests.e2e.osc import Sequence, osc, osc_json, requires_cli

pytestmark = requires_cli


def _image_names(env, list_json=osc_json) -> set[str]:
    return {row["Name"] for row in list_json(env, "image", "list")}


def test_seed_image_sequence(server, tmp_path):
    """As a user types them: each kind of command once as a process (``Sequence``)."""
    seq = Sequence()
    env = server.os_env()
    src = tmp_path / "ipxe-plain-net0.img"
    data = os.urandom(2 * 1024 * 1024 + 99)
    src.write_bytes(data)
    # As in the seed: openstack image create --file ... --disk-format=raw --container-format=bare --public NAME
    img = seq.json(env, "image", "create", "--file", str(src), "--disk-format=raw", "--container-format=bare",
                           "--public", "iPXE-plain-eth0")
    assert img["status"] == "active" and img["visibility"] == "public"
    assert img["checksum"] == hashlib.md5(data).hexdigest() and img["size"] == len(data)
    assert img["disk_format"] == "raw" and img["container_format"] == "bare"

    out = tmp_path / "saved.img"
    seq(env, "image", "save", "--file", str(out), "iPXE-plain-eth0")
    assert out.read_bytes() == data

    assert {"iPXE-plain-eth0", "host"} <= _image_names(env, seq.json)
    rows = seq.json(env, "image", "list", "--long")
    (row,) = [r for r in rows if r["Name"] == "iPXE-plain-eth0"]
    assert row["Disk Format"] == "raw" and row["Checksum"] == img["checksum"] and row["Visibility"] == "public"
    shown = seq.json(env, "image", "show", "iPXE-plain-eth0")
    assert shown["id"] == img["id"] and shown["owner"] == seq.json(env, "token", "issue")["project_id"]

    seq(env, "image", "set", "--property", "hw_qemu_guest_agent=yes", "--property", "build=42",
                "iPXE-plain-eth0")
    seq(env, "image", "set", "--tag", "pxe", "--tag", "net0", "iPXE-plain-eth0")
    seq(env, "image", "set", "--min-ram", "128", "--name", "iPXE-plain-eth0", "iPXE-plain-eth0")
    shown = seq.json(env, "image", "show", "iPXE-plain-eth0")
    assert shown["properties"]["hw_qemu_guest_agent"] == "yes" and shown["properties"]["build"] == "42"
    assert sorted(shown["tags"]) == ["net0", "pxe"] and shown["min_ram"] == 128
    assert [r["Name"] for r in seq.json(env, "image", "list", "--tag", "pxe")] == ["iPXE-plain-eth0"]
    assert [r["Name"] for r in seq.json(env, "image", "list", "--property", "build=42")] == ["iPXE-plain-eth0"]
    seq(env, "image", "unset", "--property", "build", "--tag", "net0", "iPXE-plain-eth0")
    shown = seq.json(env, "image", "show", "iPXE-plain-eth0")
    assert "build" not in shown["properties"] and shown["tags"] == ["pxe"]

    seq(env, "image", "set", "--protected", "iPXE-plain-eth0")
    refused = seq(env, "image", "delete", "iPXE-plain-eth0", check=False)
    assert refused.returncode != 0 and "iPXE-plain-eth0" in _image_names(env, seq.json)
    seq(env, "image", "set", "--unprotected", "iPXE-plain-eth0")
    seq(env, "image", "delete", "iPXE-plain-eth0")
    assert "iPXE-plain-eth0" not in _image_names(env, seq.json)
    assert not (server.data_dir / "images" / img["id"]).exists()

    # Deactivation, as the admin: the data cannot be downloaded by others until reactivated.
    seq(env, "image", "create", "--file", str(src), "--disk-format", "raw", "--container-format", "bare",
                "--public", "frozen")
    seq(env, "image", "set", "--deactivate", "frozen")
    assert seq.json(env, "image", "show", "frozen")["status"] == "deactivated"
    seq(env, "image", "set", "--activate", "frozen")
    assert seq.json(env, "image", "show", "frozen")["status"] == "active"
    seq(env, "image", "delete", "frozen")


def test_member_may_not_publicize_and_sees_public_and_own(server, tmp_path):
    env = server.os_env()
    src = tmp_path / "f.img"
    src.write_bytes(b"member data" * 1000)
    osc(env, "image", "create", "--file", str(src), "--disk-format", "raw", "--container-format", "bare",
        "--public", "admin-public")
    osc(env, "image", "create", "--disk-format", "raw", "--container-format", "bare", "--private", "admin-private")
    with client_for(server, issue_token(server)) as admin:
        m = make_member(server, admin)
    menv = server.os_env(m["name"], m["password"], m["name"])

    refused = osc(menv, "image", "create", "--file", str(src), "--disk-format", "raw", "--container-format", "bare",
                  "--public", "member-public", check=False)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    own = osc_json(menv, "image", "create", "--file", str(src), "--disk-format", "raw", "--container-format",
                   "bare", "--private", "member-own")
    assert own["status"] == "active" and own["visibility"] == "private"

    seen = _image_names(menv)
    assert {"admin-public", "member-own", "host"} <= seen
    assert "admin-private" not in seen
    for row in osc_json(menv, "image", "list", "--long"):
        assert row["Visibility"] == "public" or row["Project"] == m["project_id"], row
    assert osc(menv, "image", "show", "admin-private", check=False).returncode != 0
    out = tmp_path / "public.img"
    osc(menv, "image", "save", "--file", str(out), "admin-public")
    assert out.read_bytes() == src.read_bytes()
    assert osc(menv, "image", "set", "--property", "x=y", "admin-public", check=False).returncode != 0
    assert osc(menv, "image", "delete", "admin-public", check=False).returncode != 0
    assert osc(menv, "image", "set", "--public", "member-own", check=False).returncode != 0
    osc(menv, "image", "delete", "member-own")
    assert "member-own" not in _image_names(menv)
    osc(env, "image", "delete", "admin-public", "admin-private")
