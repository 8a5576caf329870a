"""Concurrent network writes, over both backends: the database decides, never a check-then-act
race. Parallel port creates never hand out one address twice and stop exactly when the pools
are full (409 IpAddressGenerationFailure for the rest) or at the port quota; parallel floating
IP creates stop exactly at the project's quota (409 OverQuota); one fixed IP, one subnet
gateway, one floating IP association, one overlapping CIDR, one delete: exactly one winner.
Deletes racing creates end cleanly. No request may give a 5xx (the clients and the server
fixture check)."""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import client_for, make_member

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent writes: the database decides

N = "/network/v2.0"
THREADS = 24


def usable_addresses(cidr: str) -> int:
    """Addresses a port can get on an IPv4 subnet with default pools: all but the network and
    broadcast addresses and the gateway."""
    return ipaddress.ip_network(cidr).num_addresses - 2 - 1


class Clients:
    """One httpx client per worker thread (each its own connection), closed at the end."""

    def __init__(self, server, token: str) -> None:
        self.server, self.token = server, token
        self.local = threading.local()
        self.all = []
        self.lock = threading.Lock()

    def get(self):
        c = getattr(self.local, "client", None)
        if c is None:
            c = self.local.client = client_for(self.server, self.token)
            with self.lock:
                self.all.append(c)
        return c

    def close(self) -> None:
        for c in self.all:
            c.close()


def hammer(server, token: str, n: int, request) -> list:
    """Run ``request(client, i)`` for i in range(n) on THREADS threads; the responses in order."""
    clients = Clients(server, token)
    barrier = threading.Barrier(min(THREADS, n))

    def one(i):
        c = clients.get()
        if i < THREADS:
            barrier.wait(timeout=30)  # start together
        return request(c, i)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(one, range(n)))
    finally:
        clients.close()


def error_type(r) -> str | None:
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) >= {"type", "message", "detail"}, body
    return body["NeutronError"]["type"]


@pytest.fixture(scope="module")
def member(server, admin):
    m = make_member(server, admin)
    r = admin.put(f"{N}/quotas/{m['project_id']}", json={"quota": {"port": 1000, "network": 20, "subnet": 20}})
    assert r.status_code == 200, r.text
    return m


@pytest.fixture(scope="module")
def mc(server, member):
    with client_for(server, member["token"]) as c:
        yield c


def network_with_subnet(c, cidr: str) -> tuple[dict, dict]:
    r = c.post(f"{N}/networks", json={"network": {"name": f"conc-{cidr}"}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    r = c.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


def create_ports(server, member, net_id: str, n: int) -> list:
    def create(c, i):
        return c.post(f"{N}/ports", json={"port": {"network_id": net_id, "name": f"p{i}"}})
    return hammer(server, member["token"], n, create)


def addresses(ports: list[dict]) -> list[str]:
    return [ip["ip_address"] for p in ports for ip in p["fixed_ips"]]


def test_200_concurrent_ports_get_200_distinct_addresses(server, member, mc):
    cidr = "10.50.0.0/24"
    net, sub = network_with_subnet(mc, cidr)
    responses = create_ports(server, member, net["id"], 200)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 200}, {code: [r.text for r in responses if r.status_code == code][:2] for code in codes}
    ports = [r.json()["port"] for r in responses]
    got = addresses(ports)
    assert len(got) == 200 and len(set(got)) == 200, [a for a, k in Counter(got).items() if k > 1]
    assert all(len(p["fixed_ips"]) == 1 and p["fixed_ips"][0]["subnet_id"] == sub["id"] for p in ports)
    net_ = ipaddress.ip_network(cidr)
    assert all(ipaddress.ip_address(a) in net_ and a != sub["gateway_ip"] for a in got)
    assert len({p["mac_address"] for p in ports}) == 200
    assert len({p["id"] for p in ports}) == 200
    # The list agrees with what the creates said.
    listed = mc.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]
    assert sorted(addresses(listed)) == sorted(got)
    assert {p["id"] for p in listed} == {p["id"] for p in ports}


