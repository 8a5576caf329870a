"""Who may set which attribute: Neutron's default policy (``neutron/conf/policies/``: network,
subnet, port, router, floatingip) for the attributes caas takes that not every member of a
project may give. Any attribute not listed here, any member of the project may set.

caas has no ``service`` or ``manager`` role, so Neutron's rules that name them reduce to
admin (``binding:profile``, a port's new ``mac_address``, a chosen floating IP address).
Neutron's sense of "set" is kept: on a create an attribute counts when it is given and differs
from its default (``"shared": false`` is no request for anything), on an update whenever it is
given; a key inside a dict or a list of dicts (``fixed_ips``' ``ip_address``) counts when any
item has it. A refusal is Neutron's 403 ``PolicyNotAuthorized`` naming the rules.

The rules name Neutron's attributes, so they are checked here, on the body as the client sent
it; the service calls the check (``checker``) where Neutron's would run: after the project a
create goes to is settled, and once the network concerned, whose owner some rules name, is found.
"""

from __future__ import annotations

from typing import Any

from caas.errors import Forbidden
from caas.context import AuthContext
from caas.network.requests import Authorize

ADMIN = "admin"                # rule:context_is_admin
NET_OWNER = "network owner"    # admin, or a member of the project that owns the network
NETWORK_DEVICE = "network device"  # device_owner "network:...": as NET_OWNER; anything else: anyone

RULES: dict[str, dict[str, str]] = {
    "create_network": {"shared": ADMIN, "router:external": ADMIN, "is_default": ADMIN,
                       "provider:network_type": ADMIN, "provider:physical_network": ADMIN,
                       "provider:segmentation_id": ADMIN},
    "update_network": {"shared": ADMIN, "router:external": ADMIN},
    "create_subnet": {"segment_id": ADMIN, "service_types": ADMIN},
    "create_port": {"mac_address": NET_OWNER, "fixed_ips:ip_address": NET_OWNER, "port_security_enabled": NET_OWNER,
                    "allowed_address_pairs": NET_OWNER, "device_owner": NETWORK_DEVICE, "binding:host_id": ADMIN,
                    "binding:profile": ADMIN},
    "update_port": {"mac_address": ADMIN, "fixed_ips": NET_OWNER, "port_security_enabled": NET_OWNER,
                    "allowed_address_pairs": NET_OWNER, "device_owner": NETWORK_DEVICE, "binding:host_id": ADMIN,
                    "binding:profile": ADMIN},
    "create_router": {"external_gateway_info:enable_snat": ADMIN, "external_gateway_info:external_fixed_ips": ADMIN,
                      "distributed": ADMIN, "ha": ADMIN},
    "update_router": {"external_gateway_info:enable_snat": ADMIN, "external_gateway_info:external_fixed_ips": ADMIN},
    "create_floatingip": {"floating_ip_address": ADMIN},
}
# What Neutron takes for an attribute that is not given (the rest default to "not specified",
# so that any value given is a request): on a create, giving the default requests nothing.
DEFAULTS: dict[str, Any] = {"shared": False, "router:external": False, "is_default": False, "device_owner": "",
                            "segment_id": None, "floating_ip_address": None, "external_gateway_info": None}


# The attributes whose rules name a key inside them ("fixed_ips:ip_address"), unlike the
# attributes whose own names hold a colon ("binding:host_id", "router:external").
NESTED = ("fixed_ips", "external_gateway_info")


def enforce(ctx: AuthContext, action: str, body: dict, network_owner: str | None = None) -> None:
    """Refuse (403 PolicyNotAuthorized) ``body`` for ``action`` (``create_port``, ...) when it
    sets an attribute that ``RULES`` keeps from ``ctx``. ``network_owner``: the project that
    owns the network concerned (the port's), for the rules that let that owner set more."""
    refused = [path for path, who in RULES.get(action, {}).items()
               if is_set(action, body, path) and not _may(ctx, who, body.get(path), network_owner)]
    if refused:
        rules = " and ".join([f"rule:{action}"] + [f"rule:{action}:{path}" for path in refused])
        raise Forbidden(f"({rules}) is disallowed by policy", kind="PolicyNotAuthorized")


def is_set(action: str, body: dict, path: str) -> bool:
    """Whether ``body`` sets ``path`` (an attribute, or ``attribute:key`` for one of
    ``NESTED``) in Neutron's sense (see the module's docstring)."""
    attribute, _, key = path.partition(":") if path.split(":")[0] in NESTED else (path, "", "")
    if attribute not in body:
        return False
    value = body[attribute]
    if action.startswith("create_") and attribute in DEFAULTS and value == DEFAULTS[attribute]:
        return False
    items = value if isinstance(value, list) else [value]
    return not key or any(isinstance(item, dict) and key in item for item in items)


def _may(ctx: AuthContext, who: str, value: Any, network_owner: str | None) -> bool:
    """Whether ``ctx`` may give ``value`` to an attribute that ``who`` may set."""
    if ctx.is_admin:
        return True
    if who == NETWORK_DEVICE and not (isinstance(value, str) and value.startswith("network:")):
        return True
    return who != ADMIN and network_owner is not None and network_owner == ctx.project_id


def checker(action: str, body: dict) -> Authorize:
    """The check of ``body`` (a request as the client sent it, under Neutron's names) for
    ``action``, that the service calls where it decides (once it knows the network's owner)."""
    return lambda ctx, network_owner=None: enforce(ctx, action, body, network_owner)
