"""Block Storage v3 (Cinder) over HTTP, mounted at /volume: version discovery, volumes (list,
detail, create, show, update, delete, actions, metadata), the volume type, quota sets, limits
and the availability zone, in Cinder's shapes at microversion 3.0 (the only one served).
``schemas`` reads requests, ``views`` renders, ``routes`` is the route table.

Every resource path exists twice, as in Cinder since Yoga: under ``/v3/{project_id}/`` (what the
catalog names) and under ``/v3/``. A ``{project_id}`` other than the token's is 400 "Malformed
request url", as Cinder answers (admins included: they reach other projects' volumes by id and
with ``all_tenants``). Errors are Cinder's faults, ``{"itemNotFound": {"code": 404, "message":
...}}``, keyed by status (``badRequest``, ``forbidden``, ``overLimit``, ...; ``computeFault``
for anything else).
"""

from __future__ import annotations

from caas.api.framework import JSON_TYPE, BodyRules, Microversions, ServiceAPI
from caas.api.volume.routes import ROUTES
from caas.api.volume.views import MAX_VERSION, MIN_VERSION
from caas.api.novalike import fault

# Cinder's types (others 415); a body sent without a type is ignored
BODY_RULES = BodyRules(types=(JSON_TYPE, "application/vnd.openstack.volume+json"), refusal="Unsupported Content-Type",
                       untyped=False)


def build(cloud) -> ServiceAPI:
    """The Block Storage API over ``cloud`` (its handlers use ``cloud.volume``)."""
    api = ServiceAPI("volume", fault, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BODY_RULES, services=cloud,
                     microversions=Microversions(service="volume", minimum=MIN_VERSION, maximum=MAX_VERSION,
                                                 legacy_header=None))
    return api.add(ROUTES)
