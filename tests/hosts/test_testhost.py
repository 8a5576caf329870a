"""Test hosts on one machine (``scripts/testhost``, issue 20), driven as a user types it, as root.

Two test hosts come up with their own addresses and host names, reach each other and this
machine's side of their bridge (ping, and a TCP server on the bridge's address), and nothing
else; ``exec`` passes exit statuses through and runs inside the test host's own namespaces (its
/run/netns is its own); ``down`` removes exactly what ``up`` made (links, namespaces, processes
by recorded pid, mount namespaces), after a SIGKILLed agent or init too; bad input is refused
in one line.

Parallel with the netns group: everything here is named ``ct-`` (the netns driver and its
tests touch and count only ``cs-``), lives in its own state directory and bridge (named from
that directory), on a network that overlaps no route (the netns tests' external network,
198.18.250.0/24, is one), and the leak checks below count only this module's objects.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from caas.network.hostroutes import host_routes

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "testhost"
MISSING = [t for t in ("ip", "nsenter", "unshare", "ping", "mount") if shutil.which(t) is None]
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (namespaces, a bridge, veth pairs)"),
    pytest.mark.skipif(bool(MISSING), reason=f"missing {', '.join(MISSING)} (apt-get install iproute2 util-linux "
                                              "iputils-ping)"),
]


def free_network() -> str:
    """A /24 in 10.253.0.0/16 that overlaps no route of this machine."""
    routes = [net for _, net in host_routes()]
    for net in ipaddress.ip_network("10.253.0.0/16").subnets(new_prefix=24):
        if not any(net.overlaps(r) for r in routes):
            return str(net)
    pytest.skip("no free /24 in 10.253.0.0/16 for the test hosts' bridge")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("testhosts")
    return {**os.environ, "CAAS_TESTHOST_HOME": str(home), "CAAS_TESTHOST_CIDR": free_network(),
            "CAAS_PYTHON": sys.executable, "PYTHONPATH": str(ROOT / "src")}


def th(env: dict, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def ok(env: dict, *args: str) -> str:
    out = th(env, *args)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def ct_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}
    return {n for n in names if n.startswith("ct-")}


def netns_names() -> set[str]:
    """The machine's named network namespaces, but for a caas's own (``cs-``), which a netns
    caas (another worker's, another user's) makes and removes meanwhile."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith("cs-")}


