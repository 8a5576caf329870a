"""The /caas/v1 OpenAPI document: a valid OpenAPI 3.1 document whose every reference resolves,
every operation listing every error it can answer; its schemas describe the real answers
(validated here with jsonschema_rs, schemathesis's own validator); and schemathesis runs over
a live ``caas up`` (each operation on its own, then scenarios along the document's links),
bounded by fixed numbers of examples and derandomized, find no 5xx, no status, header or
content type the document does not list and no answer outside its schema. The clusters they
create are deleted at the end, down to nothing in the cloud."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import hypothesis
import jsonschema_rs
import pytest
import schemathesis

from tests.clusters.common import API, NET, body, create, delete, error, leftovers, network, wait
from tests.conftest import TLS, client_for, make_member

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


@pytest.fixture(scope="module")
def doc(server) -> dict:
    r = httpx.get(f"{server.url}{API}/openapi.json", timeout=30, verify=TLS)  # no token needed
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return r.json()


@pytest.fixture(scope="module")
def member(server, admin) -> dict:
    return make_member(server, admin)


@pytest.fixture(scope="module")
def M(server, member) -> Iterator[httpx.Client]:
    with client_for(server, member["token"]) as c:
        yield c


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON value."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def resolve(doc: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


class Conformance:
    """Checks real answers against the document's response schemas."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc

    def __call__(self, r: httpx.Response, path: str, method: str | None = None) -> Any:
        """``r``'s body, after checking that the operation at ``path`` lists its status and
        that the body is valid against that answer's schema."""
        op = self.doc["paths"][path][(method or r.request.method).lower()]
        answer = op["responses"].get(str(r.status_code))
        assert answer is not None, f"{r.request.method} {path}: {r.status_code} is not in the document: {r.text}"
        assert r.headers["content-type"] == "application/json"
        schema = {**answer["content"]["application/json"]["schema"], "components": self.doc["components"]}
        validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        data = r.json()
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, f"{r.request.method} {path} {r.status_code}: {errors}\n{json.dumps(data)[:2000]}"
        for name, header in answer.get("headers", {}).items():
            assert not header.get("required") or name in r.headers, (name, r.headers)
        return data


@pytest.fixture(scope="module")
def conforms(doc) -> Conformance:
    return Conformance(doc)


# ---- the document -----------------------------------------------------------------------
def test_document_is_valid_openapi_31(server, doc):
    assert doc["openapi"] == "3.1.0" and doc["servers"][0]["url"] == f"{server.url}{API}"
    schemathesis.openapi.from_dict(doc).validate()  # against the OpenAPI 3.1 schema
    for name, schema in doc["components"]["schemas"].items():
        jsonschema_rs.meta.validate(schema)  # each a valid JSON Schema (2020-12, OpenAPI 3.1's dialect)


def test_every_reference_resolves(doc):
    found = list(refs(doc))
    assert len(found) > 30
    for ref in found:
        assert ref.startswith("#/components/"), ref
        assert isinstance(resolve(doc, ref), dict), ref
    assert "$defs" not in json.dumps(doc)  # nothing left nested where a client generator misses it
    # the two request bodies the first document pointed nowhere
    bodies = {(p, m): op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for p, m, op in operations(doc) if "requestBody" in op}
    assert bodies == {("/clusters", "post"): "#/components/schemas/CreateBody",
                      ("/clusters/{ref}/nodes", "post"): "#/components/schemas/NodesBody",
                      ("/clusters/{ref}/scale", "post"): "#/components/schemas/ScaleBody",
                      ("/clusters/{ref}/elastic", "put"): "#/components/schemas/ElasticBody"}
    create_body = resolve(doc, bodies["/clusters", "post"])
    assert resolve(doc, create_body["properties"]["cluster"]["$ref"])["required"] == ["name"]


