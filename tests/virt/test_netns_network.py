"""The netns driver's network: pure tests of the plan and the nftables text (checked with
``nft -c`` where it runs), and kernel tests as root.

The kernel tests run inside a private network and mount namespace (``unshare``, a tmpfs on
/run/netns): the "host" they see is a throwaway one, so ``cleanup(all=True)`` and the leak
checks cannot touch the real host's objects (another caas, or other tests). ``test_kernel``
starts them there; run alone, they skip.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete

from caas.cloud import server_ids
from caas.compute.models import Server
from caas.db.engine import Database
from caas.db.migrate import upgrade
from caas.network.models import (FloatingIP, Network, Port, PortIP, PortSecurityGroup, Router, SecurityGroup,
                                 SecurityGroupRule, Subnet)
from caas.network.topology import topology
from caas.virt.driver import NicSpec
from caas.virt.netns import names
from caas.virt.netns.network import Dataplane, links, nft, plan
from caas.virt.netns.records import Records

INNER = os.environ.get("CAAS_NETNS_TEST_INNER") == "1"
IS_ROOT = os.geteuid() == 0
HAVE_NFT = shutil.which("nft") is not None
EXT_CIDR, EXT_GW = "198.18.250.0/24", "198.18.250.1"  # benchmark range: never a real network
NET1, NET2 = "10.250.1.0/24", "10.250.2.0/24"


# ---- a database with rows -----------------------------------------------------------------
@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'caas.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def mac() -> str:
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


class World:
    """Rows inserted directly with the models (what the API would have made)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.project = uuid.uuid4().hex

    def network(self, cidr: str, gateway: str | None, external: bool = False) -> tuple[str, str]:
        with self.db.write() as s:
            net = Network(project_id=self.project, name="n", external=external, mtu=1450)
            s.add(net)
            s.flush()
            sub = Subnet(project_id=self.project, network_id=net.id, cidr=cidr, gateway_ip=gateway)
            s.add(sub)
            s.flush()
            return net.id, sub.id

    def group(self, default: bool = True) -> str:
        with self.db.write() as s:
            g = SecurityGroup(project_id=self.project, name="default")
            s.add(g)
            s.flush()
            if default:
                for eth in ("IPv4", "IPv6"):
                    s.add(SecurityGroupRule(project_id=self.project, security_group_id=g.id, direction="ingress",
                                            ethertype=eth, remote_group_id=g.id))
                    s.add(SecurityGroupRule(project_id=self.project, security_group_id=g.id, direction="egress",
                                            ethertype=eth))
            return g.id

    def rule(self, group: str, **kw) -> str:
        with self.db.write() as s:
            r = SecurityGroupRule(project_id=self.project, security_group_id=group, **kw)
            s.add(r)
            s.flush()
            return r.id

    def drop_rule(self, rule_id: str) -> None:
        with self.db.write() as s:
            s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == rule_id))

    def server(self) -> str:
        with self.db.write() as s:
            srv = Server(name="vm", project_id=self.project, user_id="u", flavor_id="1", flavor={})
            s.add(srv)
            s.flush()
            return srv.id

    def port(self, net: str, sub: str, ip: str, owner: str = "compute:nova", device: str = "",
             groups: tuple[str, ...] = (), security: bool = True, pairs: list | None = None) -> Port:
        with self.db.write() as s:
            p = Port(project_id=self.project, network_id=net, mac_address=mac(), device_owner=owner,
                     device_id=device, port_security_enabled=security, allowed_address_pairs=pairs or [])
            s.add(p)
            s.flush()
            s.add(PortIP(port_id=p.id, subnet_id=sub, ip_address=ip))
            for g in groups:
                s.add(PortSecurityGroup(port_id=p.id, security_group_id=g))
            return p

    def router(self, ext: tuple[str, str], gw_ip: str, interfaces: list[tuple[str, str, str]],
               snat: bool = True) -> str:
        with self.db.write() as s:
            r = Router(project_id=self.project, name="r", enable_snat=snat)
            s.add(r)
            s.flush()
            rid = r.id
        gw = self.port(ext[0], ext[1], gw_ip, owner="network:router_gateway", device=rid, security=False)
        for net, sub, ip in interfaces:
            self.port(net, sub, ip, owner="network:router_interface", device=rid, security=False)
        with self.db.write() as s:
            r = s.get(Router, rid)
            r.gateway_network_id, r.gateway_port_id = ext[0], gw.id
        return rid

    def floating(self, ext: tuple[str, str], address: str, port: Port, fixed: str, router: str) -> str:
        with self.db.write() as s:
            f = FloatingIP(project_id=self.project, floating_network_id=ext[0], floating_subnet_id=ext[1],
                           floating_ip_address=address, port_id=port.id, fixed_ip_address=fixed, router_id=router)
            s.add(f)
            s.flush()
            return f.id

    def snapshot(self) -> plan.Snapshot:
        return plan.index(current(self.db))


