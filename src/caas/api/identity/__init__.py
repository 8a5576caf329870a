"""Identity v3 over HTTP (mounted at /identity): ``schemas`` (request bodies), ``views``
(Keystone's representation of each noun), ``routes`` (the route table of module-level
handlers). ``build`` serves a cloud's identity and token services."""

from __future__ import annotations

from caas.api.framework import BodyRules, ServiceAPI
from caas.api.identity import catalog, credentials, oauth1, projects
from caas.api.identity.assignments import ROUTES as ASSIGNMENT_ROUTES
from caas.api.identity.delegation import ROUTES as DELEGATION_ROUTES
from caas.api.identity.routes import ROUTES
from caas.errors import BadRequest, CaasError

# Flask's is_json types, and bodies without a type; any other is 400 (the Keystone anchor's words)
BODY_RULES = BodyRules(refuse=BadRequest, bom=True, refusal=(
    "Expecting to find application/json in Content-Type header. The server could not comply with the request "
    "since it is either malformed or otherwise incorrect. The client is assumed to be in error."))


def keystone_error(exc: CaasError) -> dict:
    """Keystone's error body (with the error's ``body_extra``, as some of its 401s add)."""
    return {"error": {"code": exc.status, "message": exc.message, "title": exc.title,
                      **getattr(exc, "body_extra", {})}}


def build(cloud) -> ServiceAPI:
    """The Identity API over ``cloud`` (its handlers use ``cloud.identity`` and ``cloud.tokens``)."""
    api = ServiceAPI("identity", keystone_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BODY_RULES, services=cloud)
    for table in (ROUTES, ASSIGNMENT_ROUTES, projects.ROUTES, catalog.ROUTES, credentials.ROUTES, oauth1.ROUTES,
                  DELEGATION_ROUTES):
        api.add(table)
    return api
