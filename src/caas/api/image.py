"""Image v2 over HTTP (placeholder until the image service lands)."""

from __future__ import annotations

from caas.api.framework import ServiceAPI
from caas.errors import CaasError


def glance_error(exc: CaasError) -> dict:
    return {"code": exc.status, "title": exc.title, "message": exc.message}


def build(cloud) -> ServiceAPI:
    return ServiceAPI("image", glance_error, max_body=cloud.settings.max_body_bytes,
                      validate_token=cloud.tokens.validate)
