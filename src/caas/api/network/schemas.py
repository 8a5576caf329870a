"""Request bodies of the Network v2.0 API. Strict types; unknown attributes are refused
(Neutron: "Unrecognized attribute(s)"); values are checked further by the service."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Name = Annotated[StrictStr, Field(max_length=255)]
Text = Annotated[StrictStr, Field(max_length=255)]
# Neutron's strings (name, description, device_id, device_owner) may be left out but never be
# null ("'None' is not a valid string", 400): such fields are declared ``X = None``, a default
# that pydantic does not validate, so that only an explicit null is refused.
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Addr = Annotated[StrictStr, Field(min_length=1, max_length=64)]
# Tags: their values (length, commas, how many) are checked by the service (caas.network.tags).
Tags = list[StrictStr]


VnicType = Literal["normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic",
                   "remote-managed"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Owned(Model):
    """What every create of a standard-attribute resource takes."""

    name: Name = None
    description: Text = None
    project_id: Optional[Id] = None
    tenant_id: Optional[Id] = None
    tags: Tags = Field(default_factory=list)


class NetworkCreate(_Owned):
    admin_state_up: StrictBool = True
    shared: StrictBool = False
    external: Optional[StrictBool] = Field(None, alias="router:external")
    mtu: Optional[Annotated[StrictInt, Field(ge=68, le=65535)]] = None
    network_type: Optional[StrictStr] = Field(None, alias="provider:network_type")
    physical_network: Optional[Annotated[StrictStr, Field(max_length=64)]] = Field(None, alias="provider:physical_network")
    segmentation_id: Optional[StrictInt] = Field(None, alias="provider:segmentation_id")
    port_security_enabled: StrictBool = True
    availability_zone_hints: Optional[list[StrictStr]] = None
    is_default: Optional[StrictBool] = None


class NetworkUpdate(Model):
    name: Name = None
    description: Text = None
    admin_state_up: Optional[StrictBool] = None
    shared: Optional[StrictBool] = None
    external: Optional[StrictBool] = Field(None, alias="router:external")
    mtu: Optional[Annotated[StrictInt, Field(ge=68, le=65535)]] = None
    port_security_enabled: Optional[StrictBool] = None


class Pool(Model):
    start: Addr
    end: Addr


class HostRoute(Model):
    destination: Addr
    nexthop: Addr


class SubnetCreate(_Owned):
    network_id: Id
    cidr: Addr
    ip_version: Literal[4, 6] = 4
    gateway_ip: Optional[Addr] = None
    allocation_pools: Optional[list[Pool]] = None
    dns_nameservers: Optional[Annotated[list[Addr], Field(max_length=16)]] = None
    host_routes: Optional[Annotated[list[HostRoute], Field(max_length=64)]] = None
    enable_dhcp: StrictBool = True
    ipv6_ra_mode: Optional[Literal["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]] = None
    ipv6_address_mode: Optional[Literal["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]] = None
    service_types: Optional[list[StrictStr]] = None
    subnetpool_id: Optional[None] = None
    use_default_subnetpool: Optional[Literal[False]] = None
    segment_id: Optional[None] = None


class SubnetUpdate(Model):
    name: Name = None
    description: Text = None
    gateway_ip: Optional[Addr] = None
    allocation_pools: Optional[list[Pool]] = None
    dns_nameservers: Optional[Annotated[list[Addr], Field(max_length=16)]] = None
    host_routes: Optional[Annotated[list[HostRoute], Field(max_length=64)]] = None
    enable_dhcp: Optional[StrictBool] = None


class FixedIP(Model):
    subnet_id: Optional[Id] = None
    ip_address: Optional[Addr] = None


class AddressPair(Model):
    ip_address: Addr
    mac_address: Optional[Addr] = None


class _PortAttributes(Model):
    """What a port create and a port update both take."""

    mac_address: Optional[Addr] = None
    fixed_ips: Optional[Annotated[list[FixedIP], Field(max_length=32)]] = None
    device_id: Annotated[StrictStr, Field(max_length=255)] = None
    device_owner: Annotated[StrictStr, Field(max_length=255)] = None
    security_groups: Optional[Annotated[list[Id], Field(max_length=32)]] = None
    port_security_enabled: Optional[StrictBool] = None
    allowed_address_pairs: Optional[list[AddressPair]] = None
    host_id: Optional[Annotated[StrictStr, Field(max_length=255)]] = Field(None, alias="binding:host_id")
    vnic_type: Optional[VnicType] = Field(None, alias="binding:vnic_type")
    profile: Optional[dict] = Field(None, alias="binding:profile")


class PortCreate(_Owned, _PortAttributes):
    network_id: Id
    admin_state_up: StrictBool = True
    extra_dhcp_opts: Optional[list] = None
    dns_name: Optional[StrictStr] = None


class PortUpdate(_PortAttributes):
    name: Name = None
    description: Text = None
    admin_state_up: Optional[StrictBool] = None


class GatewayIP(Model):
    subnet_id: Optional[Id] = None
    ip_address: Optional[Addr] = None


class GatewayInfo(Model):
    network_id: Optional[Id] = None
    enable_snat: Optional[StrictBool] = None
    external_fixed_ips: Optional[list[GatewayIP]] = None


class RouterCreate(_Owned):
    admin_state_up: StrictBool = True
    external_gateway_info: Optional[GatewayInfo] = None
    distributed: Optional[Literal[False]] = None
    ha: Optional[Literal[False]] = None
    availability_zone_hints: Optional[list[StrictStr]] = None


class RouterUpdate(Model):
    name: Name = None
    description: Text = None
    admin_state_up: Optional[StrictBool] = None
    external_gateway_info: Optional[GatewayInfo] = None
    routes: Optional[Annotated[list[HostRoute], Field(max_length=64)]] = None


class RouterInterface(Model):
    subnet_id: Optional[Id] = None
    port_id: Optional[Id] = None


class FloatingIPCreate(Model):
    floating_network_id: Id
    floating_ip_address: Optional[Addr] = None
    subnet_id: Optional[Id] = None
    port_id: Optional[Id] = None
    fixed_ip_address: Optional[Addr] = None
    description: Text = None
    project_id: Optional[Id] = None
    tenant_id: Optional[Id] = None
    dns_name: Optional[StrictStr] = None
    dns_domain: Optional[StrictStr] = None
    tags: Tags = Field(default_factory=list)


class FloatingIPUpdate(Model):
    port_id: Optional[Id] = None
    fixed_ip_address: Optional[Addr] = None
    description: Text = None


class SecurityGroupCreate(_Owned):
    stateful: StrictBool = True


class SecurityGroupUpdate(Model):
    name: Name = None
    description: Text = None
    stateful: Optional[StrictBool] = None


class RuleCreate(Model):
    security_group_id: Id
    direction: Literal["ingress", "egress"]
    ethertype: Literal["IPv4", "IPv6"] = "IPv4"
    protocol: Optional[StrictStr | StrictInt] = None
    port_range_min: Optional[StrictInt] = None
    port_range_max: Optional[StrictInt] = None
    remote_ip_prefix: Optional[Addr] = None
    remote_group_id: Optional[Id] = None
    remote_address_group_id: Optional[None] = None
    description: Text = None
    project_id: Optional[Id] = None
    tenant_id: Optional[Id] = None


class RuleUpdate(Model):
    description: Text = None


class TagList(Model):
    """The body of ``PUT`` and ``POST /v2.0/{collection}/{id}/tags``."""

    tags: Tags


def fields(model: BaseModel) -> dict[str, Any]:
    """What the client sent, under Neutron's attribute names (``router:external``, ...)."""
    return model.model_dump(exclude_unset=True, by_alias=True)


R = TypeVar("R")


def request(model: BaseModel, cls: type[R]) -> R:
    """The network service's typed request ``cls`` (``caas.network.requests``) for what the
    client sent: under domain names (the models' field names), a create's ``tenant_id`` as its
    ``project_id``, without the attributes that only policy reads or that caas accepts and ignores.
    A field the client did not send keeps the request's default (not given)."""
    sent = model.model_dump(exclude_unset=True)
    if "project_id" in sent or "tenant_id" in sent:
        sent["project_id"] = sent.get("project_id") or sent.get("tenant_id")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in sent.items() if k in names})
