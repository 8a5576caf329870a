"""Ports: MAC and fixed IPs allocated without collisions, security groups, binding.

An address is taken under a lock on its subnet's row (``SELECT ... FOR UPDATE``; SQLite's write
transactions are serial anyway), and the (subnet, address) unique key is the last word.
"""

from __future__ import annotations

import secrets
from typing import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from caas.errors import BadRequest, Conflict
from caas.context import AuthContext
from caas.network import ipam
from caas.network.common import Base, not_found, touch
from caas.network.models import FloatingIP, Network, Port, PortIP, PortSecurityGroup, SecurityGroup, Subnet
from caas.network.records import Address, PortRecord, ServerPort
from caas.network.requests import Authorize, PortChanges, PortCreate, allow, given
from caas.network.tags import tags_of

ROUTER_INTERFACE = "network:router_interface"
ROUTER_OWNERS = (ROUTER_INTERFACE, "network:router_gateway", "network:floatingip")
# The columns of a port that a list may filter on in its query.
SQL_FILTERS = ("device_id", "device_owner", "network_id", "project_id", "mac_address")
MAC_RE_HEX = set("0123456789abcdef")


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def valid_mac(mac: str) -> str:
    parts = mac.lower().split(":")
    if len(parts) != 6 or any(len(p) != 2 or not set(p) <= MAC_RE_HEX for p in parts):
        raise BadRequest(f"Invalid input for mac_address. Reason: '{mac}' is not a valid MAC address.",
                         kind="InvalidInput")
    if int(parts[0], 16) & 1:
        raise BadRequest(f"Invalid input for mac_address. Reason: '{mac}' is a multicast address.",
                         kind="InvalidInput")
    return ":".join(parts)


