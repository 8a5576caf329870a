"""The framework's body options: ``media_types`` (415 for anything else, before the body is
read) and ``raw_body`` (the handler reads the body as blocks, with no JSON parsing and no size
limit; a body cut short is a BadRequest, never a short but "complete" one)."""

import warnings

import anyio

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from caas.api.framework import STREAM_BLOCK, ServiceAPI, json_response
from caas.errors import CaasError


def fmt(exc: CaasError) -> dict:
    return {"oops": {"code": exc.status, "message": exc.message}}


def make_api() -> ServiceAPI:
    api = ServiceAPI("t", fmt, max_body=1024)

    @api.route("PATCH", "/typed", media_types=("application/x-special-json",))
    def typed(call):
        return json_response({"body": call.body})

    @api.route("PUT", "/raw", raw_body=True, media_types=("application/octet-stream",))
    def raw(call):
        sizes = [len(b) for b in call.stream()]
        return json_response({"total": sum(sizes), "blocks": len(sizes), "largest": max(sizes, default=0)})

    @api.route("PUT", "/early", raw_body=True)
    def early(call):
        return json_response({"read": False})

    return api


def test_media_types():
    c = TestClient(make_api().router())
    r = c.patch("/typed", content=b'{"a": 1}', headers={"Content-Type": "application/x-special-json"})
    assert r.status_code == 200 and r.json() == {"body": {"a": 1}}
    for ctype in ("application/json", None):
        r = c.patch("/typed", content=b'{"a": 1}', headers={"Content-Type": ctype} if ctype else {})
        assert r.status_code == 415 and r.json()["oops"]["code"] == 415
    r = c.patch("/typed", headers={"Content-Type": "text/plain"})  # even without a body
    assert r.status_code == 415


def test_raw_body_blocks_without_limit():
    c = TestClient(make_api().router())
    size = 3 * STREAM_BLOCK + 12345
    r = c.put("/raw", content=b"x" * size, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["total"] == size and got["blocks"] >= 1  # (the test client sends the body in one message)
    r = c.put("/raw", content=b"", headers={"Content-Type": "application/octet-stream"})
    assert r.json() == {"total": 0, "blocks": 0, "largest": 0}
    assert c.put("/raw", content=b"x", headers={"Content-Type": "application/json"}).status_code == 415
    r = c.put("/early", content=b"y" * (2 * STREAM_BLOCK))
    assert r.status_code == 200 and r.json() == {"read": False}


def test_cut_body_is_an_error_not_a_short_body():
    app = make_api().router()
    sent = []

    async def main():
        messages = [{"type": "http.request", "body": b"z" * 1000, "more_body": True}, {"type": "http.disconnect"}]

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "PUT", "path": "/raw", "raw_path": b"/raw", "query_string": b"",
                 "headers": [(b"content-type", b"application/octet-stream")], "root_path": "",
                 "scheme": "http", "server": ("t", 80), "client": ("c", 1), "http_version": "1.1"}
        await app(scope, receive, send)

    anyio.run(main)
    assert sent[0]["status"] == 400
