"""Network v2.0 (Neutron) on bad input, over both backends: every refusal has the right status
and Neutron's error format ``{"NeutronError": {"type", "message", "detail"}}`` with a sensible
``type``; foreign ids look exactly like unknown ones; names are stored verbatim; the list
features (filters, fields, sorting, paging) behave; each project gets its default security
group. No request may give a 5xx (the clients and the server fixture check)."""

from __future__ import annotations

import ipaddress
import json
import uuid

import pytest

from tests.conftest import NOT_NUMBERS, client_for, make_member

pytestmark = pytest.mark.inprocess  # bad input: the app in process, no caas up

N = "/network/v2.0"

# Generic 400 types: Neutron's API layer says HTTPBadRequest, its plugins BadRequest/InvalidInput.
BAD = {"HTTPBadRequest", "BadRequest", "InvalidInput"}


def neutron_error(r, status: int, types) -> dict:
    """Assert ``r`` is a Neutron error with ``status`` and a type in ``types``; return it."""
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url}: expected {status}, got {r.status_code}: {r.text}")
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers.get("content-type")
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"NeutronError"}, body
    err = body["NeutronError"]
    assert set(err) >= {"type", "message", "detail"}, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["detail"], str), err
    types = {types} if isinstance(types, str) else set(types)
    assert err["type"] in types, f"type {err['type']!r} not in {sorted(types)}: {err}"
    return err


def uid() -> str:
    return str(uuid.uuid4())


# ---- fixtures ---------------------------------------------------------------------------------
UNLIMITED = {"network": -1, "subnet": -1, "port": -1, "router": -1, "floatingip": -1, "security_group": -1,
             "security_group_rule": -1}


def _member(server, admin) -> dict:
    """A member whose project's quotas do not get in the way of the many small cases here."""
    m = make_member(server, admin)
    r = admin.put(f"{N}/quotas/{m['project_id']}", json={"quota": UNLIMITED})
    assert r.status_code == 200, r.text
    return m


@pytest.fixture(scope="module")
def member_a(server, admin):
    return _member(server, admin)


@pytest.fixture(scope="module")
def member_b(server, admin):
    return _member(server, admin)