def test_concurrent_ports_on_a_small_subnet_stop_exactly_when_full(server, member, mc):
    cidr = "10.51.0.0/27"
    fit = usable_addresses(cidr)
    assert fit == 29
    n = 80
    net, sub = network_with_subnet(mc, cidr)
    responses = create_ports(server, member, net["id"], n)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: fit, 409: n - fit}, {code: [r.text for r in responses if r.status_code == code][:2]
                                               for code in codes}
    kinds = Counter(error_type(r) for r in responses if r.status_code == 409)
    assert kinds == {"IpAddressGenerationFailure": n - fit}, kinds
    got = addresses([r.json()["port"] for r in responses if r.status_code == 201])
    assert len(set(got)) == fit == len(got)
    net_ = ipaddress.ip_network(cidr)
    assert set(got) == {str(h) for h in net_.hosts()} - {sub["gateway_ip"]}
    listed = mc.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]
    assert len(listed) == fit and sorted(addresses(listed)) == sorted(got)
    # Freeing one address lets exactly one more port in.
    victim = next(r.json()["port"] for r in responses if r.status_code == 201)
    assert mc.delete(f"{N}/ports/{victim['id']}").status_code == 204
    again = create_ports(server, member, net["id"], 4)
    assert sorted(r.status_code for r in again) == [201, 409, 409, 409]
    winner = next(r.json()["port"] for r in again if r.status_code == 201)
    assert addresses([winner]) == addresses([victim])


def test_concurrent_ports_respect_the_port_quota(server, admin):
    m = make_member(server, admin)
    assert admin.put(f"{N}/quotas/{m['project_id']}", json={"quota": {"port": 7}}).status_code == 200
    with client_for(server, m["token"]) as c:
        net, _ = network_with_subnet(c, "10.52.0.0/24")
        responses = create_ports(server, m, net["id"], 30)
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 7, 409: 23}, codes
        assert Counter(error_type(r) for r in responses if r.status_code == 409) == {"OverQuota": 23}
        listed = c.get(f"{N}/ports").json()["ports"]
        assert len(listed) == 7 and len(set(addresses(listed))) == 7


def test_concurrent_floating_ips_stop_exactly_at_the_quota(server, admin):
    m = make_member(server, admin)
    r = admin.put(f"{N}/quotas/{m['project_id']}", json={"quota": {"floatingip": 5}})
    assert r.status_code == 200 and r.json()["quota"]["floatingip"] == 5, r.text
    with client_for(server, m["token"]) as c:
        public = c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]
        assert public["router:external"] is True

        def create(client, i):
            return client.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"]}})

        responses = hammer(server, m["token"], 20, create)
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 5, 409: 15}, {code: [r.text for r in responses if r.status_code == code][:2]
                                            for code in codes}
        assert Counter(error_type(r) for r in responses if r.status_code == 409) == {"OverQuota": 15}
        created = [r.json()["floatingip"] for r in responses if r.status_code == 201]
        listed = c.get(f"{N}/floatingips").json()["floatingips"]
        assert len(listed) == 5
        assert {f["id"] for f in listed} == {f["id"] for f in created}
        got = [f["floating_ip_address"] for f in listed]
        assert len(set(got)) == 5
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("172.24.4.0/24") for a in got)
        details = c.get(f"{N}/quotas/{m['project_id']}/details").json()["quota"]["floatingip"]
        assert details["used"] == 5 and details["limit"] == 5
    # No address of the external network was handed out twice, across all projects.
    everyone = admin.get(f"{N}/floatingips").json()["floatingips"]
    all_addresses = [f["floating_ip_address"] for f in everyone]
    assert len(all_addresses) == len(set(all_addresses))
    # ... nor left behind by the refused creates: the external ports are exactly the FIPs' + gateways'.
    ext_ports = admin.get(f"{N}/ports", params={"network_id": public["id"]}).json()["ports"]
    fip_ports = [p for p in ext_ports if p["device_owner"] == "network:floatingip"]
    assert len(fip_ports) == len(everyone)


def test_concurrent_floating_ips_of_two_projects_never_share_an_address(server, admin):
    members = [make_member(server, admin) for _ in range(2)]
    with client_for(server, members[0]["token"]) as c:
        public = c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]

    def create_for(m):
        def create(client, i):
            return client.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"]}})
        return hammer(server, m["token"], 12, create)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(create_for, members))
    got = []
    for responses in results:
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201][:2]
        got += [r.json()["floatingip"]["floating_ip_address"] for r in responses]
    assert len(got) == 24 and len(set(got)) == 24


def test_concurrent_requests_for_one_fixed_ip_give_it_once(server, member, mc):
    net, sub = network_with_subnet(mc, "10.53.0.0/24")
    wanted = "10.53.0.77"

    def create(c, i):
        return c.post(f"{N}/ports", json={"port": {"network_id": net["id"],
                                                   "fixed_ips": [{"subnet_id": sub["id"], "ip_address": wanted}]}})

    responses = hammer(server, member["token"], 24, create)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: 23}, {code: [r.text for r in responses if r.status_code == code][:2]
                                        for code in codes}
    assert Counter(error_type(r) for r in responses if r.status_code == 409) == {"IpAddressAlreadyAllocated": 23}
    listed = mc.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]
    assert addresses(listed) == [wanted]


