"""Image v2 over HTTP (mounted at /image), in Glance's shapes: ``schemas`` reads requests,
``views`` renders images, members and the served JSON schemas, ``routes`` is the route table.

Errors are JSON, ``{"code": N, "title": "...", "message": "..."}`` (Glance renders webob errors
by the Accept header; openstacksdk reads ``message`` from a flat object like this one).
"""

from __future__ import annotations

from caas.api.framework import BodyRules, ServiceAPI
from caas.api.image.routes import ROUTES
from caas.errors import CaasError


def glance_error(exc: CaasError) -> dict:
    return {"code": exc.status, "title": exc.title, "message": exc.message}


def build(cloud) -> ServiceAPI:
    """The Image API over ``cloud`` (its handlers use ``cloud.image``)."""
    # Glance's JSON deserializer reads a body whatever its type (PATCH and uploads name theirs)
    api = ServiceAPI("image", glance_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BodyRules(types=None), services=cloud)
    return api.add(ROUTES)
