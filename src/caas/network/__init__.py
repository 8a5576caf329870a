"""Network service (Neutron v2.0): networks, subnets (IPAM), ports, routers, floating IPs,
security groups, quotas."""
