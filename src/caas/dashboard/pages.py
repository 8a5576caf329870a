"""How a dashboard page is served: the guard every page passes, and its rendering.

``Pages.page(path)`` registers a view. Before the view runs, the request must carry a valid
session (else the browser goes to the login, and nothing is done), a post must carry the
session's CSRF token (else 403) and fit the body limit (else 413), and an admin page needs the
admin role (else 403). The view gets a ``View``: the request, the session, an ``ApiClient``
with the session's token, the parsed form. A refusal by the API (``ApiError``) that the view
does not handle itself becomes the error page with the API's status and reason; a 401 ends the
session. Every response says ``no-store`` and carries a content security policy that allows
nothing from outside this server.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
import re
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import quote, unquote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from caas.dashboard import session as sessions
from caas.dashboard.client import ApiClient, ApiError, client_for
from caas.dashboard.session import Session
from caas.numbers import decimal

HERE = Path(__file__).parent
PREFIX = sessions.PATH
# Form posts other than uploads: a few KiB in practice (a public key is the largest field).
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The navigation: (section, [(label, path, admin only)]). A portal shows the first section only
# (the others are the embedded cloud's resources, whose pages a portal has not).
NAV = [
    ("Clusters", [("Clusters", "/clusters", False)]),
    ("Project", [("Overview", "/project", False), ("Instances", "/project/instances", False),
                 ("Volumes", "/project/volumes", False), ("Images", "/project/images", False),
                 ("Key pairs", "/project/keypairs", False), ("Flavors", "/project/flavors", False)]),
    ("Network", [("Networks", "/project/networks", False), ("Routers", "/project/routers", False),
                 ("Security groups", "/project/security-groups", False),
                 ("Floating IPs", "/project/floating-ips", False)]),
    ("Admin", [("Hypervisors", "/admin/hypervisors", True), ("Projects", "/admin/projects", True),
               ("Users", "/admin/users", True), ("Role assignments", "/admin/role-assignments", True),
               ("Quotas", "/admin/quotas", True)]),
]


def age(value: str | None) -> str:
    """``2026-12-02T07:00:00Z`` as its age: 45s, 12m, 3h, 2d."""
    if not value:
        return ""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    secs = max(0, int((dt.datetime.now(dt.timezone.utc) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def size(value) -> str:
    """Bytes in binary units."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@functools.cache