def test_concurrent_overlapping_subnets_on_one_network_give_one(server, member, mc):
    r = mc.post(f"{N}/networks", json={"network": {"name": "conc-overlap"}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    cidrs = ["10.54.0.0/24", "10.54.0.0/16", "10.54.0.128/25", "10.54.0.0/23"]

    def create(c, i):
        return c.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidrs[i % len(cidrs)]}})

    responses = hammer(server, member["token"], 16, create)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 400: 15}, {code: [r.text for r in responses if r.status_code == code][:2]
                                        for code in codes}
    assert mc.get(f"{N}/networks/{net['id']}").json()["network"]["subnets"] == \
        [next(r.json()["subnet"]["id"] for r in responses if r.status_code == 201)]


def _reachable_port(c) -> tuple[dict, dict, dict]:
    """(public network, a subnet behind a router on it, a port on that subnet)."""
    public = c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]
    net, sub = network_with_subnet(c, "10.55.0.0/24")
    r = c.post(f"{N}/routers", json={"router": {"name": "edge", "external_gateway_info": {"network_id": public["id"]}}})
    assert r.status_code == 201, r.text
    r = c.put(f"{N}/routers/{r.json()['router']['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    r = c.post(f"{N}/ports", json={"port": {"network_id": net["id"]}})
    assert r.status_code == 201, r.text
    return public, sub, r.json()["port"]


def test_concurrent_associations_to_one_fixed_ip_give_one(server, admin):
    """Many floating IPs associated at once to the same port and fixed IP: exactly one wins."""
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        public, _, port = _reachable_port(c)
        fips = []
        for _ in range(12):
            r = c.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public["id"]}})
            assert r.status_code == 201, r.text
            fips.append(r.json()["floatingip"])

        def associate(client, i):
            return client.put(f"{N}/floatingips/{fips[i]['id']}", json={"floatingip": {"port_id": port["id"]}})

        responses = hammer(server, m["token"], len(fips), associate)
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 1, 409: len(fips) - 1}, codes
        assert Counter(error_type(r) for r in responses if r.status_code == 409) == \
            {"FloatingIPPortAlreadyAssociated": len(fips) - 1}
        on_port = [f for f in c.get(f"{N}/floatingips").json()["floatingips"] if f["port_id"] == port["id"]]
        assert len(on_port) == 1


def test_concurrent_interfaces_of_many_routers_on_one_subnet_give_one(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        _, sub = network_with_subnet(c, "10.56.0.0/24")
        routers = []
        for i in range(8):
            r = c.post(f"{N}/routers", json={"router": {"name": f"r{i}"}})
            assert r.status_code == 201, r.text
            routers.append(r.json()["router"])

        def attach(client, i):
            return client.put(f"{N}/routers/{routers[i]['id']}/add_router_interface", json={"subnet_id": sub["id"]})

        responses = hammer(server, m["token"], len(routers), attach)
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 1, 409: len(routers) - 1}, {code: [r.text for r in responses if r.status_code == code][:2]
                                                          for code in codes}
        interfaces = c.get(f"{N}/ports", params={"device_owner": "network:router_interface"}).json()["ports"]
        gateway_ports = [p for p in interfaces if p["fixed_ips"][0]["subnet_id"] == sub["id"]]
        assert len(gateway_ports) == 1


@pytest.mark.parametrize("victim", ["network", "subnet"])
def test_deleting_a_network_or_subnet_while_ports_are_created(server, admin, victim):
    """Port creates racing the delete of their network (or subnet): each request either wins
    or loses cleanly (201 / 404 / 409), never a 5xx, and nothing is left half-made."""
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        for round_ in range(8):
            net, sub = network_with_subnet(c, f"10.57.{round_}.0/24")

            def work(client, i):
                if i == 3:
                    path = f"{N}/networks/{net['id']}" if victim == "network" else f"{N}/subnets/{sub['id']}"
                    return client.delete(path)
                return client.post(f"{N}/ports", json={"port": {"network_id": net["id"]}})

            responses = hammer(server, m["token"], 8, work)
            delete, creates = responses[3], responses[:3] + responses[4:]
            assert delete.status_code in (204, 409), delete.text
            for r in creates:
                assert r.status_code in (201, 404, 409), r.text
                if r.status_code != 201:
                    error_type(r)
            made = [r.json()["port"] for r in creates if r.status_code == 201]
            if delete.status_code == 204:
                # The network (subnet) is gone; a port that was made anyway must still be whole.
                gone = c.get(f"{N}/{victim}s/{net['id'] if victim == 'network' else sub['id']}")
                assert gone.status_code == 404
                for p in made:
                    shown = c.get(f"{N}/ports/{p['id']}")
                    if victim == "network":
                        assert shown.status_code == 404, shown.text
                    else:
                        assert shown.status_code == 200
                        assert all(ip["subnet_id"] != sub["id"] for ip in shown.json()["port"]["fixed_ips"])
            else:
                assert made, "the delete was refused as in use, so some port must exist"
                error_type(delete)


