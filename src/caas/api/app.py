"""The app factory: one ASGI app on one port, every service under its DevStack-style prefix.

``create_app`` serves a ``Cloud`` (built by ``caas.cloud``, the composition root), or a
``Portal`` (``caas.portal``: the cluster API and the dashboard alone, in front of another
cloud): it mounts the APIs and wraps them in the edge middleware: a request id on every
response, response counters for ``/metrics``; an unexpected exception becomes a logged 500 in
Keystone's error format rather than a dropped connection (the service APIs render their own).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from typing import TYPE_CHECKING

from caas.api import clusters as clusters_api
from caas.api.framework import ALL_METHODS, json_response
from caas.api.pools import WorkerPool

if TYPE_CHECKING:
    from caas.cloud import Cloud

log = logging.getLogger("caas.api")


class EdgeMiddleware:
    """Request ids and response counters (pure ASGI, no buffering)."""

    def __init__(self, app, metrics: Counter) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}".encode()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id))
                message["headers"] = headers
                self.metrics[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Paths outside every service: a JSON error, like everything else caas says."""
    return json_response({"error": {"code": exc.status_code, "message": exc.detail,
                                    "title": exc.detail}}, status=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Last resort for routes outside the service APIs (which render their own 500s)."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = "An unexpected error prevented the server from fulfilling your request."
    return json_response({"error": {"code": 500, "message": message, "title": "Internal Server Error"}},
                         status=500)


def _quality(accept: str, kind: str, subtype: str) -> float:
    """The q-value ``accept`` gives ``kind/subtype``: that of its most specific matching range
    (``kind/subtype``, then ``kind/*``, then ``*/*``), 0 when none matches. A q that is no
    number from 0 to 1 counts as 0 (never an error: this only chooses a representation)."""
    best, specificity = 0.0, -1
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        mtype, _, msub = media.lower().partition("/")
        rank = {(kind, subtype): 2, (kind, "*"): 1, ("*", "*"): 0}.get((mtype, msub))
        if rank is None or rank <= specificity:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                q = q if 0.0 <= q <= 1.0 else 0.0  # NaN too
        best, specificity = q, rank
    return best


def prefers_html(accept: str) -> bool:
    """Does this Accept header rank text/html above JSON? A browser's does (``text/html,...,
    */*;q=0.8``); keystoneauth's discovery (``application/json``), curl's, requests' and httpx's
    (``*/*``) and none at all do not: a tie goes to JSON."""
    return _quality(accept, "text", "html") > _quality(accept, "application", "json")


def worker_pools() -> dict[str, WorkerPool]:
    """The cloud APIs' pool and the cluster API's (see pools.py for why they are two). The
    cluster pool is smaller: each of its handlers holds a thread while it calls the cloud."""
    return {"cloud": WorkerPool("cloud", threads=40, max_waiting=500, max_wait=20.0),
            "clusters": WorkerPool("cluster", threads=16, max_waiting=200, max_wait=20.0)}


def cloud_apis(cloud: Cloud) -> dict:
    """The APIs of ``cloud`` by prefix: every service's for the embedded cloud, the cluster
    API alone for a portal (its cloud's own endpoints serve the rest)."""
    if not cloud.embedded:
        return {"/caas": clusters_api.build(cloud)}
    # imported here: a portal (and a client-side command, caas.cli.standalone) needs none of them
    from caas.api import compute as compute_api
    from caas.api import identity as identity_api
    from caas.api import image as image_api
    from caas.api import network as network_api
    from caas.api import placement as placement_api
    from caas.api import share as share_api
    from caas.api import volume as volume_api

    return {
        "/identity": identity_api.build(cloud),
        "/image": image_api.build(cloud),
        "/network": network_api.build(cloud),
        "/compute": compute_api.build(cloud),
        "/volume": volume_api.build(cloud),
        "/share": share_api.build(cloud),
        "/placement": placement_api.build(cloud),
        "/caas": clusters_api.build(cloud),
    }


def create_app(cloud: Cloud, dashboard_ui: bool = True) -> Starlette:
    """The app of ``cloud``; without ``dashboard_ui``, no dashboard (the cluster service a
    client-side command serves itself, ``caas.cli.standalone``, loads none of it)."""
    settings = cloud.settings
    metrics: Counter = Counter()
    pools = worker_pools()

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def metrics_view(request: Request) -> Response:
        lines = ["# HELP caas_http_responses_total HTTP responses by status code.",
                 "# TYPE caas_http_responses_total counter"]
        for code, count in sorted(metrics.items()):
            lines.append(f'caas_http_responses_total{{code="{code}"}} {count}')
        lines += ["# HELP caas_worker_threads_busy Handler threads at work, by pool.",
                  "# TYPE caas_worker_threads_busy gauge"]
        lines += [f'caas_worker_threads_busy{{pool="{name}"}} {p.stats()["busy"]}' for name, p in pools.items()]
        lines += ["# HELP caas_worker_queue Requests waiting for a handler thread, by pool.",
                  "# TYPE caas_worker_queue gauge"]
        lines += [f'caas_worker_queue{{pool="{name}"}} {p.stats()["waiting"]}' for name, p in pools.items()]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def root(request: Request) -> Response:
        """A browser (its address bar asks for HTML first) goes to the dashboard; every other
        client gets the services as JSON. The answer depends on Accept, so caches are told."""
        vary = {"Vary": "Accept"}
        if prefers_html(request.headers.get("accept", "")):
            return RedirectResponse("/dashboard", status_code=303, headers=vary)
        base = str(request.base_url).rstrip("/")
        return json_response({"name": "caas", "services": {p.strip("/"): f"{base}{p}" for p in apis}},
                             headers=vary)

    apis = cloud_apis(cloud)
    routes = [Route("/", root), Route("/healthz", healthz), Route("/metrics", metrics_view)]
    if dashboard_ui:
        from caas import dashboard

        routes += [Route("/dashboard", lambda request: RedirectResponse("/dashboard/clusters", status_code=303)),
                   Mount("/dashboard", app=dashboard.build(cloud.embedded))]
    for prefix, api in apis.items():
        api.pool = pools["clusters" if prefix == "/caas" else "cloud"]
        if api.has("/"):  # the unversioned root, with and without the slash
            routes.append(Route(prefix, api.endpoint("/"), methods=ALL_METHODS))
        routes.append(Mount(prefix, app=api.router()))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _internal_error})
    app.state.cloud = cloud
    if dashboard_ui:
        app.state.login_throttle = dashboard.auth.login_throttle(settings)
    app.state.metrics = metrics
    app.state.apis = apis  # each prefix's ServiceAPI, for the tests that walk every route
    return EdgeMiddleware(app, metrics)
