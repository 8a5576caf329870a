"""The API framework's edge behaviour, on a small ServiceAPI of its own: an unexpected exception
is a 500 in the service's error format (never plain text, never a dropped connection), 405
carries Allow, NUL is refused."""

import warnings

with warnings.catch_warnings():  # starlette nags about its httpx-based TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from caas.api.framework import ServiceAPI, json_response
from caas.errors import CaasError


def fmt(exc: CaasError) -> dict:
    return {"oops": {"code": exc.status, "message": exc.message}}


def make_client() -> TestClient:
    api = ServiceAPI("t", fmt)

    @api.route("GET", "/boom")
    def boom(call):
        raise RuntimeError("a bug")

    @api.route("POST", "/echo/{name}")
    def echo(call):
        return json_response({"name": call.params["name"], "body": call.body})

    return TestClient(api.router(), raise_server_exceptions=False)


def test_unexpected_exception_is_500_in_service_format():
    r = make_client().get("/boom")
    assert r.status_code == 500
    assert r.json()["oops"]["code"] == 500 and "a bug" not in r.text


def test_405_has_allow_and_format():
    r = make_client().delete("/echo/x")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["oops"]["code"] == 405


def test_nul_is_refused_in_path_query_and_body():
    c = make_client()
    assert c.post("/echo/a%00b", json={}).status_code == 400
    assert c.post("/echo/ab?x=%00", json={}).status_code == 400
    assert c.post("/echo/ab", json={"k\u0000": 1}).status_code == 400
    r = c.post("/echo/ab", json={"k": ["ok", {"n": "fine"}]})
    assert r.status_code == 200 and r.json() == {"name": "ab", "body": {"k": ["ok", {"n": "fine"}]}}
