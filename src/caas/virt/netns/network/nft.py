"""nftables ruleset text, generated from ids, validated addresses and integers only.

Every function here is pure. Each ruleset replaces its table wholesale when applied with
``nft -f -``: it declares the table (so that deleting it cannot fail), deletes it and defines
it again, all in one transaction, so a reader of the kernel never sees a half-made table.

Rulesets:
- ``security_ruleset``: ``inet cs-sg`` in an instance's namespace (stateful security groups);
- ``router_ruleset``: ``ip cs-nat`` in a router's namespace (SNAT, floating IPs, inbound filter);
- ``host_ruleset``: ``bridge cs-antispoof`` (per-tap source checks) plus ``inet cs-host`` and
  ``arp cs-host`` (the host itself is unreachable from tenant bridges) in the host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from caas.ipproto import ICMP_PROTOCOLS, PROTOCOLS
from caas.virt.topology import Rule as SgRule  # one security group rule, as the topology has it

SG_TABLE = ("inet", "cs-sg")
NAT_TABLE = ("ip", "cs-nat")
ANTISPOOF_TABLE = ("bridge", "cs-antispoof")
HOST_TABLES = (ANTISPOOF_TABLE, ("inet", "cs-host"), ("arp", "cs-host"))

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# Transport protocols whose rules take a destination port range, by nft keyword.
_PORT_KEYWORDS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "sctp": "sctp", "132": "sctp",
                  "dccp": "dccp", "33": "dccp", "udplite": "udplite", "136": "udplite"}
# Neighbour discovery is always allowed both ways (as Neutron does): IPv6 does not work without it.
_ND = "meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept"


# ---- validation ---------------------------------------------------------------------------
def ifname(name: str) -> str:
    """An interface name, quoted for nft; ValueError unless it is a plain name of <= 15 bytes."""
    if not _IFNAME.match(name):
        raise ValueError(f"bad interface name {name!r}")
    return f'"{name}"'


def ident(name: str) -> str:
    """A chain, set or table name; ValueError unless plain."""
    if not _IDENT.match(name):
        raise ValueError(f"bad nft identifier {name!r}")
    return name


def mac(address: str) -> str:
    address = address.lower()
    if not _MAC.match(address):
        raise ValueError(f"bad MAC address {address!r}")
    return address


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def _u8(value) -> int:
    number = int(value)
    if not 0 <= number <= 255:
        raise ValueError(f"not 0..255: {value!r}")
    return number


def _port(value) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"not a port: {value!r}")
    return number


# ---- whole tables -------------------------------------------------------------------------
def replace_table(family: str, name: str, body: Iterable[str]) -> str:
    """Text that (re)defines one table atomically: declare, delete, define."""
    table = f"{ident(family)} {ident(name)}"
    lines = [f"table {table}", f"delete table {table}", f"table {table} {{"]
    lines += [f"  {line}" if line else "" for line in body]
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_new(text: str) -> str:
    """A ``replace_table`` text as a plain definition, for a table known not to exist (a new
    namespace's): the same result, without the delete, whose commit waits for an RCU grace
    period (10-20 ms) even when there is nothing to delete."""
    first, second, rest = text.split("\n", 2)
    if not (first.startswith("table ") and second == f"delete {first}"):
        raise ValueError("not a replace_table text")
    return rest


_SET = re.compile(r"^  set (\S+) \{\n    type [^\n]*\n(?:    elements = (\{[^\n]*\})\n)?  \}$", re.MULTILINE)
_ELEMENTS = re.compile(r"^    elements = \{[^\n]*\}\n", re.MULTILINE)


def set_update(old: str, new: str) -> str | None:
    """When two ``replace_table`` texts of one table differ only in their sets' elements (a
    remote group gained or lost a member), the text that changes just those sets: a flush and
    an add per set, in one transaction, with no table delete (cheap, and no RCU wait). None
    when anything else differs."""
    if _ELEMENTS.sub("", old) != _ELEMENTS.sub("", new):
        return None
    table = new.split("\n", 1)[0][len("table "):]
    before = {m.group(1): m.group(2) for m in _SET.finditer(old)}
    lines = []
    for m in _SET.finditer(new):
        name, elements = m.group(1), m.group(2)
        if before.get(name) != elements:
            lines.append(f"flush set {table} {name}")
            if elements:
                lines.append(f"add element {table} {name} {elements}")
    return "\n".join(lines) + "\n" if lines else ""


def delete_table(family: str, name: str) -> str:
    """Text that removes a table whether or not it exists."""
    table = f"{ident(family)} {ident(name)}"
    return f"table {table}\ndelete table {table}\n"


def _chain(name: str, rules: Sequence[str], hook: str | None = None, policy: str = "accept",
           kind: str = "filter", priority: str = "0") -> list[str]:
    head = [f"chain {ident(name)} {{"]
    if hook:
        head.append(f"  type {kind} hook {hook} priority {priority}; policy {policy};")
    return head + [f"  {r}" for r in rules] + ["}"]


def _set_of(items: Sequence[str]) -> str:
    return "{ " + ", ".join(items) + " }"


# ---- security groups (instance namespace) ------------------------------------------------
@dataclass(frozen=True)
class SgPort:
    """One interface of an instance: its rules (the union of its groups') or no filtering."""

    ifname: str
    rules: tuple[SgRule, ...] = ()
    port_security: bool = True
    stateful: bool = True


def group_set(group_id: str, version: int) -> str:
    """The name of the set holding a remote group's member addresses of one IP version."""
    return ident(f"g{_hex(group_id)}v{version}")


def _hex(object_id: str) -> str:
    digits = re.sub(r"[^0-9a-f]", "", object_id.lower())
    if len(digits) < 10:
        raise ValueError(f"not an id: {object_id!r}")
    return digits[:16]


def security_ruleset(ports: Sequence[SgPort], members: Mapping[str, Sequence[str]]) -> str:
    """``inet cs-sg`` for one instance. ``members``: remote group id -> the fixed IPs (or CIDRs,
    from allowed address pairs) of the ports in that group. Traffic on an interface not listed
    is dropped; an interface without port security is not filtered; loopback always passes."""
    used = sorted({r.remote_group_id for p in ports if p.port_security for r in p.rules if r.remote_group_id})
    body: list[str] = []
    for group in used:
        for version in (4, 6):
            elements = sorted({str(network(a)) for a in members.get(group, ()) if network(a).version == version})
            body.append(f"set {group_set(group, version)} {{")
            body.append(f"  type {'ipv4_addr' if version == 4 else 'ipv6_addr'}; flags interval;")
            if elements:
                body.append(f"  elements = {_set_of(elements)}")
            body.append("}")
    for direction, hook, match in (("ingress", "input", "iifname"), ("egress", "output", "oifname")):
        verdicts = []
        for p in ports:
            verdicts.append(f"{ifname(p.ifname)} : " + (f"jump {_port_chain(direction, p)}" if p.port_security
                                                          else "accept"))
        rules = [f'{match} "lo" accept']
        if verdicts:
            rules.append(f"{match} vmap {_set_of(verdicts)}")
        body += _chain(hook, rules, hook=hook, policy="drop")
    for p in ports:
        if p.port_security:
            for direction in ("ingress", "egress"):
                body += _chain(_port_chain(direction, p), _port_rules(p, direction))
    return replace_table(*SG_TABLE, body)


def _port_chain(direction: str, port: SgPort) -> str:
    return ident(f"{'in' if direction == 'ingress' else 'out'}-{port.ifname}")


def _port_rules(port: SgPort, direction: str) -> list[str]:
    rules = []
    if port.stateful:
        # Replies to what the rules let through, in both directions; nothing else half-open.
        rules += ["ct state established,related accept", "ct state invalid drop"]
    rules.append(_ND)
    for rule in port.rules:
        if rule.direction == direction:
            rules += sg_rule(rule)
    rules.append("drop")
    return rules


def sg_rule(rule: SgRule) -> list[str]:
    """The nft rules (zero or one) for one security group rule: an accept that matches what the
    rule allows. A rule whose remote prefix is of the other IP version matches nothing."""
    version = 6 if rule.ethertype == "IPv6" else 4
    family = "ip" if version == 4 else "ip6"
    side = "saddr" if rule.direction == "ingress" else "daddr"
    parts = [f"meta nfproto ipv{version}"]
    if rule.remote_ip_prefix:
        prefix = network(rule.remote_ip_prefix)
        if prefix.version != version:
            return []
        if prefix.prefixlen:
            parts.append(f"{family} {side} {prefix}")
    elif rule.remote_group_id:
        parts.append(f"{family} {side} @{group_set(rule.remote_group_id, version)}")
    proto = _protocol(rule, version)
    if proto is None:
        return []
    parts += proto
    return [" ".join(parts) + " accept"]


def _protocol(rule: SgRule, version: int) -> list[str] | None:
    """The protocol part of a rule's match; None when it cannot match this IP version."""
    protocol = None if rule.protocol in (None, "", "any") else str(rule.protocol).lower()
    if protocol is None:
        return []
    if protocol in _PORT_KEYWORDS:
        keyword = _PORT_KEYWORDS[protocol]
        parts = [f"meta l4proto {keyword}"]
        if rule.port_range_min is not None:
            low = _port(rule.port_range_min)
            high = _port(rule.port_range_max if rule.port_range_max is not None else low)
            parts.append(f"{keyword} dport {low}" if low == high else f"{keyword} dport {low}-{high}")
        return parts
    if protocol in ICMP_PROTOCOLS:
        v6 = protocol in ("icmpv6", "ipv6-icmp", "58") or (protocol == "icmp" and version == 6)
        if protocol in ("icmpv6", "ipv6-icmp", "58") and version == 4:
            return None
        if protocol == "1" and version == 6:
            return ["meta l4proto 1"]
        keyword = "icmpv6" if v6 else "icmp"
        parts = [f"meta l4proto {'ipv6-icmp' if v6 else 'icmp'}"]
        if rule.port_range_min is not None:
            parts.append(f"{keyword} type {_u8(rule.port_range_min)}")
            if rule.port_range_max is not None:
                parts.append(f"{keyword} code {_u8(rule.port_range_max)}")
        return parts
    number = PROTOCOLS[protocol] if protocol in PROTOCOLS else _u8(protocol)
    return [f"meta l4proto {int(number)}"]


# ---- routers (router namespace) -----------------------------------------------------------
@dataclass(frozen=True)
class Floating:
    floating_ip: str
    fixed_ip: str


def router_ruleset(gateway_ifname: str | None, gateway_ip: str | None, snat_cidrs: Sequence[str],
                   floatings: Sequence[Floating]) -> str:
    """``ip cs-nat`` for one router. With a gateway: each floating IP DNATs to its fixed IP and
    its fixed IP leaves as the floating one; other traffic of ``snat_cidrs`` leaving by the
    gateway takes the gateway address (empty ``snat_cidrs``: SNAT is off). From the gateway
    side only replies and DNATed connections pass: fixed addresses are not reachable."""
    pre, post, forward = [], [], []
    if gateway_ifname and gateway_ip:
        gw = ifname(gateway_ifname)
        gw_ip = address(gateway_ip)
        for f in sorted(floatings, key=lambda f: f.floating_ip):
            fip, fixed = address(f.floating_ip), address(f.fixed_ip)
            pre.append(f"ip daddr {fip} dnat to {fixed}")
            post.append(f"oifname {gw} ip saddr {fixed} snat to {fip}")
        cidrs = sorted({str(network(c)) for c in snat_cidrs if network(c).version == 4})
        if cidrs:
            post.append(f"oifname {gw} ip saddr {_set_of(cidrs)} snat to {gw_ip}")
        forward = [f"iifname {gw} ct state established,related accept",
                   f"iifname {gw} ct status dnat accept",
                   f"iifname {gw} drop"]
    body = (_chain("prerouting", pre, hook="prerouting", kind="nat", priority="dstnat")
            + _chain("output", pre, hook="output", kind="nat", priority="-100")
            + _chain("postrouting", post, hook="postrouting", kind="nat", priority="srcnat")
            + _chain("forward", forward, hook="forward"))
    return replace_table(*NAT_TABLE, body)


# ---- host: anti-spoofing and the host's own protection -----------------------------------
@dataclass(frozen=True)
class SpoofPort:
    """An instance port with port security, seen from the host: its tap, MAC and the source
    addresses it may use (fixed IPs and allowed address pairs, addresses or CIDRs)."""

    tap: str
    mac: str
    addresses: tuple[str, ...] = ()
    extra_macs: tuple[str, ...] = ()  # allowed address pairs with their own MAC


def link_local(mac_address: str) -> ipaddress.IPv6Address:
    """The EUI-64 link-local address of a MAC."""
    octets = [int(b, 16) for b in mac(mac_address).split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui))


