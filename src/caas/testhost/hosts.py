"""Test hosts: extra compute hosts on this machine, as Mininet makes hosts (issue 20).

A test host is a process (``init``, pid 1 of its own PID namespace) in its own network, mount,
UTS and IPC namespaces: its own loopback, its own host name, its own /run (so the namespaces a
netns driver inside names under /run/netns, and that driver's one-per-machine lock, are its
own), and one veth pair whose far end (``eth0`` inside) is its underlay address on a bridge that
only the test hosts and this machine share. No default route: a test host reaches the bridge's
network and nothing else; no physical interface is ever touched.

Every object is written to the state directory (``Home``) before it is made, so ``down`` removes
exactly what ``up`` made, after a crash too. Kernel names come from random or hashed ids with the
prefix ``ct-`` (never the user's string, and never ``cs-``: the netns driver of a caas on this
machine removes every ``cs-`` link and namespace it does not own, and its host firewall drops
input from ``cs-b*`` bridges).

Holds: ``Home`` (the state directory), ``up``, ``down``, ``enter`` (the nsenter argument list of
``exec``), ``listing`` and the name and token checks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from caas.network.hostroutes import host_routes

PREFIX = "ct-"
DEFAULT_HOME = "/var/lib/caas-testhosts"
DEFAULT_CIDR = "10.254.0.0/24"  # outside caas's defaults (external 172.24.4.0/24, clusters 10.192.0.0/12)
NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?")
# Join tokens are URL-safe text; never one starting with "-", which a CLI would take for an option.
TOKEN = re.compile(r"[A-Za-z0-9._~+/=:][A-Za-z0-9._~+/=:-]{0,4095}")
NAMESPACES = ["--net", "--mount", "--uts", "--ipc", "--pid"]
READY_TIMEOUT = 10.0  # seconds for init to say it is ready
JOIN_GRACE = 2.0  # seconds an agent must live to count as started
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL for an agent
# The agent: this Python's caas (the checkout's, with scripts/testhost's PYTHONPATH), then TOKEN
# --data-dir DIR.
JOIN = [sys.executable, "-m", "caas.cli.main", "host", "join"]


def _links():
    """The netns driver's kernel helpers (pyroute2), imported when needed: with the driver's
    package they take half a second, which ``exec`` and ``list`` do without."""
    from caas.virt.netns.network import links

    return links


class TestHostError(Exception):
    """What the user asked cannot be done; the message says why (the CLI prints it, exit 1)."""

    __test__ = False  # not a pytest class


# ---- processes, by pid and start time (a pid alone may have been reused) --------------------
def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19]), fields[0]


def proc(pid: int) -> dict:
    stat = _stat(pid)
    if stat is None:
        raise TestHostError(f"process {pid} vanished")
    return {"pid": pid, "start": stat[1]}


def alive(p: dict | None) -> bool:
    """The recorded process still runs (same pid, same start time, not a zombie)."""
    stat = _stat(p["pid"]) if p else None
    return stat is not None and stat[1] == p["start"] and stat[2] != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[0] == pid:
                out.append(int(entry.name))
    return out


def _child(pid: int, timeout: float = 5.0) -> int:
    """The one child of ``pid`` (waiting for its fork); TestHostError if none comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = _children(pid)
        if kids:
            return kids[0]
        if _stat(pid) is None:
            break
        time.sleep(0.005)
    raise TestHostError(f"process {pid} started no child")


def _kill(p: dict | None, sig: int) -> bool:
    """Send ``sig`` to a recorded process if it still runs; True if it did."""
    if not alive(p):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(p["pid"], sig)
    return True


