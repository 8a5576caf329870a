"""Block storage through the real ``openstack`` CLI and openstacksdk against ``caas up`` on
SQLite: volume create/list/set/show/delete as a project member, quota set and show and absolute
limits as admin (the volume service's one sequence through the CLI as a process; the other
checks run the same CLI in the test process, tests/e2e/osc.py); openstacksdk's block_storage
proxy and cloud layer."""

import json
import os
import subprocess
import sys
import time

from tests.e2e.osc import Sequence, osc, osc_json, requires_cli

pytestmark = requires_cli


def _wait_available(env, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        vol = osc_json(env, "volume", "show", name)
        if vol["status"] == "available":
            return vol
        assert vol["status"] in ("creating", "extending"), vol
        assert time.monotonic() < deadline, f"{name} stayed {vol['status']}"
        time.sleep(0.2)


def test_volume_sequence(server):
    """As a user types them: each kind of command once as a process (``Sequence``)."""
    seq = Sequence()
    admin = server.os_env()
    seq(admin, "project", "create", "--or-show", "blocks")
    seq(admin, "user", "create", "--or-show", "--password", "Blocks_123", "blocks")
    seq(admin, "role", "add", "--project", "blocks", "--user", "blocks", "member")
    env = server.os_env("blocks", "Blocks_123", "blocks")

    created = seq.json(env, "volume", "create", "--size", "1", "v1")
    assert created["name"] == "v1" and created["size"] == 1 and created["status"] == "creating"
    vol = _wait_available(env, "v1")
    assert vol["type"] == "__DEFAULT__" and vol["bootable"] is False
    rows = seq.json(env, "volume", "list")
    assert [(r["Name"], r["Status"], r["Size"]) for r in rows] == [("v1", "available", 1)]
    assert (server.data_dir / "volumes" / vol["id"]).stat().st_size == 1024 ** 3

    seq(env, "volume", "set", "--name", "v1-renamed", "--description", "data", "--property", "tier=gold", "v1")
    shown = seq.json(env, "volume", "show", "v1-renamed")
    assert shown["id"] == vol["id"] and shown["description"] == "data" and shown["properties"] == {"tier": "gold"}
    seq(env, "volume", "set", "--size", "2", "v1-renamed")
    assert _wait_available(env, "v1-renamed")["size"] == 2
    long_rows = seq.json(env, "volume", "list", "--long")
    assert long_rows[0]["Type"] == "__DEFAULT__" and long_rows[0]["Properties"] == {"tier": "gold"}

    # Quotas and limits (volume options only: compute's quota set would call compute too).
    seq(admin, "quota", "set", "--gigabytes", "4096", "--volumes", "20", "blocks")
    quota = {row["Resource"]: row["Limit"] for row in seq.json(admin, "quota", "show", "--volume", "blocks")}
    assert quota["gigabytes"] == 4096 and quota["volumes"] == 20 and quota["per-volume-gigabytes"] == -1
    usage = {row["Resource"]: row for row in seq.json(admin, "quota", "show", "--volume", "--usage", "blocks")}
    assert usage["volumes"]["In Use"] == 1 and usage["gigabytes"]["In Use"] == 2
    limits = {row["Name"]: row["Value"] for row in seq.json(env, "limits", "show", "--absolute")}
    assert limits["max_total_volumes"] == 20 and limits["max_total_volume_gigabytes"] == 4096
    assert limits["total_volumes_used"] == 1 and limits["total_gigabytes_used"] == 2

    # Another project does not see it; its own name lookup fails as "no volume".
    assert vol["id"] not in {r["ID"] for r in seq.json(admin, "volume", "list")}
    assert any(r["ID"] == vol["id"] for r in seq.json(admin, "volume", "list", "--all-projects"))
    failed = seq(server.os_env(), "volume", "show", "v1-renamed", check=False)
    assert failed.returncode != 0

    # Admin actions: a state reset, then a forced delete (os-force_delete below microversion 3.23).
    seq(admin, "volume", "set", "--state", "error", vol["id"])
    assert seq.json(env, "volume", "show", "v1-renamed")["status"] == "error"
    refused = seq(env, "volume", "set", "--state", "available", "v1-renamed", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr

    seq(admin, "volume", "delete", "--force", vol["id"])
    deadline = time.monotonic() + 60
    while osc_json(env, "volume", "list"):  # polls: in the test process
        assert time.monotonic() < deadline, "the volume was not deleted"
        time.sleep(0.2)
    assert not (server.data_dir / "volumes" / vol["id"]).exists()

    # A plain delete by the member.
    seq.json(env, "volume", "create", "--size", "1", "v2")
    _wait_available(env, "v2")
    seq(env, "volume", "delete", "v2")
    deadline = time.monotonic() + 60
    while osc_json(env, "volume", "list"):  # polls: in the test process
        assert time.monotonic() < deadline, "the volume was not deleted"
        time.sleep(0.2)


SDK_SCRIPT = """
import json, openstack
conn = openstack.connect(cloud="caas")
out = {}
v = conn.block_storage.create_volume(size=1, name="sdk-proxy")
out["created"] = v.status
v = conn.block_storage.wait_for_status(v, status="available", failures=["error"], interval=0.2, wait=60)
out["proxy"] = [v.status, v.size, v.is_bootable]
c = conn.create_volume(size=1, name="sdk-cloud", wait=True, timeout=60)
out["cloud"] = [c.status, conn.get_volume("sdk-cloud").id == c.id]
out["listed"] = sorted(x.name for x in conn.block_storage.volumes())
out["limits"] = conn.block_storage.get_limits().absolute.total_volumes_used
out["deleted"] = [conn.delete_volume("sdk-cloud", wait=True, timeout=60),
                  conn.delete_volume(v.id, wait=True, timeout=60)]
out["left"] = [x.name for x in conn.block_storage.volumes()]
print(json.dumps(out))
"""


def test_openstacksdk_block_storage(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(server.data_dir / "clouds.yaml")
    out = subprocess.run([sys.executable, "-c", SDK_SCRIPT], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["created"] == "creating" and result["proxy"] == ["available", 1, False]
    assert result["cloud"] == ["available", True]
    assert {"sdk-proxy", "sdk-cloud"} <= set(result["listed"]) and result["limits"] >= 2
    assert result["deleted"] == [True, True]
    assert not {"sdk-proxy", "sdk-cloud"} & set(result["left"])


def test_volume_from_image_and_from_volume(server, tmp_path):
    """``openstack volume create --image`` writes the image's bytes into the volume's file;
    ``--source`` copies a volume (its size by default); both as a project member."""
    admin = server.os_env()
    osc(admin, "project", "create", "--or-show", "copies")
    osc(admin, "user", "create", "--or-show", "--password", "Copies_123", "copies")
    osc(admin, "role", "add", "--project", "copies", "--user", "copies", "member")
    env = server.os_env("copies", "Copies_123", "copies")
    data = os.urandom(2 * 1024 * 1024 + 77)
    (tmp_path / "disk.img").write_bytes(data)
    img = osc_json(env, "image", "create", "--file", str(tmp_path / "disk.img"), "--disk-format=raw",
                   "--container-format=bare", "--private", "copies-disk")

    created = osc_json(env, "volume", "create", "--image", "copies-disk", "--size", "1", "from-image")
    assert created["status"] == "creating" and created["size"] == 1
    vol = _wait_available(env, "from-image")
    assert vol["bootable"] is True and vol["source_volid"] is None
    assert vol["volume_image_metadata"]["image_id"] == img["id"]
    assert vol["volume_image_metadata"]["image_name"] == "copies-disk"
    path = server.data_dir / "volumes" / vol["id"]
    with open(path, "rb") as f:
        assert f.read(len(data)) == data and f.read(4096) == bytes(4096)

    osc_json(env, "volume", "create", "--source", "from-image", "copy")
    copy = _wait_available(env, "copy")
    assert copy["size"] == 1 and copy["source_volid"] == vol["id"] and copy["bootable"] is True
    with open(server.data_dir / "volumes" / copy["id"], "rb") as f:
        assert f.read(len(data)) == data

    for name in ("copy", "from-image"):
        osc(env, "volume", "delete", name)
    deadline = time.monotonic() + 60
    while osc_json(env, "volume", "list"):
        assert time.monotonic() < deadline, "the volumes were not deleted"
        time.sleep(0.2)
    assert not path.exists()