def mount_ns_users(inode: str) -> list[int]:
    """Processes whose mount namespace is ``inode`` (``mnt:[N]``)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "ns" / "mnt") == inode:
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def records(env: dict) -> dict[str, dict]:
    import json

    hosts = Path(env["CAAS_TESTHOST_HOME"]) / "hosts"
    return {p.parent.name: json.loads(p.read_text()) for p in hosts.glob("*/host.json")}


@pytest.fixture(scope="module")
def pair(env):
    """Test hosts ``alpha`` and ``beta``; what the machine had before them."""
    before = {"links": ct_links(), "netns": netns_names()}
    ok(env, "up", "alpha")
    ok(env, "up", "beta")
    recs = records(env)
    yield {"before": before, "recs": recs, "bridge": str(next(ipaddress.ip_network(env["CAAS_TESTHOST_CIDR"]).hosts()))}
    for name in ("alpha", "beta"):  # when a test failed before test_down_removes_everything
        th(env, "down", name)


def address_of(env: dict, name: str) -> str:
    out = ok(env, "exec", name, "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    return out.split()[3].split("/")[0]


def test_two_test_hosts_have_their_own_address_and_name_and_reach_each_other(env, pair):
    a, b = address_of(env, "alpha"), address_of(env, "beta")
    assert a != b and {a, b} <= set(map(str, ipaddress.ip_network(env["CAAS_TESTHOST_CIDR"]).hosts()))
    assert {a, b} == {pair["recs"]["alpha"]["address"].split("/")[0], pair["recs"]["beta"]["address"].split("/")[0]}
    assert ok(env, "exec", "alpha", "--", "hostname").strip() == "alpha"
    assert ok(env, "exec", "beta", "--", "hostname").strip() == "beta"
    assert socket.gethostname() not in ("alpha", "beta")  # the machine's own name is untouched
    for name, peer in (("alpha", b), ("beta", a), ("alpha", pair["bridge"]), ("beta", pair["bridge"])):
        ok(env, "exec", name, "--", "ping", "-c", "1", "-W", "2", peer)
    # the connected network only: no default route, so nothing beyond the bridge
    routes = ok(env, "exec", "alpha", "--", "ip", "-4", "route").strip().splitlines()
    assert len(routes) == 1 and routes[0].startswith(env["CAAS_TESTHOST_CIDR"]), routes
    assert "127.0.0.1" in ok(env, "exec", "alpha", "--", "ip", "-o", "-4", "addr", "show", "dev", "lo")
    listing = ok(env, "list")
    assert f"alpha\tup\t{a}/24" in listing and f"caas up --host {pair['bridge']}" in listing


def test_a_tcp_server_on_the_bridge_address_answers_a_test_host(env, pair):
    server = socket.create_server((pair["bridge"], 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    seen = []

    def answer():
        conn, peer = server.accept()
        seen.append(peer[0])
        conn.sendall(b"controller here\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    client = ("import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5); "
              "print(s.recv(100).decode().strip())")
    out = ok(env, "exec", "beta", "--", sys.executable, "-c", client, pair["bridge"], str(port))
    thread.join(5)
    server.close()
    assert out.strip() == "controller here"
    assert seen == [pair["recs"]["beta"]["address"].split("/")[0]]


def test_exec_passes_the_exit_status_and_runs_in_the_test_hosts_namespaces(env, pair):
    assert th(env, "exec", "alpha", "--", "sh", "-c", "exit 7").returncode == 7
    assert th(env, "exec", "alpha", "--", "false").returncode == 1
    missing = th(env, "exec", "alpha", "--", "no-such-program")
    assert missing.returncode == 127 and "no-such-program" in missing.stderr
    # an argument with shell metacharacters is one argument, never a shell string
    assert ok(env, "exec", "alpha", "--", "echo", "$(id); rm -rf /").strip() == "$(id); rm -rf /"
    # its own PID namespace (init is pid 1) and its own /run/netns: a netns driver inside names
    # its namespaces where the machine's caas never sees them
    assert ok(env, "exec", "alpha", "--", "cat", "/proc/1/cmdline").split("\0")[2] == "caas.testhost.init"
    ok(env, "exec", "alpha", "--", "ip", "netns", "add", "cs-i0123456789")
    assert "cs-i0123456789" in ok(env, "exec", "alpha", "--", "ip", "netns", "list")
    assert "cs-i0123456789" not in netns_names()
    assert "cs-i0123456789" not in ok(env, "exec", "beta", "--", "ip", "netns", "list")
    # its own cgroup: a netns driver inside makes its instances' cgroups below it
    rec = pair["recs"]["alpha"]
    cgroup = ok(env, "exec", "alpha", "--", "cat", "/proc/self/cgroup")
    assert rec["cgroups"] and f"/ct-{rec['id']}/host\n" in cgroup, cgroup


def test_caas_cleanup_all_in_a_test_host_removes_its_cs_objects_only(env, pair):
    """The netns driver's own ``caas cleanup --all`` (its machine lock and its view of cs-
    objects) runs in a test host and sees only the test host's objects: not the machine's (a
    netns caas may run there meanwhile), not another test host's."""
    ok(env, "exec", "alpha", "--", "ip", "link", "add", "cs-zstray", "type", "bridge")
    ok(env, "exec", "beta", "--", "ip", "link", "add", "cs-zother", "type", "bridge")
    data = Path(env["CAAS_TESTHOST_HOME"]) / "hosts" / "alpha" / "data"
    out = ok(env, "exec", "alpha", "--", sys.executable, "-m", "caas.cli.main", "cleanup", "--all", "--data-dir", str(data))
    # all it removed (it names each): alpha's two, no link, namespace, table or instance cgroup
    # of the machine's (its cgroups are looked for under the test host's)
    assert out.splitlines() == ["removed netns cs-i0123456789", "removed link cs-zstray", "2 object(s) removed"], out
    assert "cs-zother" in ok(env, "exec", "beta", "--", "ip", "-o", "link", "show")
    ok(env, "exec", "alpha", "--", "ping", "-c", "1", "-W", "2", address_of(env, "beta"))  # eth0 kept