@pytest.fixture(scope="module")
def A(server, member_a):
    with client_for(server, member_a["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def B(server, member_b):
    with client_for(server, member_b["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def public(A) -> dict:
    nets = A.get(f"{N}/networks", params={"name": "public"}).json()["networks"]
    assert len(nets) == 1 and nets[0]["router:external"] is True, nets
    return nets[0]


_cidrs = iter(ipaddress.ip_network("10.128.0.0/9").subnets(new_prefix=24))


def new_cidr() -> str:
    return str(next(_cidrs))


def make_net(c, name: str = "net", cidr: str | None = None) -> tuple[dict, dict]:
    r = c.post(f"{N}/networks", json={"network": {"name": name}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    r = c.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr or new_cidr(), "name": name}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


def make(c, collection: str, key: str, body: dict) -> dict:
    r = c.post(f"{N}/{collection}", json={key: body})
    assert r.status_code == 201, r.text
    return r.json()[key]


@pytest.fixture(scope="module")
def a_net(A):
    return make_net(A, "a-net")


# ---- malformed bodies ---------------------------------------------------------------------------
@pytest.mark.parametrize("collection", ["networks", "subnets", "ports", "routers", "floatingips", "security-groups",
                                        "security-group-rules"])
@pytest.mark.parametrize("raw", [b"{bad", b'{"network": }', b"\xff\xfe", b'{"a": 1', b"[1,2"],
                         ids=["brace", "missing-value", "not-utf8", "unterminated", "list"])
def test_malformed_json(A, collection, raw):
    r = A.post(f"{N}/{collection}", content=raw, headers={"Content-Type": "application/json"})
    neutron_error(r, 400, BAD | {"MalformedRequestBody"})


def test_malformed_json_on_update(A, a_net):
    net, _ = a_net
    r = A.put(f"{N}/networks/{net['id']}", content=b'{"network": {"name": "x"',
              headers={"Content-Type": "application/json"})
    neutron_error(r, 400, BAD | {"MalformedRequestBody"})


@pytest.mark.parametrize("headers", [{"Content-Type": "text/plain"}, {}, {"Content-Type": "application/xml"},
                                     {"Content-Type": "application/json; charset=utf-8"}],
                         ids=["text-plain", "no-content-type", "xml", "charset"])
def test_json_under_any_content_type_is_read(A, a_net, headers):
    """Neutron reads the body whatever its Content-Type (its body hook parses the bytes; nothing
    checks the header): a network and a port are made."""
    name = uid()
    r = A.post(f"{N}/networks", content=json.dumps({"network": {"name": name}}), headers=headers)
    assert r.status_code == 201 and r.json()["network"]["name"] == name, r.text
    r = A.post(f"{N}/ports", content=json.dumps({"port": {"network_id": a_net[0]["id"], "name": name}}),
               headers=headers)
    assert r.status_code == 201 and r.json()["port"]["name"] == name, r.text


@pytest.mark.parametrize("collection,key", [("networks", "network"), ("routers", "router"),
                                            ("security-groups", "security_group")])
def test_a_byte_order_mark_before_the_json_is_400(A, collection, key):
    """Neutron decodes the body as plain UTF-8 (oslo's jsonutils): a byte order mark is no JSON."""
    name = uid()
    raw = b"\xef\xbb\xbf" + json.dumps({key: {"name": name}}).encode()
    neutron_error(A.post(f"{N}/{collection}", content=raw, headers={"Content-Type": "application/json"}), 400, BAD)
    assert A.get(f"{N}/{collection}", params={"name": name}).json()[collection.replace("-", "_")] == []


STRING_FIELDS = [
    ("networks", "network", {}, "name"), ("networks", "network", {}, "description"),
    ("subnets", "subnet", {"network_id": "NET", "cidr": "CIDR"}, "name"),
    ("subnets", "subnet", {"network_id": "NET", "cidr": "CIDR"}, "description"),
    *(("ports", "port", {"network_id": "NET"}, f) for f in ("name", "description", "device_id", "device_owner")),
    ("routers", "router", {}, "name"), ("routers", "router", {}, "description"),
    ("security-groups", "security_group", {}, "name"), ("security-groups", "security_group", {}, "description"),
    ("floatingips", "floatingip", {"floating_network_id": "PUB"}, "description"),
    ("security-group-rules", "security_group_rule", {"security_group_id": "SG", "direction": "egress",
                                                     "protocol": "tcp"}, "description"),
]


@pytest.mark.parametrize("collection,key,body,field", STRING_FIELDS, ids=[f"{c[0]}-{c[3]}" for c in STRING_FIELDS])
def test_null_strings_are_400(A, a_net, public, collection, key, body, field):
    """Neutron's name, description, device_id and device_owner are strings: null is "'None' is
    not a valid string" (400), on create and on update, never "" (caas stored "")."""
    net, _ = a_net
    sg = make(A, "security-groups", "security_group", {"name": uid()})
    subst = {"NET": net["id"], "CIDR": new_cidr(), "PUB": public["id"], "SG": sg["id"]}
    body = {k: subst.get(v, v) for k, v in body.items()}
    before = len(A.get(f"{N}/{collection}").json()[collection.replace("-", "_")])
    neutron_error(A.post(f"{N}/{collection}", json={key: {**body, field: None}}), 400, BAD)
    assert len(A.get(f"{N}/{collection}").json()[collection.replace("-", "_")]) == before
    made = make(A, collection, key, {**body, field: "kept"})
    neutron_error(A.put(f"{N}/{collection}/{made['id']}", json={key: {field: None}}), 400, BAD)
    assert A.get(f"{N}/{collection}/{made['id']}").json()[key][field] == "kept"


@pytest.mark.parametrize("collection,body", [
    ("networks", []),
    ("networks", "network"),
    ("networks", {"network": []}),
    ("networks", {"network": None}),
    ("networks", {"networks": {"name": "x"}}),
    ("subnets", {}),
    ("ports", 42),
], ids=["list", "string", "inner-list", "inner-null", "wrong-key", "empty", "number"])
def test_body_of_the_wrong_shape(A, collection, body):
    neutron_error(A.post(f"{N}/{collection}", json=body), 400, BAD)


def test_missing_body(A):
    neutron_error(A.post(f"{N}/networks"), 400, BAD)


@pytest.mark.parametrize("field,value", [
    ("name", 5), ("name", ["x"]), ("admin_state_up", "yes"), ("admin_state_up", 1), ("shared", "false"),
    ("mtu", "1500"), ("mtu", 1.5), ("description", {"a": 1}), ("port_security_enabled", None),
])
def test_network_wrong_types(A, field, value):
    neutron_error(A.post(f"{N}/networks", json={"network": {field: value}}), 400, BAD)


@pytest.mark.parametrize("field,value", [
    ("cidr", 10), ("ip_version", "4"), ("ip_version", 5), ("enable_dhcp", "true"), ("allocation_pools", "10.0.0.2"),
    ("allocation_pools", [{"start": "10.0.0.2"}]), ("dns_nameservers", "8.8.8.8"), ("host_routes", [1]),
    ("gateway_ip", 1),
])
def test_subnet_wrong_types(A, a_net, field, value):
    net, _ = a_net
    body = {"network_id": net["id"], "cidr": new_cidr(), field: value}
    neutron_error(A.post(f"{N}/subnets", json={"subnet": body}), 400, BAD)


@pytest.mark.parametrize("field,value", [
    ("fixed_ips", "10.0.0.5"), ("fixed_ips", ["10.0.0.5"]), ("security_groups", "default"), ("admin_state_up", "on"),
    ("network_id", 7), ("mac_address", 1234), ("binding:vnic_type", "bogus"), ("allowed_address_pairs", [{}]),
])
def test_port_wrong_types(A, a_net, field, value):
    net, _ = a_net
    body = {"network_id": net["id"], field: value}
    neutron_error(A.post(f"{N}/ports", json={"port": body}), 400, BAD)


@pytest.mark.parametrize("field,value", [
    ("binding:vnic_type", "bogus"), ("binding:vnic_type", "v" * 40), ("binding:vnic_type", 7),
    ("fixed_ips", "10.0.0.5"), ("admin_state_up", "on"), ("security_groups", "default"), ("mac_address", 5),
], ids=["vnic-bogus", "vnic-40-chars", "vnic-int", "fixed-ips-string", "admin-state-string", "sgs-string", "mac-int"])
def test_port_update_wrong_types(A, a_net, field, value):
    """An update is held to the same types and enumerations as a create."""
    net, _ = a_net
    port = make(A, "ports", "port", {"network_id": net["id"]})
    neutron_error(A.put(f"{N}/ports/{port['id']}", json={"port": {field: value}}), 400, BAD)
    assert A.get(f"{N}/ports/{port['id']}").json()["port"]["binding:vnic_type"] == "normal"


@pytest.mark.parametrize("collection,key,body", [
    ("routers", "router", {"admin_state_up": "true"}),
    ("routers", "router", {"external_gateway_info": "public"}),
    ("security-groups", "security_group", {"name": 12}),
    ("security-groups", "security_group", {"stateful": "no"}),
    ("floatingips", "floatingip", {"floating_network_id": 5}),
], ids=["router-admin-state", "router-gateway-string", "sg-name-int", "sg-stateful-string", "fip-network-int"])
def test_other_wrong_types(A, collection, key, body):
    neutron_error(A.post(f"{N}/{collection}", json={key: body}), 400, BAD)


@pytest.mark.parametrize("field,value", [("port_range_min", "22"), ("port_range_max", 22.5), ("direction", 1),
                                         ("ethertype", "IPv5"), ("remote_ip_prefix", 10)])
def test_rule_wrong_types(A, field, value):
    sg = make(A, "security-groups", "security_group", {"name": "types"})
    body = {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", field: value}
    neutron_error(A.post(f"{N}/security-group-rules", json={"security_group_rule": body}), 400, BAD)


@pytest.mark.parametrize("collection,key,body,field", [
    ("subnets", "subnet", {"cidr": "10.9.0.0/24"}, "network_id"),
    ("subnets", "subnet", {"network_id": "NET"}, "cidr"),
    ("ports", "port", {"name": "p"}, "network_id"),
    ("security-group-rules", "security_group_rule", {"security_group_id": "SG"}, "direction"),
    ("security-group-rules", "security_group_rule", {"direction": "ingress"}, "security_group_id"),
    ("floatingips", "floatingip", {}, "floating_network_id"),
], ids=["subnet-network_id", "subnet-cidr", "port-network_id", "rule-direction", "rule-security_group_id",
        "fip-floating_network_id"])
def test_missing_required_fields(A, a_net, collection, key, body, field):
    net, _ = a_net
    sg = A.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"][0]
    body = {k: {"NET": net["id"], "SG": sg["id"]}.get(v, v) for k, v in body.items()}
    err = neutron_error(A.post(f"{N}/{collection}", json={key: body}), 400, BAD)
    assert field in err["message"], err


@pytest.mark.parametrize("collection,key,body", [
    ("networks", "network", {"name": "x", "bogus": 1}),
    ("subnets", "subnet", {"network_id": "NET", "cidr": "CIDR", "bogus": 1}),
    ("ports", "port", {"network_id": "NET", "bogus": True}),
    ("routers", "router", {"name": "r", "bogus": "x"}),
    ("security-groups", "security_group", {"name": "s", "bogus": None}),
    ("security-group-rules", "security_group_rule", {"security_group_id": "SG", "direction": "ingress", "bogus": 1}),
    ("floatingips", "floatingip", {"floating_network_id": "PUB", "bogus": 1}),
    ("ports", "port", {"network_id": "NET", "fixed_ips": [{"subnet_id": "SUB", "bogus": 1}]}),
], ids=["network", "subnet", "port", "router", "security-group", "rule", "floatingip", "nested-fixed-ip"])
def test_unknown_attributes_on_create(A, a_net, public, collection, key, body):
    net, sub = a_net
    sg = A.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"][0]
    subst = {"NET": net["id"], "SUB": sub["id"], "SG": sg["id"], "PUB": public["id"], "CIDR": new_cidr()}
    body = json.loads(json.dumps(body), object_hook=lambda d: {k: subst.get(v, v) if isinstance(v, str) else v
                                                               for k, v in d.items()})
    before = len(A.get(f"{N}/{collection}").json()[collection.replace("-", "_")])
    neutron_error(A.post(f"{N}/{collection}", json={key: body}), 400, BAD)
    assert len(A.get(f"{N}/{collection}").json()[collection.replace("-", "_")]) == before  # nothing was made


def test_unknown_attributes_on_update(A, a_net):
    net, sub = a_net
    neutron_error(A.put(f"{N}/networks/{net['id']}", json={"network": {"bogus": 1}}), 400, BAD)
    neutron_error(A.put(f"{N}/subnets/{sub['id']}", json={"subnet": {"cidr": "10.0.0.0/8"}}), 400, BAD)
    neutron_error(A.put(f"{N}/networks/{net['id']}", json={"network": {"id": uid()}}), 400, BAD)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_one_mebibyte(A, chunked):
    raw = b'{"network": {"name": "' + b"a" * (1024 * 1024 + 16) + b'"}}'
    content = (raw[i:i + 65536] for i in range(0, len(raw), 65536)) if chunked else raw
    r = A.post(f"{N}/networks", content=content, headers={"Content-Type": "application/json"})
    neutron_error(r, 413, {"PayloadTooLarge", "HTTPRequestEntityTooLarge", "RequestEntityTooLarge"})


# ---- subnets: CIDRs, gateways, pools ------------------------------------------------------------
@pytest.mark.parametrize("cidr,ip_version", [
    ("10.0.0.0/33", 4), ("300.1.1.0/24", 4), ("abc", 4), ("", 4), ("10.0.0.0/-1", 4), ("fd00::/129", 6),
    ("10.0.0.0/24", 6), ("fd00::/64", 4),
], ids=["prefix-33", "octet-300", "abc", "empty", "negative-prefix", "v6-prefix-129", "v4-as-v6", "v6-as-v4"])
def test_invalid_cidr(A, a_net, cidr, ip_version):
    net, _ = a_net
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": ip_version}
    neutron_error(A.post(f"{N}/subnets", json={"subnet": body}), 400, BAD)


@pytest.mark.parametrize("second", ["SAME", "SUPER", "SUB"])
def test_overlapping_subnets_on_one_network(A, second):
    base = ipaddress.ip_network(new_cidr())
    net, sub = make_net(A, "overlap", str(base))
    cidr = {"SAME": str(base), "SUPER": str(base.supernet(4)), "SUB": str(next(base.subnets(2)))}[second]
    r = A.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr}})
    neutron_error(r, 400, BAD)
    assert A.get(f"{N}/networks/{net['id']}").json()["network"]["subnets"] == [sub["id"]]


def test_same_cidr_on_another_network_is_fine(A):
    cidr = new_cidr()
    make_net(A, "n1", cidr)
    make_net(A, "n2", cidr)


@pytest.mark.parametrize("gateway", ["OUTSIDE", "NETWORK", "BROADCAST", "not-an-ip", "fd00::1"])
def test_gateway_outside_the_subnet(A, a_net, gateway):
    net, _ = a_net
    cidr = ipaddress.ip_network(new_cidr())
    gw = {"OUTSIDE": str(cidr.broadcast_address + 2), "NETWORK": str(cidr.network_address),
          "BROADCAST": str(cidr.broadcast_address)}.get(gateway, gateway)
    r = A.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": str(cidr), "gateway_ip": gw}})
    neutron_error(r, 400, BAD | {"GatewayNotValidOnSubnet"})


@pytest.mark.parametrize("case", ["outside", "straddling", "network-address", "broadcast", "overlapping",
                                  "duplicate", "contains-gateway", "start-after-end", "not-an-ip", "wrong-version"])
def test_bad_allocation_pools(A, a_net, case):
    net, _ = a_net
    c = ipaddress.ip_network(new_cidr())
    a = lambda n: str(c.network_address + n)  # noqa: E731
    pools = {
        "outside": [{"start": str(c.broadcast_address + 5), "end": str(c.broadcast_address + 9)}],
        "straddling": [{"start": a(200), "end": str(c.broadcast_address + 9)}],
        "network-address": [{"start": a(0), "end": a(9)}],
        "broadcast": [{"start": a(250), "end": a(255)}],
        "overlapping": [{"start": a(10), "end": a(20)}, {"start": a(15), "end": a(30)}],
        "duplicate": [{"start": a(10), "end": a(20)}, {"start": a(10), "end": a(20)}],
        "contains-gateway": [{"start": a(1), "end": a(50)}],
        "start-after-end": [{"start": a(50), "end": a(10)}],
        "not-an-ip": [{"start": "x", "end": a(10)}],
        "wrong-version": [{"start": "fd00::2", "end": "fd00::9"}],
    }[case]
    r = A.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": str(c), "allocation_pools": pools}})
    neutron_error(r, 400, BAD | {"OutOfBoundsAllocationPool", "OverlappingAllocationPools",
                                 "GatewayConflictWithAllocationPools", "InvalidAllocationPool"})


def test_pool_containing_an_explicit_gateway(A, a_net):
    net, _ = a_net
    c = ipaddress.ip_network(new_cidr())
    body = {"network_id": net["id"], "cidr": str(c), "gateway_ip": str(c.network_address + 100),
            "allocation_pools": [{"start": str(c.network_address + 50), "end": str(c.network_address + 150)}]}
    neutron_error(A.post(f"{N}/subnets", json={"subnet": body}), 400,
                  BAD | {"GatewayConflictWithAllocationPools"})


def test_gateway_update_into_a_pool(A):
    _, sub = make_net(A, "gw-update")
    pool = sub["allocation_pools"][0]
    r = A.put(f"{N}/subnets/{sub['id']}", json={"subnet": {"gateway_ip": pool["start"]}})
    neutron_error(r, 400, BAD | {"GatewayConflictWithAllocationPools"})


# ---- ports, networks, subnets in use ------------------------------------------------------------
def test_port_on_another_projects_network(A, B, a_net):
    net, _ = a_net
    before = len(A.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"])
    neutron_error(B.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}), 404, "NetworkNotFound")
    assert len(A.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]) == before


def test_port_on_an_unknown_network(A):
    neutron_error(A.post(f"{N}/ports", json={"port": {"network_id": uid()}}), 404, "NetworkNotFound")


def test_subnet_on_another_projects_network(B, a_net):
    net, _ = a_net
    r = B.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": new_cidr()}})
    neutron_error(r, 404, "NetworkNotFound")


def test_port_with_another_projects_security_group(A, B, a_net):
    net, _ = a_net
    b_sg = make(B, "security-groups", "security_group", {"name": "b-only"})
    r = A.post(f"{N}/ports", json={"port": {"network_id": net["id"], "security_groups": [b_sg["id"]]}})
    neutron_error(r, 404, "SecurityGroupNotFound")


def test_port_fixed_ip_errors(A):
    net, sub = make_net(A, "fixed")
    c = ipaddress.ip_network(sub["cidr"])
    make(A, "ports", "port", {"network_id": net["id"], "fixed_ips": [{"ip_address": str(c.network_address + 10)}]})
    r = A.post(f"{N}/ports", json={"port": {"network_id": net["id"],
                                            "fixed_ips": [{"ip_address": str(c.network_address + 10)}]}})
    neutron_error(r, 409, {"IpAddressAlreadyAllocated", "IpAddressInUse"})
    r = A.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": sub["id"],
                                                                                   "ip_address": "192.0.2.1"}]}})
    neutron_error(r, 400, BAD | {"InvalidIpForSubnet"})
    r = A.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": uid()}]}})
    neutron_error(r, 400, BAD)


