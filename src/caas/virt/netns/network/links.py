"""Kernel operations: namespaces, bridges, veths, addresses, routes, sysctls, nftables.

pyroute2 does the netlink work: one ``IPRoute`` for the host; work inside a namespace runs in
a short-lived thread that ``setns``-es into it and opens its own ``IPRoute`` there (a network
namespace is per thread; the thread ends with the work, so no thread is ever left in the wrong
namespace, and nothing forks a multi-threaded Python process). ``ip netns add/del`` creates
and removes namespaces (it gets the /run/netns bind mounts and their propagation right), and
``nft -f -`` applies rulesets (in a namespace through ``nsenter --net``). Subprocesses get
argument lists only, never a shell.

Every function is idempotent where it can be: creating what exists, or deleting what does not,
is not an error.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import socket
import subprocess
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from caas.virt.driver import DriverError

log = logging.getLogger(__name__)

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
PROTO_STATIC = 4  # rtnetlink RTPROT_STATIC: the routes we add, and the only ones we remove
TIMEOUT = 10  # seconds, for every subprocess
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


class KernelError(DriverError):
    """A kernel operation failed; the message says which and why (a DriverError, so that it
    can become a server's fault as it is)."""


# ---- subprocesses ------------------------------------------------------------------------
def run(args: list[str], stdin: str | None = None) -> str:
    """Run a command (argument list), return its stdout; KernelError with its stderr on failure."""
    try:
        proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelError(f"{args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise KernelError(f"{' '.join(args[:4])}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _in(netns: str | None, args: list[str]) -> list[str]:
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", *args] if netns else args


# ---- namespaces ----------------------------------------------------------------------------
def netns_list(prefix: str = "") -> set[str]:
    """The named namespaces (under /run/netns) whose name starts with ``prefix``."""
    try:
        return {n for n in os.listdir(NETNS_DIR) if n.startswith(prefix)}
    except FileNotFoundError:
        return set()


def netns_exists(name: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{name}")


def netns_add(name: str) -> bool:
    """Create a namespace; False if it existed already."""
    if netns_exists(name):
        return False
    try:
        run(["ip", "netns", "add", name])
    except KernelError:
        if netns_exists(name):  # a racing creator won
            return False
        raise
    return True


def netns_del(name: str) -> bool:
    """Remove a namespace's name (the kernel frees it once nothing uses it); False if absent."""
    if not netns_exists(name):
        return False
    try:
        run(["ip", "netns", "del", name])
    except KernelError:
        if netns_exists(name):
            raise
    return True


def in_netns(name: str, work: Callable[["Links"], T]) -> T:
    """Run ``work(Links)`` with an IPRoute inside namespace ``name``, in a thread that entered
    it; its result or its exception comes back. Sysctl files opened by ``work`` are the
    namespace's (see ``sysctl``)."""
    result: list = []

    def body() -> None:
        try:
            fd = os.open(f"{NETNS_DIR}/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise KernelError(f"setns {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            with IPRoute() as ipr:
                result.append((True, work(Links(ipr))))
        except BaseException as exc:  # handed to the caller
            result.append((False, exc))

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    ok, value = result[0]
    if not ok:
        if isinstance(value, FileNotFoundError):
            raise KernelError(f"namespace {name} does not exist") from value
        raise value
    return value


def sysctl(path: str, value: str) -> None:
    """Write ``/proc/sys/<path>`` in the calling thread's namespace (``net.*`` files are per
    namespace: inside ``in_netns`` this sets the namespace's own value)."""
    with open(f"/proc/sys/{path.replace('.', '/')}", "w") as f:
        f.write(value)


# ---- links -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str  # "bridge", "veth", "" ...
    master: int | None
    up: bool
    mac: str
    mtu: int


def _link(msg) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = (info.get_attr("IFLA_INFO_KIND") if info is not None else None) or ""
    return Link(index=msg["index"], name=msg.get_attr("IFLA_IFNAME"), kind=kind,
                master=msg.get_attr("IFLA_MASTER"), up=bool(msg["flags"] & 1),
                mac=(msg.get_attr("IFLA_ADDRESS") or "").lower(), mtu=msg.get_attr("IFLA_MTU") or 0)


def _ignore(codes: Iterable[int], fn: Callable, *args, **kwargs) -> bool:
    """Call ``fn``; True if it succeeded, False if it failed with one of ``codes``."""
    try:
        fn(*args, **kwargs)
        return True
    except NetlinkError as exc:
        if exc.code in codes:
            return False
        raise KernelError(f"{getattr(fn, '__name__', fn)} {args} {kwargs}: {exc}") from exc


class Links:
    """Link, address and route operations over one IPRoute (host, or a namespace's)."""

    def __init__(self, ipr: IPRoute) -> None:
        self.ipr = ipr

    def all(self, prefix: str = "") -> dict[str, Link]:
        out = {}
        for msg in self.ipr.get_links():
            link = _link(msg)
            if link.name and link.name.startswith(prefix):
                out[link.name] = link
        return out

    def get(self, name: str) -> Link | None:
        try:
            msgs = self.ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise KernelError(f"link get {name}: {exc}") from exc
        return _link(msgs[0]) if msgs else None

    def index(self, name: str) -> int:
        link = self.get(name)
        if link is None:
            raise KernelError(f"no interface {name}")
        return link.index

    def add_bridge(self, name: str) -> None:
        """Create a bridge (no STP, no address, IPv6 off: the host shows nothing on it)."""
        _ignore((errno.EEXIST,), self.ipr.link, "add", ifname=name, kind="bridge", br_stp_state=0)
        disable_ipv6(name)

    def add_veth(self, name: str, peer: str, peer_netns: str, mac: str, mtu: int) -> None:
        """A veth pair: ``name`` here, ``peer`` created straight inside ``peer_netns`` with its
        final name, MAC and MTU (no window where it sits in the host under another name)."""
        _ignore((errno.EEXIST,), self.ipr.link, "add", ifname=name, kind="veth", mtu=mtu,
                peer={"ifname": peer, "net_ns_fd": peer_netns, "address": mac, "mtu": mtu})
        disable_ipv6(name)

    def enslave_up(self, name: str, master: str) -> None:
        """Put ``name`` on bridge ``master`` and bring it up."""
        self.ipr.link("set", index=self.index(name), master=self.index(master), state="up")

    def up(self, name: str) -> None:
        self.ipr.link("set", index=self.index(name), state="up")

    def delete(self, name: str) -> bool:
        """Delete a link (its veth peer goes with it); False if it did not exist."""
        return _ignore((errno.ENODEV,), self.ipr.link, "del", ifname=name)

    # ---- addresses -----------------------------------------------------------------------
    def addresses(self, name: str) -> set[str]:
        """``addr/prefix`` of the link's addresses, IPv6 link-local ones left out."""
        out = set()
        for msg in self.ipr.get_addr(index=self.index(name)):
            addr = ipaddress.ip_address(msg.get_attr("IFA_ADDRESS"))
            if not (addr.version == 6 and addr.is_link_local):
                out.add(f"{addr}/{msg['prefixlen']}")
        return out

    def set_addresses(self, name: str, wanted: Iterable[str]) -> None:
        """Converge the link's addresses to ``wanted`` (``addr/prefix``)."""
        index = self.index(name)
        wanted = {str(ipaddress.ip_interface(a)) for a in wanted}
        have = self.addresses(name)
        for extra in have - wanted:
            iface = ipaddress.ip_interface(extra)
            _ignore((errno.EADDRNOTAVAIL,), self.ipr.addr, "del", index=index, address=str(iface.ip),
                    prefixlen=iface.network.prefixlen)
        for missing in sorted(wanted - have):
            iface = ipaddress.ip_interface(missing)
            _ignore((errno.EEXIST,), self.ipr.addr, "add", index=index, address=str(iface.ip),
                    prefixlen=iface.network.prefixlen)

    # ---- routes --------------------------------------------------------------------------
    def set_routes(self, wanted: Iterable[tuple[str, str]]) -> list[str]:
        """Converge the main table's static routes (the ones we made) to ``wanted``
        (destination, nexthop); returns the errors of routes the kernel refused."""
        wanted = {(str(ipaddress.ip_network(d, strict=False)), str(ipaddress.ip_address(h))) for d, h in wanted}
        have = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_routes(family=family, table=254):
                if msg["proto"] != PROTO_STATIC:
                    continue
                dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if family == socket.AF_INET else "::")
                key = (str(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False)),
                       str(msg.get_attr("RTA_GATEWAY")))
                have[key] = family
        errors = []
        for dst, via in set(have) - wanted:
            _ignore((errno.ESRCH,), self.ipr.route, "del", dst=dst, gateway=via, proto=PROTO_STATIC, table=254)
        for dst, via in sorted(wanted - set(have), key=lambda r: ipaddress.ip_network(r[0]).prefixlen):
            try:
                self.ipr.route("replace", dst=dst, gateway=via, proto=PROTO_STATIC, table=254)
            except NetlinkError as exc:  # e.g. a nexthop not on any attached subnet yet
                errors.append(f"route {dst} via {via}: {exc}")
        return errors


def host_links() -> Links:
    """A Links over a fresh host IPRoute (the caller closes ``.ipr``)."""
    return Links(IPRoute())


def disable_ipv6(name: str) -> None:
    """No IPv6 on one of our host-side links (a bridge or a tap): the host must not send ND or
    MLD into tenant networks, nor have a link-local address there."""
    try:
        sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "1")
    except FileNotFoundError:  # IPv6 off in the kernel, or the link vanished: nothing to do
        pass


# ---- nftables ------------------------------------------------------------------------------
def nft_apply(text: str, netns: str | None = None) -> None:
    """Apply a ruleset atomically (``nft -f -``), in ``netns`` when given."""
    run(_in(netns, ["nft", "-f", "-"]), stdin=text)


def nft_check(text: str) -> None:
    """Check a ruleset without applying it (``nft -c -f -``); KernelError with nft's message."""
    run(["nft", "-c", "-f", "-"], stdin=text)


def nft_tables(netns: str | None = None, prefix: str = "") -> set[tuple[str, str]]:
    """(family, name) of the tables whose name starts with ``prefix``."""
    out = set()
    for line in run(_in(netns, ["nft", "list", "tables"])).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[2].startswith(prefix):
            out.add((parts[1], parts[2]))
    return out


def nft_delete(family: str, name: str, netns: str | None = None) -> None:
    from caas.virt.netns.network.nft import delete_table

    nft_apply(delete_table(family, name), netns)