@pytest.mark.parametrize("name", ["Alpha", "a;b", "$(id)", "-x", "a b", "x" * 33, "bad-", "9lives", "../etc", ""])
def test_bad_names_are_refused_in_one_line(env, name):
    out = th(env, "up", name)
    assert out.returncode == 1 and out.stderr.startswith("testhost: bad test host name"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    if name in ("a;b", "../etc"):  # down and exec check names the same way (one process each: time)
        assert th(env, "down", name).returncode == 1 and th(env, "exec", name, "--", "true").returncode == 1


@pytest.mark.parametrize("token", ["-x", "a b", "tok;id", "$(id)", "t" * 4097, ""])
def test_bad_join_tokens_are_refused(env, token):
    out = th(env, "up", "gamma", "--join", token)
    assert out.returncode == 1 and "bad join token" in out.stderr, out.stderr
    assert "gamma" not in records(env)


def test_unknown_and_existing_names_and_usage_errors(env, pair):
    out = th(env, "down", "nosuch")
    assert out.returncode == 1 and out.stderr.strip() == "testhost: no test host nosuch (scripts/testhost list shows them)"
    out = th(env, "exec", "nosuch", "--", "true")
    assert out.returncode == 1 and "no test host nosuch" in out.stderr
    out = th(env, "up", "alpha")
    assert out.returncode == 1 and "test host alpha exists" in out.stderr
    assert th(env, "exec", "alpha", "true").returncode == 2  # no "--"
    assert th(env, "frobnicate").returncode == 2
    assert th(env, "up").returncode == 2 and th(env, "list", "x").returncode == 2


@pytest.mark.parametrize("setting", [("CAAS_TESTHOST_CIDR", "2001:db8::/64"), ("CAAS_TESTHOST_CIDR", "10.0.0.0/31"),
                                     ("CAAS_TESTHOST_CIDR", "$(id)"), ("CAAS_TESTHOST_MTU", "9x"),
                                     ("CAAS_TESTHOST_MTU", "70000")])
def test_bad_settings_are_refused_in_one_line(env, setting):
    out = th({**env, setting[0]: setting[1]}, "up", "gamma")
    assert out.returncode == 1 and out.stderr.startswith(f"testhost: {setting[0]} must be"), out.stderr


def test_a_network_overlapping_a_route_of_this_machine_is_refused(env, tmp_path):
    theirs = [(iface, net) for iface, net in host_routes() if not iface.startswith("ct-")]
    if not theirs:
        pytest.skip("this machine has no route besides the default one to overlap")
    iface, net = theirs[0]
    links = ct_links()
    out = th({**env, "CAAS_TESTHOST_HOME": str(tmp_path), "CAAS_TESTHOST_CIDR": str(net)}, "up", "gamma")
    assert out.returncode == 1 and f"overlaps this machine's route {net} on {iface}" in out.stderr, out.stderr
    assert ct_links() == links and not (tmp_path / "bridge.json").exists()
    assert not list((tmp_path / "hosts").iterdir())


def test_join_runs_caas_host_join_and_a_quick_failure_leaves_nothing(env, pair):
    links = ct_links()
    out = th(env, "up", "gamma", "--join", "not-a-token")
    # on a caas without `caas host join` (or with a token it rejects), join ends at once: said, and undone
    assert out.returncode == 1 and "caas host join ended at once" in out.stderr, out.stderr
    assert "gamma" not in records(env) and ct_links() == links


def test_down_removes_everything_it_made(env, pair):
    recs = pair["recs"]
    inodes = {name: os.readlink(f"/proc/{rec['init']['pid']}/ns/mnt") for name, rec in recs.items()}
    assert all(mount_ns_users(i) for i in inodes.values())
    out = ok(env, "down", "alpha", "beta")
    assert "test host alpha is down" in out and "test host beta is down" in out
    assert ct_links() == pair["before"]["links"], "a ct- link outlived down"
    assert netns_names() == pair["before"]["netns"]
    for name, rec in recs.items():
        for key in ("init", "unshare"):
            assert not running(rec[key]), key
        assert mount_ns_users(inodes[name]) == []
        assert not any(Path(d).exists() for d in rec["cgroups"]), rec["cgroups"]
    home = Path(env["CAAS_TESTHOST_HOME"])
    assert not list((home / "hosts").iterdir()) and not (home / "bridge.json").exists()
    assert ok(env, "list").strip() == "no test hosts"


def running(p: dict) -> bool:
    """The recorded process (pid and start time) runs: it exists, is the same, is no zombie (a
    killed process whose parent has not collected it yet)."""
    try:
        text = Path(f"/proc/{p['pid']}/stat").read_text()
    except OSError:
        return False
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[19]) == p["start"] and fields[0] != "Z"


