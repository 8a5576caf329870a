"""Logging in and out, and switching project: Keystone's own token calls (in a portal, those of
the cloud's Keystone; a token revoked here is then also dropped from the portal's cache of
validations, ``forget``, so that it stops working at once)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caas.config import Settings
from caas.dashboard import session as sessions
from caas.dashboard.client import ApiClient, ApiError, client_for
from caas.dashboard.pages import PREFIX, SECURITY_HEADERS, Pages, View, read_form, render_public, safe_next
from caas.errors import TooManyRequests, wait_seconds
from caas.identity.compliance import ACCOUNT_REFUSALS
from caas.identity.throttle import Budget, Key, Throttle, describe

if TYPE_CHECKING:
    import httpx  # imported by the dashboard's client on first use

pages = Pages()
FIELD_MAX = 255


def login_throttle(settings: Settings) -> Throttle:
    """The login's throttle (``app.state.login_throttle``): failures counted per user name in
    a domain, forgotten on the user's success, and per client address, which a success does not
    reset (else logging in to one's own account would buy guesses at others')."""
    def budget(limit: int, reset_on_success: bool) -> Budget:
        return Budget(limit=limit, delay=settings.login_delay, max_delay=settings.login_max_delay,
                      factor=2, forget=settings.login_forget, reset_on_success=reset_on_success)
    return Throttle({"user": budget(settings.login_user_failures, True),
                     "addr": budget(settings.login_address_failures, False)}, max_keys=settings.login_tracked)


def client_address(request: Request) -> str:
    """The socket peer, never X-Forwarded-For (the client writes it); an IPv6 client as its
    /64, which one host usually has whole."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttle_keys(request: Request, domain: str, user: str) -> list[Key]:
    """The keys a login attempt counts against. Whether the user exists plays no part (an
    unknown name is throttled as a known one is); case does not either, so that ``ADMIN``
    buys no fresh budget where names are matched without case."""
    return [("user", domain.casefold(), user.casefold()), ("addr", client_address(request))]


