"""The cluster's fixed addressing: every node's address follows from its name, so the whole
cluster's /etc/hosts is known before any server exists.

Each cluster gets its own /22 (``allocate``: the lowest one of the pool ``Settings.cluster_cidr``
that no other cluster of the project holds), so two clusters never share addresses. In it: the
gateway at the first address, the head at offset 10, ``<prefix>N`` at offset 16 + N (up to
node1006). Offsets 2..9 are the subnet's allocation pool, for ports the cloud itself makes.
"""

from __future__ import annotations

import ipaddress

from caas.errors import BadRequest

PREFIXLEN = 22
HEAD_OFFSET = 10
NODE_BASE = 16
POOL = (2, 9)


def allocate(pool_cidr: str, taken: set[str]) -> str:
    """The lowest /22 of the pool not in ``taken``; BadRequest when the pool is full."""
    for block in network(pool_cidr).subnets(new_prefix=PREFIXLEN):
        if str(block) not in taken:
            return str(block)
    raise BadRequest(f"Every cluster network of the pool {pool_cidr} is taken in this project "
                     f"({len(taken)} clusters); delete a cluster or widen CAAS_CLUSTER_CIDR.")


def network(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(cidr)


def max_nodes(cidr: str = f"10.0.0.0/{PREFIXLEN}") -> int:
    return network(cidr).num_addresses - NODE_BASE - 2


def head_ip(cidr: str) -> str:
    return str(network(cidr).network_address + HEAD_OFFSET)


def gateway_ip(cidr: str) -> str:
    return str(network(cidr).network_address + 1)


def pool(cidr: str) -> dict:
    base = network(cidr).network_address
    return {"start": str(base + POOL[0]), "end": str(base + POOL[1])}


def node_ip(cidr: str, number: int) -> str:
    if not 1 <= number <= max_nodes(cidr):
        raise BadRequest(f"node number {number} is outside this cloud's cluster network ({cidr} holds nodes "
                         f"1 to {max_nodes(cidr)})")
    return str(network(cidr).network_address + NODE_BASE + number)