# ---- the agent's process, with a stand-in for `caas host join` (one that ignores SIGTERM) ------
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


@pytest.mark.parametrize("agent", ["killed", "stubborn"])
def test_down_stops_the_agent_by_pid_or_cleans_up_after_a_killed_one(env, monkeypatch, agent):
    """``up --join`` records the agent's pid; ``down`` stops it (SIGTERM, then SIGKILL for one
    that ignores SIGTERM) or, SIGKILLed before, still removes everything. The join command is a
    stand-in (a process that runs until stopped, or ignores SIGTERM): a real agent in a test
    host runs the netns driver under the agent, the next slice of issue 20."""
    from caas.testhost import hosts

    monkeypatch.setenv("CAAS_TESTHOST_HOME", env["CAAS_TESTHOST_HOME"])
    monkeypatch.setenv("CAAS_TESTHOST_CIDR", env["CAAS_TESTHOST_CIDR"])
    monkeypatch.setattr(hosts, "JOIN", [sys.executable, "-c", STUBBORN])
    monkeypatch.setattr(hosts, "JOIN_GRACE", 0.5)
    monkeypatch.setattr(hosts, "STOP_GRACE", 0.5)
    links = ct_links()
    home = hosts.Home()
    rec = hosts.up(home, "delta", "tok-1")
    assert hosts.alive(rec["agent"]) and records(env)["delta"]["agent"] == rec["agent"]
    cmdline = Path(f"/proc/{rec['agent']['pid']}/cmdline").read_text().split("\0")
    assert cmdline[-4:] == ["tok-1", "--data-dir", str(home.dir("delta") / "data"), ""], cmdline
    assert f"/ct-{rec['id']}/agent\n" in Path(f"/proc/{rec['agent']['pid']}/cgroup").read_text()
    environ = Path(f"/proc/{rec['agent']['pid']}/environ").read_text().split("\0")
    assert not [v for v in environ if v.startswith(("CAAS_", "OS_"))], "the agent got this shell's settings"
    if agent == "killed":
        os.kill(rec["agent"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while hosts.alive(rec["agent"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    removed = hosts.down(home, "delta")
    assert ("agent pid" in " ".join(removed)) == (agent == "stubborn"), removed
    for key in ("agent", "init", "unshare", "join"):
        assert not running(rec[key]), key
    assert ct_links() == links and "delta" not in records(env)
    assert not any(Path(d).exists() for d in rec["cgroups"])


def test_a_test_host_whose_init_was_killed_is_listed_dead_and_down_removes_it(env):
    links = ct_links()
    ok(env, "up", "epsilon")
    rec = records(env)["epsilon"]
    os.kill(rec["init"]["pid"], signal.SIGKILL)  # its PID namespace ends: every process in it dies
    deadline = time.monotonic() + 5
    while running(rec["init"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "epsilon\tdead\t" in ok(env, "list")
    out = th(env, "exec", "epsilon", "--", "true")
    assert out.returncode == 1 and "test host epsilon is not running" in out.stderr
    ok(env, "down", "epsilon")
    assert ct_links() == links and "epsilon" not in records(env)
    assert not any(Path(d).exists() for d in rec["cgroups"])


def test_a_full_network_refuses_another_test_host_and_the_last_down_removes_the_bridge(env, tmp_path):
    small = str(next(ipaddress.ip_network(free_network()).subnets(new_prefix=30)))  # room for one
    env = {**env, "CAAS_TESTHOST_HOME": str(tmp_path), "CAAS_TESTHOST_CIDR": small, "CAAS_TESTHOST_MTU": "9000"}
    links = ct_links()
    ok(env, "up", "zeta")
    assert " mtu 9000 " in ok(env, "exec", "zeta", "--", "ip", "-o", "link", "show", "dev", "eth0")
    bridge = (ct_links() - links - {records(env)["zeta"]["veth"]}).pop()
    assert " mtu 9000 " in subprocess.run(["ip", "-o", "link", "show", "dev", bridge], capture_output=True,
                                          text=True, check=True).stdout
    out = th(env, "up", "eta")
    assert out.returncode == 1 and f"no address left in {small}" in out.stderr, out.stderr
    assert list(records(env)) == ["zeta"] and len(ct_links() - links) == 2  # the bridge and zeta's veth
    ok(env, "down", "zeta")
    assert ct_links() == links and not (tmp_path / "bridge.json").exists()
