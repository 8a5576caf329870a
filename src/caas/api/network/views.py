"""The Neutron representation of each noun, rendered from what the network service returns
(``caas.network.records``): what the API returns, and what list filters, sorting and field
selection work on. Neutron's wire names (``tenant_id``, ``router:external``, ``binding:*``,
``provider:*``) live here and in ``schemas``, not in the service."""

from __future__ import annotations

import datetime as dt

from caas.network.models import FloatingIP, SecurityGroupRule
from caas.network.records import (Address, GroupRecord, Interface, NetworkRecord, PortRecord, RouterRecord,
                                  SubnetRecord)


def _ts(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _standard(obj) -> dict:
    return {"id": obj.id, "name": obj.name, "tenant_id": obj.project_id, "project_id": obj.project_id,
            "description": obj.description, "tags": list(obj.tags or []),
            "created_at": _ts(obj.created_at), "updated_at": _ts(obj.updated_at),
            "revision_number": obj.revision_number}


def _addresses(ips: tuple[Address, ...]) -> list[dict]:
    return [{"subnet_id": ip.subnet_id, "ip_address": ip.ip_address} for ip in ips]


def network(record: NetworkRecord) -> dict:
    n = record.row
    view = _standard(n)
    view.update({
        "admin_state_up": n.admin_state_up, "status": "ACTIVE", "subnets": sorted(record.subnet_ids),
        "shared": n.shared, "router:external": n.external, "mtu": n.mtu,
        "provider:network_type": n.network_type, "provider:physical_network": n.physical_network,
        "provider:segmentation_id": n.segmentation_id, "port_security_enabled": n.port_security_enabled,
        "availability_zone_hints": [], "availability_zones": ["nova"], "ipv4_address_scope": None,
        "ipv6_address_scope": None, "l2_adjacency": True, "is_default": False,
    })
    return view


def subnet(record: SubnetRecord) -> dict:
    """With ``router:external``: the subnet's network is external (which Neutron's
    ``subnet-external-network`` extension adds to subnets)."""
    s = record.row
    view = _standard(s)
    view.update({
        "network_id": s.network_id, "ip_version": s.ip_version, "cidr": s.cidr, "gateway_ip": s.gateway_ip,
        "allocation_pools": list(s.allocation_pools or []), "dns_nameservers": list(s.dns_nameservers or []),
        "host_routes": list(s.host_routes or []), "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode, "subnetpool_id": None,
        "service_types": [], "segment_id": None, "router:external": record.external,
    })
    return view


def port(record: PortRecord) -> dict:
    p = record.row
    view = _standard(p)
    bound = bool(p.host_id)
    view.update({
        "network_id": p.network_id, "mac_address": p.mac_address, "admin_state_up": p.admin_state_up,
        "status": p.status, "device_id": p.device_id, "device_owner": p.device_owner,
        "fixed_ips": _addresses(record.fixed_ips), "security_groups": sorted(record.security_groups),
        "allowed_address_pairs": list(p.allowed_address_pairs or []), "extra_dhcp_opts": [],
        "port_security_enabled": p.port_security_enabled,
        "binding:host_id": p.host_id, "binding:vnic_type": p.vnic_type, "binding:profile": {},
        "binding:vif_type": "ovs" if bound else "unbound", "binding:vif_details": {},
    })
    return view


def router(record: RouterRecord) -> dict:
    r = record.row
    view = _standard(r)
    gateway = None
    if r.gateway_network_id:
        gateway = {"network_id": r.gateway_network_id, "enable_snat": r.enable_snat,
                   "external_fixed_ips": _addresses(record.gateway_ips)}
    view.update({"admin_state_up": r.admin_state_up, "status": r.status, "external_gateway_info": gateway,
                 "routes": list(r.routes or []), "distributed": False, "ha": False,
                 "availability_zone_hints": [], "availability_zones": ["nova"], "flavor_id": None})
    return view


def interface(i: Interface) -> dict:
    """Neutron's answer to add/remove_router_interface: ``subnet_id`` is the first subnet."""
    return {"id": i.router_id, "tenant_id": i.project_id, "project_id": i.project_id,
            "port_id": i.port_id, "network_id": i.network_id,
            "subnet_id": i.subnet_ids[0] if i.subnet_ids else None, "subnet_ids": list(i.subnet_ids)}


def floating_ip(f: FloatingIP) -> dict:
    view = _standard(f)
    view.pop("name")
    view.update({"floating_ip_address": f.floating_ip_address, "floating_network_id": f.floating_network_id,
                 "router_id": f.router_id, "port_id": f.port_id, "fixed_ip_address": f.fixed_ip_address,
                 "status": f.status, "port_forwardings": [], "qos_policy_id": None})
    return view


def rule(r: SecurityGroupRule) -> dict:
    return {"id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
            "security_group_id": r.security_group_id, "direction": r.direction, "ethertype": r.ethertype,
            "protocol": r.protocol, "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
            "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
            "remote_address_group_id": None, "normalized_cidr": r.remote_ip_prefix,
            "description": r.description, "revision_number": r.revision_number,
            "created_at": _ts(r.created_at), "updated_at": _ts(r.updated_at), "belongs_to_default_sg": None}


def security_group(record: GroupRecord) -> dict:
    view = _standard(record.row)
    view.update({"stateful": record.row.stateful, "shared": False,
                 "security_group_rules": [rule(r) for r in sorted(record.rules, key=lambda r: r.id)]})
    return view


def quotas(limits: dict[str, dict[str, int]]) -> list[dict]:
    """The quotas of projects ({project id: {resource: limit}}), each with its project's ids."""
    return [{**values, "project_id": p, "tenant_id": p} for p, values in limits.items()]
