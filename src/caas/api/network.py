"""Network v2.0 over HTTP (placeholder until the network service lands)."""

from __future__ import annotations

from caas.api.framework import ServiceAPI
from caas.errors import CaasError


def neutron_error(exc: CaasError) -> dict:
    return {"NeutronError": {"type": type(exc).__name__, "message": exc.message, "detail": ""}}


def build(cloud) -> ServiceAPI:
    return ServiceAPI("network", neutron_error, max_body=cloud.settings.max_body_bytes,
                      validate_token=cloud.tokens.validate)