@pytest.mark.parametrize("collection", ["ports", "networks", "subnets", "routers", "floatingips", "security-groups",
                                        "security-group-rules"])
def test_concurrent_deletes_of_one_resource(server, admin, collection):
    """Deleting the same thing from many clients at once: one 204, the rest 404, no 5xx."""
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        for round_ in range(3):
            net, sub = network_with_subnet(c, f"10.58.{round_}.0/24")
            if collection == "networks":
                id_ = net["id"]
            elif collection == "subnets":
                id_ = sub["id"]
            elif collection == "ports":
                id_ = c.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]["id"]
            elif collection == "routers":
                id_ = c.post(f"{N}/routers", json={"router": {"name": "r"}}).json()["router"]["id"]
            elif collection == "floatingips":
                public = c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]
                id_ = c.post(f"{N}/floatingips", json={"floatingip": {
                    "floating_network_id": public["id"]}}).json()["floatingip"]["id"]
            elif collection == "security-groups":
                r = c.post(f"{N}/security-groups", json={"security_group": {"name": "g"}})
                id_ = r.json()["security_group"]["id"]
            else:
                r = c.post(f"{N}/security-groups", json={"security_group": {"name": f"g{round_}"}})
                sg = r.json()["security_group"]
                r = c.post(f"{N}/security-group-rules", json={"security_group_rule": {
                    "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp"}})
                id_ = r.json()["security_group_rule"]["id"]

            responses = hammer(server, m["token"], 8, lambda client, i: client.delete(f"{N}/{collection}/{id_}"))
            codes = Counter(r.status_code for r in responses)
            assert codes == {204: 1, 404: 7}, {code: [r.text for r in responses if r.status_code == code][:2]
                                               for code in codes}
            assert c.get(f"{N}/{collection}/{id_}").status_code == 404


def test_a_router_interface_updated_while_its_ipv6_subnet_is_removed(server, member, mc):
    """Updates of a router interface's IPv6 addresses racing the removal of its IPv6 subnet
    from the router (which takes that subnet's addresses off the port): each request wins or
    loses cleanly (never a 5xx), and the port ends with its IPv4 address and at most one
    IPv6 address, which the subnet's allocations agree with."""
    net, v4 = network_with_subnet(mc, "10.58.0.0/24")
    r = mc.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "fd58::/64", "ip_version": 6}})
    assert r.status_code == 201, r.text
    v6 = r.json()["subnet"]
    router = mc.post(f"{N}/routers", json={"router": {"name": "race"}}).json()["router"]
    port_id = mc.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": v4["id"]}).json()["port_id"]
    for round_ in range(4):
        r = mc.put(f"{N}/ports/{port_id}", json={"port": {"fixed_ips": [{"subnet_id": v4["id"]},
                                                                          {"subnet_id": v6["id"]}]}})
        assert r.status_code == 200, r.text

        def work(client, i):
            if i == 3:
                return client.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": v6["id"]})
            return client.put(f"{N}/ports/{port_id}", json={"port": {"fixed_ips": [
                {"subnet_id": v4["id"]}, {"subnet_id": v6["id"], "ip_address": f"fd58::{round_}:{i + 1}"}]}})

        for r in hammer(server, member["token"], 6, work):
            assert r.status_code in (200, 404), r.text
            if r.status_code != 200:
                error_type(r)
        ips = mc.get(f"{N}/ports/{port_id}").json()["port"]["fixed_ips"]
        assert ips[0] == {"subnet_id": v4["id"], "ip_address": "10.58.0.1"} and len(ips) <= 2, ips
        held = {p["id"] for p in mc.get(f"{N}/ports", params={"fixed_ips": f"subnet_id={v6['id']}"}).json()["ports"]}
        assert held == ({port_id} if len(ips) == 2 else set()), (held, ips)


def test_concurrent_first_requests_make_one_default_group(server, admin):
    """The first requests of a new project, in parallel, make one default security group (its
    four rules), never two: the database decides."""
    m = make_member(server, admin)

    def first(_):
        with client_for(server, m["token"]) as c:
            return c.get(f"{N}/security-groups").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(first, range(8))) == {200}
    with client_for(server, m["token"]) as c:
        r = c.get(f"{N}/security-groups")
        assert r.status_code == 200, r.text
        groups = r.json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    assert len(groups[0]["security_group_rules"]) == 4
