"""The dashboard's form reader (``pages.read_form``) on the Content-Length a post declares.

A length other than plain ASCII digits never reaches the dashboard over HTTP (the server's
parser refuses it first), so this drives the function itself with a real Starlette request:
"²" (a header is Latin-1) passed str.isdigit() and then failed int(), a 500 in any other
server in front of the app. Every declared length that is no plain number, or too large, means
no form (the page answers 413), and nothing of the body is read.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from caas.dashboard.pages import MAX_FORM_BYTES, read_form


def post(length: bytes | None, body: bytes = b"name=web&size=3") -> tuple[Request, list]:
    """A form post declaring ``length`` (None: no Content-Length), and the list of the body
    parts the app has read."""
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if length is not None:
        headers.append((b"content-length", length))
    read: list = []

    async def receive() -> dict:
        read.append(body)
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/dashboard/x", "headers": headers, "query_string": b""}
    return Request(scope, receive), read


@pytest.mark.parametrize("length", ["²".encode("latin-1"), "³".encode("latin-1"), "١".encode(), b"+15", b" 15",
                                    b"1_5", b"0xf", b"-1", b"", b"9" * 30, str(MAX_FORM_BYTES + 1).encode(), None],
                         ids=["superscript-2", "superscript-3", "arabic-indic", "plus", "space", "underscore", "hex",
                              "negative", "empty", "huge", "over-the-limit", "absent"])
def test_no_form_for_a_length_that_is_no_plain_number_or_too_large(length):
    request, read = post(length)
    assert asyncio.run(read_form(request, upload=False)) is None
    assert read == []


def test_a_plain_length_gives_the_form():
    request, _ = post(b"15")
    form = asyncio.run(read_form(request, upload=False))
    assert form is not None and dict(form) == {"name": "web", "size": "3"}