def test_delete_network_with_ports(A):
    net, _ = make_net(A, "in-use")
    make(A, "ports", "port", {"network_id": net["id"]})
    neutron_error(A.delete(f"{N}/networks/{net['id']}"), 409, "NetworkInUse")
    assert A.get(f"{N}/networks/{net['id']}").status_code == 200


def test_delete_subnet_with_allocations(A):
    net, sub = make_net(A, "sub-in-use")
    make(A, "ports", "port", {"network_id": net["id"]})
    neutron_error(A.delete(f"{N}/subnets/{sub['id']}"), 409, "SubnetInUse")
    assert A.get(f"{N}/subnets/{sub['id']}").status_code == 200


# ---- routers and floating IPs -------------------------------------------------------------------
def test_router_interface_on_an_already_attached_subnet(A):
    _, sub = make_net(A, "twice")
    router = make(A, "routers", "router", {"name": "r-twice"})
    assert A.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}).status_code == 200
    r = A.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    neutron_error(r, 400, BAD)


def test_router_interface_on_a_subnet_whose_gateway_another_router_has(A):
    _, sub = make_net(A, "gw-taken")
    r1 = make(A, "routers", "router", {"name": "r1"})
    r2 = make(A, "routers", "router", {"name": "r2"})
    assert A.put(f"{N}/routers/{r1['id']}/add_router_interface", json={"subnet_id": sub["id"]}).status_code == 200
    r = A.put(f"{N}/routers/{r2['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    neutron_error(r, 409, {"IpAddressAlreadyAllocated", "IpAddressInUse", "RouterInterfaceInUse", "PortInUse"})
    ports = A.get(f"{N}/ports", params={"device_id": r2["id"]}).json()["ports"]
    assert ports == []


@pytest.mark.parametrize("body", [{}, {"subnet_id": "SUB", "port_id": "PORT"}], ids=["neither", "both"])
def test_router_interface_needs_one_of_subnet_or_port(A, body):
    net, sub = make_net(A, "iface-args")
    port = make(A, "ports", "port", {"network_id": net["id"]})
    router = make(A, "routers", "router", {"name": "r"})
    body = {k: {"SUB": sub["id"], "PORT": port["id"]}[v] for k, v in body.items()}
    neutron_error(A.put(f"{N}/routers/{router['id']}/add_router_interface", json=body), 400, BAD)


def test_router_interface_on_unknown_or_foreign_subnet(A, B, a_net):
    _, a_sub = a_net
    router = make(B, "routers", "router", {"name": "b-router"})
    for subnet_id in (uid(), a_sub["id"]):
        r = B.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet_id})
        neutron_error(r, 404, "SubnetNotFound")


