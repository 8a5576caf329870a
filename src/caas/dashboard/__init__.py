"""The web dashboard, served by ``caas up`` under ``/dashboard``.

It is a client of the caas APIs with the logged-in user's token (``client``), like Horizon;
pages are rendered on the server from templates, with a small script of its own that refreshes
what is still changing. Nothing is loaded from outside this server. In a portal (``caas up
--cloud NAME``) it is the cloud's clusters' dashboard: login and the create form's choices come
from that cloud's own services (``client.Remote``), and the cloud's resource pages are not
served (``CLOUD_MODULES``).

Modules: ``session`` (the cookie, CSRF, flash), ``pages`` (the guard and rendering), ``auth``
(login, logout, project switch), ``clusters``, ``project`` (the cloud pages of a project),
``network``, ``admin``; ``templates/`` and ``static/``.
"""

from __future__ import annotations

import importlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from caas.dashboard import auth
from caas.dashboard.pages import HERE, PREFIX, Pages, View

VIEW_MODULES = ("auth", "clusters", "project", "network", "admin")
# The pages of the embedded cloud's own resources: a portal (``caas up --cloud``) has none of
# them (its cloud has its own dashboard); their paths are the "no such page" 404 there.
CLOUD_MODULES = ("project", "network", "admin")
fallback = Pages()


@fallback.page("/{path:path}")
async def not_found(view: View) -> Response:
    return view.render("error.html", status=404, status_code=404, message="There is no such page.", shortfalls=[])


async def home(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/clusters", status_code=303)


def build(embedded: bool = True) -> Router:
    """The dashboard's routes; a portal's (``embedded`` false) without ``CLOUD_MODULES``."""
    routes = [Route("/", home), Route("/login", auth.login_form, methods=["GET"]),
              Route("/login", auth.login, methods=["POST"]),
              Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")]
    for name in VIEW_MODULES:
        if not embedded and name in CLOUD_MODULES:
            continue
        try:
            module = importlib.import_module(f"caas.dashboard.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"caas.dashboard.{name}":
                raise
            continue
        routes += module.pages.routes
    return Router(routes=routes + fallback.routes)