def _wait_gone(p: dict | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(p):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---- the state directory -------------------------------------------------------------------
class Home:
    """The state directory (0700): ``lock``, ``bridge.json`` and ``hosts/NAME/host.json`` (with
    ``data/``, the agent's data dir, and ``agent.log``, ``init.log``)."""

    def __init__(self, root: Path | None = None, cidr: str | None = None, mtu: int | None = None) -> None:
        self.root = Path(root or os.environ.get("CAAS_TESTHOST_HOME") or DEFAULT_HOME).resolve()
        text = cidr or os.environ.get("CAAS_TESTHOST_CIDR") or DEFAULT_CIDR
        try:
            self.cidr = ipaddress.ip_network(text)
        except ValueError:
            self.cidr = None
        if self.cidr is None or self.cidr.version != 4 or self.cidr.num_addresses < 4:
            raise TestHostError(f"CAAS_TESTHOST_CIDR must be an IPv4 network of 4 addresses or more: {text!r}")
        text = str(mtu or os.environ.get("CAAS_TESTHOST_MTU") or 1500)
        if not text.isdigit() or not 1280 <= int(text) <= 65535:
            raise TestHostError(f"CAAS_TESTHOST_MTU must be 1280 to 65535: {text!r}")
        self.mtu = int(text)
        # One bridge per state directory: two homes (a user's, a test's) never share one.
        self.bridge = f"{PREFIX}b{hashlib.sha256(str(self.root).encode()).hexdigest()[:8]}"

    @contextlib.contextmanager
    def lock(self):
        """The state directory, made 0700 if missing, locked against other ``up``/``down``."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        (self.root / "hosts").mkdir(mode=0o700, exist_ok=True)
        with open(self.root / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def dir(self, name: str) -> Path:
        return self.root / "hosts" / check_name(name)

    def host(self, name: str) -> dict | None:
        try:
            return json.loads((self.dir(name) / "host.json").read_text())
        except FileNotFoundError:
            return None

    def require(self, name: str) -> dict:
        rec = self.host(name)
        if rec is None:
            raise TestHostError(f"no test host {name} (scripts/testhost list shows them)")
        return rec

    def save(self, rec: dict) -> None:
        d = self.dir(rec["name"])
        d.mkdir(mode=0o700, exist_ok=True)
        tmp = d / "host.json.tmp"
        tmp.write_text(json.dumps(rec, indent=1))
        tmp.replace(d / "host.json")

    def hosts(self) -> list[dict]:
        found = []
        for d in sorted((self.root / "hosts").glob("*/host.json")) if self.root.exists() else []:
            found.append(json.loads(d.read_text()))
        return found

    def bridge_record(self) -> dict | None:
        try:
            return json.loads((self.root / "bridge.json").read_text())
        except FileNotFoundError:
            return None


def check_name(name: str) -> str:
    """A test host's name: a short DNS label (lowercase letters, digits, hyphens; 1-32)."""
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise TestHostError(f"bad test host name {name!r}: a DNS label of 1-32 lowercase letters, digits "
                            "and hyphens, starting with a letter")
    return name


def check_token(token: str) -> str:
    if TOKEN.fullmatch(token) is None:
        raise TestHostError("bad join token: expected the text `caas host add` printed (letters, digits, ._~+/=:-)")
    return token


def need_root() -> None:
    if os.geteuid() != 0:
        raise TestHostError("scripts/testhost needs root: it makes namespaces, a bridge and veth pairs "
                            "(run it with sudo)")


# ---- the bridge ----------------------------------------------------------------------------
def _ensure_bridge(home: Home) -> dict:
    """The bridge this machine shares with the test hosts, with the first address of the
    network: made (and recorded first) when missing. Refused if the network overlaps a route
    this machine has on another interface."""
    rec = home.bridge_record() or {"name": home.bridge, "cidr": str(home.cidr),
                                   "address": f"{next(home.cidr.hosts())}/{home.cidr.prefixlen}"}
    cidr = ipaddress.ip_network(rec["cidr"])
    for iface, net in host_routes():
        if iface != rec["name"] and net.overlaps(cidr):
            raise TestHostError(f"the test hosts' network {cidr} overlaps this machine's route {net} on {iface}: "
                                "set CAAS_TESTHOST_CIDR to a free private network")
    (home.root / "bridge.json").write_text(json.dumps(rec))
    host = _links().host_links()
    try:
        host.add_bridge(rec["name"])
        host.ipr.link("set", index=host.index(rec["name"]), mtu=home.mtu)
        host.set_addresses(rec["name"], [rec["address"]])
        host.up(rec["name"])
    finally:
        host.ipr.close()
    return rec


def _free_address(home: Home, bridge: dict) -> str:
    iface = ipaddress.ip_interface(bridge["address"])
    used = {iface.ip} | {ipaddress.ip_interface(h["address"]).ip for h in home.hosts()}
    for ip in iface.network.hosts():
        if ip not in used:
            return f"{ip}/{iface.network.prefixlen}"
    raise TestHostError(f"no address left in {iface.network} for another test host")


# ---- the test host's cgroup -----------------------------------------------------------------
def _cgroup_dirs(hid: str) -> list[str]:
    """The test host's cgroup ``ct-<id>`` in each hierarchy the netns driver uses, under this
    process's own cgroup there: the agent's instances' cgroups go below it, where neither the
    machine's caas nor another test host's agent looks for (or cleans up) theirs."""
    from caas.virt.netns import cgroups

    own = cgroups.own_paths()
    if cgroups.is_v2():
        return [str(cgroups.ROOT / own.get("", "/").lstrip("/") / f"{PREFIX}{hid}")]
    return [str(cgroups.ROOT / c / own.get(c, "/").lstrip("/") / f"{PREFIX}{hid}")
            for c in cgroups.V1_CONTROLLERS if (cgroups.ROOT / c).is_dir()]


def _make_cgroups(rec: dict) -> None:
    """Each cgroup with two leaves: ``host`` (init and ``exec``) and ``agent`` (whose netns driver
    makes its instances' cgroups below its own). On cgroup v2 the controllers are enabled for the
    leaves where the parent allows it (else the driver inside says what it lacks)."""
    for d in map(Path, rec["cgroups"]):
        for leaf in (d, d / "host", d / "agent"):
            leaf.mkdir(exist_ok=True)
        if (d / "cgroup.subtree_control").exists():
            with contextlib.suppress(OSError):
                (d / "cgroup.subtree_control").write_text("+cpu +memory +pids")


def _procs(rec: dict, leaf: str) -> list[str]:
    return [str(Path(d) / leaf / "cgroup.procs") for d in rec.get("cgroups") or []]


def _remove_cgroups(dirs: list[str], timeout: float = 5.0) -> list[str]:
    """Remove the cgroups, deepest first (just-killed processes keep one busy for a moment)."""
    removed = []
    for top in map(Path, dirs):
        if not top.is_dir():
            continue
        for path in sorted((p for p in [top, *top.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
            deadline = time.monotonic() + timeout
            while path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise TestHostError(f"cannot remove cgroup {path}: processes remain") from None
                    time.sleep(0.01)
        removed.append(f"cgroup {top}")
    return removed


# ---- up --------------------------------------------------------------------------------------
def up(home: Home, name: str, token: str | None = None) -> dict:
    """Start test host ``name`` (and, with ``token``, ``caas host join TOKEN`` inside it); its
    record. TestHostError if it exists, or if anything fails (then nothing of it is left)."""
    need_root()
    check_name(name)
    if token is not None:
        check_token(token)
    with home.lock():
        if home.host(name) is not None:
            raise TestHostError(f"test host {name} exists (scripts/testhost down {name} first)")
        try:
            bridge = _ensure_bridge(home)
            hid = secrets.token_hex(4)
            rec = {"name": name, "id": hid, "veth": f"{PREFIX}v{hid}", "peer": f"{PREFIX}w{hid}",
                   "address": _free_address(home, bridge), "bridge": bridge["name"],
                   "cgroups": _cgroup_dirs(hid), "unshare": None, "init": None, "agent": None, "join": None}
        except BaseException:
            _remove_bridge(home)  # when no other test host uses it
            raise
        home.save(rec)  # recorded before anything is made
        try:
            _make_cgroups(rec)
            _start_init(home, rec)
            _wire(home, rec)
            if token is not None:
                _start_agent(home, rec, token)
        except BaseException:
            _remove(home, rec)
            raise
    return rec


def _start_init(home: Home, rec: dict) -> None:
    """Start ``unshare`` with init in the new namespaces; record both; wait until init is ready."""
    d = home.dir(rec["name"])
    read, write = os.pipe()
    try:
        with open(d / "init.log", "ab") as log:
            unshare = subprocess.Popen(
                ["unshare", *NAMESPACES, "--fork", "--mount-proc", "--propagation", "private", "--kill-child",
                 sys.executable, "-m", "caas.testhost.init", "init", str(write), rec["name"], *_procs(rec, "host")],
                pass_fds=(write,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                cwd="/")
        os.close(write)
        write = -1
        rec["unshare"] = proc(unshare.pid)
        home.save(rec)
        answer = _read_line(read, READY_TIMEOUT)  # "ok", or why not; "" if unshare failed
        if answer == "ok":
            rec["init"] = proc(_child(unshare.pid))
            home.save(rec)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    if answer != "ok":
        log_tail = (d / "init.log").read_text(errors="replace").strip()[-500:]
        raise TestHostError(f"test host {rec['name']} did not start: {answer or 'no answer'} {log_tail}".strip())


def _read_line(fd: int, timeout: float) -> str:
    """What init writes on ``fd`` up to its newline (or its end), waiting at most ``timeout``."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 512)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _wire(home: Home, rec: dict) -> None:
    """The veth pair: ``veth`` on the bridge, up; its peer moved into the test host as ``eth0``
    with the test host's address, up, with ``lo`` up."""
    links = _links()
    host = links.host_links()
    try:
        host.ipr.link("add", ifname=rec["veth"], kind="veth", mtu=home.mtu, peer={"ifname": rec["peer"], "mtu": home.mtu})
        links.disable_ipv6(rec["veth"])
        host.ipr.link("set", index=host.index(rec["peer"]), net_ns_pid=rec["init"]["pid"])
        host.enslave_up(rec["veth"], rec["bridge"])
    finally:
        host.ipr.close()
    # Our own names and a validated address only: no user string in this batch.
    batch = (f"link set dev {rec['peer']} name eth0\n"
             f"addr add {ipaddress.ip_interface(rec['address'])} dev eth0\n"
             "link set dev eth0 up\nlink set dev lo up\n")
    links.run(["nsenter", f"--target={rec['init']['pid']}", "--net", "ip", "-batch", "-"], stdin=batch)


def enter(rec: dict, command: list[str], cwd: str | None = None, leaf: str = "host") -> list[str]:
    """The argument list that runs ``command`` in the test host's namespaces and its cgroup
    ``leaf`` (its exit status is the command's); TestHostError if the test host is not running."""
    if not alive(rec.get("init")):
        raise TestHostError(f"test host {rec['name']} is not running (its init is gone): "
                            f"scripts/testhost down {rec['name']} removes what is left")
    wd = [f"--wd={cwd}"] if cwd else []
    join = [sys.executable, "-m", "caas.testhost.init", "join", *_procs(rec, leaf), "--"]
    return ["nsenter", f"--target={rec['init']['pid']}", *NAMESPACES, *wd, "--", *join, *command]


def _start_agent(home: Home, rec: dict, token: str) -> None:
    """``caas host join TOKEN --data-dir DIR`` in the test host; its pid recorded. TestHostError
    with its output if it ends within ``JOIN_GRACE`` seconds (an unknown command, a bad token)."""
    d = home.dir(rec["name"])
    data = d / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    command = [*JOIN, token, "--data-dir", str(data)]
    # Another machine's agent: none of this shell's caas settings or OpenStack credentials.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAAS_", "OS_"))}
    with open(d / "agent.log", "ab") as log:
        nsenter = subprocess.Popen(enter(rec, command, "/", "agent"), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, env=env)
    rec["join"] = proc(nsenter.pid)
    home.save(rec)
    with contextlib.suppress(TestHostError):  # an agent that ended at once has no child left
        rec["agent"] = proc(_child(nsenter.pid, timeout=JOIN_GRACE))
        home.save(rec)
    try:
        code = nsenter.wait(JOIN_GRACE)
    except subprocess.TimeoutExpired:
        return
    out = (d / "agent.log").read_text(errors="replace").strip()[-800:]
    hint = " (this caas has no `caas host join` command yet)" if "No such command 'host'" in out else ""
    raise TestHostError(f"caas host join ended at once (exit {code}) in test host {rec['name']}{hint}: {out}")


# ---- down ------------------------------------------------------------------------------------
def down(home: Home, name: str) -> list[str]:
    """Stop test host ``name`` and remove everything it made; what was removed.
    TestHostError if there is no such test host."""
    need_root()
    check_name(name)
    with home.lock():
        return _remove(home, home.require(name))


def _remove(home: Home, rec: dict) -> list[str]:
    """The agent (SIGTERM, then SIGKILL), init (SIGKILL: the kernel then kills every process of
    the PID namespace, and the namespaces go with the last), the veth pair, the state, and the
    bridge with the last test host. Only recorded pids with their recorded start times."""
    removed = []
    if _kill(rec.get("agent"), signal.SIGTERM):
        if not _wait_gone(rec["agent"], STOP_GRACE):
            _kill(rec["agent"], signal.SIGKILL)
        removed.append(f"agent pid {rec['agent']['pid']}")
    for key in ("init", "unshare", "join"):
        if _kill(rec.get(key), signal.SIGKILL):
            removed.append(f"{key} pid {rec[key]['pid']}")
    for key in ("init", "unshare", "join"):
        _wait_gone(rec.get(key), 5.0)
    host = _links().host_links()
    try:
        for link in (rec["veth"], rec["peer"]):
            if host.delete(link):  # with the namespace gone, the kernel removes the pair by itself
                removed.append(f"link {link}")
    finally:
        host.ipr.close()
    removed += _remove_cgroups(rec.get("cgroups") or [])
    shutil.rmtree(home.dir(rec["name"]), ignore_errors=True)
    return removed + _remove_bridge(home)


def _remove_bridge(home: Home) -> list[str]:
    """The bridge and its record, unless a test host is still recorded."""
    bridge = home.bridge_record()
    if home.hosts() or bridge is None:
        return []
    host = _links().host_links()
    try:
        gone = host.delete(bridge["name"])
    finally:
        host.ipr.close()
    (home.root / "bridge.json").unlink(missing_ok=True)
    return [f"link {bridge['name']}"] if gone else []


# ---- list ------------------------------------------------------------------------------------
def listing(home: Home) -> list[str]:
    """One line per test host (name, state, address, init pid, agent), then the bridge's."""
    need_root()
    lines = []
    for rec in home.hosts():
        state = "up" if alive(rec.get("init")) else "dead"
        agent = rec.get("agent")
        agent_text = "-" if not agent else f"agent pid {agent['pid']} {'running' if alive(agent) else 'gone'}"
        init = rec.get("init") or {}
        lines.append(f"{rec['name']}\t{state}\t{rec['address']}\tinit pid {init.get('pid', '-')}\t{agent_text}")
    bridge = home.bridge_record()
    if bridge:
        lines.append(f"bridge {bridge['name']} {bridge['address']}: the controller's side "
                     f"(caas up --host {bridge['address'].split('/')[0]})")
    return lines
