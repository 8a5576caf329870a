"""Compute (Nova v2.1): flavors, keypairs, servers, server groups, hypervisors, quotas."""
