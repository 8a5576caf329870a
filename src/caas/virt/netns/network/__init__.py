"""The netns driver's network: Neutron's networks, routers, floating IPs and security groups
made real in the kernel.

- ``plan``: database rows -> the desired kernel state (pure);
- ``nft``: nftables ruleset text (pure);
- ``links``: pyroute2 / ``ip netns`` / ``nft`` operations;
- ``dataplane``: ``Dataplane`` (plug/unplug instances, reconcile, cleanup).
"""

from caas.virt.netns.network.dataplane import Dataplane

__all__ = ["Dataplane"]
