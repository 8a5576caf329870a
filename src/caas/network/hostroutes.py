"""The host's own IPv4 routes (from /proc/net/route), to refuse an external network that would
overlap a network the host already reaches. Routes on the project's own links (prefix
``cs-``) are ours and ignored."""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

OWN_PREFIX = "cs-"


def host_routes(path: Path = Path("/proc/net/route")) -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, destination network) of every non-default IPv4 route."""
    routes = []
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, dest_hex, mask_hex = fields[0], fields[1], fields[7]
        dest = socket.inet_ntoa(struct.pack("<L", int(dest_hex, 16)))
        mask = socket.inet_ntoa(struct.pack("<L", int(mask_hex, 16)))
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen == 0:
            continue  # the default route overlaps everything by definition
        routes.append((iface, net))
    return routes


def overlapping_route(cidr: str) -> str | None:
    """A description of a host route that overlaps ``cidr``, or None."""
    target = ipaddress.ip_network(cidr, strict=False)
    if target.version != 4:
        return None
    for iface, net in host_routes():
        if iface.startswith(OWN_PREFIX):
            continue
        if net.overlaps(target):
            return f"{net} on {iface}"
    return None
