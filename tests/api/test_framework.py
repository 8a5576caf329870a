"""The API framework's edge behaviour, on a small ServiceAPI of its own: an unexpected exception
is a 500 in the service's error format (never plain text, never a dropped connection), 405
carries Allow, NUL is refused, a legacy prefix serves the routes without microversions."""

import warnings

with warnings.catch_warnings():  # starlette nags about its httpx-based TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from caas.api.framework import Legacy, Microversions, ServiceAPI, json_response
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


def test_legacy_prefix_serves_every_route_at_the_minimum_without_version_headers():
    api = ServiceAPI("t", fmt, microversions=Microversions("t", "2.1", "2.5"), legacy=Legacy("/v2.1", "/v2"))

    @api.route("GET", "/v2.1/things/{id}")
    def thing(call):
        return json_response({"id": call.params["id"], "version": list(call.version), "legacy": call.legacy})

    @api.route("GET", "/v2", unversioned=True)
    def own(call):  # a path registered under the alias is served as registered
        return json_response({"own": True})

    c = TestClient(api.router(), raise_server_exceptions=False)
    r = c.get("/v2.1/things/a", headers={"OpenStack-API-Version": "t 2.5"})
    assert r.json() == {"id": "a", "version": [2, 5], "legacy": False} and r.headers["OpenStack-API-Version"] == "t 2.5"
    for header in ({}, {"OpenStack-API-Version": "t 2.5"}, {"OpenStack-API-Version": "t 9.0"},
                   {"OpenStack-API-Version": "t nonsense"}):
        r = c.get("/v2/things/a", headers=header)
        assert r.status_code == 200 and r.json() == {"id": "a", "version": [2, 1], "legacy": True}
        assert "OpenStack-API-Version" not in r.headers and "Vary" not in r.headers
        for path, status in (("/v2/things/a", 405), ("/v2/nothing", 404)):
            r = c.delete(path, headers=header)
            assert r.status_code == status and "OpenStack-API-Version" not in r.headers
            assert r.json()["oops"]["code"] == status
    assert c.get("/v2").json() == {"own": True}
    assert c.get("/v2.1/nothing", headers={"OpenStack-API-Version": "t 9.0"}).status_code == 406
