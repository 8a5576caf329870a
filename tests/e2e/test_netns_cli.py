"""Real instances (the netns driver) through the real ``openstack`` CLI and ``ssh``, as the
seed's user ``fabric`` (custom role ``fabric``) after the seed's network sequence:

- boot ``--image host --flavor m1.small --network fabric --key-name K --wait``, a floating IP,
  and SSH through it only while a tcp 22 rule exists (it times out before, and again after
  the rule is removed);
- ``hostname`` over SSH is the server's name; the other server on the network answers ping and
  TCP; a server in another project's network reaches neither;
- ``user_data`` and ``#cloud-config`` are applied, ``console log show`` shows the boot;
- reboot and stop/start keep the address and the files; a volume's data survives detach and
  attach to another server;
- names with shell metacharacters and unicode never reach the kernel;
- ``kill -9`` of ``caas up`` while 10 servers build, then ``caas up``: each ends ACTIVE or
  ERROR and no cs- object is left that the database does not own; after deleting everything
  and ``caas cleanup --all`` nothing with the prefix is left at all.

SQLite only: the driver's behaviour does not depend on the database, which the rest of the
suite covers on both. The tests run in order and share one ``caas up``."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TLS, CaasServer, caas_command, issue_token
from tests.e2e import kernel
from tests.e2e.test_compute_cli import seed_network_sequence, wait_for, wait_volume
from tests.e2e.test_openstack_cli import OPENSTACK, osc, osc_json

pytestmark = [pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed"),
              pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing()))]

SHELLY = "vm; rm -rf / $(reboot) `id` | & > x 'q\" \\ réseau 网络"


def ssh(key: Path, address: str, *command: str, timeout: float = 8) -> subprocess.CompletedProcess:
    """``command``: one remote shell line, or an argument list (quoted for the remote shell)."""
    remote = command[0] if len(command) == 1 else shlex.join(command)
    return subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(timeout)}", "-o", "LogLevel=ERROR",
                           "-i", str(key), f"root@{address}", remote],
                          capture_output=True, text=True, timeout=timeout + 20)


def ssh_ok(key: Path, address: str, *command: str) -> str:
    out = ssh(key, address, *command)
    assert out.returncode == 0, f"ssh {address} {command}: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def ssh_eventually(key: Path, address: str, *command: str, timeout: float = 20) -> str:
    """SSH that may need a moment (a rule just added); fails after ``timeout``."""
    deadline, out = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        out = ssh(key, address, *command, timeout=3)
        if out.returncode == 0:
            return out.stdout
        time.sleep(0.3)
    raise AssertionError(f"ssh {address} never answered: {out.stderr if out else ''}")


def ssh_refused(key: Path, address: str) -> bool:
    """True when SSH cannot connect within 3 s (dropped by the security group)."""
    return ssh(key, address, "true", timeout=3).returncode != 0


def fixed_ip(shown: dict, network: str) -> str:
    addresses = shown["addresses"]
    if isinstance(addresses, str):
        for part in addresses.split(";"):
            name, _, addrs = part.strip().partition("=")
            if name == network:
                return addrs.split(",")[0].strip()
        raise AssertionError(addresses)
    return addresses[network][0]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("netns")
    before = kernel.cs_objects()
    srv = CaasServer(base / "data", env={"CAAS_DRIVER": "netns", "CAAS_CPU_ALLOCATION_RATIO": "16"}).start(90)
    srv.before = before  # what other runs on this machine left is not this test's to judge
    yield srv
    kernel.stop_and_clean(srv, before)


@pytest.fixture(scope="module")
def fabric(cloud, tmp_path_factory):
    """The seed's project, user, custom role, quotas and network sequence, a key pair, and the
    flavor t1.nano for the many-server tests."""
    admin = cloud.os_env()
    osc(admin, "project", "create", "fabric")
    osc(admin, "user", "create", "--password", "Fabric_123", "fabric")
    osc(admin, "role", "create", "fabric")
    osc(admin, "role", "add", "--project", "fabric", "--user", "fabric", "fabric")
    osc(admin, "quota", "set", "fabric", "--cores", "200", "--instances", "50", "--floating-ips", "50",
        "--ram", "1048576")
    osc(admin, "flavor", "create", "--id", "nano1", "--ram", "64", "--disk", "1", "--vcpus", "1", "--public", "t1.nano")
    env = cloud.os_env("fabric", "Fabric_123", "fabric")
    seed_network_sequence(env)
    keydir = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fabric@caas", "-f", str(keydir / "id")],
                   check=True, capture_output=True)
    osc(env, "keypair", "create", "--public-key", str(keydir / "id.pub"), "K")
    userdata = keydir / "user-data"
    userdata.write_text("#!/bin/sh\necho hello from user_data > /root/user-data.txt\necho user-data-ran\n")
    cloudcfg = keydir / "cloud-config"
    cloudcfg.write_text("#cloud-config\nwrite_files:\n  - path: /etc/caas-test.conf\n    content: |\n"
                        "      written by cloud-config\n    permissions: '0640'\n"
                        "runcmd:\n  - echo runcmd-ran > /root/runcmd.txt\n")
    return {"admin": admin, "env": env, "key": keydir / "id", "userdata": userdata, "cloudcfg": cloudcfg,
            "state": {}}


def test_boot_floating_ip_and_ssh_by_rule(fabric):
    env, key, st = fabric["env"], fabric["key"], fabric["state"]
    vm1 = osc_json(env, "server", "create", "--image", "host", "--flavor", "m1.small", "--network", "fabric",
                   "--key-name", "K", "--user-data", str(fabric["userdata"]), "--wait", "vm1")
    assert vm1["status"] == "ACTIVE", vm1
    st["vm1"] = vm1["id"]
    st["vm1_ip"] = fixed_ip(osc_json(env, "server", "show", "vm1"), "fabric")
    fip = osc_json(env, "floating", "ip", "create", "public")["floating_ip_address"]
    osc(env, "server", "add", "floating", "ip", "vm1", fip)
    st["fip1"] = fip
    # The default group admits nothing from outside: SSH times out.
    assert ssh_refused(key, fip)
    rule = osc_json(env, "security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22", "default")
    assert ssh_eventually(key, fip, "hostname").strip() == "vm1"
    osc(env, "security", "group", "rule", "delete", rule["id"])
    time.sleep(0.5)
    assert ssh_refused(key, fip)
    st["rule"] = osc_json(env, "security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22",
                          "default")["id"]
    ssh_eventually(key, fip, "true")


def test_one_netns_caas_per_machine(cloud, tmp_path):
    """A second caas with the netns driver would take the first one's cs- objects for
    leftovers: it refuses to start, naming the first; so does caas cleanup."""
    other = subprocess.run(caas_command() + ["up", "--data-dir", str(tmp_path / "d2"), "--port", "0",
                                             "--driver", "netns"], capture_output=True, text=True, timeout=60)
    assert other.returncode == 1 and "another caas with the netns driver" in other.stderr, other.stderr
    assert str(cloud.data_dir) in other.stderr and "Traceback" not in other.stderr
    clean = subprocess.run(caas_command() + ["cleanup", "--data-dir", str(cloud.data_dir)],
                           capture_output=True, text=True, timeout=60)
    assert clean.returncode == 1 and "another caas with the netns driver" in clean.stderr, clean.stderr


def test_user_data_and_console(fabric):
    env, key, st = fabric["env"], fabric["key"], fabric["state"]
    deadline = time.monotonic() + 20
    while True:
        out = ssh(key, st["fip1"], "cat", "/root/user-data.txt")
        if out.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert out.stdout.strip() == "hello from user_data", out
    console = osc(env, "console", "log", "show", "vm1").stdout
    assert "vm1" in console and st["vm1_ip"] in console and "user-data-ran" in console, console


def test_second_server_answers_ping_and_tcp(fabric):
    env, key, st = fabric["env"], fabric["key"], fabric["state"]
    vm2 = osc_json(env, "server", "create", "--image", "host", "--flavor", "m1.small", "--network", "fabric",
                   "--key-name", "K", "--user-data", str(fabric["cloudcfg"]), "--wait", "vm2")
    st["vm2"] = vm2["id"]
    st["vm2_ip"] = ip2 = fixed_ip(osc_json(env, "server", "show", "vm2"), "fabric")
    assert ip2 != st["vm1_ip"]
    ssh_ok(key, st["fip1"], "ping", "-c", "1", "-W", "2", ip2)
    # TCP: vm2's sshd, admitted by the default group's rule for its own members.
    out = ssh_ok(key, st["fip1"], "timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{ip2}/22 && head -c 7 <&3")
    assert out.startswith("SSH-2.0"), out
    fip2 = osc_json(env, "floating", "ip", "create", "public")["floating_ip_address"]
    osc(env, "server", "add", "floating", "ip", "vm2", fip2)
    st["fip2"] = fip2
    assert ssh_eventually(key, fip2, "cat", "/etc/caas-test.conf").strip() == "written by cloud-config"
    assert ssh_eventually(key, fip2, "cat", "/root/runcmd.txt").strip() == "runcmd-ran"
    assert ssh_ok(key, fip2, "stat", "-c", "%a", "/etc/caas-test.conf").strip() == "640"


def test_host_secrets_are_not_visible(fabric, cloud):
    key, st = fabric["key"], fabric["state"]
    data_dir = str(cloud.data_dir)
    probe = (f"for p in {data_dir}/admin-password {data_dir}/caas.db {data_dir}/fernet-keys /root/.bash_history "
             "/etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_ecdsa_key; do test -e $p && echo VISIBLE $p; done; "
             "cat /etc/shadow | cut -d: -f2 | sort -u; ls /proc | grep -c '^[0-9]'; ls /home /tmp | wc -l")
    out = ssh_ok(key, st["fip1"], probe)
    assert "VISIBLE" not in out, out
    lines = out.split()
    assert set(lines[:-2]) <= {"*"}, out  # no password hash of the host
    assert int(lines[-2]) < 20, out  # the instance's own processes only


def test_other_project_cannot_reach(fabric, cloud):
    admin, st = fabric["admin"], fabric["state"]
    osc(admin, "project", "create", "other")
    osc(admin, "user", "create", "--password", "Other_123", "other")
    osc(admin, "role", "add", "--project", "other", "--user", "other", "member")
    other = cloud.os_env("other", "Other_123", "other")
    osc(other, "network", "create", "othernet")
    osc(other, "subnet", "create", "--network", "othernet", "--subnet-range", "10.77.0.0/24", "othersub")
    osc(other, "security", "group", "rule", "create", "--proto", "icmp", "default")
    vm3 = osc_json(other, "server", "create", "--image", "host", "--flavor", "t1.nano", "--network", "othernet",
                   "--wait", "vm3")
    st["vm3"] = vm3["id"]
    ns = f"/run/netns/cs-i{vm3['id'].replace('-', '')[:10]}"
    for target in (st["vm1_ip"], st["fip1"]):
        probe = subprocess.run(["nsenter", f"--net={ns}", "ping", "-c", "1", "-W", "1", target],
                               capture_output=True, text=True, timeout=10)
        assert probe.returncode != 0, f"vm3 reached {target}"
        probe = subprocess.run(["nsenter", f"--net={ns}", "timeout", "2", "bash", "-c",
                                f"exec 3<>/dev/tcp/{target}/22"], capture_output=True, text=True, timeout=10)
        assert probe.returncode != 0, f"vm3 reached {target}:22"
    osc(other, "server", "delete", "--wait", "vm3")


def test_reboot_and_stop_start_keep_files_and_address(fabric):
    env, key, st = fabric["env"], fabric["key"], fabric["state"]
    ssh_ok(key, st["fip1"], "echo kept > /root/kept.txt")
    osc(env, "server", "reboot", "--wait", "vm1")
    assert ssh_eventually(key, st["fip1"], "cat", "/root/kept.txt").strip() == "kept"
    osc(env, "server", "stop", "vm1")
    wait_for(env, "vm1", "SHUTOFF")
    assert ssh_refused(key, st["fip1"])
    osc(env, "server", "start", "vm1")
    wait_for(env, "vm1", "ACTIVE")
    assert ssh_eventually(key, st["fip1"], "cat", "/root/kept.txt").strip() == "kept"
    assert fixed_ip(osc_json(env, "server", "show", "vm1"), "fabric") == st["vm1_ip"]
    # user_data ran once, on the first boot only
    assert ssh_ok(key, st["fip1"], "cat", "/root/user-data.txt").strip() == "hello from user_data"


def test_volume_data_survives_reattach(fabric):
    env, key, st = fabric["env"], fabric["key"], fabric["state"]
    osc(env, "volume", "create", "--size", "1", "v1")
    wait_volume(env, "v1", "available")
    osc(env, "server", "add", "volume", "vm1", "v1")
    device = wait_volume(env, "v1", "in-use")["attachments"][0]["device"]
    ssh_ok(key, st["fip1"], f"printf caas-volume-data | dd of={device} conv=fsync status=none")
    osc(env, "server", "remove", "volume", "vm1", "v1")
    wait_volume(env, "v1", "available")
    assert ssh_ok(key, st["fip1"], f"test -e {device} && echo present || echo gone").strip() == "gone"
    osc(env, "server", "add", "volume", "vm2", "v1")
    device2 = wait_volume(env, "v1", "in-use")["attachments"][0]["device"]
    out = ssh_ok(key, st["fip2"], f"dd if={device2} bs=16 count=1 status=none")
    assert out == "caas-volume-data", out
    osc(env, "server", "remove", "volume", "vm2", "v1")
    wait_volume(env, "v1", "available")
    osc(env, "volume", "delete", "v1")


def _api(cloud, project: str = "fabric", user: str = "fabric", password: str = "Fabric_123") -> httpx.Client:
    token = issue_token(cloud, user, password, project)
    return httpx.Client(base_url=cloud.url, verify=TLS, headers={"X-Auth-Token": token}, timeout=30)


def _wait_servers(api: httpx.Client, ids: list[str], timeout: float = 90) -> dict[str, dict]:
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        seen = {i: api.get(f"/compute/v2.1/servers/{i}").json().get("server", {}) for i in ids}
        if all(s.get("status") in ("ACTIVE", "ERROR") for s in seen.values()):
            return seen
        time.sleep(0.3)
    raise AssertionError({i: s.get("status") for i, s in seen.items()})


def test_names_never_reach_the_kernel(fabric, cloud):
    api = _api(cloud)
    net = api.post("/network/v2.0/networks", json={"network": {"name": SHELLY}}).json()["network"]
    api.post("/network/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                        "cidr": "10.88.0.0/24", "name": SHELLY}})
    sg = api.post("/network/v2.0/security-groups", json={"security_group": {"name": SHELLY}}).json()
    assert sg["security_group"]["name"] == SHELLY
    body = {"name": SHELLY, "imageRef": _image_id(api), "flavorRef": "nano1",
            "networks": [{"uuid": net["id"]}], "security_groups": [{"name": SHELLY}]}
    long_body = dict(body, name="n" * 255)
    ids = [api.post("/compute/v2.1/servers", json={"server": b}).json()["server"]["id"] for b in (body, long_body)]
    done = _wait_servers(api, ids)
    assert all(s["status"] == "ACTIVE" for s in done.values()), done
    for name in kernel.links() | kernel.namespaces():
        assert all(c.isalnum() or c == "-" for c in name) and len(name) <= 15, name
    for i in ids:
        assert api.delete(f"/compute/v2.1/servers/{i}").status_code == 204
    _wait_gone(api, ids)
    assert api.delete(f"/network/v2.0/security-groups/{sg['security_group']['id']}").status_code == 204
    assert api.delete(f"/network/v2.0/networks/{net['id']}").status_code == 204


def _image_id(api: httpx.Client) -> str:
    return api.get("/image/v2/images?name=host").json()["images"][0]["id"]


def _wait_gone(api: httpx.Client, ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(api.get(f"/compute/v2.1/servers/{i}").status_code == 404 for i in ids):
            return
        time.sleep(0.3)
    raise AssertionError(f"servers not deleted: {ids}")


def _owned(cloud) -> tuple[set[str], set[str]]:
    """The server ids and port ids the database holds (read from the admin API)."""
    api = _api(cloud, "admin", "admin", cloud.admin_password)
    servers = {s["id"] for s in api.get("/compute/v2.1/servers?all_tenants=1").json()["servers"]}
    ports = {p["id"] for p in api.get("/network/v2.0/ports").json()["ports"]}
    return servers, ports


def _short(i: str) -> str:
    return i.replace("-", "")[:10]


def test_kill_during_builds_then_restart(fabric, cloud):
    api = _api(cloud)
    net = api.get("/network/v2.0/networks?name=fabric").json()["networks"][0]["id"]
    body = {"name": "burst", "imageRef": _image_id(api), "flavorRef": "nano1", "networks": [{"uuid": net}],
            "min_count": 10, "max_count": 10, "return_reservation_id": False}
    assert api.post("/compute/v2.1/servers", json={"server": body}).status_code == 202
    time.sleep(0.4)  # some instances are being made now
    cloud.proc.kill()
    cloud.proc.wait(timeout=10)
    cloud.log.close()
    cloud.start(90)
    api = _api(cloud)
    ids = [s["id"] for s in api.get("/compute/v2.1/servers?name=^burst").json()["servers"]]
    assert len(ids) == 10
    done = _wait_servers(api, ids)
    assert all(s["status"] in ("ACTIVE", "ERROR") for s in done.values())
    servers, ports = _owned(cloud)
    assert {n for n in kernel.namespaces() if n.startswith("cs-i")} <= {f"cs-i{_short(s)}" for s in servers}
    assert {n for n in kernel.links() if n.startswith("cs-t")} <= {f"cs-t{_short(p)}" for p in ports}
    for i in ids:
        api.delete(f"/compute/v2.1/servers/{i}")
    _wait_gone(api, ids)


def test_delete_everything_leaves_only_the_external_bridge(fabric, cloud):
    env, st = fabric["env"], fabric["state"]
    osc(env, "server", "delete", "--wait", "vm1", "vm2")
    for fip in (st["fip1"], st["fip2"]):
        osc(env, "floating", "ip", "delete", fip)
    osc(env, "router", "remove", "subnet", "fabricrouter", "subnetfabric")
    osc(env, "router", "delete", "fabricrouter")
    osc(env, "network", "delete", "fabric")
    admin = _api(cloud, "admin", "admin", cloud.admin_password)
    public = admin.get("/network/v2.0/networks?name=public").json()["networks"][0]["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {k: v - cloud.before[k] for k, v in kernel.cs_objects().items()}
        if left["links"] <= {f"cs-b{_short(public)}"} and not left["netns"] and not left["cgroups"]:
            break
        time.sleep(0.2)
    # The external bridge stays while caas owns the public network; cleanup --all removes it.
    assert left["links"] <= {f"cs-b{_short(public)}"} and not left["netns"] and not left["cgroups"], left
