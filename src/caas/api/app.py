"""The app factory: one ASGI app on one port, every service under its DevStack-style prefix.

``Cloud`` holds the services built from one ``Settings`` (database, token keys, identity).
``create_app`` mounts the APIs and wraps them in the edge middleware: a request id on every
response, response counters for ``/metrics``, and a last-resort handler that turns any
unexpected exception into a 500 in the right error format (and logs it) rather than a dropped
connection.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from caas.api import identity as identity_api
from caas.api.framework import ALL_METHODS, dumps, json_response
from caas.config import Settings
from caas.db import Database
from caas.identity.auth import TokenService
from caas.identity.service import IdentityService
from caas.identity.tokens import KeyRepository

log = logging.getLogger("caas.api")


class Cloud:
    """Every service of one caas instance, built from its settings."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.keys = KeyRepository(settings.fernet_key_dir)
        self.identity = IdentityService(self.db, settings)
        self.tokens = TokenService(self.db, settings, self.keys)


class EdgeMiddleware:
    """Request ids, response counters and the last-resort 500 (pure ASGI, no buffering)."""

    def __init__(self, app, metrics: Counter) -> None:
        self.app = app
        self.metrics = metrics
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}".encode()
        started = False

        async def send_wrapper(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id))
                message["headers"] = headers
                self.metrics[message["status"]] += 1
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - the edge must answer, whatever went wrong
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = dumps(_internal_error(scope.get("path", "")))
            await send_wrapper({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def _internal_error(path: str) -> dict:
    message = "An unexpected error prevented the server from fulfilling your request."
    return {"error": {"code": 500, "message": message, "title": "Internal Server Error"}}


def create_app(cloud: Cloud) -> Starlette:
    settings = cloud.settings
    metrics: Counter = Counter()

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def metrics_view(request: Request) -> Response:
        lines = ["# HELP caas_http_responses_total HTTP responses by status code.",
                 "# TYPE caas_http_responses_total counter"]
        for code, count in sorted(metrics.items()):
            lines.append(f'caas_http_responses_total{{code="{code}"}} {count}')
        return PlainTextResponse("\n".join(lines) + "\n")

    async def root(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return json_response({"name": "caas", "services": {"identity": f"{base}/identity"}})

    identity = identity_api.build(cloud.identity, cloud.tokens, settings.max_body_bytes)
    app = Starlette(routes=[
        Route("/", root),
        Route("/healthz", healthz),
        Route("/metrics", metrics_view),
        Route("/identity", identity.endpoint("/"), methods=ALL_METHODS),
        Mount("/identity", app=identity.router()),
    ])
    app.state.cloud = cloud
    app.state.metrics = metrics
    return EdgeMiddleware(app, metrics)