_GENERATIONS = itertools.count(1)


def current(db: Database):
    """The network service's topology of the rows now (what its feed would deliver)."""
    with db.read() as s:
        return topology(s, server_ids(s), generation=next(_GENERATIONS))


def synced(db: Database, dp: Dataplane) -> Dataplane:
    """``dp`` holding the topology of the rows now (no background reconcile asked for)."""
    dp.take(current(db))
    return dp


def nic(port: Port, fixed: str) -> NicSpec:
    return NicSpec(port_id=port.id, mac_address=port.mac_address, network_id=port.network_id, mtu=1450,
                   fixed_ips=({"ip_address": fixed},))


def check(text: str) -> None:
    """``nft -c`` accepts the ruleset (where nft and the rights to run it are here)."""
    if HAVE_NFT and IS_ROOT:
        links.nft_check(text)


# ---- pure: nftables text ----------------------------------------------------------------------
GROUP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_rule_tcp_22_from_anywhere():
    rule = nft.SgRule("ingress", "IPv4", "tcp", 22, 22, "0.0.0.0/0")
    assert nft.sg_rule(rule) == ["meta nfproto ipv4 meta l4proto tcp tcp dport 22 accept"]


def test_rule_port_range_prefix_udp():
    rule = nft.SgRule("ingress", "IPv4", "udp", 1000, 2000, "192.0.2.7/24")
    assert nft.sg_rule(rule) == ["meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto udp udp dport 1000-2000 accept"]


def test_rule_icmp_type_code_and_any_icmp():
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "icmp", 8, 0)) == [
        "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept"]
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "icmp")) == ["meta nfproto ipv4 meta l4proto icmp accept"]
    # "icmp" with IPv6 means ICMPv6; ICMPv6 with IPv4 matches nothing.
    assert nft.sg_rule(nft.SgRule("ingress", "IPv6", "icmp", 128)) == [
        "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 128 accept"]
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "ipv6-icmp")) == []


def test_rule_ipv6_ethertype_and_mismatched_prefix():
    assert nft.sg_rule(nft.SgRule("egress", "IPv6", "tcp", 443, 443, "2001:db8::/32")) == [
        "meta nfproto ipv6 ip6 daddr 2001:db8::/32 meta l4proto tcp tcp dport 443 accept"]
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", None, None, None, "2001:db8::/32")) == []
    assert nft.sg_rule(nft.SgRule("egress", "IPv6")) == ["meta nfproto ipv6 accept"]


def test_rule_numbered_and_named_protocols():
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "47")) == ["meta nfproto ipv4 meta l4proto 47 accept"]
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "gre")) == ["meta nfproto ipv4 meta l4proto 47 accept"]
    assert nft.sg_rule(nft.SgRule("ingress", "IPv4", "6", 80, 81)) == [
        "meta nfproto ipv4 meta l4proto tcp tcp dport 80-81 accept"]


def test_rule_values_are_validated():
    with pytest.raises(ValueError):
        nft.sg_rule(nft.SgRule("ingress", "IPv4", None, None, None, "10.0.0.0/8; drop"))
    with pytest.raises(ValueError):
        nft.sg_rule(nft.SgRule("ingress", "IPv4", "tcp", 1, 70000))
    with pytest.raises(ValueError):
        nft.ifname('eth0"; drop')


