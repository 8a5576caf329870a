"""A hand-made fuzzer over every route of every service (issue 14): each (method, path) the
app registers is sent malformed and hostile requests, against real resources (made first) and
unknown or hostile ids, as admin; no answer may be a 5xx, and every refusal is JSON. The
server's own /metrics count of 5xx answers must stay at 0 (the fixture checks it at the end).

The requests come from a seeded generator (seed 14, or CAAS_TEST_SEED; ``random`` draws one,
printed); their number is bounded (CAAS_TEST_FUZZ_ROUNDS bodies per route, 10 by default). Writes run after
reads and deletes last, so each resource is met alive before something may delete it.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import TLS, client_for, issue_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # numbers one backend stores and the other refuses

ROUNDS = int(os.environ.get("CAAS_TEST_FUZZ_ROUNDS", "10"))

HOSTILE_IDS = ["²", "١٢", "x;$(id)", "0" * 64, "-1", "..", "a b", "%", "\u202e", "9" * 30, "null", "x" * 300]
HOSTILE_VALUES = ["²", "١٢", "+1", " 1", "1_0", "0x10", "1e3", "-0", "NaN", "Infinity", "", " ", "x;$(id)",
                  "<b>x</b>", "\u202e", "x" * 300, "x" * 70000, "\ufeff", "é" * 100, -1, 0, 2**31, 2**63, -2**63,
                  2**200, 1.5, 1e308, -1e308, True, False, None, [], {}, [None], {"": None}, ["²"], {"a": "²"},
                  "10.0.0.0/33", "::1/129", "256.0.0.1", "fe80::1%eth0", "2001:db8::/64", "00:00:00:00:00:00",
                  "ff:ff:ff:ff:ff:ff", "2026-13-45T99:99:99Z", "tcp", "icmp", "ingress", "IPv6", "ACTIVE", "*", "%"]
FIELDS = ["name", "description", "id", "enabled", "password", "original_password", "domain_id", "parent_id",
          "project_id", "tenant_id", "user_id", "role_id", "email", "default_project_id", "is_domain", "options",
          "extra", "tags", "metadata", "visibility", "protected", "os_hidden", "min_disk", "min_ram",
          "disk_format", "container_format", "size", "new_size", "volume_type", "availability_zone", "imageRef",
          "flavorRef", "networks", "key_name", "user_data", "security_groups", "min_count", "max_count",
          "config_drive", "accessIPv4", "accessIPv6", "ram", "vcpus", "disk", "swap", "rxtx_factor",
          "OS-FLV-EXT-DATA:ephemeral", "os-flavor-access:is_public", "public_key", "type", "policies", "rules",
          "network_id", "subnet_id", "port_id", "cidr", "ip_version", "gateway_ip", "allocation_pools",
          "dns_nameservers", "host_routes", "enable_dhcp", "fixed_ips", "mac_address", "device_id", "device_owner",
          "binding:host_id", "binding:profile", "port_security_enabled", "allowed_address_pairs", "admin_state_up",
          "external_gateway_info", "routes", "floating_network_id", "floating_ip_address", "direction",
          "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
          "security_group_id", "router:external", "shared", "provider:network_type", "mtu", "status", "force",
          "instances", "cores", "key_pairs", "server_groups", "volumes", "gigabytes", "network", "subnet", "port",
          "router", "floatingip", "security_group", "security_group_rule", "node_count", "node_flavor",
          "head_flavor", "image", "profile", "profile_version", "keep_on_failure", "count", "names", "flavor",
          "volumeId", "device", "tag", "length", "reboot", "os-stop", "os-start", "os-getConsoleOutput",
          "os-resetState", "os-extend", "os-reset_status", "os-set_bootable", "bootable", "addTenantAccess",
          "removeTenantAccess", "disabled_reason", "forced_down", "op", "path", "value", "member", "dry_run",
          "auth", "identity", "methods", "scope", "token", "system", "unscoped", "imageRef", "source_volid"]


def _wrapper(path: str) -> str:
    """The key OpenStack wraps a write body in, guessed from the path (``{"network": ...}``)."""
    words = [w for w in path.split("/") if w and not w.startswith("{") and w not in ("v2.0", "v2.1", "v3", "v1", "v2")]
    last = (words[-1] if words else "x").removesuffix(".json").replace("os-", "").replace("-", "_")
    singular = {"quota_sets": "quota_set", "policies": "policy", "floatingips": "floatingip",
                "os-volume_attachments": "volumeAttachment", "volume_attachments": "volumeAttachment",
                "extra_specs": "extra_specs", "metadata": "metadata", "tags": "tags", "nodes": "nodes"}
    return singular.get(last, last[:-1] if last.endswith("s") else last)


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _bodies(rnd: random.Random, path: str) -> list[tuple[bytes | None, str | None]]:
    """(raw body, Content-Type) pairs: structural damage first, then hostile values in the
    shape the route takes."""
    key = _wrapper(path)
    out: list[tuple[bytes | None, str | None]] = [
        (b'{"a":', "application/json"), (b"\xff\xfe{}", "application/json"), (b"\xef\xbb\xbf{}", "application/json"),
        (_deep(1000).encode(), "application/json"), (b"[" * 5000 + b"]" * 5000, "application/json"),
        (_deep(65).encode(), "application/json"), (json.dumps({key: {}}).encode(), "text/plain"),
        (json.dumps({key: {"name": "x"}}).encode(), None), (b"null", "application/json"), (b"[]", "application/json"),
        (b'"x"', "application/json"), (b"1e999", "application/json"), (b"{}", "application/json"),
        (json.dumps({key: None}).encode(), "application/json"), (json.dumps({key: []}).encode(), "application/json"),
        (json.dumps({key: "x"}).encode(), "application/json"),
    ]
    for _ in range(ROUNDS):
        inner = {f: rnd.choice(HOSTILE_VALUES) for f in rnd.sample(FIELDS, rnd.randint(1, 6))}
        shape = rnd.random()
        if shape < 0.6:
            value = {key: inner}
        elif shape < 0.8:
            value = inner
        elif shape < 0.9:
            value = [{"op": rnd.choice(["add", "replace", "remove", "move", "x"]),
                      "path": rnd.choice(["/name", "/tags/-", "/tags/²", "/x/y", "", "/", "/min_ram"]),
                      "value": rnd.choice(HOSTILE_VALUES)}]
        else:
            value = {k: inner for k in (key, "auth", "nodes", "cluster")}
        ctype = "application/openstack-images-v2.1-json-patch" if isinstance(value, list) else "application/json"
        out.append((json.dumps(value).encode(), ctype))
    return out


def _routes() -> list[tuple[str, str]]:
    """Every (method, full path) of the app, from the app itself (built in this process)."""
    from caas.api.app import create_app
    from caas.cloud import Cloud
    from caas.config import Settings

    with tempfile.TemporaryDirectory(prefix="caas-fuzz-") as tmp:  # removed after, with the SQLite file
        cloud = Cloud(Settings(data_dir=Path(tmp) / "data", driver="fake"))
        try:
            apis = create_app(cloud).app.state.apis
            return [(m, prefix + p) for prefix, api in apis.items() for m, p in api.routes()]
        finally:
            cloud.shutdown()


@pytest.fixture(scope="module")
def world(server):
    """Real resources of every kind, for the routes' path parameters (on each backend: a number
    one stores and the other refuses is found only there)."""
    srv = server
    c = client_for(srv, issue_token(srv))
    tok = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": c.headers["X-Auth-Token"]}).json()["token"]
    admin_project = tok["project"]["id"]
    ids: dict[str, str] = {"admin_project": admin_project}
    ids["project"] = c.post("/identity/v3/projects", json={"project": {"name": "fz"}}).json()["project"]["id"]
    ids["user"] = c.post("/identity/v3/users", json={"user": {"name": "fz", "password": "Secret_123"}}).json()["user"]["id"]
    ids["role"] = c.post("/identity/v3/roles", json={"role": {"name": "fz"}}).json()["role"]["id"]
    ids["domain"] = c.post("/identity/v3/domains", json={"domain": {"name": "fz"}}).json()["domain"]["id"]
    ids["service"] = c.get("/identity/v3/services").json()["services"][0]["id"]
    ids["endpoint"] = c.get("/identity/v3/endpoints").json()["endpoints"][0]["id"]
    net = c.post("/network/v2.0/networks", json={"network": {"name": "fz"}}).json()["network"]["id"]
    sub = c.post("/network/v2.0/subnets", json={"subnet": {"network_id": net, "cidr": "10.9.0.0/24",
                                                            "ip_version": 4}}).json()["subnet"]["id"]
    ids["networks"], ids["subnets"] = net, sub
    ids["ports"] = c.post("/network/v2.0/ports", json={"port": {"network_id": net}}).json()["port"]["id"]
    public = c.get("/network/v2.0/networks", params={"name": "public"}).json()["networks"][0]["id"]
    router = c.post("/network/v2.0/routers", json={"router": {"name": "fz", "external_gateway_info": {
        "network_id": public}}}).json()["router"]["id"]
    c.put(f"/network/v2.0/routers/{router}/add_router_interface", json={"subnet_id": sub})
    ids["routers"] = router
    sg = c.post("/network/v2.0/security-groups", json={"security_group": {"name": "fz"}}).json()["security_group"]["id"]
    ids["security-groups"] = sg
    ids["security-group-rules"] = c.post("/network/v2.0/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22}}).json()["security_group_rule"]["id"]
    ids["public"] = public
    ids["floatingips"] = c.post("/network/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": public}}).json()["floatingip"]["id"]
    ids["image"] = c.post("/image/v2/images", json={"name": "fz", "disk_format": "raw",
                                                    "container_format": "bare"}).json()["id"]
    flavor = c.post("/compute/v2.1/flavors", json={"flavor": {"name": "fz", "ram": 64, "vcpus": 1, "disk": 1}})
    ids["flavor"] = flavor.json()["flavor"]["id"]
    c.post(f"/compute/v2.1/flavors/{ids['flavor']}/os-extra_specs", json={"extra_specs": {"k": "v"}})
    c.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "fz"}})
    ids["group"] = c.post("/compute/v2.1/os-server-groups", json={"server_group": {
        "name": "fz", "policies": ["anti-affinity"]}}).json()["server_group"]["id"]
    ids["host_image"] = c.get("/image/v2/images", params={"name": "host"}).json()["images"][0]["id"]
    ids["server"] = c.post("/compute/v2.1/servers", json={"server": {
        "name": "fz", "imageRef": ids["host_image"],
        "flavorRef": "1", "networks": [{"uuid": net}]}}).json()["server"]["id"]
    ids["volume"] = c.post("/volume/v3/volumes", json={"volume": {"size": 1, "name": "fz"}}).json()["volume"]["id"]
    r = c.post("/caas/v1/clusters", json={"cluster": {"name": "fz", "image": "host", "node_flavor": "m1.nano"}})
    ids["cluster"] = r.json()["cluster"]["id"]
    deadline = time.monotonic() + 60
    while c.get(f"/compute/v2.1/servers/{ids['server']}").json()["server"]["status"] == "BUILD":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield c, ids
    c.close()


def _value(param: str, path: str, ids: dict) -> str:
    """A real value for a path parameter of ``path``."""
    segments = path.split("/")
    before = segments[segments.index("{" + param + "}") - 1] if "{" + param + "}" in segments else ""
    service = segments[1]
    table = {
        "project_id": ids["admin_project"] if service in ("volume", "network") else ids["project"],
        "user_id": ids["user"], "role_id": ids["role"], "domain_id": ids["domain"],
        "target_id": ids["domain"] if before == "domains" else ids["project"], "region_id": "RegionOne",
        "service_id": ids["service"], "endpoint_id": ids["endpoint"], "group_id": ids["group"],
        "image_id": ids["image"], "member_id": ids["project"], "tag": "t1", "tag:path": "t1",
        "alias": "standard-attr-tag", "flavor_id": ids["flavor"], "key": "k", "volume_id": ids["volume"],
        "target": ids["project"], "ref": ids["cluster"], "names": "node001",
        "name": "fz" if service == "compute" else "image",
    }
    if param == "id":
        if service == "network":
            return ids.get(before, "x")
        return {"servers": ids["server"], "volumes": ids["volume"], "types": "__DEFAULT__",
                "os-hypervisors": "1", "os-services": "1"}.get(before, "x")
    return table.get(param, "x")


ORDER = {"GET": 0, "HEAD": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}


def _judge(r: httpx.Response, label: str, failures: list[str]) -> None:
    """A 5xx, or a refusal that is not JSON, is a failure (listed with what was sent)."""
    if r.status_code >= 500:
        failures.append(f"{label}: {r.status_code} {r.text[:200]}")
    elif r.status_code >= 400 and r.request.method != "HEAD":
        try:
            r.json()
        except ValueError:
            failures.append(f"{label}: {r.status_code} not JSON: {r.text[:100]!r}")


# ---- one field at a time ----------------------------------------------------------------------
# Hostile values for one field of an otherwise valid body.
MUTANTS = ["²", "١٢", "+1", " 1", "1_0", "", "x" * 300, "x;$(id)", "\u202e", "-1", -1, 0, 2**31, 2**63, 2**200,
           1.5, 1e308, True, None, [], {}, ["²"], {"a": "²"}, "256.0.0.1", "10.0.0.0/33", "fe80::1%eth0"]
# What reaches the database differently on each backend: numbers beyond a column's range (SQLite
# stores any 64-bit integer, PostgreSQL refuses past int4 or int8), lengths beyond a VARCHAR's,
# types a driver adapts differently (psycopg sends a bool, a list or a dict as what they are),
# the empty string and NULL. The other mutants meet the routes' own checks, which are the same
# on both: PostgreSQL gets only these (SQLite gets every mutant).
BACKEND_MUTANTS = ["", "x" * 300, -1, 0, 2**31, 2**63, 2**200, 1.5, 1e308, True, None, [], {}]
PATCH = "application/openstack-images-v2.1-json-patch"


def _valid(ids: dict) -> list[tuple[str, str, object, dict]]:
    """(method, path, a body the route accepts, headers) for the routes that take rich bodies."""
    net, sub, sg, public, port = ids["networks"], ids["subnets"], ids["security-groups"], ids["public"], ids["ports"]
    v253 = {"OpenStack-API-Version": "compute 2.53"}
    return [
        ("POST", "/identity/v3/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "fz", "domain": {"id": "default"}, "password": "Secret_123"}}},
            "scope": {"project": {"name": "fz", "domain": {"id": "default"}}}}}, {}),
        ("POST", "/identity/v3/projects", {"project": {"name": "mp", "domain_id": "default", "description": "d",
                                                       "enabled": True, "tags": ["a"]}}, {}),
        ("POST", "/identity/v3/users", {"user": {"name": "mu", "password": "Secret_123", "domain_id": "default",
                                                 "email": "e@x", "enabled": True}}, {}),
        ("PATCH", f"/identity/v3/users/{ids['user']}", {"user": {"email": "e@x", "enabled": True,
                                                                  "default_project_id": ids["project"]}}, {}),
        ("POST", "/identity/v3/roles", {"role": {"name": "mr", "description": "d"}}, {}),
        ("POST", "/network/v2.0/networks", {"network": {"name": "mn", "admin_state_up": True, "mtu": 1450,
                                                        "description": "d"}}, {}),
        ("POST", "/network/v2.0/subnets", {"subnet": {
            "network_id": net, "cidr": "10.10.0.0/24", "ip_version": 4, "gateway_ip": "10.10.0.1", "name": "ms",
            "allocation_pools": [{"start": "10.10.0.2", "end": "10.10.0.20"}], "dns_nameservers": ["10.0.0.53"],
            "host_routes": [{"destination": "10.30.0.0/24", "nexthop": "10.10.0.9"}], "enable_dhcp": True}}, {}),
        ("POST", "/network/v2.0/ports", {"port": {
            "network_id": net, "name": "mport", "fixed_ips": [{"subnet_id": sub, "ip_address": "10.9.0.50"}],
            "mac_address": "fa:16:3e:00:00:01", "admin_state_up": True, "port_security_enabled": True,
            "allowed_address_pairs": [{"ip_address": "10.9.0.60"}], "security_groups": [sg],
            "device_owner": "", "device_id": ""}}, {}),
        ("PUT", f"/network/v2.0/ports/{port}", {"port": {"name": "n", "fixed_ips": [{"subnet_id": sub}]}}, {}),
        ("POST", "/network/v2.0/routers", {"router": {"name": "mr", "external_gateway_info": {
            "network_id": public, "enable_snat": True}}}, {}),
        ("PUT", f"/network/v2.0/routers/{ids['routers']}", {"router": {"routes": [
            {"destination": "10.20.0.0/24", "nexthop": "10.9.0.5"}]}}, {}),
        ("PUT", f"/network/v2.0/routers/{ids['routers']}/remove_router_interface", {"subnet_id": sub}, {}),
        ("POST", "/network/v2.0/floatingips", {"floatingip": {"floating_network_id": public, "port_id": port,
                                                              "description": "d"}}, {}),
        ("POST", "/network/v2.0/security-groups", {"security_group": {"name": "msg", "description": "d"}}, {}),
        ("POST", "/network/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": sg, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 81, "remote_ip_prefix": "10.0.0.0/8"}}, {}),
        ("PUT", f"/network/v2.0/quotas/{ids['project']}", {"quota": {"network": 10, "port": 50}}, {}),
        ("PUT", f"/network/v2.0/networks/{net}/tags", {"tags": ["a", "b"]}, {}),
        ("POST", "/image/v2/images", {"name": "mi", "disk_format": "raw", "container_format": "bare",
                                      "min_disk": 1, "min_ram": 1, "visibility": "private", "protected": False,
                                      "tags": ["a"], "prop": "v"}, {}),
        ("PATCH", f"/image/v2/images/{ids['image']}", [{"op": "replace", "path": "/min_ram", "value": 2}],
         {"Content-Type": PATCH}),
        ("POST", f"/image/v2/images/{ids['image']}/members", {"member": ids["project"]}, {}),
        ("POST", "/compute/v2.1/flavors", {"flavor": {
            "name": "mf", "ram": 64, "vcpus": 1, "disk": 1, "swap": 0, "rxtx_factor": 1.0,
            "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True}}, {}),
        ("POST", f"/compute/v2.1/flavors/{ids['flavor']}/os-extra_specs", {"extra_specs": {
            "hw:cpu_policy": "shared", "pci_passthrough:alias": "K20m:1"}}, {}),
        ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "mk", "type": "ssh"}},
         {"OpenStack-API-Version": "compute 2.2"}),
        ("POST", "/compute/v2.1/os-server-groups", {"server_group": {"name": "mg", "policies": ["affinity"]}}, {}),
        ("POST", "/compute/v2.1/servers", {"server": {
            "name": "ms", "imageRef": ids["host_image"], "flavorRef": "1", "networks": [{"uuid": net}],
            "min_count": 1, "max_count": 1, "metadata": {"a": "b"}, "user_data": "aGk=", "accessIPv4": "10.1.2.3",
            "accessIPv6": "::1", "availability_zone": "nova", "config_drive": True,
            "security_groups": [{"name": "default"}]}}, {}),
        ("PUT", f"/compute/v2.1/servers/{ids['server']}", {"server": {"name": "n"}}, {}),
        ("POST", f"/compute/v2.1/servers/{ids['server']}/action", {"os-getConsoleOutput": {"length": 10}}, {}),
        ("POST", f"/compute/v2.1/servers/{ids['server']}/metadata", {"metadata": {"a": "b"}}, {}),
        ("POST", f"/compute/v2.1/servers/{ids['server']}/os-volume_attachments", {"volumeAttachment": {
            "volumeId": ids["volume"], "device": "/dev/vdb"}}, {}),
        ("PUT", f"/compute/v2.1/os-quota-sets/{ids['project']}", {"quota_set": {"instances": 20, "cores": 30}}, {}),
        ("PUT", "/compute/v2.1/os-services/1", {"status": "enabled"}, v253),
        ("POST", "/volume/v3/volumes", {"volume": {"size": 1, "name": "mv", "description": "d",
                                                   "metadata": {"a": "b"}, "availability_zone": "nova"}}, {}),
        ("POST", f"/volume/v3/volumes/{ids['volume']}/action", {"os-extend": {"new_size": 2}}, {}),
        ("PUT", f"/volume/v3/os-quota-sets/{ids['project']}", {"quota_set": {"volumes": 20}}, {}),
        ("POST", "/caas/v1/clusters", {"cluster": {"name": "mc", "image": "host", "node_count": 1,
                                                   "node_flavor": "m1.nano"}, "dry_run": True}, {}),
        ("POST", f"/caas/v1/clusters/{ids['cluster']}/nodes", {"nodes": {"names": "node0[05-06]"}}, {}),
    ]


def _leaves(value, path=()):
    """The paths (tuples of keys and indexes) of every value in ``value``, to 4 levels."""
    if len(path) < 4 and isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,)
            yield from _leaves(v, path + (k,))
    elif len(path) < 4 and isinstance(value, list):
        for i, v in enumerate(value):
            yield path + (i,)
            yield from _leaves(v, path + (i,))


def _with(value, path, new):
    """A copy of ``value`` with the item at ``path`` replaced by ``new`` (removed: ``_GONE``)."""
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    head = path[0]
    if len(path) == 1 and new is _GONE:
        del copy[head]
    else:
        copy[head] = _with(value[head], path[1:], new)
    return copy


_GONE = object()


def test_each_field_of_a_valid_body_survives_hostile_values(world, server):
    """Every field of a valid body of each rich route, one at a time: each hostile value, and
    the field removed (on PostgreSQL: the values whose fate depends on the backend)."""
    c, ids = world
    mutants = BACKEND_MUTANTS if server.backend == "postgresql" else MUTANTS + [_GONE]
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=server.url, timeout=60, verify=TLS, headers={"X-Auth-Token": c.headers["X-Auth-Token"]}) as raw:
        for method, path, body, headers in _valid(ids):
            for leaf in list(_leaves(body)):
                for new in mutants:
                    mutated = _with(body, leaf, new)
                    r = raw.request(method, path, content=json.dumps(mutated).encode(),
                                    headers={"Content-Type": "application/json", **headers})
                    sent += 1
                    _judge(r, f"{method} {path} {leaf}={'(removed)' if new is _GONE else repr(new)[:40]}", failures)
    print(f"{sent} requests")
    assert failures == [], "\n".join(failures[:40])
    assert server.server_errors() == 0


# last: its deletes may remove what the tests above use
def test_every_route_survives_hostile_requests(world, server):
    if server.backend == "postgresql":
        pytest.skip("the routes' own checks do not depend on the backend (numbers that only one backend "
                    "stores are in the bodies, sent to both by the test above)")
    c, ids = world
    # a fixed seed by default, so that CI is repeatable; CAAS_TEST_SEED=random explores
    raw_seed = os.environ.get("CAAS_TEST_SEED", "14")
    seed = time.time_ns() % 10**6 if raw_seed == "random" else int(raw_seed)
    print(f"fuzz seed {seed}")
    rnd = random.Random(seed)
    routes = sorted(_routes(), key=lambda r: (ORDER[r[0]], r[1]))
    assert len(routes) > 150
    failures: list[str] = []
    sent = 0
    # no 5xx hook here: every failure is listed, not only the first
    raw_client = httpx.Client(base_url=server.url, timeout=60, verify=TLS, headers={"X-Auth-Token": c.headers["X-Auth-Token"]})
    for method, template in routes:
        params = re.findall(r"{([^}]+)}", template)
        real = template
        for p in params:
            real = real.replace("{" + p + "}", _value(p, template, ids))
        paths = [real] + [re.sub(r"{[^}]+}", lambda _: quote(rnd.choice(HOSTILE_IDS), safe=""), template)
                          for _ in range(2 if params else 0)]
        bodies = _bodies(rnd, template) if method in ("POST", "PUT", "PATCH") else [(None, None)]
        queries = [None, {"limit": rnd.choice(["²", "-1", "1e3", "99999999999999999999"]),
                          "marker": rnd.choice(HOSTILE_IDS), "sort_key": rnd.choice(["name", "²", "x;$(id)"]),
                          "since": "²", "all_projects": "", "name": rnd.choice(HOSTILE_IDS)}]
        for path in paths:
            for raw, ctype in bodies:
                for query in (queries if method == "GET" else [None]):
                    headers = {"Content-Type": ctype} if ctype else {}
                    if rnd.random() < 0.2:
                        headers["OpenStack-API-Version"] = rnd.choice([b"compute 2.\xb2", "volume 3.0", "compute latest", "compute 2.99999"])
                    r = raw_client.request(method, path, content=raw, params=query, headers=headers)
                    sent += 1
                    _judge(r, f"{method} {path} {query} {ctype} {raw[:120] if raw else raw!r}", failures)
    raw_client.close()
    print(f"{sent} requests over {len(routes)} routes")
    assert failures == [], "\n".join(failures[:40])
    assert server.server_errors() == 0
