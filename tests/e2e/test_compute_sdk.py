"""openstacksdk drives the compute API as the project user fabric (on SQLite): the
cloud layer's ``create_server(..., wait=True, auto_ip=True)`` (a floating IP through the
project's router) and ``delete_server(..., wait=True, delete_ips=True)``, and the proxy layer:
``create_server``, ``wait_for_server``, ``servers``, ``stop_server``,
``get_server_console_output``, ``delete_server`` and ``wait_for_delete``."""

from __future__ import annotations

import pytest

openstack = pytest.importorskip("openstack")


def connect(server, user: str, password: str, project: str):
    return openstack.connect(auth_url=server.url + "/identity/v3", username=user, password=password,
                             project_name=project, user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne", identity_api_version="3")


@pytest.fixture(scope="module")
def conn(server):
    """The fabric user (member of project fabric, made by admin) with the seed's network: a
    network, a subnet, a router with a gateway on ``public`` and an interface on the subnet."""
    admin = connect(server, "admin", server.admin_password, "admin")
    project = admin.identity.find_project("fabric") or admin.identity.create_project(name="fabric",
                                                                                     domain_id="default")
    user = admin.identity.find_user("fabric") or admin.identity.create_user(
        name="fabric", password="Fabric_123", domain_id="default", default_project_id=project.id)
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    admin.close()
    c = connect(server, "fabric", "Fabric_123", "fabric")
    if c.get_network("fabric") is None:
        net = c.create_network("fabric")
        sub = c.create_subnet(net.id, cidr="192.168.2.0/23", subnet_name="subnetfabric",
                              dns_nameservers=["10.21.200.2"])
        router = c.create_router(name="fabricrouter", ext_gateway_net_id=c.get_network("public").id)
        c.add_router_interface(router, subnet_id=sub.id)
    yield c
    c.close()


def test_cloud_layer_create_with_auto_ip_and_delete_ips(conn):
    srv = conn.create_server("sdk1", image="host", flavor="m1.small", network="fabric", wait=True, auto_ip=True,
                             timeout=120)
    assert srv.status == "ACTIVE" and srv.name == "sdk1"
    # With auto_ip the SDK returns the server as re-read after the floating IP attach, a bare
    # proxy record (its public_v4 is only filled in by the cloud layer's get_server/list_servers).
    kinds = {a["OS-EXT-IPS:type"]: a["addr"] for a in srv.addresses["fabric"]}
    assert kinds["fixed"].startswith("192.168.2.") and kinds["floating"].startswith("172.24.4."), srv.addresses
    again = conn.get_server("sdk1")
    assert again.id == srv.id and again.public_v4 == kinds["floating"] and again.private_v4 == kinds["fixed"]
    assert again.flavor.name == "m1.small" and again.image.id == conn.get_image("host").id
    fip = next(f for f in conn.list_floating_ips() if f.floating_ip_address == again.public_v4)
    assert fip.fixed_ip_address == again.private_v4 and fip.status == "ACTIVE"

    assert conn.delete_server("sdk1", wait=True, delete_ips=True, timeout=120) is True
    assert conn.get_server("sdk1") is None
    assert again.public_v4 not in {f.floating_ip_address for f in conn.list_floating_ips()}
    assert list(conn.network.ports(device_id=srv.id)) == []


def test_proxy_layer_lifecycle(conn):
    image = conn.image.find_image("host", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.small", ignore_missing=False)
    net = conn.network.find_network("fabric", ignore_missing=False)
    made = conn.compute.create_server(name="sdk2", image_id=image.id, flavor_id=flavor.id,
                                      networks=[{"uuid": net.id}])
    assert made.id and made.admin_password
    srv = conn.compute.wait_for_server(made, status="ACTIVE", wait=120, interval=0.2)
    assert srv.status == "ACTIVE" and srv.power_state == 1
    assert [a["addr"] for a in srv.addresses["fabric"]][0].startswith("192.168.2.")

    listed = {s.name: s for s in conn.compute.servers()}
    assert "sdk2" in listed and listed["sdk2"].id == srv.id
    assert [s.name for s in conn.compute.servers(name="^sdk2$")] == ["sdk2"]

    conn.compute.stop_server(srv)
    stopped = conn.compute.wait_for_server(srv, status="SHUTOFF", wait=60, interval=0.2)
    assert stopped.power_state == 4
    out = conn.compute.get_server_console_output(srv)
    assert "sdk2 login:" in out["output"] and "reboot: Power down" in out["output"], out
    tail = conn.compute.get_server_console_output(srv, length=1)
    assert tail["output"].strip() == "reboot: Power down"

    conn.compute.delete_server(srv)
    conn.compute.wait_for_delete(srv, wait=60, interval=0.2)
    assert conn.compute.find_server("sdk2") is None
    assert list(conn.network.ports(device_id=srv.id)) == []
