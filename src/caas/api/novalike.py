"""What the APIs built on Nova's WSGI layer share (Cinder's and Manila's): faults keyed by the
status's name (``{"itemNotFound": {"code": 404, "message": ...}}``, ``computeFault`` for the
statuses without one), and resource paths served both under ``/vN/{project_id}`` (what the
catalog names) and under ``/vN``, where a ``{project_id}`` other than the token's is 400
"Malformed request url" (admins included: they reach other projects' resources by id)."""

from __future__ import annotations

from caas.api.framework import Call, Endpoint, Handler
from caas.context import AuthContext
from caas.errors import BadRequest, CaasError

FAULTS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
          409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 501: "notImplemented",
          503: "serviceUnavailable"}


def fault(exc: CaasError) -> dict:
    """``exc`` as a fault body."""
    name = FAULTS.get(exc.status, "computeFault")
    return {name: {"code": exc.status, "message": exc.message}}


def auth(call: Call) -> AuthContext:
    """The caller's context; 400 when the path names a project other than the token's."""
    ctx = call.project_auth()
    project_id = call.params.get("project_id")
    if project_id is not None and project_id != ctx.project_id:
        raise BadRequest("Malformed request url")
    return ctx


def both(version: str, method: str, path: str, handler: Handler) -> list[Endpoint]:
    """``path`` under ``version`` ("/v3") and under ``version``/{project_id} (the project-less
    one first, so that a collection name is never taken for a project id)."""
    return [Endpoint(method, version + path, handler), Endpoint(method, version + "/{project_id}" + path, handler)]