def _lifetime(body: dict) -> int:
    expires = body.get("token", {}).get("expires_at", "")
    try:
        when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        return 3600
    return int((when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _login_page(request: Request, status: int = 200, error: str | None = None, **values) -> Response:
    nonce, new = sessions.login_csrf(request)
    page = render_public("login.html", status, error=error, login_csrf=nonce,
                         next=safe_next(request.query_params.get("next") or values.pop("next", None)), **values)
    if new:
        sessions.keep_login_csrf(request, page, nonce)
    return page


async def login_form(request: Request) -> Response:
    if await sessions.load(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, message=request.query_params.get("bye") and "You are logged out.")


def _auth_body(user: str, password: str, domain: str, project: str | None) -> dict:
    body: dict = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": domain}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    return body


async def _try_password(api: ApiClient, request: Request, domain: str, user: str, body: dict) -> httpx.Response:
    """The Identity API's answer to a password login, as an attempt claimed on the login
    throttle: refused with ``TooManyRequests`` while the user name or the client address waits
    (the password is not tried, even the right one); a 401 counts as a failure, a token as a
    success, any other refusal as neither (the password was not checked)."""
    throttle: Throttle = request.app.state.login_throttle
    keys = throttle_keys(request, domain, user)
    throttle.begin(keys)
    verdict = throttle.released
    try:
        r = await api.request("POST", "/identity/v3/auth/tokens", json=body)
        verdict = throttle.succeeded
        return r
    except ApiError as exc:
        if exc.status == 401:  # a wrong password, an unknown user, domain or project: alike
            verdict = throttle.failed
        raise
    finally:
        verdict(keys)


async def login(request: Request) -> Response:
    try:
        form = await read_form(request, upload=False)
    except Exception:  # multipart errors: not a form we accept
        return _login_page(request, 400, "The login form could not be read.")
    if form is None:
        return _login_page(request, 413, "The login form is too large.")
    values = {k: (form.get(k) or "").strip() if isinstance(form.get(k), str) else ""
              for k in ("username", "project", "domain", "next")}
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    if not sessions.check_login_csrf(request, form.get(sessions.CSRF_FIELD)):
        return _login_page(request, 403, "The login form was not sent by this dashboard (CSRF token missing or "
                                         "wrong). Try again.", **values)
    domain = values["domain"] or "Default"
    if not values["username"] or not password:
        return _login_page(request, 400, "User name and password are required.", **values)
    if any(len(v) > FIELD_MAX for v in (*values.values(), password)):
        return _login_page(request, 400, f"Each field is at most {FIELD_MAX} characters.", **values)
    api = await client_for(request, None)
    try:
        r = await _try_password(api, request, domain, values["username"],
                                _auth_body(values["username"], password, domain, values["project"] or None))
        token, body = r.headers["x-subject-token"], r.json()
        if not values["project"]:  # no project named: the first the user has a role on
            api.token = token
            projects = (await api.get("/identity/v3/auth/projects"))["projects"]
            if not projects:
                await api.request("DELETE", "/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
                return _login_page(request, 403, "You have no role on any project.", **values)
            token, body = await rescope(api, token, projects[0]["id"])
    except TooManyRequests as exc:
        page = _login_page(request, 429, "Too many failed logins for this user or from this address. "
                                         f"Try again in {describe(exc.retry_after)}.", **values)
        page.headers["Retry-After"] = str(wait_seconds(exc))
        return page
    except ApiError as exc:
        status = exc.status if 400 <= exc.status < 500 else 502
        message = exc.message if exc.status != 401 or exc.message.startswith(ACCOUNT_REFUSALS) else \
            "Invalid user name, password, domain or project."
        return _login_page(request, status, message, **values)
    finally:
        await api.close()
    response = RedirectResponse(safe_next(values["next"]), status_code=303, headers=SECURITY_HEADERS)
    sessions.start(request, response, token, _lifetime(body))
    return response


async def rescope(api: ApiClient, token: str, project_id: str) -> tuple[str, dict]:
    """A token for another project of the same user; the old one is revoked."""
    r = await api.request("POST", "/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"id": project_id}}}})
    new = r.headers["x-subject-token"]
    api.token = new
    await api.request("DELETE", "/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    return new, r.json()


def forget(request: Request, token: str) -> None:
    """A portal stops accepting ``token`` (revoked in its cloud) now, not when its cached
    validation runs out; the embedded cloud's own revocation is immediate already."""
    cloud = request.app.state.cloud
    if not cloud.embedded:
        cloud.tokens.forget(token)


@pages.page("/logout", methods=("POST",))
async def logout(view: View) -> Response:
    try:
        await view.api.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": view.session.token})
    except ApiError:
        pass  # already invalid: the cookie goes all the same
    forget(view.request, view.session.token)
    response = RedirectResponse(f"{PREFIX}/login?bye=1", status_code=303, headers=SECURITY_HEADERS)
    sessions.end(response)
    return response


@pages.page("/projects")
async def projects(view: View) -> Response:
    mine = (await view.api.get("/identity/v3/auth/projects"))["projects"]
    return view.render("projects.html", projects=sorted(mine, key=lambda p: p["name"]))


@pages.page("/projects", methods=("POST",))
async def switch(view: View) -> Response:
    project_id = view.field("project_id")
    if not project_id or len(project_id) > 64:
        return view.redirect("/projects", error="Choose a project.")
    try:
        token, body = await rescope(view.api, view.session.token, project_id)
    except ApiError as exc:
        return view.redirect("/projects", error=exc.message)
    forget(view.request, view.session.token)  # rescope revoked it
    name = body.get("token", {}).get("project", {}).get("name", project_id)
    response = RedirectResponse(f"{PREFIX}/clusters", status_code=303, headers=SECURITY_HEADERS)
    sessions.start(view.request, response, token, _lifetime(body))
    # the message is signed for the new token, the one the next page sees
    sessions.flash(response, sessions.Session(dataclasses.replace(view.session.ctx, token_id=token)), "ok", f"Now working in project {name}.", view.request)
    return response