def test_security_ruleset_default_group_and_unfiltered_port():
    rules = (nft.SgRule("ingress", "IPv4", remote_group_id=GROUP), nft.SgRule("egress", "IPv4"),
             nft.SgRule("ingress", "IPv4", "tcp", 22, 22, "0.0.0.0/0"))
    text = nft.security_ruleset([nft.SgPort("eth0", rules), nft.SgPort("eth1", port_security=False)],
                                {GROUP: ["10.0.0.5", "10.0.0.6", "2001:db8::5"]})
    assert text.startswith("table inet cs-sg\ndelete table inet cs-sg\ntable inet cs-sg {")
    setname = nft.group_set(GROUP, 4)
    assert "elements = { 10.0.0.5/32, 10.0.0.6/32 }" in text
    assert f"meta nfproto ipv4 ip saddr @{setname} accept" in text
    assert 'iifname vmap { "eth0" : jump in-eth0, "eth1" : accept }' in text
    assert "ct state established,related accept" in text and "ct state invalid drop" in text
    assert "policy drop;" in text
    check(text)


def test_security_ruleset_stateless_has_no_conntrack():
    text = nft.security_ruleset([nft.SgPort("eth0", (nft.SgRule("ingress", "IPv4", "udp", 53, 53),),
                                             stateful=False)], {})
    assert "ct state" not in text
    check(text)


def test_router_ruleset_floating_and_snat():
    text = nft.router_ruleset("qg-0123456789a", "198.18.250.10", ["10.250.1.0/24"],
                              [nft.Floating("198.18.250.20", "10.250.1.10")])
    assert "ip daddr 198.18.250.20 dnat to 10.250.1.10" in text
    fip_snat = 'oifname "qg-0123456789a" ip saddr 10.250.1.10 snat to 198.18.250.20'
    general = 'oifname "qg-0123456789a" ip saddr { 10.250.1.0/24 } snat to 198.18.250.10'
    assert fip_snat in text and general in text and text.index(fip_snat) < text.index(general)
    assert 'iifname "qg-0123456789a" ct status dnat accept' in text
    assert text.rstrip().endswith("}") and 'iifname "qg-0123456789a" drop' in text
    check(text)


def test_router_ruleset_snat_off_and_no_gateway():
    text = nft.router_ruleset("qg-0123456789a", "198.18.250.10", [], [nft.Floating("198.18.250.20", "10.0.0.3")])
    assert "snat to 198.18.250.10" not in text and "snat to 198.18.250.20" in text
    bare = nft.router_ruleset(None, None, ["10.0.0.0/24"], [])
    assert "snat" not in bare and "dnat" not in bare
    check(text)
    check(bare)


def test_host_ruleset_antispoof():
    port = nft.SpoofPort("cs-t0123456789", "fa:16:3e:00:00:01", ("10.0.0.5", "10.0.1.0/24"))
    text = nft.host_ruleset([port], ["cs-baaaaaaaaaa"])
    assert "ether saddr != { fa:16:3e:00:00:01 } drop" in text
    assert "ether type ip ip saddr != { 10.0.0.5/32, 10.0.1.0/24 } drop" in text
    assert "ether type arp arp saddr ip != { 0.0.0.0, 10.0.0.5/32, 10.0.1.0/24 } drop" in text
    assert "ether type != { ip, arp } drop" in text  # no IPv6 address: no IPv6 at all
    assert 'iifname "cs-b*" iifname != "cs-baaaaaaaaaa" drop' in text
    v6 = nft.host_ruleset([nft.SpoofPort("cs-t0123456789", "fa:16:3e:00:00:01", ("2001:db8::5",))], [])
    assert "fe80::f816:3eff:fe00:1" in v6 and "2001:db8::5/128" in v6
    check(text)
    check(v6)


def test_link_local():
    assert str(nft.link_local("fa:16:3e:12:34:56")) == "fe80::f816:3eff:fe12:3456"


