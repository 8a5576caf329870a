"""The form helpers of the cloud pages (``project``, ``network``, ``admin``; ``clusters`` takes
``part``):

- ``part``: a value as one segment of an API path.
- ``Invalid``: a field the dashboard refuses itself, before any call.
- The field readers, each a field's checked value or ``Invalid`` with a message that names the
  field: ``text`` (required or not, a length limit), ``ident`` (an id from a select or a hidden
  field), ``integer`` (a whole number in a range, required or not), ``choice`` (one of a set).
- ``refused``: the answer to a post the API refused (the one rule of every post: a 404 is the
  error page with the API's status and reason, anything else goes back to the page with it).
- ``action``: registers a form post whose function only does the work; ``Invalid`` and the
  API's refusals are answered for it.
- ``PAGE_SIZE``, ``marker`` and ``paging``: the rows of a list page, the marker of the page
  asked for, and what the ``pager`` macro takes.

Their template side is ``templates/forms.html`` (``post_button``, ``delete_form``, ``pager``).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from urllib.parse import quote

from starlette.responses import Response

from caas.dashboard.client import ApiError
from caas.dashboard.pages import Pages, View
from caas.numbers import decimal

PAGE_SIZE = 100  # rows of a list page (the APIs page with limit and marker)
FIELD_MAX = 255  # a name, a description
ID_MAX = 64      # an id (a UUID is 36 characters, a Keystone id 32), a CIDR, an address


def part(value: Any) -> str:
    """``value`` as one segment of an API path."""
    return quote(str(value), safe="")


# ---- fields ----------------------------------------------------------------------------------
class Invalid(Exception):
    """A field the dashboard refuses before any call; the message says which field and why."""


def text(view: View, name: str, label: str, required: bool = True, max_len: int = FIELD_MAX) -> str:
    """The stripped field; ``Invalid`` when required and empty, or longer than ``max_len``."""
    value = view.field(name)
    if required and not value:
        raise Invalid(f"{label} is required.")
    if len(value) > max_len:
        raise Invalid(f"{label} is at most {max_len} characters.")
    return value


def ident(view: View, name: str, label: str) -> str:
    """An id from a select or a hidden field: required, at most ``ID_MAX`` characters."""
    return text(view, name, label, max_len=ID_MAX)


def integer(view: View, name: str, label: str, low: int, high: int, required: bool = True) -> int | None:
    """The field as a whole number in ``low..high``; None when it is optional and empty."""
    raw = view.field(name)
    if not raw:
        if required:
            raise Invalid(f"{label} is required.")
        return None
    value = decimal(raw, low, high)
    if value is None:
        raise Invalid(f"{label} must be a whole number from {low} to {high}, not {raw[:40]!r}.")
    return value


def choice(view: View, name: str, label: str, options: tuple[str, ...]) -> str:
    """The field, which must be one of ``options``."""
    value = view.field(name)
    if value not in options:
        raise Invalid(f"{label} must be one of: {', '.join(options)}.")
    return value


# ---- posts -----------------------------------------------------------------------------------
def refused(view: View, exc: ApiError, back: str) -> Response:
    """The answer to a post the API refused. A 404 (the thing is not there, or not the
    project's) is the error page with the API's status and reason: the page to go back to may
    be that thing's own. Anything else goes back to ``back`` with the API's reason shown. A 401
    is raised again for the guard, which ends the session."""
    if exc.status == 401:
        raise exc
    if exc.status == 404:
        return view.error(exc)
    return view.redirect(back, error=exc.message)


Back = str | Callable[[View], str]
Post = Callable[[View], Awaitable[str | Response]]


def action(registry: Pages, path: str, back: Back, admin: bool = False,
           upload: bool = False) -> Callable[[Post], Post]:
    """Register the decorated ``fn`` as the form post at ``path`` (``admin`` and ``upload`` as
    ``Pages.page`` takes them). ``fn(view)`` reads its fields, does the work and returns the
    message for the page ``back`` (a dashboard path, formatted with the path's parameters as
    quoted segments, or a function of the view), or a response of its own (a download).
    ``Invalid`` goes back to that page as the error; an ``ApiError`` is answered by ``refused``."""
    def register(fn: Post) -> Post:
        async def post(view: View) -> Response:
            target = back(view) if callable(back) else back.format(**{k: part(v) for k, v in view.params.items()})
            try:
                done = await fn(view)
            except Invalid as exc:
                return view.redirect(target, error=str(exc))
            except ApiError as exc:
                return refused(view, exc, target)
            return done if isinstance(done, Response) else view.redirect(target, ok=done)
        registry.page(path, methods=("POST",), admin=admin, upload=upload)(post)
        return fn
    return register


# ---- pagination ------------------------------------------------------------------------------
def marker(view: View) -> str | None:
    """The ``?marker=`` of the list page asked for (the last row of the previous page); None on
    the first page, and for a value no id or name can be."""
    value = view.query.get("marker", "")
    return value if 0 < len(value) <= FIELD_MAX else None


def paging(view: View, items: list[dict], more: bool, key: str = "id") -> dict:
    """What the ``pager`` macro takes: ``next_marker``, the last row's ``key`` when the API
    said there is ``more`` (else None), and ``marker``, this page's (None on the first)."""
    last = items[-1].get(key) if more and items else None
    return {"next_marker": str(last) if last else None, "marker": marker(view)}