@pytest.mark.parametrize("how", ["create", "update"])
def test_router_gateway_on_a_non_external_network(A, a_net, how):
    net, _ = a_net
    info = {"network_id": net["id"]}
    if how == "create":
        r = A.post(f"{N}/routers", json={"router": {"name": "gw", "external_gateway_info": info}})
    else:
        router = make(A, "routers", "router", {"name": "gw"})
        r = A.put(f"{N}/routers/{router['id']}", json={"router": {"external_gateway_info": info}})
    neutron_error(r, 400, BAD | {"RouterExternalGatewayNotExternal"})


def test_router_gateway_on_an_unknown_network(A):
    r = A.post(f"{N}/routers", json={"router": {"external_gateway_info": {"network_id": uid()}}})
    neutron_error(r, 404, {"NetworkNotFound", "ExternalNetworkNotFound"})


def test_floating_ip_on_a_non_external_network(A, a_net):
    net, _ = a_net
    before = len(A.get(f"{N}/floatingips").json()["floatingips"])
    r = A.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
    neutron_error(r, 400, BAD)
    assert len(A.get(f"{N}/floatingips").json()["floatingips"]) == before


def test_floating_ip_on_an_unknown_network(A):
    r = A.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": uid()}})
    neutron_error(r, 404, {"NetworkNotFound", "ExternalNetworkNotFound"})


@pytest.mark.parametrize("how", ["create", "update"])
def test_floating_ip_to_a_port_not_reachable_via_a_router(A, public, how):
    net, _ = make_net(A, "unreachable")
    port = make(A, "ports", "port", {"network_id": net["id"]})
    # A router on public with no interface on this subnet does not help.
    make(A, "routers", "router", {"name": "elsewhere", "external_gateway_info": {"network_id": public["id"]}})
    before = A.get(f"{N}/floatingips").json()["floatingips"]
    if how == "create":
        r = A.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"],
                                                            "port_id": port["id"]}})
        neutron_error(r, 404, "ExternalGatewayForFloatingIPNotFound")
        assert A.get(f"{N}/floatingips").json()["floatingips"] == before  # no address leaked
    else:
        fip = make(A, "floatingips", "floatingip", {"floating_network_id": public["id"]})
        r = A.put(f"{N}/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
        neutron_error(r, 404, "ExternalGatewayForFloatingIPNotFound")
        after = A.get(f"{N}/floatingips/{fip['id']}").json()["floatingip"]
        assert after["port_id"] is None and after["fixed_ip_address"] is None


def _reachable_port(A, public) -> dict:
    net, sub = make_net(A, "reachable")
    router = make(A, "routers", "router", {"name": "edge", "external_gateway_info": {"network_id": public["id"]}})
    assert A.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}).status_code == 200
    return make(A, "ports", "port", {"network_id": net["id"]})


@pytest.mark.parametrize("how", ["create", "update"])
def test_second_floating_ip_on_the_same_fixed_ip(A, public, how):
    port = _reachable_port(A, public)
    first = make(A, "floatingips", "floatingip", {"floating_network_id": public["id"], "port_id": port["id"]})
    assert first["port_id"] == port["id"] and first["router_id"]
    if how == "create":
        r = A.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"],
                                                            "port_id": port["id"]}})
    else:
        second = make(A, "floatingips", "floatingip", {"floating_network_id": public["id"]})
        r = A.put(f"{N}/floatingips/{second['id']}", json={"floatingip": {"port_id": port["id"]}})
    neutron_error(r, 409, {"FloatingIPPortAlreadyAssociated", "IpAddressInUse"})
    fips = [f for f in A.get(f"{N}/floatingips").json()["floatingips"] if f["port_id"] == port["id"]]
    assert [f["id"] for f in fips] == [first["id"]]


def test_floating_ip_to_a_foreign_port(A, B, public):
    a_port = _reachable_port(A, public)
    fip = make(B, "floatingips", "floatingip", {"floating_network_id": public["id"]})
    r = B.put(f"{N}/floatingips/{fip['id']}", json={"floatingip": {"port_id": a_port["id"]}})
    neutron_error(r, 404, "PortNotFound")


def test_floating_ip_with_a_fixed_ip_the_port_lacks(A, public):
    port = _reachable_port(A, public)
    r = A.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"], "port_id": port["id"],
                                                        "fixed_ip_address": "192.0.2.77"}})
    neutron_error(r, 400, BAD)


# ---- security group rules -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rules_sg(A) -> dict:
    return make(A, "security-groups", "security_group", {"name": "rules"})


def _rule(A, sg, **kw):
    body = {"security_group_id": sg["id"], "direction": "ingress", **kw}
    return A.post(f"{N}/security-group-rules", json={"security_group_rule": body})


@pytest.mark.parametrize("protocol", ["foo", 256, "256", -1, "-1", 1000, "tcp udp", "TCPX"])
def test_rule_unknown_protocol(A, rules_sg, protocol):
    neutron_error(_rule(A, rules_sg, protocol=protocol), 400, BAD | {"SecurityGroupRuleInvalidProtocol"})


@pytest.mark.parametrize("protocol", NOT_NUMBERS + ["٦", "³"])
def test_rule_protocol_number_in_plain_decimal_only(A, rules_sg, protocol):
    """A protocol number is ASCII digits: "²" was a 500 (str.isdigit() then int()), "١٢" was
    taken as protocol 12 and stored in Arabic-Indic digits."""
    rules = lambda: A.get(f"{N}/security-group-rules", params={"security_group_id": rules_sg["id"]}).json()  # noqa: E731
    before = rules()
    neutron_error(_rule(A, rules_sg, protocol=protocol), 400, {"SecurityGroupRuleInvalidProtocol"})
    assert rules() == before


@pytest.mark.parametrize("protocol", ["tcp", "udp", "6"])
@pytest.mark.parametrize("low,high", [(0, 10), (1, 65536), (0, 0), (65536, 65536), (-1, 5), (100, 10)],
                         ids=["min-0", "max-65536", "both-0", "both-65536", "negative", "min-over-max"])
def test_rule_port_range_out_of_bounds(A, rules_sg, protocol, low, high):
    r = _rule(A, rules_sg, protocol=protocol, port_range_min=low, port_range_max=high)
    neutron_error(r, 400, BAD | {"SecurityGroupInvalidPortValue", "SecurityGroupInvalidPortRange"})


@pytest.mark.parametrize("protocol", ["icmp", "ipv6-icmp"])
@pytest.mark.parametrize("low,high", [(256, 0), (8, 256), (300, 300), (-1, 0)],
                         ids=["type-256", "code-256", "both-300", "type-negative"])
