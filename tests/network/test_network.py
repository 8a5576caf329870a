"""The Network API's behaviour through HTTP: visibility between projects, the router and
floating IP lifecycle, ports' addresses and groups, quotas, the external network."""

import os
import subprocess

import pytest

from caas.network.hostroutes import host_routes
from tests.conftest import CaasServer, caas_command, client_for, free_port, issue_token, make_member

N = "/network/v2.0"


@pytest.fixture(scope="module")
def members(server, admin):
    a, b = make_member(server, admin), make_member(server, admin)
    with client_for(server, a["token"]) as ca, client_for(server, b["token"]) as cb:
        yield a, ca, b, cb


def make_net(c, name="n", cidr="10.9.0.0/24"):
    net = c.post(f"{N}/networks", json={"network": {"name": name}}).json()["network"]
    sub = c.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4,
                                                  "name": name + "-sub"}}).json()["subnet"]
    return net, sub


def public_id(c) -> str:
    return c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]["id"]


def test_external_network_exists_and_is_visible(members):
    _, ca, _, _ = members
    (pub,) = ca.get(f"{N}/networks", params={"router:external": "true"}).json()["networks"]
    assert pub["name"] == "public" and pub["router:external"] is True
    (sub,) = ca.get(f"{N}/subnets", params={"network_id": pub["id"]}).json()["subnets"]
    assert sub["cidr"] == "172.24.4.0/24" and sub["gateway_ip"] == "172.24.4.1" and sub["enable_dhcp"] is False


def test_projects_do_not_see_each_other(members, admin):
    a, ca, b, cb = members
    net, sub = make_net(ca, "private-a")
    assert net["project_id"] == a["project_id"] and net["provider:network_type"] == "vxlan"
    assert ca.get(f"{N}/networks/{net['id']}").status_code == 200
    assert cb.get(f"{N}/networks/{net['id']}").status_code == 404
    assert net["id"] not in {n["id"] for n in cb.get(f"{N}/networks").json()["networks"]}
    assert sub["id"] not in {s["id"] for s in cb.get(f"{N}/subnets").json()["subnets"]}
    assert net["id"] in {n["id"] for n in admin.get(f"{N}/networks").json()["networks"]}
    # segmentation ids are never shared
    other, _ = make_net(cb, "private-b", "10.9.0.0/24")
    assert other["provider:segmentation_id"] != net["provider:segmentation_id"]


