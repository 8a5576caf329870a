"""Helpers for the dashboard's browser test: Debian's Chromium driven by Playwright's sync API.

``launch`` starts /usr/bin/chromium headless with a throwaway profile (Playwright's own temporary
user data dir) and every switch that keeps it off the network; Playwright never downloads a
browser. ``Tab`` is one browser context (its own cookies) with one page that records what the
checks need: every URL it requested (so that a test can assert nothing came from another host),
the content security policy violations and script errors of its pages, the dialogs it accepted.
It takes full-page screenshots into ``screenshot_dir()`` and finds the form controls that have
no label.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, Response

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# URLs a page may "request" without reaching any host.
LOCAL_SCHEMES = ("data:", "about:", "blob:")

# The visible inputs, selects and textareas without a label that has text, an aria-label, or an
# aria-labelledby naming an element with text; each as the start of its HTML.
UNLABELLED_JS = """() => {
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    if (Array.from(el.labels || []).some((l) => l.textContent.trim())) return true;
    return (el.getAttribute("aria-labelledby") || "").split(/\\s+/).some((id) => {
      const ref = id && document.getElementById(id);
      return ref && ref.textContent.trim();
    });
  };
  return Array.from(document.querySelectorAll("input, select, textarea"))
    .filter((el) => el.type !== "hidden" && !el.closest("[hidden]"))
    .filter((el) => !named(el))
    .map((el) => el.outerHTML.slice(0, 200));
}"""

# How much wider than the window the page is (0: nothing scrolls sideways).
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def screenshot_dir() -> Path:
    """``$CAAS_SCREENSHOT_DIR``, or ``test-screenshots/`` at the top of the repository."""
    path = Path(os.environ.get("CAAS_SCREENSHOT_DIR") or ROOT / "test-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch(pw: Playwright) -> Browser:
    """Headless Chromium from /usr/bin, with a new empty profile, that contacts nothing by itself."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)


class Tab:
    """One browser context (cookies of its own) at ``base_url`` with one page, at desktop size."""

    def __init__(self, browser: Browser, base_url: str, shots: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.context = browser.new_context(base_url=self.base_url, viewport=DESKTOP)
        self.context.set_default_timeout(15_000)
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))

    def _console(self, msg) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.problems.append(f"CSP violation: {msg.text}")

    def close(self) -> None:
        self.context.close()

    def goto(self, path: str, status: int | None = 200) -> Response:
        """Open a page (``status``: of its final response after redirects; None: any)."""
        response = self.page.goto(path)
        assert response is not None, path
        if status is not None:
            assert response.status == status, f"{path}: {response.status}, not {status}\n{self.page.inner_text('body')}"
        return response

    @property
    def path(self) -> str:
        """The page's URL without the server's origin."""
        url = self.page.url
        return url[len(self.base_url):] if url.startswith(self.base_url) else url

    def foreign(self) -> list[str]:
        """The requests so far that went to a host other than the caas server."""
        return [u for u in self.requests
                if not u.startswith(self.base_url + "/") and not u.startswith(LOCAL_SCHEMES)]

    def unlabelled(self) -> list[str]:
        return self.page.evaluate(UNLABELLED_JS)

    def shot(self, name: str, phone: bool = False) -> Path:
        """A full-page PNG of the page as it is now (``phone``: at 390x844, then back)."""
        path = self.shots / f"{name}{'-phone' if phone else ''}.png"
        if phone:
            self.page.set_viewport_size(PHONE)
        try:
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            if phone:
                self.page.set_viewport_size(DESKTOP)
        return path

    def overflow_at_phone_width(self) -> int:
        """How many pixels the page is wider than a phone's screen."""
        self.page.set_viewport_size(PHONE)
        try:
            return self.page.evaluate(OVERFLOW_JS)
        finally:
            self.page.set_viewport_size(DESKTOP)

    def seen(self, name: str, labels: bool = True, phone: bool = False) -> None:
        """The checks of every page: a screenshot, nothing requested from another host, no CSP
        violation nor script error; ``labels``: every visible control labelled; ``phone``: a
        phone-width screenshot too."""
        self.shot(name)
        if phone:
            self.shot(name, phone=True)
        assert self.foreign() == [], f"{name}: requests to other hosts: {self.foreign()}"
        assert self.problems == [], f"{name}: {self.problems}"
        if labels:
            assert self.unlabelled() == [], f"{name}: controls without a label: {self.unlabelled()}"


def accept_dialogs(tab: Tab, page: Page | None = None) -> None:
    """Accept every confirm() of the page (remembering its message), as a user clicking OK."""
    def accept(dialog) -> None:
        tab.dialogs.append(dialog.message)
        dialog.accept()
    (page or tab.page).on("dialog", accept)