def test_rule_icmp_type_code_out_of_bounds(A, rules_sg, protocol, low, high):
    ethertype = "IPv6" if protocol == "ipv6-icmp" else "IPv4"
    r = _rule(A, rules_sg, protocol=protocol, ethertype=ethertype, port_range_min=low, port_range_max=high)
    neutron_error(r, 400, BAD | {"SecurityGroupInvalidIcmpValue"})


def test_rule_ports_on_a_protocol_without_ports(A, rules_sg):
    neutron_error(_rule(A, rules_sg, protocol="gre", port_range_min=1, port_range_max=2), 400,
                  BAD | {"SecurityGroupInvalidPortRange", "InvalidProtocolForPortRange"})


@pytest.mark.parametrize("ethertype,prefix", [("IPv4", "fd00::/64"), ("IPv6", "10.0.0.0/8"), ("IPv4", "::/0"),
                                              ("IPv6", "0.0.0.0/0")])
def test_rule_remote_ip_prefix_of_the_wrong_ethertype(A, rules_sg, ethertype, prefix):
    r = _rule(A, rules_sg, ethertype=ethertype, remote_ip_prefix=prefix)
    neutron_error(r, 400, BAD | {"SecurityGroupRuleParameterConflict"})


@pytest.mark.parametrize("prefix", ["abc", "10.0.0.0/33", "300.0.0.0/8"])
def test_rule_invalid_remote_ip_prefix(A, rules_sg, prefix):
    neutron_error(_rule(A, rules_sg, remote_ip_prefix=prefix), 400, BAD)


def test_rule_with_both_remote_ip_prefix_and_remote_group(A, rules_sg):
    r = _rule(A, rules_sg, remote_ip_prefix="10.0.0.0/8", remote_group_id=rules_sg["id"])
    neutron_error(r, 400, BAD | {"SecurityGroupRemoteGroupAndRemoteIpPrefix"})


def test_rule_with_an_unknown_or_foreign_group(A, B, rules_sg):
    b_sg = make(B, "security-groups", "security_group", {"name": "b-remote"})
    for sg_id in (uid(), b_sg["id"]):
        r = A.post(f"{N}/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg_id, "direction": "ingress"}})
        neutron_error(r, 404, "SecurityGroupNotFound")
        neutron_error(_rule(A, rules_sg, remote_group_id=sg_id), 404, "SecurityGroupNotFound")


def test_duplicate_rule(A):
    sg = make(A, "security-groups", "security_group", {"name": "dup"})
    body = dict(protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.0/8")
    first = _rule(A, sg, **body)
    assert first.status_code == 201, first.text
    err = neutron_error(_rule(A, sg, **body), 409, "SecurityGroupRuleExists")
    assert first.json()["security_group_rule"]["id"] in err["message"]
    # The default egress rules of a new group are duplicates too.
    r = A.post(f"{N}/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg["id"], "direction": "egress", "ethertype": "IPv6"}})
    neutron_error(r, 409, "SecurityGroupRuleExists")
    rules = A.get(f"{N}/security-group-rules", params={"security_group_id": sg["id"]}).json()["security_group_rules"]
    assert len(rules) == 3  # two default egress + the one above


# ---- unknown and foreign ids --------------------------------------------------------------------
COLLECTIONS = [("networks", "network", "NetworkNotFound"), ("subnets", "subnet", "SubnetNotFound"),
               ("ports", "port", "PortNotFound"), ("routers", "router", "RouterNotFound"),
               ("floatingips", "floatingip", "FloatingIPNotFound"),
               ("security-groups", "security_group", "SecurityGroupNotFound"),
               ("security-group-rules", "security_group_rule", "SecurityGroupRuleNotFound")]


def _update_body(key: str) -> dict:
    return {key: {"description": "changed"}}


def _not_found(r, collection: str, method: str, kind: str) -> dict:
    """404 with the noun's NotFound type. Security group rules cannot be updated in caas, so a
    PUT on one may instead say 405 (whatever the id) -- but never judge the body first."""
    if collection == "security-group-rules" and method == "PUT" and r.status_code != 404:
        return neutron_error(r, 405, {"HTTPMethodNotAllowed", "MethodNotAllowed"})
    return neutron_error(r, 404, kind)


@pytest.mark.parametrize("collection,key,kind", COLLECTIONS, ids=[c[0] for c in COLLECTIONS])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("id_", ["UUID", "not-a-uuid", "0"])
def test_unknown_id(A, collection, key, kind, method, id_):
    id_ = uid() if id_ == "UUID" else id_
    r = A.request(method, f"{N}/{collection}/{id_}", json=_update_body(key) if method == "PUT" else None)
    _not_found(r, collection, method, kind)


@pytest.fixture(scope="module")
def a_resources(A, public) -> dict:
    net, sub = make_net(A, "a-private")
    port = make(A, "ports", "port", {"network_id": net["id"]})
    router = make(A, "routers", "router", {"name": "a-router"})
    fip = make(A, "floatingips", "floatingip", {"floating_network_id": public["id"]})
    sg = make(A, "security-groups", "security_group", {"name": "a-sg"})
    rule = A.post(f"{N}/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
        "port_range_max": 80}}).json()["security_group_rule"]
    return {"networks": net["id"], "subnets": sub["id"], "ports": port["id"], "routers": router["id"],
            "floatingips": fip["id"], "security-groups": sg["id"], "security-group-rules": rule["id"]}


@pytest.mark.parametrize("collection,key,kind", COLLECTIONS, ids=[c[0] for c in COLLECTIONS])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_projects_ids_look_unknown(A, B, a_resources, collection, key, kind, method):
    foreign, unknown = a_resources[collection], uid()
    body = _update_body(key) if method == "PUT" else None
    rf = B.request(method, f"{N}/{collection}/{foreign}", json=body)
    ru = B.request(method, f"{N}/{collection}/{unknown}", json=body)
    ef = _not_found(rf, collection, method, kind)
    eu = _not_found(ru, collection, method, kind)
    assert ef["message"].replace(foreign, "ID") == eu["message"].replace(unknown, "ID")
    assert ef["type"] == eu["type"] and ef["detail"] == eu["detail"]
    # ... and the owner's resource is untouched.
    shown = A.get(f"{N}/{collection}/{foreign}")
    assert shown.status_code == 200
    assert shown.json()[key].get("description") != "changed"
    # Not in B's lists either.
    assert foreign not in {i["id"] for i in B.get(f"{N}/{collection}").json()[collection.replace("-", "_")]}


def test_foreign_router_interfaces_look_unknown(A, B, a_resources):
    router = a_resources["routers"]
    _, b_sub = make_net(B, "b-net")
    for action in ("add_router_interface", "remove_router_interface"):
        rf = B.put(f"{N}/routers/{router}/{action}", json={"subnet_id": b_sub["id"]})
        neutron_error(rf, 404, "RouterNotFound")


# ---- attributes for admins (or the network's owner) only: Neutron's default policy -----------------
@pytest.fixture(scope="module")
def shared_net(admin) -> tuple[dict, dict]:
    """An admin's shared network (and subnet): members may make ports on it, not own it."""
    net = make(admin, "networks", "network", {"name": f"shared-{uid()[:8]}", "shared": True})
    return net, make(admin, "subnets", "subnet", {"network_id": net["id"], "cidr": new_cidr()})


_addresses = iter(range(20, 250))


def _values(a_net, shared_net, public, admin) -> dict:
    """Fresh values for the placeholders of the cases below (addresses and MACs never reused)."""
    pub_sub = admin.get(f"{N}/subnets", params={"network_id": public["id"]}).json()["subnets"][0]
    n = next(_addresses)
    return {"OWN": a_net[0]["id"], "SHARED": shared_net[0]["id"], "SHARED_SUB": shared_net[1]["id"],
            "SHARED_IP": str(ipaddress.ip_network(shared_net[1]["cidr"]).network_address + n),
            "PUB": public["id"], "PUB_SUB": pub_sub["id"], "PUB_IP": str(ipaddress.ip_network(pub_sub["cidr"])[n]),
            "MAC": f"fa:16:3e:00:99:{n:02x}", "CIDR": new_cidr()}


def _fill(body, values: dict):
    return json.loads(json.dumps(body), object_hook=lambda d: {k: values.get(v, v) if isinstance(v, str) else v
                                                               for k, v in d.items()})


def _count(c, collection: str) -> int:
    return len(c.get(f"{N}/{collection}").json()[collection.replace("-", "_")])


ADMIN_ONLY_ON_CREATE = [
    ("networks", {"shared": True}, "shared"),
    ("networks", {"router:external": True}, "router:external"),
    ("networks", {"is_default": True}, "is_default"),
    ("networks", {"provider:network_type": "vxlan"}, "provider:network_type"),
    ("networks", {"provider:network_type": "vlan", "provider:segmentation_id": 3001}, "provider:segmentation_id"),
    ("networks", {"provider:network_type": "flat", "provider:physical_network": "physnet9"},
     "provider:physical_network"),
    ("subnets", {"network_id": "OWN", "cidr": "CIDR", "service_types": ["compute:nova"]}, "service_types"),
    ("ports", {"network_id": "OWN", "binding:host_id": "host-1"}, "binding:host_id"),
    ("ports", {"network_id": "OWN", "binding:profile": {"k": "v"}}, "binding:profile"),
    ("ports", {"network_id": "SHARED", "mac_address": "MAC"}, "mac_address"),
    ("ports", {"network_id": "SHARED", "fixed_ips": [{"ip_address": "SHARED_IP"}]}, "fixed_ips:ip_address"),
    ("ports", {"network_id": "SHARED", "port_security_enabled": True}, "port_security_enabled"),
    ("ports", {"network_id": "SHARED", "allowed_address_pairs": [{"ip_address": "10.9.9.9"}]},
     "allowed_address_pairs"),
    ("ports", {"network_id": "SHARED", "device_owner": "network:dhcp"}, "device_owner"),
    ("routers", {"external_gateway_info": {"network_id": "PUB", "enable_snat": False}},
     "external_gateway_info:enable_snat"),
    ("routers", {"external_gateway_info": {"network_id": "PUB", "external_fixed_ips": [{"subnet_id": "PUB_SUB"}]}},
     "external_gateway_info:external_fixed_ips"),
    ("routers", {"distributed": False}, "distributed"),
    ("routers", {"ha": False}, "ha"),
    ("floatingips", {"floating_network_id": "PUB", "floating_ip_address": "PUB_IP"}, "floating_ip_address"),
]


@pytest.mark.parametrize("collection,body,attribute", ADMIN_ONLY_ON_CREATE,
                         ids=[f"{c}-{a}" for c, _, a in ADMIN_ONLY_ON_CREATE])
def test_admin_only_attributes_on_create(A, admin, a_net, shared_net, public, collection, body, attribute):
    """A member giving an attribute Neutron keeps for admins (or for the network's owner: the
    shared network here is the admin's) gets 403 PolicyNotAuthorized naming the rule, and nothing
    is made; an admin makes the same."""
    key = {"networks": "network", "subnets": "subnet", "ports": "port", "routers": "router",
           "floatingips": "floatingip"}[collection]
    before = _count(A, collection)
    err = neutron_error(A.post(f"{N}/{collection}", json={key: _fill(body, _values(a_net, shared_net, public, admin))}),
                        403, "PolicyNotAuthorized")
    assert err["message"].startswith(f"(rule:create_{key} and ") and err["message"].endswith(") is disallowed by policy")
    assert f" rule:create_{key}:{attribute}" in err["message"], err
    assert _count(A, collection) == before
    r = admin.post(f"{N}/{collection}", json={key: _fill(body, _values(a_net, shared_net, public, admin))})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body", [
    {"mac_address": "MAC"}, {"fixed_ips": [{"ip_address": "OWN_IP"}]}, {"port_security_enabled": False},
    {"allowed_address_pairs": [{"ip_address": "10.9.9.9", "mac_address": "MAC"}]}, {"device_owner": "network:dhcp"},
], ids=["mac", "ip-address", "port-security", "address-pairs", "network-device-owner"])
def test_the_network_owner_may_set_them_on_its_own_network(A, admin, a_net, shared_net, public, body):
    values = _values(a_net, shared_net, public, admin)
    values["OWN_IP"] = str(ipaddress.ip_network(a_net[1]["cidr"]).network_address + next(_addresses))
    r = A.post(f"{N}/ports", json={"port": {"network_id": a_net[0]["id"], **_fill(body, values)}})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("collection,body", [
    ("ports", {"network_id": "SHARED", "fixed_ips": [{"subnet_id": "SHARED_SUB"}], "device_owner": "compute:nova",
               "device_id": "vm-1", "binding:vnic_type": "normal", "name": "mine"}),
    ("networks", {"shared": False, "router:external": False, "is_default": False, "port_security_enabled": False}),
    ("routers", {"external_gateway_info": {"network_id": "PUB"}}),
    ("floatingips", {"floating_network_id": "PUB", "floating_ip_address": None}),
], ids=["port-on-a-shared-network", "network-defaults", "router-gateway", "floating-ip-without-address"])
def test_what_any_member_may_set(A, admin, a_net, shared_net, public, collection, body):
    key = {"networks": "network", "ports": "port", "routers": "router", "floatingips": "floatingip"}[collection]
    r = A.post(f"{N}/{collection}", json={key: _fill(body, _values(a_net, shared_net, public, admin))})
    assert r.status_code == 201, r.text