def test_every_operation_lists_its_errors(doc):
    seen = 0
    for path, method, op in operations(doc):
        statuses = set(op["responses"])
        assert statuses & {"200", "202"}, (path, method)
        public = op.get("security") == []
        wanted = {"400", "503"} | (set() if public else {"401", "403"})
        if "{ref}" in path:
            wanted.add("404")
        if method in ("post", "delete"):
            wanted |= {"413", "415"}
        assert wanted <= statuses, (path, method, wanted - statuses)
        for status, answer in op["responses"].items():
            if status >= "400":
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        seen += 1
    assert seen == 14
    assert doc["paths"]["/clusters"]["post"]["responses"]["409"]
    assert doc["components"]["securitySchemes"]["keystone"] == {
        "type": "apiKey", "in": "header", "name": "X-Auth-Token", "description": "a project-scoped Keystone token"}
    params = {p["name"]: p["schema"] for p in doc["paths"]["/clusters"]["get"]["parameters"]}
    assert params["all_projects"]["type"] == "boolean" and params["name"] == {"type": "string"}
    since = doc["paths"]["/clusters/{ref}/events"]["get"]["parameters"][0]["schema"]
    assert since["type"] == "integer" and since["minimum"] == 0


# ---- the schemas describe the real answers ----------------------------------------------
def test_answers_match_the_document(server, M, conforms):
    with client_for(server) as anonymous:
        conforms(anonymous.get(f"{API}/"), "/")
        conforms(anonymous.get(f"{API}/openapi.json"), "/openapi.json")
        e = conforms(anonymous.get(f"{API}/clusters"), "/clusters")
        assert e["error"]["code"] == 401
    profiles = conforms(M.get(f"{API}/profiles"), "/profiles")["profiles"]
    assert {p["name"] for p in profiles} == {"base", "none", "slurm"}
    plan = conforms(M.post(f"{API}/clusters", json={**body("doc", 2), "dry_run": True}), "/clusters")["plan"]
    assert plan["nodes"] == ["node001", "node002"] and plan["shortfalls"] == []
    r = M.post(f"{API}/clusters", json=body("doc", 1))
    accepted = conforms(r, "/clusters")
    assert r.status_code == 202 and accepted["private_key"] and accepted["cluster"]["status"] == "CREATING"
    v = wait(M, "doc")
    assert v["status"] == "ACTIVE", v["status_reason"]
    shown = conforms(M.get(f"{API}/clusters/doc"), "/clusters/{ref}")["cluster"]
    assert shown["floating_ip"] and shown["network_id"] and shown["key_name"] is None
    assert all(n["server_id"] for n in shown["nodes"])
    listed = conforms(M.get(f"{API}/clusters"), "/clusters")["clusters"]
    assert [c["id"] for c in listed] == [v["id"]]
    events = conforms(M.get(f"{API}/clusters/doc/events"), "/clusters/{ref}/events")["events"]
    assert any(e["duration"] is None for e in events) and any(e["duration"] is not None for e in events)
    nodes = conforms(M.get(f"{API}/clusters/doc/nodes"), "/clusters/{ref}/nodes")["nodes"]
    assert [n["role"] for n in nodes] == ["head", "compute"]
    grown = conforms(M.post(f"{API}/clusters/doc/nodes", json={"nodes": {"count": 1}}), "/clusters/{ref}/nodes")
    assert grown["nodes"] == ["node002"] and grown["cluster"]["status"] == "UPDATING"
    busy = M.delete(f"{API}/clusters/doc/nodes/node001")
    assert busy.status_code in (202, 409)  # 409 while the add runs
    conforms(busy, "/clusters/{ref}/nodes/{names}", "delete")
    wait(M, "doc")
    if busy.status_code == 409:
        removed = conforms(M.delete(f"{API}/clusters/doc/nodes/node001"), "/clusters/{ref}/nodes/{names}")
        assert removed["nodes"] == ["node001"]
    wait(M, "doc")
    # errors, each in the document with the error body
    conforms(M.post(f"{API}/clusters", json=body("doc", 0)), "/clusters")  # 409: the name is taken
    e = conforms(M.post(f"{API}/clusters", json=body("huge", 1000, node_flavor="m1.xlarge")), "/clusters")
    assert e["error"]["code"] == 403 and e["error"]["shortfalls"]
    e = conforms(M.post(f"{API}/clusters/doc/nodes", json={"nodes": {"count": 100}}), "/clusters/{ref}/nodes")
    assert e["error"]["code"] == 403 and e["error"]["shortfalls"]
    for r, path in ((M.get(f"{API}/clusters/nope"), "/clusters/{ref}"),
                    (M.delete(f"{API}/clusters/doc/nodes/node009"), "/clusters/{ref}/nodes/{names}"),
                    (M.post(f"{API}/clusters", json={"cluster": {"name": "Bad"}}), "/clusters"),
                    (M.post(f"{API}/clusters", content=b"<x/>", headers={"Content-Type": "application/xml"}),
                     "/clusters"),
                    (M.post(f"{API}/clusters", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"}),
                     "/clusters")):
        assert "shortfalls" not in conforms(r, path)["error"]
    deleting = conforms(M.delete(f"{API}/clusters/doc"), "/clusters/{ref}")["cluster"]
    assert deleting["status"] == "DELETING"
    assert wait(M, "doc") is None


def test_a_cluster_on_a_given_network_matches_the_document(M, conforms):
    """The plan and the cluster on a network given to it (routed nowhere, so with ready=servers
    and no floating IP): the fields of the given network, and the nulls."""
    net = network(M, "given", "10.123.0.0/24")
    r = M.post(f"{API}/clusters", json={**body("ongiven", 1, network="given", ready="servers"), "dry_run": True})
    plan = conforms(r, "/clusters")["plan"]
    assert plan["network"]["id"] == net["id"] and plan["external_network"] is None and plan["routing"]
    assert create(M, "ongiven", 1, network="given", ready="servers")["status"] == "ACTIVE"
    shown = conforms(M.get(f"{API}/clusters/ongiven"), "/clusters/{ref}")["cluster"]
    assert shown["network_given"] and shown["floating_ip"] is None and shown["external_network_id"] is None
    delete(M, "ongiven")
    assert M.delete(f"{NET}/networks/{net['id']}").status_code == 204


def test_query_parameters_as_documented(M, admin, conforms):
    """Empty values are the same as none (the probe's ``?name=&all_projects=`` was a 400), booleans
    in their usual spellings, ``since`` in ASCII digits only (``²`` was a 500)."""
    v = create(M, "query", 0)
    for params in ({"name": "", "all_projects": ""}, {"status": ""}, {"all_projects": "no"}, {"all_projects": "0"},
                   {"all_projects": "False"}, {"name": "query", "status": "active"}):
        listed = conforms(M.get(f"{API}/clusters", params=params), "/clusters")["clusters"]
        assert [c["id"] for c in listed] == [v["id"]], params
    assert conforms(M.get(f"{API}/clusters", params={"name": "other"}), "/clusters")["clusters"] == []
    assert conforms(M.get(f"{API}/clusters", params={"status": "error"}), "/clusters")["clusters"] == []
    for value in ("maybe", "2", " "):
        error(M.get(f"{API}/clusters", params={"all_projects": value}), 400)
    for value in ("1", "yes", "TRUE"):
        error(M.get(f"{API}/clusters", params={"all_projects": value}), 403)  # a member: not every project's
        everyone = conforms(admin.get(f"{API}/clusters", params={"all_projects": value}), "/clusters")["clusters"]
        assert v["id"] in [c["id"] for c in everyone]
    events = conforms(M.get(f"{API}/clusters/query/events", params={"since": ""}), "/clusters/{ref}/events")["events"]
    assert events and events == M.get(f"{API}/clusters/query/events").json()["events"]
    last = events[-1]["seq"]
    assert M.get(f"{API}/clusters/query/events", params={"since": f"000{last - 1}"}).json()["events"] == events[-1:]
    assert M.get(f"{API}/clusters/query/events", params={"since": "9" * 18}).json()["events"] == []
    for value in ("²", "١", "-1", "1.5", "x", "9" * 19, "0" * 5000 + "1" * 19):
        e = conforms(M.get(f"{API}/clusters/query/events", params={"since": value}), "/clusters/{ref}/events")
        assert e["error"]["code"] == 400, value
    delete(M, "query")


# ---- schemathesis -----------------------------------------------------------------------
# Besides conformance to the document: ignored_auth (the call without a valid token must be
# refused) and unsupported_method (a method the document does not list is 405 with Allow). Not
# use_after_free: a delete is asynchronous (202, the cluster DELETING, then gone).
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "response_headers_conformance", "ignored_auth", "unsupported_method"]
MAX_EXAMPLES = 25  # per operation and generation phase
# Scenarios: 10 of at most 6 calls each. No time deadline (timing is for bench/): the bound is
# the number of cases, and a call that hangs fails at the request timeout instead of waiting.
STATEFUL = hypothesis.settings(max_examples=10, stateful_step_count=6, derandomize=True, database=None, deadline=None,
                               suppress_health_check=list(hypothesis.HealthCheck))


