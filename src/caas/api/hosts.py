"""The agent API, served only on the TLS listener of ``caas up`` (``--agent-port``): what a
compute agent (caas.hosts.agent) calls. Every route but ``join`` takes the host's credential as
``Authorization: Bearer CREDENTIAL``. Errors are ``{"error": {"code", "message", "title"}}``
with the domain error's status; a body is a JSON object of at most 64 KiB.

    POST /agent/v1/join       {"name", "secret", "credential"}   -> 204 (the token is spent)
    POST /agent/v1/register   the host: vcpus, memory_mb, ...     -> 204
    POST /agent/v1/heartbeat  (no body)                           -> 204
    POST /agent/v1/commands   {"wait": SECONDS (0..30)}           -> {"commands": [{"id", "kind", "args"}]}
    POST /agent/v1/results    {"id", "ok", "value" | "error"}     -> 204
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caas.api.framework import empty, json_response, read_json
from caas.errors import BadRequest, CaasError, Unauthorized

MAX_BODY = 1024 * 1024  # a result (a console log) may be long
MAX_WAIT = 30


def _error(exc: CaasError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return json_response({"error": {"code": exc.status, "message": exc.message, "title": exc.title}},
                         status=exc.status, headers=headers)


async def _body(request: Request) -> dict:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object (Content-Type: application/json)")
    return body


def _credential(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("a host credential is required (Authorization: Bearer ...)")
    return value.strip()


async def join(request: Request) -> Response:
    body = await _body(request)
    hosts = request.app.state.hosts
    await run_in_threadpool(hosts.join, body.get("name"), body.get("secret"), body.get("credential"))
    return empty()


async def register(request: Request) -> Response:
    hosts = request.app.state.hosts
    name = await run_in_threadpool(hosts.authenticate, _credential(request))
    body = await _body(request)
    await run_in_threadpool(hosts.register, name, body)
    return empty()


async def heartbeat(request: Request) -> Response:
    hosts = request.app.state.hosts
    name = await run_in_threadpool(hosts.authenticate, _credential(request))
    await run_in_threadpool(hosts.heartbeat, name)
    return empty()


async def commands(request: Request) -> Response:
    """The host's pending driver calls: a long poll of at most ``wait`` seconds."""
    hosts = request.app.state.hosts
    name = await run_in_threadpool(hosts.authenticate, _credential(request))
    body = await _body(request)
    wait = body.get("wait", 0)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT:
        raise BadRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT}")
    found = await run_in_threadpool(hosts.commands.fetch, name, float(wait))
    return json_response({"commands": found})


async def results(request: Request) -> Response:
    hosts = request.app.state.hosts
    name = await run_in_threadpool(hosts.authenticate, _credential(request))
    body = await _body(request)
    await run_in_threadpool(hosts.commands.complete, name, body)
    return empty()


ROUTES = [Route("/agent/v1/join", join, methods=["POST"]),
          Route("/agent/v1/register", register, methods=["POST"]),
          Route("/agent/v1/heartbeat", heartbeat, methods=["POST"]),
          Route("/agent/v1/commands", commands, methods=["POST"]),
          Route("/agent/v1/results", results, methods=["POST"])]


async def _caas_error(request: Request, exc: CaasError) -> Response:
    return _error(exc)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return json_response({"error": {"code": exc.status_code, "message": exc.detail, "title": exc.detail}},
                         status=exc.status_code, headers=exc.headers)


def create_agent_app(hosts) -> Starlette:
    """The agent API over ``hosts`` (a caas.hosts.service.HostService)."""
    app = Starlette(routes=ROUTES, exception_handlers={CaasError: _caas_error, HTTPException: _http_error})
    app.state.hosts = hosts
    return app