def test_another_project_in_the_body_is_400(A, member_b):
    """Neutron's body validation refuses a project other than the token's, before any policy."""
    for collection, key in (("networks", "network"), ("routers", "router"), ("security-groups", "security_group")):
        before = _count(A, collection)
        for field in ("project_id", "tenant_id"):
            err = neutron_error(A.post(f"{N}/{collection}", json={key: {field: member_b["project_id"]}}), 400,
                                "HTTPBadRequest")
            assert "project_id" in err["message"]
        assert _count(A, collection) == before


ADMIN_ONLY_ON_UPDATE = [
    ("networks", "OWN_NET", {"shared": True}, "shared"),
    ("networks", "OWN_NET", {"router:external": False}, "router:external"),
    ("ports", "OWN_PORT", {"binding:host_id": "host-1"}, "binding:host_id"),
    ("ports", "OWN_PORT", {"binding:profile": {}}, "binding:profile"),
    ("ports", "OWN_PORT", {"mac_address": "MAC"}, "mac_address"),
    ("ports", "SHARED_PORT", {"fixed_ips": [{"subnet_id": "SHARED_SUB"}]}, "fixed_ips"),
    ("ports", "SHARED_PORT", {"port_security_enabled": True}, "port_security_enabled"),
    ("ports", "SHARED_PORT", {"allowed_address_pairs": []}, "allowed_address_pairs"),
    ("ports", "SHARED_PORT", {"device_owner": "network:router_interface"}, "device_owner"),
    ("routers", "ROUTER", {"external_gateway_info": {"network_id": "PUB", "enable_snat": True}},
     "external_gateway_info:enable_snat"),
    ("routers", "ROUTER", {"external_gateway_info": {"network_id": "PUB", "external_fixed_ips": [
        {"subnet_id": "PUB_SUB"}]}}, "external_gateway_info:external_fixed_ips"),
]


@pytest.mark.parametrize("collection,which,body,attribute", ADMIN_ONLY_ON_UPDATE,
                         ids=[f"{c}-{w.lower()}-{a}" for c, w, _, a in ADMIN_ONLY_ON_UPDATE])