# ---- pure: the plan ---------------------------------------------------------------------------
def test_plan_of_a_world(db):
    w = World(db)
    ext = w.network(EXT_CIDR, EXT_GW, external=True)
    net1 = w.network(NET1, "10.250.1.1")
    lonely = w.network(NET2, "10.250.2.1")  # no ports: no bridge
    g = w.group()
    a_srv, b_srv = w.server(), w.server()
    a = w.port(*net1, "10.250.1.10", device=a_srv, groups=(g,))
    b = w.port(*net1, "10.250.1.11", device=b_srv, groups=(g,), pairs=[{"ip_address": "10.250.1.128/25"}])
    off = w.port(*net1, "10.250.1.12", device=b_srv, security=False)
    rid = w.router(ext, "198.18.250.10", [(*net1, "10.250.1.1")])
    with db.write() as s:
        s.get(Router, rid).routes = [{"destination": "192.0.2.0/24", "nexthop": "10.250.1.50"}]
    w.floating(ext, "198.18.250.20", a, "10.250.1.10", rid)
    p = plan.build(w.snapshot(), {a_srv: {a.id: "eth0"}, "gone": {"x": "eth0"}})

    assert set(p.bridges) == {names.bridge(ext[0]), names.bridge(net1[0])}
    assert names.bridge(lonely[0]) not in p.bridges
    assert p.bridges[names.bridge(ext[0])].addresses == ("198.18.250.1/24",)
    assert p.bridges[names.bridge(net1[0])].addresses == ()

    router = p.routers[names.router_ns(rid)]
    inner = {port.ifname: port for port in router.ports}
    gw = next(port for port in router.ports if port.gateway)
    assert gw.ifname.startswith("qg-") and len(gw.ifname) == 14
    assert set(gw.addresses) == {"198.18.250.10/24", "198.18.250.20/32"}
    qr = next(port for name, port in inner.items() if name.startswith("qr-"))
    assert qr.addresses == ("10.250.1.1/24",) and qr.bridge == names.bridge(net1[0])
    assert set(router.routes) == {("0.0.0.0/0", EXT_GW), ("192.0.2.0/24", "10.250.1.50")}
    assert "dnat to 10.250.1.10" in router.ruleset and "snat to 198.18.250.10" in router.ruleset

    assert list(p.instances) == [names.instance_ns(a_srv)]  # "gone" is no server
    sg = p.instances[names.instance_ns(a_srv)].ruleset
    assert "10.250.1.10/32" in sg and "10.250.1.128/25" in sg  # remote group: members and pairs
    assert names.tap(a.id) in p.host_ruleset and names.tap(b.id) in p.host_ruleset
    assert names.tap(off.id) not in p.host_ruleset  # port security off: not filtered
    check(sg)
    check(router.ruleset)
    check(p.host_ruleset)


def test_plan_snat_disabled(db):
    w = World(db)
    ext = w.network(EXT_CIDR, EXT_GW, external=True)
    net1 = w.network(NET1, "10.250.1.1")
    rid = w.router(ext, "198.18.250.10", [(*net1, "10.250.1.1")], snat=False)
    router = plan.build(w.snapshot(), {}).routers[names.router_ns(rid)]
    assert "snat" not in router.ruleset
    assert "ct status dnat accept" in router.ruleset


# ---- kernel tests (root, in a private namespace) ----------------------------------------------
kernel = pytest.mark.skipif(not (INNER and IS_ROOT), reason="kernel test: run by test_kernel in a private netns")

INNER_MAIN = """
import os, subprocess, sys
os.makedirs("/run/netns", exist_ok=True)
subprocess.run(["mount", "-t", "tmpfs", "caas-test", "/run/netns"], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
import pytest
sys.exit(pytest.main([sys.argv[1], "-q", "-x", "-p", "no:cacheprovider", "-k", "kernel_", "-s", "--tb=short"]))
"""


@pytest.mark.skipif(not IS_ROOT or INNER, reason="needs root (creates namespaces, bridges, nftables)")
def test_kernel():
    """Run the kernel tests inside a fresh network + mount namespace; they must all pass."""
    for tool in ("unshare", "nft", "ip", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    env = {**os.environ, "CAAS_NETNS_TEST_INNER": "1"}
    proc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", sys.executable, "-c",
                           INNER_MAIN, __file__], cwd=Path(__file__).resolve().parents[2], env=env,
                          capture_output=True, text=True, timeout=150)
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]


PING = """
import os, socket, struct, sys, time
dst, src = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
if src:
    s.bind((src, 0))
ident = os.getpid() & 0xFFFF
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xFFFF); return ~(t + (t >> 16)) & 0xFFFF
body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"caas"
s.sendto(struct.pack("!BBHHH", 8, 0, csum(body), ident, 1) + b"caas", (dst, 0))
deadline = time.monotonic() + float(os.environ.get("PING_WAIT", "1"))
while (left := deadline - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        break
    h = (data[0] & 15) * 4
    if addr[0] == dst and data[h] == 0 and struct.unpack("!H", data[h + 4:h + 6])[0] == ident:
        sys.exit(0)
sys.exit(1)
"""

LISTEN = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16); print("ready", flush=True)
while True:
    c, a = s.accept(); c.sendall(a[0].encode()); c.close()
