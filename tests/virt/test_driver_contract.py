"""The driver contract (virt/driver.py), run the same on every driver: the fake driver and the
netns driver (real namespaces: root only, skipped with the reason otherwise).

What every driver must do: run an instance through spawn, power off/on, reboot and destroy,
reporting its power state; take a network topology (plain data, JSON-ready) and hold it, a
newer generation replacing an older one and never the reverse; list what it made (``owned``,
plain data) and ``cleanup`` what the topology no longer holds, keeping what it does; leave
nothing with the ``cs-`` prefix once cleaned up with ``everything``. A ``Harness`` adds, per
driver, how to wait for a topology to be wired, what "wired" looks like (the fake only records
it; netns makes bridges) and what is left on the host after a cleanup.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Callable

import pytest

from caas.virt import topology as t
from caas.virt.driver import RUNNING, SHUTDOWN, Driver, InstanceSpec, NicSpec, Owned
from tests.e2e import kernel

# The image's view compute puts in the spec (the netns driver boots the host image from it).
HOST_IMAGE = {"id": str(uuid.UUID(int=0x0C0DE)), "name": "host", "disk_format": "raw", "container_format": "bare",
              "properties": {"caas_rootfs": "host"}}
CIDR, GATEWAY, ADDRESS = "10.251.7.0/24", "10.251.7.1", "10.251.7.10"


@dataclass
class Harness:
    driver: Driver
    settle: Callable[[], None]  # wait until the topology given is wired
    wired: Callable[[str], bool]  # whether network ``id`` is wired on the host
    leftovers: Callable[[], dict]  # what the driver made that is left on the host (empty when nothing)

    def cleanup(self) -> list[str]:
        """Remove everything the driver made, once the topology given is wired."""
        self.settle()
        return self.driver.cleanup(everything=True)


def _fake(tmp_path) -> Harness:
    from caas.virt.fake import FakeDriver

    driver = FakeDriver()
    return Harness(driver, settle=lambda: None, wired=lambda net: any(n.id == net for n in driver.network().networks),
                   leftovers=lambda: {"instances": driver.running()} if driver.running() else {})


def _netns(tmp_path, stack) -> Harness:
    from caas.config import Settings
    from caas.db.engine import Database
    from caas.db.migrate import upgrade
    from caas.virt.netns import names
    from caas.virt.netns.driver import NetnsDriver

    reason = kernel.netns_missing()
    if reason:
        pytest.skip(f"netns driver: {reason}")
    settings = Settings(data_dir=tmp_path / "data", driver="netns")
    url = f"sqlite:///{tmp_path / 'caas.db'}"
    upgrade(url)
    db = Database(url)
    stack.append(db.dispose)
    before = kernel.cs_objects()
    driver = NetnsDriver(settings, db)
    stack.append(driver.stop)

    def leftovers() -> dict:
        return {k: v - before[k] for k, v in kernel.cs_objects().items() if v - before[k]}

    return Harness(driver, settle=lambda: driver.dataplane.settle(10),
                   wired=lambda net: names.bridge(net) in kernel.links(), leftovers=leftovers)


@pytest.fixture(scope="module", params=["fake", "netns"])
def harness(request, tmp_path_factory):
    stack: list[Callable[[], None]] = []
    tmp = tmp_path_factory.mktemp(request.param)
    h = _fake(tmp) if request.param == "fake" else _netns(tmp, stack)
    h.driver.apply_network(t.Topology(generation=1))
    h.driver.start()
    try:
        yield h
    finally:
        h.cleanup()
        for undo in reversed(stack):
            undo()


def world(generation: int, server_id: str) -> tuple[t.Topology, NicSpec]:
    """A topology with one network, one subnet and one port of ``server_id``, and its NIC."""
    net, sub, port = (str(uuid.uuid4()) for _ in range(3))
    mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    topo = t.Topology(
        generation=generation, networks=(t.Network(net, mtu=1450),), subnets=(t.Subnet(sub, net, CIDR, GATEWAY),),
        ports=(t.Port(port, net, mac, device_id=server_id, device_owner="compute:nova",
                      fixed_ips=(t.FixedIP(sub, ADDRESS),)),),
        servers=(server_id,))
    nic = NicSpec(port_id=port, mac_address=mac, network_id=net, mtu=1450,
                  fixed_ips=({"ip_address": ADDRESS, "subnet_id": sub, "cidr": CIDR, "gateway_ip": GATEWAY},))
    return topo, nic


def spec(server_id: str, nics: tuple[NicSpec, ...] = ()) -> InstanceSpec:
    return InstanceSpec(id=server_id, name="contract", hostname="contract", host="h", vcpus=1, memory_mb=128,
                        disk_gb=1, image=HOST_IMAGE, nics=nics)


def test_satisfies_the_protocol(harness):
    assert isinstance(harness.driver, Driver)
    assert harness.driver.network().generation == 1  # the fixture's empty topology is held


def test_instance_lifecycle(harness):
    """spawn -> RUNNING; power_off -> SHUTDOWN; power_on, reboot -> RUNNING; destroy: gone
    (and destroy again is fine)."""
    d, server_id = harness.driver, str(uuid.uuid4())
    topo, nic = world(10, server_id)
    d.apply_network(topo)
    d.spawn(spec(server_id, (nic,)))
    assert d.power_states([server_id]) == {server_id: RUNNING}
    assert server_id in d.running()
    d.power_off(server_id)
    assert d.power_states([server_id]) == {server_id: SHUTDOWN}
    assert server_id not in d.running()
    d.power_on(spec(server_id, (nic,)))
    assert d.power_states([server_id]) == {server_id: RUNNING}
    d.reboot(spec(server_id, (nic,)), hard=True)
    assert d.power_states([server_id]) == {server_id: RUNNING}
    d.destroy(server_id)
    assert server_id not in d.running()
    d.destroy(server_id)


def test_topology_applied_and_removed(harness):
    """A topology is held and wired; a newer one without the network removes it; an older
    one delivered late changes nothing."""
    d = harness.driver
    server_id = str(uuid.uuid4())
    topo, nic = world(20, server_id)
    net = topo.networks[0].id
    d.apply_network(topo)
    d.spawn(spec(server_id, (nic,)))  # a port in use: its network gets wired
    harness.settle()
    assert d.network() == topo
    assert harness.wired(net)
    emptied = replace(topo, generation=21, networks=(), subnets=(), ports=())
    d.apply_network(emptied)
    harness.settle()
    assert d.network() == emptied
    assert not harness.wired(net)
    d.apply_network(topo)  # generation 20 < 21: ignored
    harness.settle()
    assert d.network() == emptied and not harness.wired(net)
    d.destroy(server_id)


def test_topology_crosses_json(harness):
    """A topology survives a trip through JSON unchanged, and the driver takes the copy."""
    server_id = str(uuid.uuid4())
    topo, _ = world(30, server_id)
    topo = replace(topo, security_groups=(t.SecurityGroup(str(uuid.uuid4()), rules=(
        t.Rule("ingress", protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0"),)),),
        routers=(t.Router(str(uuid.uuid4()), routes=(t.Route("192.0.2.0/24", "10.251.7.50"),)),),
        floating_ips=(t.FloatingIP("198.18.250.20"),))
    copy = t.from_dict(json.loads(json.dumps(t.as_dict(topo))))
    assert copy == topo
    harness.driver.apply_network(copy)
    harness.settle()
    assert harness.driver.network() == topo


def owned_by(driver: Driver, server_id: str) -> list[Owned]:
    return [o for o in driver.owned() if o.owner_kind == "server" and o.owner_id == server_id]


def test_owned_lists_an_instance_as_plain_data(harness):
    """While an instance runs, the driver lists something it owns for it, as plain data that
    crosses JSON; once it is destroyed, nothing of it is listed."""
    d, server_id = harness.driver, str(uuid.uuid4())
    topo, nic = world(34, server_id)
    d.apply_network(topo)
    d.spawn(spec(server_id, (nic,)))
    owned = d.owned()
    assert owned and all(isinstance(o, Owned) for o in owned)
    assert [Owned(**o) for o in json.loads(json.dumps([asdict(o) for o in owned]))] == owned
    assert owned_by(d, server_id)
    d.destroy(server_id)
    assert owned_by(d, server_id) == []


def test_cleanup_keeps_what_the_topology_holds(harness):
    """``cleanup`` removes an instance the topology no longer lists, and keeps one it lists
    running; a second cleanup finds nothing more."""
    d = harness.driver
    kept, gone = str(uuid.uuid4()), str(uuid.uuid4())
    topo, nic = world(36, kept)
    d.apply_network(replace(topo, servers=(kept, gone)))
    d.spawn(spec(kept, (nic,)))
    d.spawn(spec(gone))
    d.apply_network(replace(topo, generation=37))  # ``gone`` was deleted from the cloud
    harness.settle()
    removed = d.cleanup()
    assert gone in removed and kept not in removed, removed
    assert gone not in d.running() and owned_by(d, gone) == []
    assert d.power_states([kept]) == {kept: RUNNING} and owned_by(d, kept)
    assert d.cleanup() == []
    d.destroy(kept)


def test_cleanup_leaves_nothing(harness):
    """After an instance with a wired network, cleanup with ``everything`` removes it and leaves
    nothing with the cs- prefix, and nothing owned."""
    d, server_id = harness.driver, str(uuid.uuid4())
    topo, nic = world(40, server_id)
    d.apply_network(topo)
    d.spawn(spec(server_id, (nic,)))
    harness.settle()
    assert harness.wired(topo.networks[0].id)
    assert server_id in harness.cleanup()
    assert harness.leftovers() == {}
    assert d.owned() == []
    assert d.cleanup(everything=True) == []