def host_ruleset(ports: Sequence[SpoofPort], external_bridges: Sequence[str]) -> str:
    """The host's tables. ``bridge cs-antispoof``: frames from each listed tap must carry the
    port's MAC; its ARP the port's MAC and addresses; its IPv4 a port address; its IPv6 (only
    if the port has an IPv6 address) a port address, its link-local or :: (DAD); any other
    ethertype is dropped. Taps not listed (router ports, ports without port security) pass.
    ``inet``/``arp cs-host``: nothing arriving on a ``cs-`` bridge other than an external one
    reaches the host's own stack, so tenant networks never reach the host."""
    ports = sorted(ports, key=lambda p: p.tap)
    vmap = [f"{ifname(p.tap)} : jump {_spoof_chain(p)}" for p in ports]
    body = _chain("prerouting", [f"iifname vmap {_set_of(vmap)}"] if vmap else [], hook="prerouting",
                  priority="-300")
    for p in ports:
        body += _chain(_spoof_chain(p), _spoof_rules(p))
    text = replace_table(*ANTISPOOF_TABLE, body)
    guard = ['iifname "cs-b*" ' + "".join(f"iifname != {ifname(b)} " for b in sorted(external_bridges)) + "drop"]
    text += replace_table("inet", "cs-host", _chain("input", guard, hook="input", priority="-300"))
    text += replace_table("arp", "cs-host", _chain("input", guard, hook="input"))
    return text


def _spoof_chain(port: SpoofPort) -> str:
    return ident(f"p-{port.tap}")


def _spoof_rules(port: SpoofPort) -> list[str]:
    macs = sorted({mac(port.mac), *(mac(m) for m in port.extra_macs)})
    nets = [network(a) for a in port.addresses]
    v4 = sorted({str(n) for n in nets if n.version == 4})
    v6 = sorted({str(n) for n in nets if n.version == 6})
    rules = [f"ether saddr != {_set_of(macs)} drop",
             f"ether type arp arp saddr ether != {_set_of(macs)} drop",
             # 0.0.0.0: ARP probes (address conflict detection) before an address is in use.
             f"ether type arp arp saddr ip != {_set_of(['0.0.0.0', *v4])} drop"]
    rules.append(f"ether type ip ip saddr != {_set_of(v4)} drop" if v4 else "ether type ip drop")
    if v6:
        allowed = sorted({"::", *(str(link_local(m)) for m in macs), *v6})
        rules.append(f"ether type ip6 ip6 saddr != {_set_of(allowed)} drop")
        rules.append("ether type != { ip, arp, ip6 } drop")
    else:
        rules.append("ether type != { ip, arp } drop")
    return rules