"""

CONNECT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
except OSError:
    sys.exit(1)
print(c.recv(64).decode()); sys.exit(0)
"""


def ns_run(ns: str, *args: str, timeout: float = 5) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *args], capture_output=True, text=True,
                          timeout=timeout)


def ping(ns: str, dst: str, src: str | None = None) -> bool:
    return ns_run(ns, sys.executable, "-c", PING, dst, *([src] if src else [])).returncode == 0


def configure(ns: str, cidr: str, gateway: str | None) -> None:
    """What the instance's init would do with its config drive."""
    for args in (["addr", "add", cidr, "dev", "eth0"], ["link", "set", "eth0", "up"], ["link", "set", "lo", "up"]):
        subprocess.run(["ip", "-n", ns, *args], check=True)
    if gateway:
        subprocess.run(["ip", "-n", ns, "route", "add", "default", "via", gateway], check=True)


class _host:
    """The host's Links, closed on exit."""

    def __enter__(self):
        self.l = links.host_links()
        return self.l

    def __exit__(self, *exc):
        self.l.ipr.close()


def leftovers() -> dict[str, set]:
    with _host() as host:
        return {"links": set(host.all(names.PREFIX)), "netns": links.netns_list(names.PREFIX),
                "nft": links.nft_tables(None, names.PREFIX)}


@pytest.fixture
def dataplane(db):
    dp = Dataplane(Records(db))
    yield dp
    dp.stop()
    dp.cleanup(all=True)
    left = leftovers()
    assert left == {"links": set(), "netns": set(), "nft": set()}, left
    assert [r for r in Records(db).all() if r.kind in ("netns", "link", "nft", "addr")] == []


class Scenario:
    """External network, two tenant networks (the second without a router), a router with a
    gateway and an interface on the first, instances A and B on the first and C on the second."""

    def __init__(self, db: Database, dp: Dataplane) -> None:
        self.w = w = World(db)
        self.dp = dp
        self.ext = w.network(EXT_CIDR, EXT_GW, external=True)
        self.net1 = w.network(NET1, "10.250.1.1")
        self.net2 = w.network(NET2, "10.250.2.1")
        self.group = w.group()
        self.router = w.router(self.ext, "198.18.250.10", [(*self.net1, "10.250.1.1")])
        self.servers, self.ports = {}, {}
        for name, net, ip in (("a", self.net1, "10.250.1.10"), ("b", self.net1, "10.250.1.11"),
                              ("c", self.net2, "10.250.2.10")):
            self.servers[name] = w.server()
            self.ports[name] = w.port(*net, ip, device=self.servers[name], groups=(self.group,))
        synced(db, dp).start()
        self.ns = {}
        self.timings = []
        for name, ip, gw in (("a", "10.250.1.10", "10.250.1.1"), ("b", "10.250.1.11", "10.250.1.1"),
                             ("c", "10.250.2.10", "10.250.2.1")):
            t = time.perf_counter()
            self.ns[name] = dp.plug(self.servers[name], [nic(self.ports[name], ip)])
            self.timings.append(time.perf_counter() - t)
            configure(self.ns[name], ip + "/24", gw)


