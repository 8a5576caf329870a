"""Cluster as a Service over HTTP (mounted at /caas): ``/v1`` with clusters, their nodes and
events, the profiles, and the OpenAPI document (``openapi``, built from the bodies ``schemas``
describes); ``routes`` is the route table. Keystone tokens (project-scoped); a project sees
only its own clusters, admins may list every project's. Errors are ``{"error": {"code",
"title", "message"}}``; a refusal for quota adds ``shortfalls``. An empty query parameter is the
same as none.
"""

from __future__ import annotations

from caas.api.clusters.routes import ROUTES
from caas.api.framework import ServiceAPI
from caas.clusters.service import QuotaShortfall
from caas.errors import CaasError


def caas_error(exc: CaasError) -> dict:
    body = {"code": exc.status, "title": exc.title, "message": exc.message}
    if isinstance(exc, QuotaShortfall):
        body["shortfalls"] = exc.shortfalls
    return {"error": body}


def build(cloud) -> ServiceAPI:
    """The cluster API over ``cloud`` (its handlers use ``cloud.clusters``)."""
    api = ServiceAPI("caas", caas_error, max_body=cloud.settings.max_body_bytes, validate_token=cloud.tokens.validate,
                     services=cloud)
    return api.add(ROUTES)