def templates():
    """The pages' jinja2 environment, made (and jinja2 imported, about 11 MiB) when the first
    page is rendered, not when ``caas up`` starts: a cloud nobody opens the dashboard of never
    holds it."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(age=age, size=size, urlpart=lambda v: quote(str(v), safe=""))
    env.globals.update(prefix=PREFIX, csrf_field=sessions.CSRF_FIELD)
    return env


def __getattr__(name: str):
    """``TEMPLATES``, the environment by its former name (made on first use)."""
    if name == "TEMPLATES":
        return templates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def html(body: str, status: int = 200, headers: dict | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def render_public(template: str, status: int = 200, **values) -> HTMLResponse:
    return html(templates().get_template(template).render(session=None, nav=[], **values), status)


# What the query of a ``next`` keeps as it is; anything else is percent-encoded.
QUERY_SAFE = "%/?:@!$&'()*+,;=-._~"
# Control characters and backslashes: browsers drop the first and read the second as "/".
UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")
NEXT_MAX = 2048


def safe_next(value: str | None) -> str:
    """Where to go after login: ``value``'s path (percent-decoded until nothing is left to
    decode, then with ``.``, ``..`` and repeated slashes resolved) and query, when that path is
    under the dashboard; else the dashboard's home. Never another site, nor another path of
    this one (``/dashboard/..%2f..%2fidentity``)."""
    home = PREFIX + "/clusters"
    if not value or len(value) > NEXT_MAX:
        return home
    path, _, query = value.partition("#")[0].partition("?")
    decoded = path
    for _ in range(5):  # %252e%252e is %2e%2e is ..; deeper than that is refused below
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    if decoded != unquote(decoded) or not decoded.startswith("/") or UNSAFE_IN_NEXT.search(decoded):
        return home
    normal = posixpath.normpath(decoded)
    if not normal.startswith(PREFIX + "/"):
        return home
    return quote(normal) + (f"?{quote(query, safe=QUERY_SAFE)}" if query else "")


class View:
    """What a view sees of its request."""

    def __init__(self, request: Request, session: Session, api: ApiClient, form: FormData | None) -> None:
        self.request = request
        self.session = session
        self.api = api
        self.form = form
        self.params = request.path_params
        self.query = request.query_params
        self.message: tuple[str, str] | None = None  # (ok|error, text) shown on this page

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def render(self, template: str, status: int = 200, **values) -> HTMLResponse:
        shown = self.message is None  # a message of this page's own leaves the last one for later
        flash = sessions.read_flash(self.request, self.session) if shown else self.message
        sections = NAV if self.request.app.state.cloud.embedded else NAV[:1]
        nav = [(section, [(label, PREFIX + path) for label, path, admin in items
                          if not admin or self.session.is_admin])
               for section, items in sections]
        body = templates().get_template(template).render(
            session=self.session, csrf=self.session.csrf, nav=[n for n in nav if n[1]], flash=flash,
            here=self.request.url.path, **values)
        response = html(body, status)
        if shown:
            sessions.forget_flash(self.request, response)
        return response

    def fragment(self, template: str, **values) -> HTMLResponse:
        """A piece of a page (what the page's script swaps in while something changes)."""
        return html(templates().get_template(template).render(session=self.session, csrf=self.session.csrf, **values))

    def redirect(self, path: str, ok: str | None = None, error: str | None = None) -> Response:
        """303 to a dashboard path (after a post), with a message for the next page."""
        response = RedirectResponse(PREFIX + path, status_code=303, headers=SECURITY_HEADERS)
        if ok or error:
            sessions.flash(response, self.session, "error" if error else "ok", error or ok, self.request)
        return response

    def error(self, exc: ApiError, template: str | None = None, **values) -> HTMLResponse:
        """The page again with the API's refusal on it, with the API's status."""
        if template is None:
            return self.render("error.html", status=exc.status, message=exc.message, status_code=exc.status,
                               shortfalls=exc.shortfalls)
        self.message = ("error", exc.message)
        return self.render(template, status=exc.status, shortfalls=exc.shortfalls, **values)


ViewFn = Callable[[View], Awaitable[Response]]


class Pages:
    """The dashboard's routes, each behind the guard."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def page(self, path: str, methods: tuple[str, ...] = ("GET",), admin: bool = False,
             upload: bool = False, write: bool = False) -> Callable[[ViewFn], ViewFn]:
        """Register a view. ``admin``: for admins only; ``write``: for sessions that may change
        the project's resources (not a reader's), refused before the API is asked (which
        would refuse it too)."""
        def register(fn: ViewFn) -> ViewFn:
            async def endpoint(request: Request) -> Response:
                return await guard(request, fn, admin, upload, write)
            self.routes.append(Route(path, endpoint, methods=list(methods)))
            return fn
        return register


def to_login(request: Request) -> Response:
    if request.headers.get("x-caas-partial"):  # the page's refresh: the page itself reloads
        return html("", 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303,
                            headers=SECURITY_HEADERS)


async def read_form(request: Request, upload: bool) -> FormData | None:
    """The post's form, or None when it is too large (413)."""
    length = request.headers.get("content-length")
    if not upload:
        if decimal(length, 0, MAX_FORM_BYTES) is None:  # absent, malformed ("²", "+1") or too large
            return None
        return await request.form(max_files=0, max_fields=2000)
    return await request.form(max_files=1, max_fields=50, max_part_size=MAX_FORM_BYTES)


async def guard(request: Request, fn: ViewFn, admin: bool, upload: bool, write: bool = False) -> Response:
    session = await sessions.load(request)
    if session is None:
        response = to_login(request)
        sessions.end(response)
        return response
    form = None
    if request.method == "POST":
        try:
            form = await read_form(request, upload)
        except Exception as exc:  # multipart errors: the body is not a form we accept
            if "exceeded maximum size" in str(getattr(exc, "detail", exc)):  # a field of an upload form
                return refuse(session, 413, f"A field of the form is larger than {MAX_FORM_BYTES // 1024} KiB.")
            return refuse(session, 400, "The form could not be read.")
        if form is None:
            return refuse(session, 413, f"The form is larger than {MAX_FORM_BYTES // 1024} KiB.")
        if not sessions.check_csrf(session, form.get(sessions.CSRF_FIELD)):
            return refuse(session, 403, "The form was not sent by this dashboard (its CSRF token is missing or "
                                        "wrong); nothing was changed. Reload the page and try again.")
    if admin and not session.is_admin:
        return refuse(session, 403, "This page is for administrators.")
    if write and not session.may_write:
        return refuse(session, 403, "Your role on this project only reads; nothing was changed.")
    try:
        api = await client_for(request, session.token)
    except ApiError:  # a portal's cloud refused the token since its check, or does not answer
        response = to_login(request)
        sessions.end(response)
        return response
    view = View(request, session, api, form)
    try:
        return await fn(view)
    except ApiError as exc:
        if exc.status == 401:
            response = to_login(request)
            sessions.end(response)
            return response
        return view.error(exc)
    finally:
        await api.close()


def refuse(session: Session, status: int, message: str) -> HTMLResponse:
    body = templates().get_template("error.html").render(session=None, nav=[], message=message, status_code=status,
                                                       shortfalls=[])
    return html(body, status)