def test_admin_only_attributes_on_update(A, admin, a_net, shared_net, public, collection, which, body, attribute):
    """On a member's own network, port or router: 403 PolicyNotAuthorized and nothing changes
    (a port's MAC only an admin changes, even the network's owner; on a port of another's shared
    network not even its addresses); an admin changes it."""
    key = collection[:-1]
    values = _values(a_net, shared_net, public, admin)
    made = {"OWN_NET": lambda: make(A, "networks", "network", {"name": uid()}),
            "OWN_PORT": lambda: make(A, "ports", "port", {"network_id": a_net[0]["id"]}),
            "SHARED_PORT": lambda: make(A, "ports", "port", {"network_id": shared_net[0]["id"]}),
            "ROUTER": lambda: make(A, "routers", "router", {"name": uid()})}[which]()
    url = f"{N}/{collection}/{made['id']}"
    before = A.get(url).json()[key]
    err = neutron_error(A.put(url, json={key: _fill(body, values)}), 403, "PolicyNotAuthorized")
    assert err["message"] == f"(rule:update_{key} and rule:update_{key}:{attribute}) is disallowed by policy", err
    assert A.get(url).json()[key] == before
    r = admin.put(url, json={key: _fill(body, values)})
    assert r.status_code == 200, r.text


# ---- quotas -------------------------------------------------------------------------------------
@pytest.mark.parametrize("whose", ["own", "other"])
def test_quota_update_by_a_member(A, member_a, member_b, whose):
    project = member_a["project_id"] if whose == "own" else member_b["project_id"]
    before = A.get(f"{N}/quotas/{member_a['project_id']}").json()["quota"]
    r = A.put(f"{N}/quotas/{project}", json={"quota": {"network": 1000}})
    neutron_error(r, 403, {"HTTPForbidden", "Forbidden", "PolicyNotAuthorized"})
    assert A.get(f"{N}/quotas/{member_a['project_id']}").json()["quota"] == before


def test_quota_reset_by_a_member(A, member_a):
    neutron_error(A.delete(f"{N}/quotas/{member_a['project_id']}"), 403, {"HTTPForbidden", "Forbidden",
                                                                          "PolicyNotAuthorized"})


@pytest.mark.parametrize("value", [-2, -100, 1.5, "abc", "", None, [5], {"limit": 5}],
                         ids=["-2", "-100", "float", "word", "empty", "null", "list", "dict"])
def test_quota_bad_values(admin, member_a, value):
    project = member_a["project_id"]
    before = admin.get(f"{N}/quotas/{project}").json()["quota"]
    r = admin.put(f"{N}/quotas/{project}", json={"quota": {"port": value}})
    neutron_error(r, 400, BAD)
    assert admin.get(f"{N}/quotas/{project}").json()["quota"] == before


@pytest.mark.parametrize("body", [{"quota": {"bogus": 5}}, {"quota": []}, {"quotas": {"port": 5}}, []],
                         ids=["unknown-resource", "list", "wrong-key", "not-an-object"])
def test_quota_bad_bodies(admin, member_a, body):
    neutron_error(admin.put(f"{N}/quotas/{member_a['project_id']}", json=body), 400, BAD)


@pytest.mark.parametrize("project", ["p" * 65, "p" * 300], ids=["65-chars", "300-chars"])
def test_quota_update_for_an_impossible_project_id(admin, project):
    """Project ids are at most 64 characters (as everywhere else in the API): a longer one is
    refused, not stored and not a database error."""
    r = admin.put(f"{N}/quotas/{project}", json={"quota": {"port": 5}})
    assert r.status_code in (400, 404), r.text
    neutron_error(r, r.status_code, BAD | {"HTTPNotFound", "NotFound", "ProjectNotFound"})


def test_quota_minus_one_is_unlimited(admin, member_b):
    r = admin.put(f"{N}/quotas/{member_b['project_id']}", json={"quota": {"security_group_rule": -1}})
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["security_group_rule"] == -1


# ---- names are stored verbatim ------------------------------------------------------------------
NAMES = [
    "x; rm -rf / `id` $(whoami) | cat /etc/passwd && echo > /tmp/p < in 2>&1 &",
    "quotes ' \" \\ \\n %s %(x)s {0} ${HOME} * ? [a-z] ~ # !! ;;",
    "日本語 ünïcødé Ελληνικά العربية עברית 🚀🔥 e\u0301 \u200b zero-width",
    "<script>alert(1)</script> &amp; ../../etc %00 %2F ' OR 1=1 --",
    "  leading and trailing spaces\t",
]
RESOURCES = ["networks", "subnets", "ports", "routers", "security-groups"]


@pytest.fixture(scope="module")
def names_net(A):
    return make_net(A, "names")


@pytest.mark.parametrize("collection", RESOURCES)
@pytest.mark.parametrize("name", NAMES, ids=["shell", "quotes", "unicode", "html-sql", "spaces"])
def test_names_are_stored_verbatim(A, names_net, collection, name):
    net, _ = names_net
    key = collection[:-1].replace("-", "_")
    body = {"name": name, "description": name}
    if collection == "subnets":
        body.update(network_id=net["id"], cidr=new_cidr())
    elif collection == "ports":
        body.update(network_id=net["id"])
    created = make(A, collection, key, body)
    assert created["name"] == name and created["description"] == name
    shown = A.get(f"{N}/{collection}/{created['id']}").json()[key]
    assert shown["name"] == name and shown["description"] == name
    listed = A.get(f"{N}/{collection}", params={"name": name}).json()[collection.replace("-", "_")]
    assert created["id"] in [i["id"] for i in listed]
    assert all(i["name"] == name for i in listed)
    renamed = name[::-1]
    r = A.put(f"{N}/{collection}/{created['id']}", json={key: {"name": renamed}})
    assert r.status_code == 200, r.text
    assert A.get(f"{N}/{collection}/{created['id']}").json()[key]["name"] == renamed


def test_nul_in_a_name(A):
    neutron_error(A.post(f"{N}/networks", json={"network": {"name": "a\u0000b"}}), 400, BAD)


def test_name_too_long(A):
    neutron_error(A.post(f"{N}/networks", json={"network": {"name": "n" * 256}}), 400, BAD)
    assert make(A, "networks", "network", {"name": "é" * 255})["name"] == "é" * 255


# ---- list features -----------------------------------------------------------------------------
LISTED = ["networks", "subnets", "ports", "routers", "security-groups", "floatingips"]


@pytest.fixture(scope="module")
def lister(server, admin, public):
    """A fresh project with five of each noun, named item-0..item-4 (floating IPs: described)."""
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        net, sub = make_net(c, "item-net")
        made: dict[str, list[str]] = {k: [] for k in LISTED}
        made["networks"].append(net["id"])
        made["subnets"].append(sub["id"])
        for i in range(4):
            n, s = make_net(c, f"item-{i}")
            made["networks"].append(n["id"])
            made["subnets"].append(s["id"])
        for i in range(5):
            made["ports"].append(make(c, "ports", "port", {"network_id": net["id"], "name": f"item-{i}"})["id"])
            made["routers"].append(make(c, "routers", "router", {"name": f"item-{i}"})["id"])
            made["security-groups"].append(make(c, "security-groups", "security_group", {"name": f"item-{i}"})["id"])
            made["floatingips"].append(make(c, "floatingips", "floatingip", {
                "floating_network_id": public["id"], "description": f"item-{i}"})["id"])
        yield c, made


def _items(r, collection: str) -> list[dict]:
    assert r.status_code == 200, r.text
    return r.json()[collection.replace("-", "_")]


