"""What the network service takes: typed creates and changes, under domain names (the API's
schemas turn a Neutron body into them), and the policy check the caller hands in.

A create's field left at its default was not given. A change's field is applied when given:
``None`` means "not given" for the fields whose null Neutron ignores, and ``UNSET`` does for the
fields where a null means something (a subnet's ``gateway_ip`` null: no gateway)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from caas.context import AuthContext


class Unset:
    """The value of a field that was not given (falsy; one instance, ``UNSET``)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()

# The caller's policy check of a request, called where the service decides it (after the
# project a create goes to, and the resource it concerns, are known): (caller, the project
# that owns the network concerned or None) -> None, or Forbidden.
Authorize = Callable[[AuthContext, Optional[str]], None]


def allow(ctx: AuthContext, network_owner: str | None = None) -> None:
    """The check of a request that the cloud makes itself (compute binding a server's ports)."""


def given(value: Any) -> bool:
    return value is not UNSET


@dataclass(frozen=True)
class NetworkCreate:
    project_id: str | None = None
    name: str | None = None
    description: str | None = None
    admin_state_up: bool = True
    shared: bool = False
    external: bool | None = None
    network_type: str | None = None
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int | None = None
    port_security_enabled: bool = True
    tags: list | None = None


@dataclass(frozen=True)
class NetworkChanges:
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None
    shared: bool | None = None
    external: bool | None = None
    mtu: int | None = None
    port_security_enabled: bool | None = None


@dataclass(frozen=True)
class SubnetCreate:
    """``allocation_pools``: [{"start", "end"}]; ``host_routes``: [{"destination", "nexthop"}]."""

    network_id: str
    cidr: str
    project_id: str | None = None
    ip_version: int | None = None
    gateway_ip: Any = UNSET
    allocation_pools: list | None = None
    dns_nameservers: list | None = None
    host_routes: list | None = None
    name: str | None = None
    description: str | None = None
    enable_dhcp: bool = True
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    tags: list | None = None


@dataclass(frozen=True)
class SubnetChanges:
    gateway_ip: Any = UNSET
    allocation_pools: Any = UNSET
    dns_nameservers: Any = UNSET
    host_routes: Any = UNSET
    name: str | None = None
    description: str | None = None
    enable_dhcp: bool | None = None


@dataclass(frozen=True)
class PortCreate:
    """``fixed_ips``: [{"subnet_id"?, "ip_address"?}]; ``host_id``: the host it is bound to;
    ``port_security_enabled`` not given: the network's."""

    network_id: str
    project_id: str | None = None
    name: str | None = None
    description: str | None = None
    admin_state_up: bool = True
    device_id: str | None = None
    device_owner: str | None = None
    host_id: str | None = None
    vnic_type: str | None = None
    mac_address: str | None = None
    port_security_enabled: Any = UNSET
    allowed_address_pairs: list | None = None
    fixed_ips: list | None = None
    security_groups: list | None = None
    tags: list | None = None


@dataclass(frozen=True)
class PortChanges:
    fixed_ips: Any = UNSET
    port_security_enabled: Any = UNSET
    security_groups: Any = UNSET
    mac_address: str | None = None
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None
    device_id: str | None = None
    device_owner: str | None = None
    host_id: str | None = None
    vnic_type: str | None = None
    allowed_address_pairs: list | None = None


@dataclass(frozen=True)
class RouterCreate:
    """``external_gateway_info``: {"network_id", "enable_snat"?, "external_fixed_ips"?}."""

    project_id: str | None = None
    name: str | None = None
    description: str | None = None
    admin_state_up: bool = True
    external_gateway_info: dict | None = None
    tags: list | None = None


@dataclass(frozen=True)
class RouterChanges:
    external_gateway_info: Any = UNSET
    routes: Any = UNSET
    name: str | None = None
    description: str | None = None
    admin_state_up: bool | None = None


@dataclass(frozen=True)
class InterfaceRequest:
    """A router interface to add or remove: on a subnet, or an existing port."""

    subnet_id: str | None = None
    port_id: str | None = None


@dataclass(frozen=True)
class FloatingIPCreate:
    floating_network_id: str
    project_id: str | None = None
    floating_ip_address: str | None = None
    subnet_id: str | None = None
    port_id: str | None = None
    fixed_ip_address: str | None = None
    description: str | None = None
    tags: list | None = None


@dataclass(frozen=True)
class FloatingIPChanges:
    port_id: Any = UNSET
    fixed_ip_address: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class GroupCreate:
    project_id: str | None = None
    name: str | None = None
    description: str | None = None
    stateful: bool = True
    tags: list | None = None


@dataclass(frozen=True)
class GroupChanges:
    name: str | None = None
    description: str | None = None
    stateful: bool | None = None


@dataclass(frozen=True)
class RuleCreate:
    security_group_id: str
    direction: str
    ethertype: str | None = None
    protocol: str | int | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RuleChanges:
    description: str | None = None
