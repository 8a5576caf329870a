"""Who is logged in to the dashboard, and the guards on every form.

The Keystone token itself is the session: it lives only in an HttpOnly, SameSite=Lax cookie
scoped to ``/dashboard`` (Secure over HTTPS), is validated on every page (an expired or revoked
token sends the browser to the login), and is revoked by the API on logout.

CSRF: every form carries ``csrf_token``, an HMAC of the session's token. A page of another site
can make the browser send the cookie but can read neither it nor the page, so it cannot know
the HMAC; a post without it, or with another session's, is refused with 403. Before login the
same holds with a random value in a cookie of its own (double submit), so that no site can log
a browser in to an account of its choosing. Flash messages ride a cookie signed the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from caas.errors import CaasError
from caas.context import AuthContext

PATH = "/dashboard"
SESSION_COOKIE = "caas_session"
LOGIN_COOKIE = "caas_login"
FLASH_COOKIE = "caas_flash"
CSRF_FIELD = "csrf_token"


def _mac(key: str, purpose: str, value: str = "") -> str:
    return hmac.new(key.encode(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Session:
    """A logged-in browser: its token's context, and what the pages need of it."""

    ctx: AuthContext

    @property
    def token(self) -> str:
        return self.ctx.token_id

    @property
    def csrf(self) -> str:
        return _mac(self.token, "csrf")

    @property
    def is_admin(self) -> bool:
        return self.ctx.is_admin

    @property
    def may_write(self) -> bool:
        return self.ctx.may_write

    @property
    def project_id(self) -> str | None:
        return self.ctx.project_id

    @property
    def project_name(self) -> str:
        return self.ctx.project.name if self.ctx.project else ""

    @property
    def user_name(self) -> str:
        return self.ctx.user.name


async def load(request: Request) -> Session | None:
    """The session of the request's cookie, if its token is still valid."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 1024:
        return None
    tokens = request.app.state.cloud.tokens
    try:
        ctx = await run_in_threadpool(tokens.validate, token)
    except CaasError:
        return None
    return Session(ctx)


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def start(request: Request, response: Response, token: str, lifetime: int) -> None:
    _cookie(request, response, SESSION_COOKIE, token, max_age=max(lifetime, 1))
    response.delete_cookie(LOGIN_COOKIE, path=PATH)


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PATH)


def login_csrf(request: Request) -> tuple[str, bool]:
    """The login form's CSRF value, and whether it is new (``keep_login_csrf`` then sets it)."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if nonce and len(nonce) == 43:
        return nonce, False
    return secrets.token_urlsafe(32), True


def keep_login_csrf(request: Request, response: Response, nonce: str) -> None:
    _cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)


def check_login_csrf(request: Request, submitted: str | None) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE)
    return bool(nonce and submitted) and hmac.compare_digest(nonce, submitted)


def check_csrf(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted)


# ---- flash messages: one line shown on the next page ------------------------------------------
def flash(response: Response, session: Session | None, kind: str, text: str, request: Request) -> None:
    if session is None:
        return
    payload = base64.urlsafe_b64encode(json.dumps([kind, text[:600]]).encode()).decode()
    _cookie(request, response, FLASH_COOKIE, f"{payload}.{_mac(session.token, 'flash', payload)}", max_age=60)


def read_flash(request: Request, session: Session) -> tuple[str, str] | None:
    """The message the last response left for this page, if its signature is this session's
    (the page that shows it calls ``forget_flash``)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    payload, _, mac = raw.partition(".")
    if not hmac.compare_digest(mac, _mac(session.token, "flash", payload)):
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    return (kind if kind in ("ok", "error") else "ok"), str(text)


def forget_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=PATH)
