"""IP address management, pure functions over ``ipaddress``: validate a subnet's CIDR, gateway
and allocation pools, derive default pools, and pick free addresses; and the one text form of
an address or network that caas stores and renders (``ip_text``, ``net_text``)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

from caas.errors import BadRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_text(address: str | IPAddress) -> str:
    """The canonical text of an IP address, as Nova and Neutron render it (netaddr, that is the C
    library's inet_ntop): RFC 5952 for IPv6 (lower case, zeros compressed, "::babe:dc0c:1602"
    for "0:0:0:0:0:babe:220.12.22.2"), with the IPv4-mapped and -compatible forms in dotted
    notation ("::ffff:1.2.3.4", which ``str()`` of ``ipaddress`` writes "::ffff:102:304" before
    Python 3.13). ValueError for a string that is not an address."""
    ip = address if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(address)
    if ip.version == 4:
        return str(ip)
    return socket.inet_ntop(socket.AF_INET6, ip.packed)


def net_text(net: IPNetwork) -> str:
    """``net`` as ADDRESS/PREFIX with its address in ``ip_text`` form."""
    return f"{ip_text(net.network_address)}/{net.prefixlen}"


def parse_cidr(cidr: str, ip_version: int | None = None) -> IPNetwork:
    """A subnet's CIDR: an IPv4 one must name its network address ("10.0.0.1/24" is refused,
    naming 10.0.0.0/24); an IPv6 one may be written in any form, as Neutron takes it
    ("2001:0DB8:0::1/64" is 2001:db8::/64). BadRequest for anything else, a mismatched
    ``ip_version`` or a prefix too long for a subnet."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise BadRequest(f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.") from None
    if net.version == 4 and str(net) != cidr and str(net.network_address) != cidr.split("/")[0]:
        raise BadRequest(f"Invalid input for cidr. Reason: '{cidr}' isn't a recommended CIDR, use '{net}'.")
    if ip_version is not None and net.version != ip_version:
        raise BadRequest(f"Invalid input: cidr '{cidr}' does not match ip_version {ip_version}.")
    if net.version == 4 and net.prefixlen > 30:
        raise BadRequest(f"Invalid input for cidr: '{cidr}' is too small (at most /30 for IPv4).")
    if net.version == 6 and net.prefixlen > 126:
        raise BadRequest(f"Invalid input for cidr: '{cidr}' is too small (at most /126 for IPv6).")
    return net


def parse_ip(value: str, what: str = "ip_address") -> IPAddress:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise BadRequest(f"Invalid input for {what}. Reason: '{value}' is not a valid IP address.") from None


def default_gateway(net: IPNetwork) -> str:
    return ip_text(net.network_address + 1)


def usable_range(net: IPNetwork) -> tuple[IPAddress, IPAddress]:
    """First and last addresses a port may get (no network or broadcast address for IPv4)."""
    if net.version == 4:
        return net.network_address + 1, net.broadcast_address - 1
    return net.network_address + 1, net.broadcast_address


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict]:
    """The usable range minus the gateway, as Neutron derives it."""
    first, last = usable_range(net)
    if gateway is None:
        return [{"start": ip_text(first), "end": ip_text(last)}]
    gw = ipaddress.ip_address(gateway)
    pools = []
    if first < gw:
        pools.append({"start": ip_text(first), "end": ip_text(gw - 1)})
    if gw < last:
        pools.append({"start": ip_text(gw + 1), "end": ip_text(last)})
    if not (first <= gw <= last):
        pools = [{"start": ip_text(first), "end": ip_text(last)}]
    return pools


def validate_pools(net: IPNetwork, pools: list[dict], gateway: str | None) -> list[dict]:
    """Pools must lie in the usable range, not overlap each other, and not hold the gateway."""
    first, last = usable_range(net)
    parsed = []
    for pool in pools:
        start, end = parse_ip(pool["start"], "allocation_pools"), parse_ip(pool["end"], "allocation_pools")
        if start.version != net.version or end.version != net.version:
            raise BadRequest(f"Allocation pool {pool['start']}-{pool['end']} is not of the subnet's IP version.")
        if start > end:
            raise BadRequest(f"Allocation pool {pool['start']}-{pool['end']}: start is after end.")
        if start < first or end > last:
            raise BadRequest(f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet cidr {net}.")
        parsed.append((start, end))
    parsed.sort()
    for (s1, e1), (s2, e2) in zip(parsed, parsed[1:]):
        if s2 <= e1:
            raise BadRequest(f"Found overlapping allocation pools: {s1}-{e1} and {s2}-{e2}.")
    if gateway is not None:
        gw = ipaddress.ip_address(gateway)
        for s, e in parsed:
            if s <= gw <= e:
                raise BadRequest(f"Gateway ip {gateway} conflicts with allocation pool {s}-{e}.")
    return [{"start": ip_text(s), "end": ip_text(e)} for s, e in parsed]


def validate_gateway(net: IPNetwork, gateway: str) -> str:
    gw = parse_ip(gateway, "gateway_ip")
    if gw not in net or gw == net.network_address or (net.version == 4 and gw == net.broadcast_address):
        raise BadRequest(f"Invalid input: gateway_ip {gateway} is not a usable address of subnet {net}.")
    return ip_text(gw)


def in_pools(address: str, pools: list[dict]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(p["start"]) <= ip <= ipaddress.ip_address(p["end"]) for p in pools)


def first_free(pools: list[dict], used: Iterable[str]) -> str | None:
    """The lowest address of the pools not in ``used``."""
    return lowest_free(pools, {int(ipaddress.ip_address(u)) for u in used})


def lowest_free(pools: list[dict], taken: set[int]) -> str | None:
    """The lowest address of the pools whose integer value is not in ``taken``."""
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        for n in range(int(start), int(end) + 1):
            if n not in taken:
                return ip_text(ipaddress.ip_address(n) if start.version == 4 else ipaddress.IPv6Address(n))
    return None


def pool_size(pools: list[dict]) -> int:
    return sum(int(ipaddress.ip_address(p["end"])) - int(ipaddress.ip_address(p["start"])) + 1 for p in pools)


def overlaps(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


class AddressHints:
    """Per-process memory of the addresses taken in each subnet, so that an allocation does not
    read every address of its subnet each time. Only a hint: the database has the last word
    (the caller verifies its pick and the unique key refuses a duplicate), a stale "taken"
    costs at most a reload, and a stale "free" is caught by the verification."""

    def __init__(self) -> None:
        import threading

        self._taken: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def get(self, subnet_id: str) -> set[int] | None:
        with self._lock:
            taken = self._taken.get(subnet_id)
            return set(taken) if taken is not None else None

    def load(self, subnet_id: str, addresses: Iterable[str]) -> set[int]:
        taken = {int(ipaddress.ip_address(a)) for a in addresses}
        with self._lock:
            self._taken[subnet_id] = set(taken)
        return taken

    def take(self, subnet_id: str, address: str) -> None:
        with self._lock:
            if subnet_id in self._taken:
                self._taken[subnet_id].add(int(ipaddress.ip_address(address)))

    def release(self, subnet_id: str, address: str) -> None:
        with self._lock:
            if subnet_id in self._taken:
                self._taken[subnet_id].discard(int(ipaddress.ip_address(address)))

    def forget(self, subnet_id: str) -> None:
        with self._lock:
            self._taken.pop(subnet_id, None)
