"""Shared File Systems v2 (Manila) over HTTP, mounted at /share: version discovery, shares
(list, detail, create, show, update, delete, metadata), export locations, access rules (the
share actions and ``/share-access-rules``), in Manila's shapes at microversions 2.0 to 2.65.
``schemas`` reads requests, ``views`` renders, ``routes`` is the route table.

Every resource path exists twice, as in Manila since 2.60: under ``/v2/{project_id}/`` (what the
catalog names) and under ``/v2/``. The version is asked with ``X-OpenStack-Manila-API-Version``
(or ``OpenStack-API-Version: sharev2 X.Y``) and echoed in both. Errors are Manila's faults,
``{"itemNotFound": {"code": 404, "message": ...}}``, keyed by status (``computeFault`` for the
others).
"""

from __future__ import annotations

from caas.api.framework import ServiceAPI, Microversions
from caas.api.share.routes import ROUTES
from caas.api.share.views import MAX_VERSION, MIN_VERSION
from caas.api.novalike import fault

def build(cloud) -> ServiceAPI:
    """The Shared File Systems API over ``cloud`` (its handlers use ``cloud.share``)."""
    api = ServiceAPI("share", fault, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, services=cloud,
                     microversions=Microversions(service="sharev2", minimum=MIN_VERSION, maximum=MAX_VERSION,
                                                 legacy_header="X-OpenStack-Manila-API-Version"))
    return api.add(ROUTES)
