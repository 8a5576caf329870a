"""Version discovery documents, as keystoneauth reads them."""

import pytest

from tests.conftest import client_for

pytestmark = pytest.mark.inprocess  # discovery documents: no process or port needed


def test_root_lists_v3_with_self_link(server):
    with client_for(server) as c:
        for path in ("/identity", "/identity/"):
            r = c.get(path)
            assert r.status_code == 300
            (v,) = r.json()["versions"]["values"]
            assert v["id"].startswith("v3.") and v["status"] == "stable"
            assert v["links"][0]["rel"] == "self"
            assert v["links"][0]["href"] == f"{server.url}/identity/v3/"
            assert r.headers["x-openstack-request-id"].startswith("req-")


def test_v3_document(server):
    with client_for(server) as c:
        r = c.get("/identity/v3")
        assert r.status_code == 200
        assert r.json()["version"]["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"


def test_healthz_and_request_ids_are_unique(server):
    with client_for(server) as c:
        a, b = c.get("/healthz"), c.get("/healthz")
        assert a.status_code == 200 and a.json() == {"status": "ok"}
        assert a.headers["x-openstack-request-id"] != b.headers["x-openstack-request-id"]


def test_unknown_top_level_path_is_json_404(server):
    with client_for(server) as c:
        r = c.get("/no-such-service/v1")
        assert r.status_code == 404 and r.json()["error"]["code"] == 404
        assert r.headers["x-openstack-request-id"].startswith("req-")
        r = c.post("/healthz")
        assert r.status_code == 405 and r.json()["error"]["code"] == 405
