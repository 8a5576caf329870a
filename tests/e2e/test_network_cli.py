"""The seed documents' network sequence, verbatim, through the real ``openstack`` CLI as a
process (the network service's one sequence so) as the project user fabric, the other network
checks through the same CLI in the test process (tests/e2e/osc.py), and openstacksdk; on SQLite."""

from tests.e2e.osc import Sequence, osc, osc_json, requires_cli

pytestmark = requires_cli


def member_env(server, name: str, password: str) -> dict:
    """The CLI environment of a new member of a new project, both called ``name``."""
    admin = server.os_env()
    osc(admin, "project", "create", "--or-show", name)
    osc(admin, "user", "create", "--or-show", "--password", password, name)
    osc(admin, "role", "add", "--project", name, "--user", name, "member")
    return server.os_env(name, password, name)


def test_seed_network_sequence(server):
    """As a user types them: each kind of command once as a process (``Sequence``)."""
    seq = Sequence()
    admin = server.os_env()
    env = member_env(server, "fabric", "Fabric_123")

    net = seq.json(env, "network", "create", "fabric")
    assert net["name"] == "fabric" and net["provider:segmentation_id"] is not None
    sub = seq.json(env, "subnet", "create", "--network", "fabric", "--subnet-range", "192.168.2.0/23",
                           "--dns-nameserver", "10.21.200.2", "subnetfabric")
    assert sub["cidr"] == "192.168.2.0/23" and sub["gateway_ip"] == "192.168.2.1"
    assert sub["dns_nameservers"] == ["10.21.200.2"]
    assert sub["allocation_pools"] == [{"start": "192.168.2.2", "end": "192.168.3.254"}]
    seq.json(env, "router", "create", "fabricrouter")
    seq(env, "router", "set", "--external-gateway", "public", "fabricrouter")
    seq(env, "router", "add", "subnet", "fabricrouter", "subnetfabric")
    router = seq.json(env, "router", "show", "fabricrouter")
    gw = router["external_gateway_info"]
    assert gw["enable_snat"] is True and gw["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    assert [i["ip_address"] for i in router["interfaces_info"]] == ["192.168.2.1"]
    fip = seq.json(env, "floating", "ip", "create", "public")
    assert fip["floating_ip_address"].startswith("172.24.4.")
    assert fip["floating_ip_address"] != gw["external_fixed_ips"][0]["ip_address"]

    seq(env, "security", "group", "rule", "create", "--proto", "icmp", "default")
    seq(env, "security", "group", "rule", "create", "--proto", "udp", "--dst-port", "1:65535", "default")
    seq(env, "security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "1:65535", "default")
    rules = seq.json(env, "security", "group", "rule", "list", "default")
    opened = {(r["IP Protocol"], r["Port Range"]) for r in rules if r["Direction"] == "ingress"}
    assert {("icmp", ""), ("udp", "1:65535"), ("tcp", "1:65535")} <= opened

    seq(admin, "quota", "set", "fabric", "--floating-ips", "50")
    quota = {row["Resource"]: row["Limit"] for row in seq.json(admin, "quota", "show", "fabric")}
    assert quota["floating_ips"] == 50

    # A port, a floating IP on it through the router, and tearing it all down again.
    port = seq.json(env, "port", "create", "--network", "fabric", "p1")
    assert port["fixed_ips"][0]["ip_address"] == "192.168.2.2"
    seq(env, "floating", "ip", "set", "--port", "p1", fip["floating_ip_address"])
    shown = seq.json(env, "floating", "ip", "show", fip["floating_ip_address"])
    assert shown["fixed_ip_address"] == "192.168.2.2" and shown["router_id"] == router["id"]
    seq(env, "floating", "ip", "delete", fip["floating_ip_address"])
    seq(env, "port", "delete", "p1")
    seq(env, "router", "remove", "subnet", "fabricrouter", "subnetfabric")
    seq(env, "router", "unset", "--external-gateway", "fabricrouter")
    seq(env, "router", "delete", "fabricrouter")
    seq(env, "network", "delete", "fabric")
    assert "fabric" not in {n["Name"] for n in seq.json(env, "network", "list")}


SDK_SCRIPT = """
import json, openstack
conn = openstack.connect(cloud="caas")
net = conn.create_network("sdknet")
sub = conn.create_subnet(net.id, cidr="10.77.0.0/24", subnet_name="sdksub")
r = conn.create_router(name="sdkr", ext_gateway_net_id=conn.get_network("public").id)
interface = conn.add_router_interface(r, subnet_id=sub.id)
# tempest's test_router_interface_port_update_with_fixed_ip: the router's port keeps its address.
rport = conn.network.update_port(interface["port_id"], fixed_ips=[{"subnet_id": sub.id}])
p = conn.network.create_port(network_id=net.id)
fip = conn.create_floating_ip(network="public", port=p.id)
sg = conn.create_security_group("web", "web sg")
conn.create_security_group_rule(sg.id, port_range_min=80, port_range_max=80, protocol="tcp")
out = {"fip": fip.floating_ip_address, "fixed": fip.fixed_ip_address, "router_port": rport.fixed_ips, "sub": sub.id,
       "rules": len(conn.get_security_group("web").security_group_rules)}
conn.delete_floating_ip(fip.id)
conn.network.delete_port(p.id)
conn.remove_router_interface(r, subnet_id=sub.id)
conn.delete_router(r.id)
conn.delete_network(net.id)
conn.delete_security_group(sg.id)
out["left"] = [n.name for n in conn.network.networks()]
print(json.dumps(out))
"""


def test_openstacksdk_network(server):
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(server.data_dir / "clouds.yaml")
    out = subprocess.run([sys.executable, "-c", SDK_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["fip"].startswith("172.24.4.") and result["fixed"] == "10.77.0.2"
    assert result["rules"] == 3 and "sdknet" not in result["left"]
    assert result["router_port"] == [{"subnet_id": result["sub"], "ip_address": "10.77.0.1"}]


def test_subnet_external_network_and_router_port_addresses_cli(server):
    """Through the real ``openstack`` CLI as a member: the ``subnet-external-network``
    extension and the external subnet (the floating IP pool) a member sees; a router
    interface's addresses set with ``port set`` as Neutron allows (IPv6 yes, IPv4 no)."""
    env = member_env(server, "senproj", "Sen_12345")
    ext = osc_json(env, "extension", "show", "subnet-external-network")
    assert ext == {"alias": "subnet-external-network", "name": "Subnet belongs to an external network",
                   "description": "Informs if the subnet belongs to an external network",
                   "updated_at": "2024-02-05T18:00:00-00:00"}
    assert {"Name": "public-subnet", "Subnet": "172.24.4.0/24"} in osc_json(env, "subnet", "list", "-c", "Name",
                                                                             "-c", "Subnet")

    osc(env, "network", "create", "rifnet")
    v4 = osc_json(env, "subnet", "create", "--network", "rifnet", "--subnet-range", "10.66.0.0/24", "rif4")
    v6 = osc_json(env, "subnet", "create", "--network", "rifnet", "--ip-version", "6", "--subnet-range",
                  "fd66::/64", "rif6")
    osc(env, "router", "create", "rifr")
    osc(env, "router", "add", "subnet", "rifr", "rif4")
    (port,) = osc_json(env, "port", "list", "--router", "rifr")
    gateway = {"subnet_id": v4["id"], "ip_address": "10.66.0.1"}
    osc(env, "port", "set", "--fixed-ip", "subnet=rif6,ip-address=fd66::9", port["ID"])
    assert osc_json(env, "port", "show", port["ID"])["fixed_ips"] == [
        gateway, {"subnet_id": v6["id"], "ip_address": "fd66::9"}]
    refused = osc(env, "port", "set", "--no-fixed-ip", "--fixed-ip", "subnet=rif4,ip-address=10.66.0.5", port["ID"],
                  check=False)
    assert refused.returncode != 0
    assert f"Bad ports request: IP updates for port {port['ID']} are not allowed." in refused.stderr
    osc(env, "port", "set", "--no-fixed-ip", "--fixed-ip", "subnet=rif4", port["ID"])  # IPv6 off, IPv4 kept
    assert osc_json(env, "port", "show", port["ID"])["fixed_ips"] == [gateway]



def test_tags_on_create_through_the_cli(server):
    """``--tag`` on create: the CLI creates, then sets the tags through the tags API (Neutron
    takes no tags in a network's, subnet's, router's or security group's create)."""
    env = member_env(server, "tagproj", "Tag_12345")
    osc(env, "network", "create", "--tag", "blue", "--tag", "red", "tagnet")
    osc(env, "subnet", "create", "--network", "tagnet", "--subnet-range", "10.66.0.0/24", "--tag", "blue", "tagsub")
    osc(env, "router", "create", "--tag", "blue", "tagrouter")
    osc(env, "security", "group", "create", "--tag", "blue", "tagsg")
    assert sorted(osc_json(env, "network", "show", "tagnet")["tags"]) == ["blue", "red"]
    assert [n["Name"] for n in osc_json(env, "network", "list", "--tags", "red")] == ["tagnet"]
    for kind, name in (("subnet", "tagsub"), ("router", "tagrouter"), ("security group", "tagsg")):
        assert osc_json(env, *kind.split(), "show", name)["tags"] == ["blue"], kind