def test_port_addresses_mac_and_default_group(members, admin):
    _, ca, _, _ = members
    net, sub = make_net(ca, "ports", "10.20.0.0/29")
    ports = [ca.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"] for _ in range(3)]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == ["10.20.0.2", "10.20.0.3", "10.20.0.4"]
    assert len({p["mac_address"] for p in ports}) == 3 and all(p["mac_address"].startswith("fa:16:3e:") for p in ports)
    default = ca.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"][0]
    assert all(p["security_groups"] == [default["id"]] for p in ports)
    fixed = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"],
                                                 "fixed_ips": [{"ip_address": "10.20.0.6"}]}})
    assert fixed.status_code == 201 and fixed.json()["port"]["fixed_ips"][0]["subnet_id"] == sub["id"]
    taken = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.20.0.6"}]}})
    assert taken.status_code == 409 and taken.json()["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    # A freed address is handed out again.
    assert ca.delete(f"{N}/ports/{ports[0]['id']}").status_code == 204
    again = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert again["fixed_ips"][0]["ip_address"] == "10.20.0.2"
    # Binding to a host is for admins (the compute service), as in Neutron.
    bound = admin.put(f"{N}/ports/{again['id']}", json={"port": {"binding:host_id": "host1", "device_id": "vm1"}})
    assert bound.json()["port"]["status"] == "ACTIVE" and bound.json()["port"]["binding:host_id"] == "host1"


def test_ipv6_addresses_are_stored_and_answered_in_canonical_form(members):
    # As Neutron: an IPv6 subnet's CIDR may be written any way (host bits too) and is kept as
    # its network; every address caas answers is RFC 5952 text as netaddr writes it
    # (IPv4-mapped in dotted form). Allowed address pairs are echoed as given, as Neutron does.
    _, ca, _, _ = members
    net = ca.post(f"{N}/networks", json={"network": {"name": "v6"}}).json()["network"]
    r = ca.post(f"{N}/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 6, "cidr": "2001:0DB8:0000:0000::/64", "gateway_ip": "2001:0db8:0:0::1",
        "allocation_pools": [{"start": "2001:0db8::0010", "end": "2001:0DB8:0000::00FF"}],
        "host_routes": [{"destination": "2001:0DB8:0001::/64", "nexthop": "2001:0db8::0002"}],
        "dns_nameservers": ["2001:4860:4860:0000::8888"]}})
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert (sub["cidr"], sub["gateway_ip"]) == ("2001:db8::/64", "2001:db8::1")
    assert sub["allocation_pools"] == [{"start": "2001:db8::10", "end": "2001:db8::ff"}]
    assert sub["host_routes"] == [{"destination": "2001:db8:1::/64", "nexthop": "2001:db8::2"}]
    assert sub["dns_nameservers"] == ["2001:4860:4860::8888"]
    assert ca.get(f"{N}/subnets/{sub['id']}").json()["subnet"]["cidr"] == "2001:db8::/64"
    r = ca.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 6,
                                                 "cidr": "2001:0DB8:0:1::1/64"}})
    assert r.status_code == 201, r.text
    assert r.json()["subnet"]["cidr"] == "2001:db8:0:1::/64"
    r = ca.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 6,
                                                 "cidr": "::FFFF:10.0.0.0/120", "gateway_ip": "::ffff:a00:1"}})
    assert r.status_code == 201, r.text
    mapped = r.json()["subnet"]
    assert (mapped["cidr"], mapped["gateway_ip"]) == ("::ffff:10.0.0.0/120", "::ffff:10.0.0.1")
    assert mapped["allocation_pools"] == [{"start": "::ffff:10.0.0.2", "end": "::ffff:10.0.0.255"}]

    r = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "2001:0db8::0020"}, {"ip_address": "::ffff:10.0.0.9"},
        {"subnet_id": mapped["id"]}], "allowed_address_pairs": [{"ip_address": "2001:0DB8::0030"}]}})
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert [f["ip_address"] for f in port["fixed_ips"]] == ["2001:db8::20", "::ffff:10.0.0.9", "::ffff:10.0.0.2"]
    assert port["allowed_address_pairs"] == [{"ip_address": "2001:0DB8::0030"}]
    # the same address in another spelling is the same address
    r = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "2001:DB8:0:0:0:0:0:20"}]}})
    assert r.status_code == 409, r.text

    group = ca.post(f"{N}/security-groups", json={"security_group": {"name": "v6"}}).json()["security_group"]
    r = ca.post(f"{N}/security-group-rules", json={"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "2001:0DB8:0000::/64"}})
    assert r.status_code == 201, r.text
    assert r.json()["security_group_rule"]["remote_ip_prefix"] == "2001:db8::/64"

    router = ca.post(f"{N}/routers", json={"router": {"name": "v6"}}).json()["router"]
    r = ca.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    r = ca.put(f"{N}/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "2001:0DB8:0005::/64", "nexthop": "2001:0db8::0003"}]}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == [{"destination": "2001:db8:5::/64", "nexthop": "2001:db8::3"}]
    # the router goes (the quota test counts this project's routers)
    assert ca.put(f"{N}/routers/{router['id']}", json={"router": {"routes": []}}).status_code == 200
    r = ca.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    assert ca.delete(f"{N}/routers/{router['id']}").status_code == 204


def test_router_and_floating_ip_lifecycle(members):
    a, ca, b, cb = members
    net, sub = make_net(ca, "routed", "10.30.0.0/24")
    router = ca.post(f"{N}/routers", json={"router": {"name": "r", "external_gateway_info": {
        "network_id": public_id(ca)}}}).json()["router"]
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert router["external_gateway_info"]["enable_snat"] is True and gw_ip.startswith("172.24.4.")
    r = ca.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200 and r.json()["subnet_id"] == sub["id"]
    iface_port = r.json()["port_id"]
    assert ca.get(f"{N}/ports/{iface_port}").json()["port"]["device_owner"] == "network:router_interface"
    port = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    fip = ca.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public_id(ca),
                                                            "port_id": port["id"]}}).json()["floatingip"]
    assert fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"] and fip["router_id"] == router["id"]
    assert fip["status"] == "ACTIVE" and fip["floating_ip_address"] != gw_ip
    # Things in use cannot go away underneath.
    assert ca.delete(f"{N}/routers/{router['id']}").status_code == 409
    busy = ca.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert busy.status_code == 409
    assert ca.delete(f"{N}/ports/{iface_port}").status_code == 409
    assert ca.delete(f"{N}/networks/{net['id']}").status_code == 409
    # Another project cannot touch any of it.
    assert cb.get(f"{N}/routers/{router['id']}").status_code == 404
    assert cb.put(f"{N}/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}}).status_code == 404
    # Deleting the port disassociates; then everything unwinds.
    assert ca.delete(f"{N}/ports/{port['id']}").status_code == 204
    assert ca.get(f"{N}/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None
    assert ca.delete(f"{N}/floatingips/{fip['id']}").status_code == 204
    assert ca.put(f"{N}/routers/{router['id']}/remove_router_interface",
                  json={"subnet_id": sub["id"]}).status_code == 200
    assert ca.put(f"{N}/routers/{router['id']}", json={"router": {"external_gateway_info": {}}}).status_code == 200
    assert ca.delete(f"{N}/routers/{router['id']}").status_code == 204
    assert ca.delete(f"{N}/networks/{net['id']}").status_code == 204
    leftovers = [p for p in ca.get(f"{N}/ports").json()["ports"] if p["network_id"] == net["id"]]
    assert leftovers == []


def test_a_reader_only_reads(server, members, admin):
    a, ca, _, _ = members
    net, _ = make_net(ca, name="for-the-reader", cidr="10.77.0.0/24")
    reader = make_member(server, admin, role="reader")
    r = admin.put(f"/identity/v3/projects/{a['project_id']}/users/{reader['user_id']}/roles/{reader['role_id']}")
    assert r.status_code == 204
    token = issue_token(server, reader["name"], reader["password"], a["name"])
    with client_for(server, token) as rc:
        assert rc.get(f"{N}/networks/{net['id']}").status_code == 200
        for r in (rc.post(f"{N}/networks", json={"network": {"name": "r"}}),
                  rc.put(f"{N}/networks/{net['id']}", json={"network": {"name": "r"}}),
                  rc.delete(f"{N}/networks/{net['id']}")):
            assert r.status_code == 403 and r.json()["NeutronError"]["type"] == "PolicyNotAuthorized", r.text
    assert ca.get(f"{N}/networks/{net['id']}").json()["network"]["name"] == "for-the-reader"


def test_quotas(members, admin):
    a, ca, _, _ = members
    q = ca.get(f"{N}/quotas/{a['project_id']}").json()["quota"]
    assert q["network"] == 100 and q["floatingip"] == 50
    assert admin.put(f"{N}/quotas/{a['project_id']}", json={"quota": {"router": 1}}).json()["quota"]["router"] == 1
    assert ca.post(f"{N}/routers", json={"router": {"name": "q1"}}).status_code == 201
    over = ca.post(f"{N}/routers", json={"router": {"name": "q2"}})
    assert over.status_code == 409 and over.json()["NeutronError"]["type"] == "OverQuota"
    details = ca.get(f"{N}/quotas/{a['project_id']}/details.json").json()["quota"]
    assert details["router"] == {"limit": 1, "used": 1, "reserved": 0}
    assert admin.delete(f"{N}/quotas/{a['project_id']}").status_code == 204
    assert ca.get(f"{N}/quotas/{a['project_id']}").json()["quota"]["router"] == 10


def test_extensions(members):
    _, ca, _, _ = members
    aliases = {e["alias"] for e in ca.get(f"{N}/extensions").json()["extensions"]}
    assert {"router", "external-net", "security-group", "quotas", "provider", "binding"} <= aliases
    assert ca.get(f"{N}/extensions/router").json()["extension"]["alias"] == "router"
    missing = ca.get(f"{N}/extensions/external-gateway-multihoming")
    assert missing.status_code == 404 and "NeutronError" in missing.json()


def test_external_cidr_overlapping_a_host_route_is_refused(tmp_path):
    routes = [net for iface, net in host_routes() if not iface.startswith("cs-")]
    if not routes:
        pytest.skip("this host has no non-default IPv4 route to collide with")
    cidr = str(routes[0])
    out = subprocess.run(caas_command() + ["up", "--data-dir", str(tmp_path / "d"), "--port", str(free_port())],
                         env={**os.environ, "CAAS_EXTERNAL_CIDR": cidr, "CAAS_PASSWORD_HASH_ROUNDS": "4"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "overlaps the host route" in out.stderr and "Traceback" not in out.stderr


def test_external_network_made_once(tmp_path):
    srv = CaasServer(tmp_path / "d").start()
    srv.stop()
    srv = CaasServer(srv.data_dir).start()
    try:
        from tests.conftest import issue_token
        with client_for(srv, issue_token(srv)) as c:
            assert len(c.get(f"{N}/networks", params={"name": "public"}).json()["networks"]) == 1
    finally:
        srv.stop()


def test_segmentation_range_is_configurable_and_never_reused(tmp_path):
    from tests.conftest import issue_token

    srv = CaasServer(tmp_path / "d", env={"CAAS_SEGMENTATION_RANGE": "100:101"}).start()
    try:
        with client_for(srv, issue_token(srv)) as c:
            ids = [c.post(f"{N}/networks", json={"network": {"name": f"s{i}"}}).json()["network"]
                   for i in range(2)]
            assert sorted(n["provider:segmentation_id"] for n in ids) == [100, 101]
            full = c.post(f"{N}/networks", json={"network": {"name": "s2"}})
            assert full.status_code == 409 and full.json()["NeutronError"]["type"] == "NoNetworkAvailable"
            assert c.delete(f"{N}/networks/{ids[0]['id']}").status_code == 204
            again = c.post(f"{N}/networks", json={"network": {"name": "s3"}}).json()["network"]
            assert again["provider:segmentation_id"] == ids[0]["provider:segmentation_id"]
    finally:
        srv.stop()


def test_port_filters_applied_in_the_query_give_what_the_list_gives(members, admin):
    """device_id, device_owner, network_id, project_id/tenant_id and mac_address are applied in
    the query (a list does not build every port): the answer is the same as filtering all."""
    a, ca, b, cb = members
    net, _ = make_net(ca, "filtered", "10.21.0.0/28")
    ports = [ca.post(f"{N}/ports", json={"port": {"network_id": net["id"], "device_id": f"dev-{i % 2}",
                                                  "device_owner": "compute:nova" if i < 3 else "other"}}).json()["port"]
             for i in range(4)]
    everything = admin.get(f"{N}/ports").json()["ports"]

    def by_filter(**wanted):
        return sorted(p["id"] for p in everything if all(str(p[k]) in v for k, v in wanted.items()))

    cases = [{"device_id": ["dev-0"]}, {"device_id": ["dev-0", "dev-1"], "device_owner": ["other"]},
             {"network_id": [net["id"]], "device_owner": ["compute:nova"]}, {"project_id": [a["project_id"]]},
             {"tenant_id": [a["project_id"]], "mac_address": [ports[2]["mac_address"]]},
             {"device_id": ["no-such-device"]}]
    for case in cases:
        got = admin.get(f"{N}/ports", params=case).json()["ports"]
        assert sorted(p["id"] for p in got) == by_filter(**case), case
    assert len(by_filter(device_id=["dev-0", "dev-1"], network_id=[net["id"]])) == 4
    # a member's filters never widen what the member sees
    assert cb.get(f"{N}/ports", params={"project_id": a["project_id"]}).json()["ports"] == []
    assert cb.get(f"{N}/ports", params={"device_id": "dev-0"}).json()["ports"] == []


def test_a_floating_ip_on_another_projects_network_is_not_found(members):
    """Its own private network: not external (400); another project's: not found (404), as a
    list would have it, never a hint that it exists."""
    a, ca, b, cb = members
    net, _ = make_net(ca, "fip-private", "10.22.0.0/28")
    r = ca.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
    assert r.status_code == 400 and "is not a valid external network" in r.json()["NeutronError"]["message"]
    r = cb.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "NetworkNotFound"


SUBNET_EXTERNAL_NETWORK = {"name": "Subnet belongs to an external network", "alias": "subnet-external-network",
                           "description": "Informs if the subnet belongs to an external network",
                           "updated": "2024-02-05T18:00:00-00:00", "links": []}


def test_subnet_external_network_extension(server, members, admin):
    """Neutron's ``subnet-external-network``: advertised as Neutron does, ``router:external``
    on every subnet (a filter too), and a project sees the subnets of external networks (the
    floating IP pools), never another project's private ones."""
    a, ca, b, cb = members
    listed = {e["alias"]: e for e in ca.get(f"{N}/extensions").json()["extensions"]}
    assert listed["subnet-external-network"] == SUBNET_EXTERNAL_NETWORK
    assert ca.get(f"{N}/extensions/subnet-external-network").json() == {"extension": SUBNET_EXTERNAL_NETWORK}
    assert listed["external-net"]["description"] == "Adds external network attribute to network resource."
    pub = ca.get(f"{N}/subnets", params={"name": "public-subnet"}).json()["subnets"]
    assert [(s["cidr"], s["router:external"]) for s in pub] == [("172.24.4.0/24", True)]
    assert ca.get(f"{N}/subnets/{pub[0]['id']}").json()["subnet"]["router:external"] is True
    net, own = make_net(ca, "sen-private", "10.61.0.0/24")
    assert own["router:external"] is False
    external = {s["id"] for s in ca.get(f"{N}/subnets", params={"router:external": "true"}).json()["subnets"]}
    internal = {s["id"] for s in ca.get(f"{N}/subnets", params={"router:external": "0"}).json()["subnets"]}
    assert pub[0]["id"] in external and own["id"] not in external
    assert own["id"] in internal and pub[0]["id"] not in internal
    bad = ca.get(f"{N}/subnets", params={"router:external": "maybe"})
    assert bad.status_code == 400 and bad.json()["NeutronError"]["type"] == "InvalidInput"
    assert "cannot be converted to boolean" in bad.json()["NeutronError"]["message"]
    # Another project's private subnet stays hidden, filtered or not, like an unknown id.
    for params in ({}, {"router:external": "false"}):
        assert own["id"] not in {s["id"] for s in cb.get(f"{N}/subnets", params=params).json()["subnets"]}
    for subnet_id in (own["id"], "0c7a2f4e-0000-4000-8000-000000000000"):
        r = cb.get(f"{N}/subnets/{subnet_id}")
        assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "SubnetNotFound"
    # Made external (by an admin), the network's subnets become everyone's pool; and back.
    assert admin.put(f"{N}/networks/{net['id']}", json={"network": {"router:external": True}}).status_code == 200
    shown = cb.get(f"{N}/subnets/{own['id']}")
    assert shown.status_code == 200 and shown.json()["subnet"]["router:external"] is True
    assert admin.put(f"{N}/networks/{net['id']}", json={"network": {"router:external": False}}).status_code == 200
    assert cb.get(f"{N}/subnets/{own['id']}").status_code == 404
    # The network's owner sees a subnet an admin made on it for another project (Neutron's
    # ADMIN_OR_NET_OWNER_READER); a third project does not.
    made = admin.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.62.0.0/24",
                                                       "ip_version": 4, "project_id": b["project_id"]}})
    assert made.status_code == 201, made.text
    assert ca.get(f"{N}/subnets/{made.json()['subnet']['id']}").status_code == 200
    assert cb.get(f"{N}/subnets/{made.json()['subnet']['id']}").status_code == 200
    c = make_member(server, admin)
    with client_for(server, c["token"]) as cc:
        assert cc.get(f"{N}/subnets/{made.json()['subnet']['id']}").status_code == 404


def neutron_type(r, status: int) -> str:
    """The NeutronError type of a refusal with ``status``."""
    assert r.status_code == status, r.text
    return r.json()["NeutronError"]["type"]


def router_addresses(server, router_id: str) -> list[str]:
    """The addresses the netns driver puts on the router's ``qr-`` interfaces: its plan, made
    from the running server's database (pure: no kernel, no namespace)."""
    from caas.db import Database
    from caas.network.topology import topology
    from caas.virt.netns.network import plan

    db = Database(server.database_url or f"sqlite:///{server.data_dir / 'caas.db'}")
    try:
        with db.read() as s:
            snap = plan.index(topology(s))
    finally:
        db.dispose()
    return sorted(a for port in plan.router_plan(snap, snap.routers[router_id]).ports if not port.gateway
                  for a in port.addresses)


def test_router_interface_port_fixed_ips(server, members, admin):
    """PUT /ports/{id} with ``fixed_ips`` on a router interface, as Neutron: what keeps the
    addresses (tempest's test_router_interface_port_update_with_fixed_ip) is 200, an IPv4
    change is 400 (``l3-port-ip-change-not-allowed``), IPv6 ones are made and the router's
    interface follows them."""
    a, ca, b, cb = members
    net, v4 = make_net(ca, "rif", "10.63.0.0/24")
    v4b = ca.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.64.0.0/24",
                                                   "ip_version": 4}}).json()["subnet"]
    v6 = ca.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "fd63::/64",
                                                  "ip_version": 6}}).json()["subnet"]
    router = ca.post(f"{N}/routers", json={"router": {"name": "rif"}}).json()["router"]
    add = ca.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": v4["id"]})
    port_id = add.json()["port_id"]
    url = f"{N}/ports/{port_id}"
    ext = {e["alias"] for e in ca.get(f"{N}/extensions").json()["extensions"]}
    assert "l3-port-ip-change-not-allowed" in ext

    def put(fixed_ips, client=ca, target=url):
        return client.put(target, json={"port": {"fixed_ips": fixed_ips}})

    gateway = [{"subnet_id": v4["id"], "ip_address": "10.63.0.1"}]
    for same in ([{"subnet_id": v4["id"]}], gateway, [{"ip_address": "10.63.0.1"}]):
        r = put(same)
        assert r.status_code == 200, r.text
        assert r.json()["port"]["fixed_ips"] == gateway
    for change in ([{"subnet_id": v4["id"], "ip_address": "10.63.0.5"}], [{"subnet_id": v4b["id"]}], [],
                   [{"subnet_id": v4["id"]}, {"subnet_id": v4b["id"]}]):
        r = put(change)
        assert neutron_type(r, 400) == "BadRequest"
        assert r.json()["NeutronError"]["message"] == f"Bad ports request: IP updates for port {port_id} are not allowed."
    assert ca.get(url).json()["port"]["fixed_ips"] == gateway
    # IPv6: added, moved, and the router's interface follows.
    r = put([{"subnet_id": v4["id"]}, {"subnet_id": v6["id"], "ip_address": "fd63::5"}])
    assert r.status_code == 200, r.text
    assert r.json()["port"]["fixed_ips"] == gateway + [{"subnet_id": v6["id"], "ip_address": "fd63::5"}]
    again = ca.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": v6["id"]})
    assert neutron_type(again, 400) == "BadRequest" and "already has a port on subnet" in again.text
    r = put(gateway + [{"subnet_id": v6["id"], "ip_address": "fd63::7"}])
    assert r.json()["port"]["fixed_ips"] == gateway + [{"subnet_id": v6["id"], "ip_address": "fd63::7"}]
    assert router_addresses(server, router["id"]) == ["10.63.0.1/24", "fd63::7/64"]
    freed = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "fd63::5"}]}})
    assert freed.status_code == 201, freed.text  # the old address was given back
    # Bad input: the port's addresses are untouched by each refusal.
    r = put(gateway + [{"subnet_id": v6["id"], "ip_address": "fd63::5"}])
    assert neutron_type(r, 409) == "IpAddressAlreadyAllocated"
    assert neutron_type(put(gateway + [{"subnet_id": v6["id"], "ip_address": "fd64::5"}]), 400) == "InvalidIpForSubnet"
    assert neutron_type(put(gateway + [{"ip_address": "fd63::zz"}]), 400)
    assert neutron_type(put(gateway + [{"subnet_id": "0c7a2f4e-0000-4000-8000-000000000000"}]), 400)
    assert neutron_type(ca.put(url, json={"port": {"fixed_ips": {"subnet_id": v4["id"]}}}), 400)
    assert neutron_type(put(gateway, client=cb), 404) == "PortNotFound"  # another project's port
    assert neutron_type(put(gateway, target=f"{N}/ports/0c7a2f4e-0000-4000-8000-000000000000"), 404) == "PortNotFound"
    assert ca.get(url).json()["port"]["fixed_ips"] == gateway + [{"subnet_id": v6["id"], "ip_address": "fd63::7"}]
    # Removing the IPv6 subnet from the router takes its address off the port, not the port.
    removed = ca.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": v6["id"]})
    assert removed.status_code == 200 and removed.json()["subnet_ids"] == [v6["id"]]
    assert removed.json()["port_id"] == port_id
    assert ca.get(url).json()["port"]["fixed_ips"] == gateway
    assert router_addresses(server, router["id"]) == ["10.63.0.1/24"]
    # A router gateway port's addresses stay its router's (caas: 409).
    r = ca.put(f"{N}/routers/{router['id']}", json={"router": {"external_gateway_info": {"network_id": public_id(ca)}}})
    assert r.status_code == 200, r.text
    (gw,) = admin.get(f"{N}/ports", params={"device_id": router["id"],
                                            "device_owner": "network:router_gateway"}).json()["ports"]
    assert neutron_type(put([{"subnet_id": gw["fixed_ips"][0]["subnet_id"]}], client=admin,
                            target=f"{N}/ports/{gw['id']}"), 409) == "PortInUse"


def test_a_port_update_keeps_the_addresses_it_names(members):
    """An entry naming only a subnet keeps the address the port has there (Neutron's
    _get_changed_ips_for_port), instead of taking the lowest free one again."""
    _, ca, _, _ = members
    net, sub = make_net(ca, "keep", "10.65.0.0/24")
    port = ca.post(f"{N}/ports", json={"port": {"network_id": net["id"],
                                                "fixed_ips": [{"ip_address": "10.65.0.9"}]}}).json()["port"]
    r = ca.put(f"{N}/ports/{port['id']}", json={"port": {"fixed_ips": [{"subnet_id": sub["id"]}]}})
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.65.0.9"}]
    r = ca.put(f"{N}/ports/{port['id']}", json={"port": {"fixed_ips": [{"subnet_id": sub["id"]},
                                                                       {"subnet_id": sub["id"]}]}})
    assert [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]] == ["10.65.0.9", "10.65.0.2"]