class PortsMixin(Base):
    def port_records(self, s: Session, ports: list[Port]) -> list[PortRecord]:
        """Records of many ports in three queries, whatever their number."""
        ids = [p.id for p in ports]
        ips: dict[str, list[Address]] = {i: [] for i in ids}
        sgs: dict[str, list[str]] = {i: [] for i in ids}
        for chunk in _chunks(ids, 500):
            for pid, sid, addr in s.execute(select(PortIP.port_id, PortIP.subnet_id, PortIP.ip_address)
                                            .where(PortIP.port_id.in_(chunk)).order_by(PortIP.id)):
                ips[pid].append(Address(sid, addr))
            for pid, gid in s.execute(select(PortSecurityGroup.port_id, PortSecurityGroup.security_group_id)
                                      .where(PortSecurityGroup.port_id.in_(chunk))):
                sgs[pid].append(gid)
        return [PortRecord(p, tuple(ips[p.id]), tuple(sgs[p.id])) for p in ports]

    def device_ports(self, device_ids: list[str]) -> dict[str, list[ServerPort]]:
        """The ports of many devices (servers), for the compute API's ``addresses`` and
        ``security_groups``, in a few queries whatever their number: {device_id: [ServerPort]},
        ports in creation order."""
        out: dict[str, list[ServerPort]] = {d: [] for d in device_ids}
        with self.db.read() as s:
            ports: list[Port] = []
            for chunk in _chunks(list(device_ids), 500):
                ports.extend(s.scalars(select(Port).where(Port.device_id.in_(chunk))
                                       .order_by(Port.created_at, Port.id)))
            if not ports:
                return out
            ids = [p.id for p in ports]
            ips: dict[str, list[dict]] = {i: [] for i in ids}
            fips: dict[str, list[str]] = {i: [] for i in ids}
            groups: dict[str, list[str]] = {i: [] for i in ids}
            net_names, mtus = {}, {}
            net_ids = list({p.network_id for p in ports})
            for chunk in _chunks(net_ids, 500):
                for nid, name, mtu in s.execute(select(Network.id, Network.name, Network.mtu)
                                                .where(Network.id.in_(chunk))):
                    net_names[nid], mtus[nid] = name, mtu
            for chunk in _chunks(ids, 500):
                for pid, sid, addr, cidr, gateway, dns in s.execute(
                        select(PortIP.port_id, PortIP.subnet_id, PortIP.ip_address, Subnet.cidr, Subnet.gateway_ip,
                               Subnet.dns_nameservers).join(Subnet, Subnet.id == PortIP.subnet_id)
                        .where(PortIP.port_id.in_(chunk)).order_by(PortIP.id)):
                    ips[pid].append({"subnet_id": sid, "ip_address": addr, "cidr": cidr, "gateway_ip": gateway,
                                     "dns_nameservers": list(dns or [])})
                for pid, addr in s.execute(select(FloatingIP.port_id, FloatingIP.floating_ip_address)
                                           .where(FloatingIP.port_id.in_(chunk))):
                    fips[pid].append(addr)
                for pid, name in s.execute(select(PortSecurityGroup.port_id, SecurityGroup.name)
                                           .join(SecurityGroup, SecurityGroup.id == PortSecurityGroup.security_group_id)
                                           .where(PortSecurityGroup.port_id.in_(chunk))):
                    groups[pid].append(name)
            for p in ports:
                out[p.device_id].append(ServerPort(p.id, p.mac_address, p.network_id, net_names.get(p.network_id, ""),
                                                   mtus.get(p.network_id, 1500), tuple(ips[p.id]),
                                                   tuple(fips[p.id]), tuple(groups[p.id])))
        return out

    def list_ports(self, ctx: AuthContext, where: Iterable[tuple[str, list[str]]] = ()) -> list[PortRecord]:
        """The ports ``ctx`` sees. ``where``: filters (a column of ``SQL_FILTERS``, the values
        it may have; all of them hold), applied in the query so that a filtered list does not
        read every port (the API's list applies all its filters again)."""
        with self.db.read() as s:
            stmt = select(Port)
            for column, values in where:
                if column in SQL_FILTERS and values:
                    stmt = stmt.where(getattr(Port, column).in_(values))
            if not ctx.is_admin:
                own_nets = select(Network.id).where(Network.project_id == ctx.project_id)
                stmt = stmt.where((Port.project_id == ctx.project_id) | Port.network_id.in_(own_nets))
            return self.port_records(s, list(s.scalars(stmt)))

    def get_port(self, s: Session, ctx: AuthContext, port_id: str, lock: bool = False) -> Port:
        port = s.get(Port, port_id, with_for_update=lock) if port_id else None
        if port is None:
            raise not_found(Port, port_id)
        if not ctx.is_admin and port.project_id != ctx.project_id:
            net = s.get(Network, port.network_id)
            if net.project_id != ctx.project_id:
                raise not_found(Port, port_id)
        return port

    def show_port(self, ctx: AuthContext, port_id: str) -> PortRecord:
        with self.db.read() as s:
            return self.port_records(s, [self.get_port(s, ctx, port_id)])[0]

    # ---- allocation ----------------------------------------------------------------------
    def allocate_ip(self, s: Session, port: Port, subnet: Subnet, address: str | None = None,
                    allow_gateway: bool = False) -> str:
        """Give ``port`` an address of ``subnet``: the one asked for, or the lowest free one of
        the pools. 409 when it is taken or the pools are full."""
        s.get(Subnet, subnet.id, with_for_update=True)  # serialise allocations on this subnet
        if address is not None:
            ip = ipam.parse_ip(address)
            net = ipam.parse_cidr(subnet.cidr)
            first, last = ipam.usable_range(net)
            if ip not in net or not first <= ip <= last:
                raise BadRequest(f"IP address {address} is not a valid IP for the specified subnet.",
                                 kind="InvalidIpForSubnet")
            address = ipam.ip_text(ip)
            if address == subnet.gateway_ip and not allow_gateway:
                raise Conflict(f"IP address {address} already allocated in subnet {subnet.id}",
                               kind="IpAddressAlreadyAllocated")
            if s.scalar(select(PortIP.id).where(PortIP.subnet_id == subnet.id, PortIP.ip_address == address)):
                raise Conflict(f"IP address {address} already allocated in subnet {subnet.id}",
                               kind="IpAddressAlreadyAllocated")
        else:
            address = self._pick_free(s, subnet)
        s.add(PortIP(port_id=port.id, subnet_id=subnet.id, ip_address=address))
        s.flush()
        self.address_hints.take(subnet.id, address)
        return address

    def _pick_free(self, s: Session, subnet: Subnet) -> str:
        """The lowest free address of the pools, from the hints, checked against the database;
        a full reload from the database before saying the subnet is full."""
        taken = self.address_hints.get(subnet.id)
        reloaded = taken is None
        if taken is None:
            taken = self._load_hints(s, subnet.id)
        while True:
            address = ipam.lowest_free(subnet.allocation_pools, taken)
            if address is None:
                if reloaded:
                    raise Conflict(f"No more IP addresses available on network {subnet.network_id}.",
                                   kind="IpAddressGenerationFailure")
                taken, reloaded = self._load_hints(s, subnet.id), True
                continue
            if not s.scalar(select(PortIP.id).where(PortIP.subnet_id == subnet.id, PortIP.ip_address == address)):
                return address
            taken.add(int(ipam.parse_ip(address)))  # taken by another process: the hints were stale

    def _load_hints(self, s: Session, subnet_id: str) -> set[int]:
        return self.address_hints.load(subnet_id, s.scalars(select(PortIP.ip_address)
                                                            .where(PortIP.subnet_id == subnet_id)))

    def _assign_fixed_ips(self, s: Session, port: Port, requested: list[dict] | None) -> None:
        subnets = list(s.scalars(select(Subnet).where(Subnet.network_id == port.network_id).order_by(Subnet.created_at,
                                                                                                     Subnet.id)))
        by_id = {x.id: x for x in subnets}
        if requested is None:
            # One address of the first subnet of each IP version that has room, as Neutron does.
            for version in (4, 6):
                candidates = [x for x in subnets if x.ip_version == version]
                for i, sub in enumerate(candidates):
                    try:
                        self.allocate_ip(s, port, sub)
                        break
                    except Conflict:
                        if i == len(candidates) - 1:
                            raise
            return
        for item in requested:
            subnet_id, address = item.get("subnet_id"), item.get("ip_address")
            if subnet_id is None and address is None:
                raise BadRequest("Invalid input: a fixed_ips entry needs subnet_id or ip_address.", kind="InvalidInput")
            if subnet_id is not None:
                sub = by_id.get(subnet_id)
                if sub is None:
                    raise BadRequest(f"Invalid input for operation: Failed to create port on network "
                                     f"{port.network_id}, because fixed_ips included invalid subnet {subnet_id}.",
                                     kind="InvalidInput")
            else:
                ip = ipam.parse_ip(address)
                sub = next((x for x in subnets if ip in ipam.parse_cidr(x.cidr)), None)
                if sub is None:
                    raise BadRequest(f"IP address {address} is not a valid IP for any subnet on network "
                                     f"{port.network_id}.", kind="InvalidIpForNetwork")
            self.allocate_ip(s, port, sub, address, allow_gateway=port.device_owner == "network:router_interface")

    def _set_security_groups(self, s: Session, ctx: AuthContext, port: Port, group_ids: list[str] | None,
                             new: bool = False) -> None:
        if not new:
            s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
        if group_ids is None:
            if not port.port_security_enabled or port.device_owner.startswith("network:"):
                return
            group_ids = [self.default_security_group(s, port.project_id)]
        if group_ids and not port.port_security_enabled:
            raise Conflict("Port has port security disabled; it cannot have security groups.",
                           kind="PortSecurityAndIPRequiredForSecurityGroups")
        for gid in dict.fromkeys(group_ids):
            group = s.get(SecurityGroup, gid)
            if group is None or not (ctx.is_admin or group.project_id == port.project_id):
                raise not_found(SecurityGroup, gid)
            s.add(PortSecurityGroup(port_id=port.id, security_group_id=gid))

    def make_port(self, s: Session, ctx: AuthContext, net: Network, project_id: str, req: PortCreate,
                  claim: bool = True) -> Port:
        """A new port of ``project_id`` on ``net``, its addresses and security groups."""
        # A shared lock on the network, taken before any subnet lock: a concurrent network
        # delete (which locks the network first) waits or sees the port, never deadlocks.
        s.get(Network, net.id, with_for_update={"read": True})
        if claim:
            self.claim(s, project_id, "port")
        mac = valid_mac(req.mac_address) if req.mac_address else random_mac()
        if s.scalar(select(Port.id).where(Port.network_id == net.id, Port.mac_address == mac)):
            if req.mac_address:
                raise Conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is in use.",
                               kind="MacAddressInUse")
            mac = random_mac()
        security = req.port_security_enabled if given(req.port_security_enabled) else net.port_security_enabled
        port = Port(project_id=project_id, network_id=net.id, mac_address=mac, name=req.name or "",
                    description=req.description or "", admin_state_up=req.admin_state_up,
                    device_id=req.device_id or "", device_owner=req.device_owner or "",
                    host_id=req.host_id or "", vnic_type=req.vnic_type or "normal", port_security_enabled=security,
                    allowed_address_pairs=req.allowed_address_pairs or [], tags=tags_of(req.tags, "ports"))
        port.status = "ACTIVE" if port.host_id else "DOWN"
        s.add(port)
        s.flush()
        self._assign_fixed_ips(s, port, req.fixed_ips)
        self._set_security_groups(s, ctx, port, req.security_groups, new=True)
        return port

    def create_port(self, ctx: AuthContext, req: PortCreate, authorize: Authorize = allow) -> PortRecord:
        project_id = self.target_project(ctx, req.project_id)
        with self.db.write() as s:
            net = self.get_network(s, ctx, req.network_id)
            if not (ctx.is_admin or net.project_id == ctx.project_id or net.shared):
                raise not_found(Network, req.network_id)  # an external network takes no tenant ports
            authorize(ctx, net.project_id)
            port = self.make_port(s, ctx, net, project_id, req)
            return self.port_records(s, [port])[0]

    def update_port(self, ctx: AuthContext, port_id: str, changes: PortChanges,
                    authorize: Authorize = allow) -> PortRecord:
        with self.db.write() as s:
            port = self.get_port(s, ctx, port_id, lock=True)
            authorize(ctx, s.get(Network, port.network_id).project_id)
            if given(changes.fixed_ips):
                self._update_fixed_ips(s, port, changes.fixed_ips or [])
            if given(changes.port_security_enabled):
                port.port_security_enabled = changes.port_security_enabled
            if given(changes.security_groups):
                self._set_security_groups(s, ctx, port, changes.security_groups or [])
            elif given(changes.port_security_enabled) and not port.port_security_enabled:
                s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
            for attr in ("name", "description", "admin_state_up", "device_id", "device_owner", "host_id", "vnic_type",
                         "allowed_address_pairs"):
                if getattr(changes, attr) is not None:
                    setattr(port, attr, getattr(changes, attr))
            if changes.mac_address:
                port.mac_address = valid_mac(changes.mac_address)
            port.status = "ACTIVE" if port.host_id else "DOWN"
            touch(port)
            s.flush()
            return self.port_records(s, [port])[0]

    def _update_fixed_ips(self, s: Session, port: Port, requested: list[dict]) -> None:
        """Make the port's fixed IPs ``requested``, as Neutron does: an address already held
        (named, or a subnet the port already has an address on) is kept, the others are freed,
        the new ones taken. A router interface keeps its IPv4 addresses (Neutron's
        ``l3-port-ip-change-not-allowed``: 400) and may change its IPv6 ones (the router's
        interface follows: the netns driver reads the port's addresses). The addresses of a
        router gateway or floating IP port are their router's (409)."""
        if port.device_owner in ROUTER_OWNERS and port.device_owner != ROUTER_INTERFACE:
            raise Conflict("The addresses of a router gateway or floating IP port are managed by its router.",
                           kind="PortInUse")
        original = list(s.scalars(select(PortIP).where(PortIP.port_id == port.id).order_by(PortIP.id)))
        add, remove = changed_ips(original, requested)
        if port.device_owner == ROUTER_INTERFACE and any(_version(s, ip) == 4 for ip in [*add, *remove]):
            raise BadRequest(f"Bad ports request: IP updates for port {port.id} are not allowed.", kind="BadRequest")
        self.release_ips(s, remove)
        self._assign_fixed_ips(s, port, add)

    def delete_port(self, ctx: AuthContext, port_id: str) -> None:
        with self.db.write() as s:
            port = self.get_port(s, ctx, port_id, lock=True)
            if port.device_owner in ROUTER_OWNERS:
                raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                               f"{port.device_owner}.", kind="ServicePortInUse")
            self.drop_port(s, port)

    def release_ips(self, s: Session, ips: list[PortIP]) -> None:
        """Free these fixed IPs (in the database and in the address hints)."""
        for ip in ips:
            self.address_hints.release(ip.subnet_id, ip.ip_address)
        if ips:
            s.execute(delete(PortIP).where(PortIP.id.in_([ip.id for ip in ips])))

    def _release_ips(self, s: Session, port: Port) -> None:
        """Free every fixed IP of ``port`` (in the database and in the address hints)."""
        for subnet_id, address in s.execute(select(PortIP.subnet_id, PortIP.ip_address).where(PortIP.port_id == port.id)):
            self.address_hints.release(subnet_id, address)
        s.execute(delete(PortIP).where(PortIP.port_id == port.id))

    def drop_port(self, s: Session, port: Port) -> None:
        """Delete a port and everything that hangs on it (floating IPs are disassociated)."""
        s.execute(update(FloatingIP).where(FloatingIP.port_id == port.id)
                  .values(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
        self._release_ips(s, port)
        s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
        s.delete(port)


def changed_ips(original: list[PortIP], requested: list[dict]) -> tuple[list[dict], list[PortIP]]:
    """Neutron's ``_get_changed_ips_for_port``: (the requested entries to allocate, the held
    addresses to free). An entry naming an address the port holds keeps it; then an entry
    naming only a subnet keeps an address the port holds there; what is left over is freed."""
    requested = [{k: v for k, v in item.items() if v is not None} for item in requested]
    by_address = {ip.ip_address: ip for ip in original}
    add = []
    for item in requested:
        if "ip_address" in item:
            held = by_address.pop(str(ipam.parse_ip(item["ip_address"], "fixed_ips")), None)
            if held is None:
                add.append(item)
    by_subnet: dict[str, list[PortIP]] = {}
    for ip in by_address.values():
        by_subnet.setdefault(ip.subnet_id, []).append(ip)
    for item in requested:
        if "ip_address" not in item:
            if by_subnet.get(item.get("subnet_id")):
                by_subnet[item["subnet_id"]].pop()
            else:
                add.append(item)
    return add, [ip for ips in by_subnet.values() for ip in ips]


def _version(s: Session, ip: PortIP | dict) -> int | None:
    """The IP version of a held address or of a requested entry (its address, else its
    subnet's; None for a subnet that does not exist: the allocation says so)."""
    address = ip.ip_address if isinstance(ip, PortIP) else ip.get("ip_address")
    if address:
        return ipam.parse_ip(address, "fixed_ips").version
    subnet = s.get(Subnet, ip["subnet_id"]) if ip.get("subnet_id") else None
    return subnet.ip_version if subnet is not None else None


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
