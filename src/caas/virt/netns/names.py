"""Kernel object names. Every object the driver makes is ``cs-`` plus one letter for its kind
plus the first ten hex digits of the owner's id: never a user-supplied string, and never longer
than a Linux interface name (15 bytes)."""

from __future__ import annotations

import re

PREFIX = "cs-"
SHORT = 10
_HEX = re.compile(r"[^0-9a-f]")


def short(object_id: str) -> str:
    """Ten hex digits of an id (UUIDs with or without dashes); ValueError for anything else."""
    digits = _HEX.sub("", object_id.lower())
    if len(digits) < SHORT or len(digits) != len(object_id.replace("-", "")):
        raise ValueError(f"not an id: {object_id!r}")
    return digits[:SHORT]


def bridge(network_id: str) -> str:
    """The Linux bridge of a network."""
    return f"{PREFIX}b{short(network_id)}"


def tap(port_id: str) -> str:
    """The host (bridge) end of a port's veth pair."""
    return f"{PREFIX}t{short(port_id)}"


def peer(port_id: str) -> str:
    """The other end of a port's veth pair, before it moves into its namespace."""
    return f"{PREFIX}p{short(port_id)}"


def instance_ns(server_id: str) -> str:
    """The network namespace of an instance (under /run/netns)."""
    return f"{PREFIX}i{short(server_id)}"


def router_ns(router_id: str) -> str:
    """The network namespace of a router."""
    return f"{PREFIX}r{short(router_id)}"


def cgroup(server_id: str) -> str:
    """The cgroup of an instance (full id: cgroup names have no length limit)."""
    return f"{PREFIX}{server_id}"


def is_ours(name: str) -> bool:
    return name.startswith(PREFIX)
