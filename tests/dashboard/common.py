"""Helpers for the dashboard's HTTP tests: a browser-like client (cookies, no JavaScript) that
logs in through the login form and sends each form with the CSRF token of the page it came from.
The browser tests (Playwright, headless Chromium) are in tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import html
import re

import httpx

from tests.conftest import TLS, CaasServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One browser's cookie jar against one caas; every 5xx fails the test."""

    def __init__(self, srv: CaasServer, source: str | None = None) -> None:
        """``source``: the client address the server sees (any 127.x.y.z reaches it on Linux)."""
        self.srv = srv
        self.http = httpx.Client(base_url=srv.url, verify=TLS, timeout=60, follow_redirects=False,
                                 transport=httpx.HTTPTransport(local_address=source) if source else srv.transport,
                                 event_hooks={"response": [self._no_5xx]})
        self.csrf: str | None = None

    @staticmethod
    def _no_5xx(r: httpx.Response) -> None:
        assert r.status_code < 500, f"{r.request.method} {r.request.url} gave {r.status_code}: {r.read()!r}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def login(self, user: str = "admin", password: str | None = None, project: str | None = "admin") -> httpx.Response:
        page = self.http.get("/dashboard/login")
        assert page.status_code == 200, page.text
        r = self.http.post("/dashboard/login", data={
            "csrf_token": CSRF.search(page.text).group(1), "username": user,
            "password": self.srv.admin_password if password is None else password,
            "project": project or "", "domain": "Default", "next": "/dashboard/clusters"})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/clusters", (r.status_code, r.text)
        self.get("/dashboard/clusters")
        return r

    def get(self, path: str, status: int = 200, **params) -> httpx.Response:
        """A page; remembers its CSRF token for the next post."""
        r = self.http.get(path, params=params or None)
        assert r.status_code == status, f"GET {path}: {r.status_code}, not {status}\n{r.text[:2000]}"
        m = CSRF.search(r.text)
        if m:
            self.csrf = m.group(1)
        return r

    def post(self, path: str, data: dict | None = None, status: int = 303, files: dict | None = None,
             csrf: bool = True) -> httpx.Response:
        """A form post with this session's CSRF token (unless ``csrf=False``)."""
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        r = self.http.post(path, data=data, files=files)
        assert r.status_code == status, f"POST {path}: {r.status_code}, not {status}\n{r.text[:2000]}"
        return r

    def follow(self, r: httpx.Response, status: int = 200) -> httpx.Response:
        """The page a post redirected to (its flash message included)."""
        assert r.status_code == 303, r.status_code
        return self.get(r.headers["location"], status)


def text(page: httpx.Response | str) -> str:
    """A page's visible text, tags removed and entities decoded, whitespace folded."""
    body = page if isinstance(page, str) else page.text
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def flash(page: httpx.Response) -> str:
    """The page's flash message (its text), or ''."""
    m = re.search(r'<p class="flash (?:ok|error)"[^>]*>(.*?)</p>', page.text, flags=re.S)
    return text(m.group(1)) if m else ""


def submit(b: Browser, page: str, action: str, data: dict, status: int = 303) -> str:
    """Load the dashboard's ``page`` (its CSRF token), post the form to ``action``, and return
    the flash shown on the page it goes back to; or, with ``status`` (404: the API did not find
    a thing), the error the post answers with that status."""
    b.get("/dashboard" + page)
    r = b.post("/dashboard" + action, data, status=status)
    return flash(b.follow(r) if status == 303 else r)