@kernel
def test_kernel_connectivity(db, dataplane):
    sc = Scenario(db, dataplane)
    a, b, c = sc.ns["a"], sc.ns["b"], sc.ns["c"]
    print(f"\nplug: {', '.join(f'{t * 1000:.1f} ms' for t in sc.timings)}")
    assert dataplane.errors == []
    # Same network, default group: A and B reach each other.
    assert ping(a, "10.250.1.11") and ping(b, "10.250.1.10")
    # C is on another network without a router: it reaches neither A nor the host.
    assert not ping(c, "10.250.1.10")
    subprocess.run(["ip", "-n", c, "route", "add", EXT_CIDR, "dev", "eth0"], check=True)
    assert not ping(c, EXT_GW)
    # A reaches the host's external address through the router, SNATed to the gateway address.
    assert ping(a, "10.250.1.1") and ping(a, EXT_GW)
    with socket.socket() as srv:
        srv.bind((EXT_GW, 0))
        srv.listen(4)
        srv.settimeout(3)
        port = str(srv.getsockname()[1])
        seen = []
        threading.Thread(target=lambda: seen.append(srv.accept()[1][0]), daemon=True).start()
        assert ns_run(a, sys.executable, "-c", CONNECT, EXT_GW, port).returncode in (0, 1)
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == ["198.18.250.10"]
    # A spoofing a second address reaches neither B nor the host; its own address does. (ICMP
    # from anywhere is allowed first, so that only the anti-spoofing can stop the spoofed one.)
    icmp = sc.w.rule(sc.group, direction="ingress", ethertype="IPv4", protocol="icmp")
    synced(db, dataplane).reconcile()
    subprocess.run(["ip", "-n", a, "addr", "add", "10.250.1.99/24", "dev", "eth0"], check=True)
    assert not ping(a, "10.250.1.11", src="10.250.1.99")
    assert not ping(a, EXT_GW, src="10.250.1.99")
    assert ping(a, "10.250.1.11", src="10.250.1.10") and ping(a, EXT_GW, src="10.250.1.10")
    sc.w.drop_rule(icmp)

    # A floating IP for A: answers from the host only while an ingress rule allows the port.
    listener = subprocess.Popen(["nsenter", f"--net=/run/netns/{a}", sys.executable, "-c", LISTEN, "8000"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        sc.w.floating(sc.ext, "198.18.250.20", sc.ports["a"], "10.250.1.10", sc.router)
        synced(db, dataplane).reconcile()
        assert dataplane.errors == []
        assert not tcp("198.18.250.20", 8000)  # the default group does not let the host in
        assert not tcp("10.250.1.10", 8000)  # fixed addresses are never reachable from outside
        rule = sc.w.rule(sc.group, direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=8000,
                         port_range_max=8000, remote_ip_prefix="0.0.0.0/0")
        synced(db, dataplane).reconcile()
        assert tcp("198.18.250.20", 8000) == EXT_GW  # DNAT in, the host's own address seen
        sc.w.drop_rule(rule)
        synced(db, dataplane).reconcile()
        assert not tcp("198.18.250.20", 8000)
    finally:
        listener.kill()
        listener.wait(5)
    # With its floating IP, A leaves as the floating address.
    with socket.socket() as srv:
        srv.bind((EXT_GW, 0))
        srv.listen(4)
        srv.settimeout(3)
        out = ns_run(a, sys.executable, "-c", CONNECT, EXT_GW, str(srv.getsockname()[1]))
        conn, peer = srv.accept()
        conn.close()
        assert peer[0] == "198.18.250.20", out


def tcp(host: str, port: int) -> str | bool:
    """What the listener says (the peer address it saw), or False if no connection."""
    try:
        with socket.create_connection((host, port), timeout=1) as c:
            c.settimeout(1)
            return c.recv(64).decode() or False
    except OSError:
        return False


@kernel
def test_kernel_removal_and_reconcile(db, dataplane):
    sc = Scenario(db, dataplane)
    a, b = sc.ns["a"], sc.ns["b"]
    b_tap = names.tap(sc.ports["b"].id)
    # unplug removes an instance's namespace and tap, and is idempotent.
    t = time.perf_counter()
    dataplane.unplug(sc.servers["c"])
    print(f"\nunplug: {(time.perf_counter() - t) * 1000:.1f} ms")
    dataplane.unplug(sc.servers["c"])
    assert sc.ns["c"] not in links.netns_list() and names.tap(sc.ports["c"].id) not in leftovers()["links"]
    # Rows deleted behind the reconciler's back: B's server and port go, and so do B's objects.
    with db.write() as s:
        s.execute(delete(Port).where(Port.id == sc.ports["b"].id))
        s.execute(delete(Server).where(Server.id == sc.servers["b"]))
    t = time.perf_counter()
    removed = synced(db, dataplane).reconcile()
    print(f"reconcile (removing B): {(time.perf_counter() - t) * 1000:.1f} ms")
    assert f"netns {b}" in removed and b not in links.netns_list()
    assert b_tap not in leftovers()["links"]
    t = time.perf_counter()
    synced(db, dataplane).reconcile()
    print(f"reconcile (nothing to do): {(time.perf_counter() - t) * 1000:.1f} ms")
    assert a in links.netns_list()  # A's server still exists: kept
    # The router goes: its namespace and taps go.
    rns = names.router_ns(sc.router)
    assert rns in links.netns_list()
    with db.write() as s:
        s.execute(delete(Port).where(Port.device_id == sc.router))
        s.execute(delete(Router).where(Router.id == sc.router))
    removed = synced(db, dataplane).reconcile()
    assert f"netns {rns}" in removed
    taps = {r.name for r in Records(db).all() if r.kind == "link" and r.owner_kind == "port"}
    assert taps <= {names.tap(sc.ports["a"].id), "eth0"}, taps
    # Stray objects with our prefix, unrecorded: removed by cleanup(); recorded ones stay.
    subprocess.run(["ip", "link", "add", "cs-zstray", "type", "bridge"], check=True)
    subprocess.run(["ip", "netns", "add", "cs-rstray00000"], check=True)
    subprocess.run(["nft", "add", "table", "ip", "cs-stray"], check=True)
    removed = dataplane.cleanup()
    assert {"link cs-zstray", "netns cs-rstray00000", "nft ip cs-stray"} <= set(removed), removed
    assert a in links.netns_list() and names.bridge(sc.ext[0]) in leftovers()["links"]
    removed = dataplane.cleanup(all=True)
    assert f"netns {a}" in removed and f"link {names.bridge(sc.ext[0])}" in removed


@kernel
def test_kernel_a_plug_newer_than_the_topology_survives_its_reconciles(db, dataplane):
    """A port made before its server (as a cluster makes every port first) is in the topology
    before the server is: a reconcile of that topology after the plug keeps the new instance
    (it removed its namespace and tap, and the boot failed: "network namespace ... does not
    exist"); a newer topology without the server means it is gone, and then it is removed."""
    w = World(db)
    w.network(EXT_CIDR, EXT_GW, external=True)
    net = w.network(NET1, "10.250.1.1")
    port = w.port(*net, "10.250.1.30")
    synced(db, dataplane).start()  # the port, no server
    sid = w.server()
    ns = dataplane.plug(sid, [nic(port, "10.250.1.30")])
    assert dataplane.reconcile() == [] and ns in links.netns_list()
    assert names.tap(port.id) in leftovers()["links"]
    synced(db, dataplane).reconcile()  # a newer topology, which names the server
    with db.write() as s:
        s.execute(delete(Server).where(Server.id == sid))
    removed = synced(db, dataplane).reconcile()  # newer still, without it: gone
    assert f"netns {ns}" in removed and ns not in links.netns_list()


@kernel
def test_kernel_concurrent_plugs_and_background_reconcile(db, dataplane):
    w = World(db)
    w.network(EXT_CIDR, EXT_GW, external=True)
    net = w.network(NET1, "10.250.1.1")
    g = w.group()
    servers = [w.server() for _ in range(8)]
    ports = [w.port(*net, f"10.250.1.{20 + i}", device=sid, groups=(g,)) for i, sid in enumerate(servers)]
    synced(db, dataplane).start()
    timings, errors = [], []

    def boot(i: int) -> None:
        try:
            t = time.perf_counter()
            dataplane.plug(servers[i], [nic(ports[i], f"10.250.1.{20 + i}")])
            timings.append(time.perf_counter() - t)
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for _ in range(5):  # changes while the plugs run
        dataplane.changed()
        time.sleep(0.01)
    for t in threads:
        t.join(30)
    assert errors == []
    assert dataplane.settle(10)
    print(f"\n8 concurrent plugs: max {max(timings) * 1000:.1f} ms, "
          f"mean {sum(timings) / len(timings) * 1000:.1f} ms")
    present = links.netns_list()
    assert all(names.instance_ns(s) in present for s in servers)
    configure(names.instance_ns(servers[0]), "10.250.1.20/24", None)
    configure(names.instance_ns(servers[7]), "10.250.1.27/24", None)
    assert ping(names.instance_ns(servers[0]), "10.250.1.27")
    # A rule change reaches the instances through apply() alone (the background reconcile).
    w.rule(g, direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=2222, port_range_max=2222)
    dataplane.apply(current(db))
    assert dataplane.settle(10)
    sg = ns_run(names.instance_ns(servers[3]), "nft", "list", "table", "inet", "cs-sg").stdout
    assert "tcp dport 2222 accept" in sg


def test_as_new_drops_only_the_delete():
    text = nft.router_ruleset(None, None, [], [])
    new = nft.as_new(text)
    assert "delete table" not in new and new.startswith("table ip cs-nat {") and text.endswith(new)
    with pytest.raises(ValueError):
        nft.as_new(new)
    check(new)
