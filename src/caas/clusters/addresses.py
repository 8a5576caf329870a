"""The cluster's fixed addressing: every node's address follows from its name, so the whole
cluster's /etc/hosts is known before any server exists.

In the cluster subnet (``Settings.cluster_cidr``, a /22 or larger): the gateway at the first
address, the head at offset 10, ``<prefix>N`` at offset 256 + N. Offsets 2..9 are the subnet's
allocation pool, for the ports the cloud itself makes.
"""

from __future__ import annotations

import ipaddress

from caas.errors import BadRequest

HEAD_OFFSET = 10
NODE_BASE = 256
POOL = (2, 9)


def network(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(cidr)


def max_nodes(cidr: str) -> int:
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
