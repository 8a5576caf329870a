"""Network v2.0 over HTTP (mounted at /network): version discovery, extensions, networks,
subnets, ports, routers (and their interfaces), floating IPs, security groups and rules, their
tags (``/{collection}/{id}/tags``), quotas. ``schemas`` reads request bodies, ``listing``
filters, sorts and pages lists as Neutron does, ``routes`` is the route table. Errors in
Neutron's format ``{"NeutronError": {"type", "message", "detail"}}``."""

from __future__ import annotations

from caas.api.framework import BodyRules, ServiceAPI
from caas.api.network.routes import ROUTES
from caas.errors import CaasError


def neutron_error(exc: CaasError) -> dict:
    return {"NeutronError": {"type": exc.kind, "message": exc.message, "detail": ""}}


def build(cloud) -> ServiceAPI:
    """The Network API over ``cloud`` (its handlers use ``cloud.network``)."""
    api = ServiceAPI("network", neutron_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BodyRules(types=None),  # any type, as Neutron
                     services=cloud)
    return api.add(ROUTES)