@pytest.mark.parametrize("collection", [c for c in LISTED if c != "floatingips"])
def test_list_filter_by_name(lister, collection):
    c, _ = lister
    items = _items(c.get(f"{N}/{collection}", params={"name": "item-2"}), collection)
    assert [i["name"] for i in items] == ["item-2"]
    assert _items(c.get(f"{N}/{collection}", params={"name": "no-such-name"}), collection) == []


@pytest.mark.parametrize("collection", [c for c in LISTED if c != "floatingips"])
def test_list_repeated_filter_keys_are_or(lister, collection):
    c, _ = lister
    items = _items(c.get(f"{N}/{collection}", params=[("name", "item-1"), ("name", "item-3"), ("name", "nope")]),
                   collection)
    assert sorted(i["name"] for i in items) == ["item-1", "item-3"]


def test_list_filter_combines_keys_with_and(lister):
    c, made = lister
    net_id = made["networks"][0]
    items = _items(c.get(f"{N}/ports", params={"network_id": net_id, "name": "item-4"}), "ports")
    assert [i["name"] for i in items] == ["item-4"]
    assert _items(c.get(f"{N}/ports", params={"network_id": made["networks"][1], "name": "item-4"}), "ports") == []


def test_list_filter_by_description_on_floating_ips(lister):
    c, made = lister
    items = _items(c.get(f"{N}/floatingips", params=[("description", "item-0"), ("description", "item-4")]),
                   "floatingips")
    assert sorted(i["id"] for i in items) == sorted([made["floatingips"][0], made["floatingips"][4]])


@pytest.mark.parametrize("collection", LISTED)
def test_list_fields(lister, collection):
    c, made = lister
    for params in ([("fields", "id"), ("fields", "name")], [("fields", "id,name")]):
        items = _items(c.get(f"{N}/{collection}", params=params), collection)
        assert items
        want = {"id", "name"} if collection != "floatingips" else {"id"}
        assert all(set(i) == want for i in items), items[:3]
        assert set(made[collection]) <= {i["id"] for i in items}
    shown = c.get(f"{N}/{collection}/{made[collection][0]}", params=[("fields", "id")])
    assert shown.status_code == 200 and set(shown.json()[collection[:-1].replace("-", "_")]) == {"id"}


@pytest.mark.parametrize("collection", [c for c in LISTED if c != "floatingips"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_sort_by_name(lister, collection, direction):
    c, _ = lister
    items = _items(c.get(f"{N}/{collection}", params={"sort_key": "name", "sort_dir": direction}), collection)
    names = [i["name"] for i in items]
    assert len(names) >= 5
    assert names == sorted(names, reverse=direction == "desc"), names


def _follow(c, collection: str, params: dict, rel: str = "next") -> tuple[list[dict], int]:
    pages, seen = 0, []
    r = c.get(f"{N}/{collection}", params=params)
    while True:
        body = r.json()
        assert r.status_code == 200, r.text
        page = body[collection.replace("-", "_")]
        assert len(page) <= params["limit"]
        seen.extend(page)
        pages += 1
        assert pages <= 50, "the next links never end"
        nxt = [link["href"] for link in body.get(f"{collection.replace('-', '_')}_links", []) if link["rel"] == rel]
        if not nxt:
            return seen, pages
        r = c.get(nxt[0])


@pytest.mark.parametrize("collection", LISTED)
@pytest.mark.parametrize("sort", [None, "name"], ids=["by-id", "by-name"])
def test_list_paging_follows_next_links(lister, collection, sort):
    c, made = lister
    full = _items(c.get(f"{N}/{collection}"), collection)
    params = {"limit": 2}
    key = "description" if collection == "floatingips" else "name"
    if sort:
        params.update(sort_key=key, sort_dir="desc")
    seen, pages = _follow(c, collection, params)
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)), "an item came twice"
    assert set(ids) == {i["id"] for i in full}, "an item is missing"
    assert set(made[collection]) <= set(ids)
    assert pages >= (len(full) + 1) // 2
    if sort:
        names = [i[key] for i in seen]
        assert names == sorted(names, reverse=True)


@pytest.mark.parametrize("collection", ["networks", "ports", "security-groups"])
def test_list_paging_backwards_follows_previous_links(lister, collection):
    c, _ = lister
    full = _items(c.get(f"{N}/{collection}"), collection)
    seen, _ = _follow(c, collection, {"limit": 2, "page_reverse": "True"}, rel="previous")
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)) and set(ids) == {i["id"] for i in full}


@pytest.mark.parametrize("collection", ["networks", "ports"])
def test_list_paging_with_fields_and_a_filter(lister, collection):
    c, made = lister
    params = {"limit": 2, "fields": "name", "name": ["item-0", "item-1", "item-2"]}
    seen, _ = _follow(c, collection, params)
    assert sorted(i["name"] for i in seen) == ["item-0", "item-1", "item-2"]
    assert all(set(i) == {"name"} for i in seen)


@pytest.mark.parametrize("params", [{"sort_dir": "up"}, {"sort_dir": "DESCENDING"},
                                    {"sort_key": "name", "sort_dir": "x"}, {"sort_key": "no_such_attribute"},
                                    {"sort_key": "name", "sort_dir": ["asc", "desc"]}],
                         ids=["up", "descending", "with-key", "bad-key", "more-dirs-than-keys"])
def test_list_bad_sort(lister, params):
    c, _ = lister
    neutron_error(c.get(f"{N}/networks", params=params), 400, BAD)


@pytest.mark.parametrize("limit", ["abc", "-1", "1.5"] + NOT_NUMBERS)
def test_list_bad_limit(lister, limit):
    c, _ = lister
    neutron_error(c.get(f"{N}/ports", params={"limit": limit}), 400, BAD)


def test_list_unknown_marker(lister):
    c, _ = lister
    r = c.get(f"{N}/ports", params={"limit": 2, "marker": uid()})
    # Neutron answers 404 PortNotFound (the marker is looked up); a 400 is as sensible.
    assert r.status_code in (400, 404), r.text
    neutron_error(r, r.status_code, BAD | {"PortNotFound"})


# ---- default security group ---------------------------------------------------------------------
def test_a_new_project_gets_its_default_security_group(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        groups = _items(c.get(f"{N}/security-groups"), "security-groups")
        again = _items(c.get(f"{N}/security-groups"), "security-groups")
    assert [g["id"] for g in again] == [g["id"] for g in groups]
    assert len(groups) == 1, groups
    sg = groups[0]
    assert sg["name"] == "default" and sg["project_id"] == m["project_id"] and sg["tenant_id"] == m["project_id"]
    rules = sg["security_group_rules"]
    assert len(rules) == 4
    got = sorted((r["direction"], r["ethertype"], r["remote_group_id"], r["remote_ip_prefix"], r["protocol"],
                  r["port_range_min"], r["port_range_max"]) for r in rules)
    assert got == sorted([("ingress", "IPv4", sg["id"], None, None, None, None),
                          ("ingress", "IPv6", sg["id"], None, None, None, None),
                          ("egress", "IPv4", None, None, None, None, None),
                          ("egress", "IPv6", None, None, None, None, None)])
    assert all(r["security_group_id"] == sg["id"] and r["project_id"] == m["project_id"] for r in rules)


def test_default_security_group_on_any_first_request(server, admin):
    """The first request need not be about security groups."""
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        assert c.get(f"{N}/networks").status_code == 200
        net, _ = make_net(c, "first")
        port = make(c, "ports", "port", {"network_id": net["id"]})
        groups = _items(c.get(f"{N}/security-groups"), "security-groups")
    assert [g["name"] for g in groups] == ["default"]
    assert port["security_groups"] == [groups[0]["id"]]


def test_default_security_group_cannot_be_duplicated(A):
    r = A.post(f"{N}/security-groups", json={"security_group": {"name": "default"}})
    neutron_error(r, 409, {"SecurityGroupDefaultAlreadyExists", "DuplicateSecurityGroupName"})