@pytest.fixture(scope="module")
def default_flavor(admin) -> None:
    """The service's default flavor (CAAS_CLUSTER_FLAVOR, m1.xsmall as the seed document makes
    it), so that a generated create that names no flavor can succeed."""
    r = admin.post("/compute/v2.1/flavors", json={"flavor": {"name": "m1.xsmall", "ram": 128, "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text


def load_schema(server, token: str, **generation) -> schemathesis.BaseSchema:
    """The served document, for schemathesis: ``token`` on every request, the checks above,
    derandomized (the same cases every run) with no example database."""
    schema = schemathesis.openapi.from_url(f"{server.url}{API}/openapi.json")
    schema.config.update(headers={"X-Auth-Token": token}, request_timeout=60)
    schema.config.generation.update(deterministic=True, database="none", **generation)
    schema.config.checks.update(included_check_names=CHECKS)
    schema.config.seed = 14
    return schema


@pytest.fixture(scope="module")
def api_schema(server, member, default_flavor):
    return load_schema(server, member["token"], max_examples=MAX_EXAMPLES)


def createable(ctx, body):
    """A generated create the cloud can carry out: the default image and flavors, a generated
    key, at most two nodes (the rest as generated), so that scenarios go on to the cluster."""
    if isinstance(body, dict) and isinstance(body.get("cluster"), dict):
        cluster = body["cluster"]
        for key in ("image", "node_flavor", "head_flavor", "key_name", "profile_version"):
            cluster.pop(key, None)
        if isinstance(cluster.get("node_count"), int):
            cluster["node_count"] %= 3
    return body


@pytest.fixture(scope="module")
def stateful_schema(server, member, default_flavor):
    """Valid cases only, creates the cloud can carry out: scenarios reach real clusters."""
    schema = load_schema(server, member["token"], modes=["positive"])
    schema.hook.apply_to(operation_id="createCluster")("map_body")(createable)
    return schema


st_schema = schemathesis.pytest.from_fixture("api_schema")


@st_schema.parametrize()
def test_schemathesis(case):
    """Every operation on its own: examples, boundary (coverage) and generated cases."""
    case.call_and_validate()


def test_schemathesis_stateful(stateful_schema):
    """Scenarios along the document's links: a create, then the cluster it made shown, its
    events and nodes listed, nodes added and removed, the cluster deleted."""
    stateful_schema.as_state_machine().run(settings=STATEFUL)


def test_schemathesis_left_nothing(server, M):
    """What the runs created (valid creates are accepted) is deleted, and gone from the cloud."""
    made = M.get(f"{API}/clusters").json()["clusters"]
    assert made  # the runs did create clusters (and went on to them)
    for c in made:
        delete(M, c["id"])
    assert M.get(f"{API}/clusters").json()["clusters"] == [] and leftovers(M) == {}
