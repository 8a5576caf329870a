"""Shares attached at boot on real instances (the netns driver), through the APIs: two servers
on a network allowed by a share's access rule, whose ``#cloud-config`` ``mounts`` names the
share's export location, see each other's files at the mount point (each wrote its own with
``runcmd``, as the instance's root, capabilities dropped); a read-only rule gives a read-only
mount; a mount point through a symlink of the image (/bin -> usr/bin) and an entry naming
something not given are refused and logged; a server whose address no rule allows gets
nothing; after the rule is denied, the next boot of a server no longer has the share. The mounts
live only in the instances' mount namespaces (the host's mount table never mentions the data
dir), and deleting everything leaves no cs- object and no share directory.

Files inside an instance are read from the host with ``nsenter`` into its init's mount namespace
and root (no SSH needed). SQLite only, one ``caas up``; the tests run in order."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TLS, CaasServer, issue_token
from tests.e2e import kernel

pytestmark = pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing()))

MV = {"X-OpenStack-Manila-API-Version": "2.65"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("netns-shares")
    before = kernel.cs_objects()
    srv = CaasServer(base / "data", env={"CAAS_DRIVER": "netns", "CAAS_CPU_ALLOCATION_RATIO": "16"}).start(90)
    srv.before = before
    yield srv
    kernel.stop_and_clean(srv, before)


@pytest.fixture(scope="module")
def api(cloud):
    with httpx.Client(base_url=cloud.url, verify=TLS, timeout=60,
                      headers={"X-Auth-Token": issue_token(cloud)}) as c:
        yield c


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else {}


def network(api: httpx.Client, cidr: str) -> str:
    net = ok(api.post("/network/v2.0/networks", json={"network": {"name": "n-" + cidr}}), 201)["network"]
    ok(api.post("/network/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}}),
       201)
    return net["id"]


def share(api: httpx.Client, name: str) -> dict:
    sh = ok(api.post("/share/v2/shares", json={"share": {"name": name, "size": 1, "share_proto": "NFS"}},
                     headers=MV))["share"]
    deadline = time.monotonic() + 30
    while sh["status"] != "available":
        assert time.monotonic() < deadline, sh
        time.sleep(0.1)
        sh = ok(api.get(f"/share/v2/shares/{sh['id']}", headers=MV))["share"]
    sh["path"] = ok(api.get(f"/share/v2/shares/{sh['id']}/export_locations", headers=MV))["export_locations"][0]["path"]
    return sh


def allow(api: httpx.Client, share_id: str, cidr: str, level: str) -> str:
    body = {"allow_access": {"access_type": "ip", "access_to": cidr, "access_level": level}}
    return ok(api.post(f"/share/v2/shares/{share_id}/action", json=body, headers=MV))["access"]["id"]


def wait_active(api: httpx.Client, server_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = ok(api.get(f"/compute/v2.1/servers/{server_id}"))["server"]
        if s["status"] in ("ACTIVE", "ERROR") and s.get("OS-EXT-STS:task_state") is None:
            assert s["status"] == "ACTIVE", s.get("fault")
            return s
        assert time.monotonic() < deadline, s["status"]
        time.sleep(0.3)


def boot(api: httpx.Client, name: str, net: str, user_data: str) -> str:
    body = {"server": {"name": name, "imageRef": ok(api.get("/image/v2/images?name=host"))["images"][0]["id"],
                       "flavorRef": "1", "networks": [{"uuid": net}],
                       "user_data": base64.b64encode(user_data.encode()).decode()}}
    sid = ok(api.post("/compute/v2.1/servers", json=body), 202)["server"]["id"]
    wait_active(api, sid)
    return sid


def inside(cloud, server_id: str, *argv: str) -> subprocess.CompletedProcess:
    """``argv`` run in the instance's mount namespace and root (its init's), from the host."""
    pid = (cloud.data_dir / "instances" / server_id / "init.pid").read_text().split()[0]
    return subprocess.run(["nsenter", "-t", pid, "-m", "-r", "-w", "--", *argv], capture_output=True, text=True,
                          timeout=20)


def eventually(predicate, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def console(cloud, server_id: str) -> str:
    return (cloud.data_dir / "instances" / server_id / "console.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def setup(cloud, api):
    """A network allowed rw on ``home`` and ro on ``tools``; another network allowed nothing;
    the same user_data for every server."""
    allowed, other = network(api, "10.60.0.0/24"), network(api, "10.61.0.0/24")
    home, tools = share(api, "home; $(id)"), share(api, "tools")
    rule = allow(api, home["id"], "10.60.0.0/24", "rw")
    allow(api, tools["id"], "10.60.0.0/24", "ro")
    (cloud.data_dir / "shares" / tools["id"] / "README").write_text("tools\n")
    user_data = ("#cloud-config\n"
                 "mounts:\n"
                 f"  - [\"{home['path']}\", /home/shared, nfs, \"defaults,_netdev\", \"0\", \"0\"]\n"
                 f"  - [\"{tools['path']}\", /opt/tools, nfs, defaults]\n"
                 f"  - [\"{home['path']}\", /bin/sneaky, nfs, defaults]\n"
                 f"  - [\"{home['path']}\", /srv/../etc, nfs, defaults]\n"
                 "  - [\"192.0.2.1:/shares/not-given\", /mnt/x, nfs, defaults]\n"
                 "runcmd:\n"
                 "  - [sh, -c, \"hostname > /home/shared/from-$(hostname)\"]\n"
                 "  - [sh, -c, \"touch /opt/tools/x 2> /root/ro.txt || echo refused >> /root/ro.txt\"]\n")
    return {"allowed": allowed, "other": other, "home": home, "tools": tools, "rule": rule, "user_data": user_data,
            "servers": {}}


def test_two_servers_share_files(cloud, api, setup):
    st = setup["servers"]
    st["vm1"] = boot(api, "vm1", setup["allowed"], setup["user_data"])
    st["vm2"] = boot(api, "vm2", setup["allowed"], setup["user_data"])
    for me, peer in (("vm1", "vm2"), ("vm2", "vm1")):
        out = eventually(lambda: inside(cloud, st[me], "cat", f"/home/shared/from-{peer}").stdout,
                         f"{me} never saw {peer}'s file")
        assert out.strip() == peer
    held = cloud.data_dir / "shares" / setup["home"]["id"]
    assert sorted(p.name for p in held.iterdir()) == ["from-vm1", "from-vm2"]
    # The read-only share: its file is there, and the instance's root could not write.
    assert inside(cloud, st["vm1"], "cat", "/opt/tools/README").stdout == "tools\n"
    assert "refused" in eventually(lambda: inside(cloud, st["vm1"], "cat", "/root/ro.txt").stdout, "ro.txt")
    assert not (cloud.data_dir / "shares" / setup["tools"]["id"] / "x").exists()
    log = console(cloud, st["vm1"])
    assert f"share {setup['home']['path']} mounted at /home/shared (rw)" in log, log
    assert "mounted at /opt/tools (ro)" in log
    assert "mount point '/bin/sneaky' refused" in log and "mount point '/srv/../etc' refused" in log, log
    assert "'192.0.2.1:/shares/not-given' is not a share given to this instance, ignored" in log
    assert "ignoring unsupported keys" not in log
    # Through the symlink nothing was made on the host (/bin -> usr/bin on merged-/usr systems).
    assert not Path("/usr/bin/sneaky").exists() and not Path("/bin/sneaky").exists()
    # The mounts are the instances' own: the host's mount table never mentions the data dir.
    assert not kernel.mounts(str(cloud.data_dir))


def test_a_server_not_allowed_gets_nothing(cloud, api, setup):
    st = setup["servers"]
    st["vm3"] = boot(api, "vm3", setup["other"], setup["user_data"])
    log = eventually(lambda: "runcmd" in console(cloud, st["vm3"]) and console(cloud, st["vm3"]), "vm3's runcmd")
    assert f"{setup['home']['path']!r} is not a share given to this instance, ignored" in log, log
    assert inside(cloud, st["vm3"], "cat", "/home/shared/from-vm1").returncode != 0
    assert sorted(p.name for p in (cloud.data_dir / "shares" / setup["home"]["id"]).iterdir()) == [
        "from-vm1", "from-vm2"]


def test_denied_rule_is_gone_at_the_next_boot(cloud, api, setup):
    st = setup["servers"]
    r = api.post(f"/share/v2/shares/{setup['home']['id']}/action", headers=MV,
                 json={"deny_access": {"access_id": setup["rule"]}})
    assert r.status_code == 202, r.text
    assert inside(cloud, st["vm1"], "cat", "/home/shared/from-vm2").returncode == 0  # until it boots again
    ok(api.post(f"/compute/v2.1/servers/{st['vm1']}/action", json={"reboot": {"type": "HARD"}}), 202)
    wait_active(api, st["vm1"])
    eventually(lambda: inside(cloud, st["vm1"], "true").returncode == 0, "vm1 back")
    assert inside(cloud, st["vm1"], "cat", "/home/shared/from-vm2").returncode != 0
    assert inside(cloud, st["vm1"], "cat", "/opt/tools/README").stdout == "tools\n"  # ro rule still there
    assert console(cloud, st["vm1"]).count("is not a share given to this instance") >= 2


def test_delete_everything_leaves_nothing(cloud, api, setup):
    for sid in setup["servers"].values():
        assert api.delete(f"/compute/v2.1/servers/{sid}").status_code == 204
    deadline = time.monotonic() + 60
    while any(api.get(f"/compute/v2.1/servers/{sid}").status_code != 404 for sid in setup["servers"].values()):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    for sh in (setup["home"], setup["tools"]):
        assert api.delete(f"/share/v2/shares/{sh['id']}", headers=MV).status_code == 202
    eventually(lambda: not any((cloud.data_dir / "shares").iterdir()), "share directories removed")
    for net in (setup["allowed"], setup["other"]):
        assert api.delete(f"/network/v2.0/networks/{net}").status_code == 204
    public = ok(api.get("/network/v2.0/networks?name=public"))["networks"][0]["id"]
    assert kernel.beyond_the_clouds_own(cloud, [public]) == {}
    assert not kernel.mounts(str(cloud.data_dir))
