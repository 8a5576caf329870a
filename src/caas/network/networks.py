"""Networks (with their segmentation ids) and subnets (CIDR, gateway, pools, DNS, routes)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from caas.errors import BadRequest, Conflict, Forbidden
from caas.context import AuthContext
from caas.network import ipam
from caas.network.common import GLOBAL_LOCK, Base, not_found, touch
from caas.network.models import Network, Port, PortIP, Subnet
from caas.network.records import NetworkRecord, SubnetRecord
from caas.network.requests import Authorize, NetworkChanges, NetworkCreate, SubnetChanges, SubnetCreate, allow, given
from caas.network.tags import tags_of

SEGMENT_RANGES = {"vlan": (1, 4094), "vxlan": (1, 2**24 - 1), "geneve": (1, 2**24 - 1), "gre": (1, 2**32 - 1)}
NETWORK_TYPES = ("flat", "local", *SEGMENT_RANGES)
MTU = {"vxlan": 1450, "geneve": 1442, "gre": 1458}


class NetworksMixin(Base):
    # ---- networks ------------------------------------------------------------------------
    def _network_records(self, s: Session, nets: list[Network]) -> list[NetworkRecord]:
        """Records of many networks, with their subnets, in one more query."""
        ids = [n.id for n in nets]
        by_net: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for sid, nid in s.execute(select(Subnet.id, Subnet.network_id).where(Subnet.network_id.in_(ids))):
                by_net[nid].append(sid)
        return [NetworkRecord(n, tuple(by_net[n.id])) for n in nets]

    def list_networks(self, ctx: AuthContext) -> list[NetworkRecord]:
        with self.db.read() as s:
            stmt = select(Network)
            if not ctx.is_admin:
                stmt = stmt.where(or_(Network.project_id == ctx.project_id, Network.shared.is_(True),
                                      Network.external.is_(True)))
            return self._network_records(s, list(s.scalars(stmt)))

    def show_network(self, ctx: AuthContext, network_id: str) -> NetworkRecord:
        with self.db.read() as s:
            return self._network_records(s, [self.get_network(s, ctx, network_id)])[0]

    def _allocate_segment(self, s: Session, network_type: str) -> int:
        low, high = self.settings.segmentation_range
        low, high = max(low, SEGMENT_RANGES[network_type][0]), min(high, SEGMENT_RANGES[network_type][1])
        # Serialise allocations (one lock row), then take the lowest free id.
        self.lock_project(s, GLOBAL_LOCK)
        used = set(s.scalars(select(Network.segmentation_id).where(Network.network_type == network_type,
                                                                  Network.segmentation_id.is_not(None))))
        for candidate in range(low, high + 1):
            if candidate not in used:
                return candidate
        raise Conflict("Unable to create the network. No tenant network is available for allocation.",
                       kind="NoNetworkAvailable")

    def create_network(self, ctx: AuthContext, req: NetworkCreate, authorize: Authorize = allow) -> NetworkRecord:
        project_id = self.target_project(ctx, req.project_id)
        authorize(ctx, None)
        external = bool(req.external)
        net_type = req.network_type or ("flat" if external else self.settings.tenant_network_type)
        if net_type not in NETWORK_TYPES:
            raise BadRequest(f"Invalid input: network type {net_type} is not supported.", kind="InvalidInput")
        seg = req.segmentation_id
        with self.db.write() as s:
            self.claim(s, project_id, "network")
            if net_type in SEGMENT_RANGES:
                if seg is None:
                    seg = self._allocate_segment(s, net_type)
                else:
                    low, high = SEGMENT_RANGES[net_type]
                    if not low <= seg <= high:
                        raise BadRequest(f"Invalid input: segmentation_id {seg} is outside {low}..{high} "
                                         f"for {net_type}.", kind="InvalidInput")
                    if s.scalar(select(Network.id).where(Network.network_type == net_type,
                                                         Network.segmentation_id == seg)):
                        raise Conflict(f"Unable to create the network. The {net_type} id {seg} is in use.",
                                       kind="SegmentationIdInUse")
            elif seg is not None:
                raise BadRequest(f"Invalid input: {net_type} networks have no segmentation_id.", kind="InvalidInput")
            net = Network(project_id=project_id, name=req.name or "", description=req.description or "",
                          admin_state_up=req.admin_state_up, shared=bool(req.shared),
                          external=external, network_type=net_type, segmentation_id=seg,
                          physical_network=req.physical_network, mtu=req.mtu or MTU.get(net_type, 1500),
                          port_security_enabled=req.port_security_enabled, tags=tags_of(req.tags, "networks"))
            s.add(net)
            s.flush()
            return self._network_records(s, [net])[0]

    def update_network(self, ctx: AuthContext, network_id: str, changes: NetworkChanges,
                       authorize: Authorize = allow) -> NetworkRecord:
        with self.db.write() as s:
            net = self.get_owned(s, ctx, Network, network_id)
            authorize(ctx, None)
            for attr in ("name", "description", "admin_state_up", "shared", "external", "mtu", "port_security_enabled"):
                if getattr(changes, attr) is not None:
                    setattr(net, attr, getattr(changes, attr))
            touch(net)
            s.flush()
            return self._network_records(s, [net])[0]

    def delete_network(self, ctx: AuthContext, network_id: str) -> None:
        with self.db.write() as s:
            # Network row first, then subnets: the order port creation takes them in too.
            net = self.get_owned(s, ctx, Network, network_id, lock=True)
            if s.scalar(select(exists().where(Port.network_id == net.id))):
                raise Conflict(f"Unable to complete operation on network {net.id}. There are one or more ports "
                               "still in use on the network.", kind="NetworkInUse")
            s.execute(delete(Subnet).where(Subnet.network_id == net.id))
            s.delete(net)

    # ---- subnets -------------------------------------------------------------------------
    @staticmethod
    def _subnet_visible(ctx: AuthContext, sub: Subnet, net: Network) -> bool:
        """Neutron's get_subnet: admins, the subnet's project, the network's owner, anyone for
        the subnets of shared networks and of external networks (the floating IP pools)."""
        return (ctx.is_admin or sub.project_id == ctx.project_id or net.project_id == ctx.project_id
                or net.shared or net.external)

    @staticmethod
    def _subnet_records(s: Session, subnets: list[Subnet]) -> list[SubnetRecord]:
        """Records of many subnets, with whether their network is external, in one more query
        (external networks are few: all their ids, whatever the number of subnets)."""
        external = set(s.scalars(select(Network.id).where(Network.external.is_(True)))) if subnets else set()
        return [SubnetRecord(x, x.network_id in external) for x in subnets]

    def get_subnet(self, s: Session, ctx: AuthContext, subnet_id: str) -> Subnet:
        sub = s.get(Subnet, subnet_id) if subnet_id else None
        if sub is None or not self._subnet_visible(ctx, sub, s.get(Network, sub.network_id)):
            raise not_found(Subnet, subnet_id)
        return sub

    def list_subnets(self, ctx: AuthContext) -> list[SubnetRecord]:
        with self.db.read() as s:
            stmt = select(Subnet)
            if not ctx.is_admin:
                visible_nets = select(Network.id).where(or_(Network.shared.is_(True), Network.external.is_(True),
                                                            Network.project_id == ctx.project_id))
                stmt = stmt.where(or_(Subnet.project_id == ctx.project_id, Subnet.network_id.in_(visible_nets)))
            return self._subnet_records(s, list(s.scalars(stmt)))

    def show_subnet(self, ctx: AuthContext, subnet_id: str) -> SubnetRecord:
        with self.db.read() as s:
            return self._subnet_records(s, [self.get_subnet(s, ctx, subnet_id)])[0]

    def create_subnet(self, ctx: AuthContext, req: SubnetCreate, authorize: Authorize = allow) -> SubnetRecord:
        project_id = self.target_project(ctx, req.project_id)
        authorize(ctx, None)
        net_cidr = ipam.parse_cidr(req.cidr, req.ip_version)
        cidr = ipam.net_text(net_cidr)
        if given(req.gateway_ip):
            gateway = None if req.gateway_ip is None else ipam.validate_gateway(net_cidr, req.gateway_ip)
        else:
            gateway = ipam.default_gateway(net_cidr)
        if req.allocation_pools:
            pools = ipam.validate_pools(net_cidr, req.allocation_pools, gateway)
        else:
            pools = ipam.default_pools(net_cidr, gateway)
        dns = _dns(req.dns_nameservers or [])
        routes = _routes(req.host_routes or [], net_cidr.version)
        with self.db.write() as s:
            net = self.get_network(s, ctx, req.network_id)
            if not ctx.is_admin and net.project_id != ctx.project_id:  # a shared or external network
                raise Forbidden("rule:create_subnet is disallowed by policy", kind="PolicyNotAuthorized")
            self.claim(s, project_id, "subnet")
            for other in s.scalars(select(Subnet).where(Subnet.network_id == net.id)):
                if ipam.overlaps(other.cidr, cidr):
                    raise BadRequest(f"Invalid input for operation: Requested subnet with cidr: {cidr} for network: "
                                     f"{net.id} overlaps with another subnet.", kind="InvalidInput")
            sub = Subnet(project_id=project_id, network_id=net.id, name=req.name or "",
                         description=req.description or "", ip_version=net_cidr.version, cidr=cidr,
                         gateway_ip=gateway, allocation_pools=pools, dns_nameservers=dns, host_routes=routes,
                         enable_dhcp=req.enable_dhcp, ipv6_ra_mode=req.ipv6_ra_mode,
                         ipv6_address_mode=req.ipv6_address_mode, tags=tags_of(req.tags, "subnets"))
            s.add(sub)
            touch(net)
            s.flush()
            return self._subnet_records(s, [sub])[0]

    def update_subnet(self, ctx: AuthContext, subnet_id: str, changes: SubnetChanges) -> SubnetRecord:
        with self.db.write() as s:
            sub = self.get_owned(s, ctx, Subnet, subnet_id, lock=True)
            net_cidr = ipaddress.ip_network(sub.cidr)
            if given(changes.gateway_ip):
                gateway = None if changes.gateway_ip is None else ipam.validate_gateway(net_cidr, changes.gateway_ip)
                if gateway and ipam.in_pools(gateway, changes.allocation_pools or sub.allocation_pools):
                    raise BadRequest(f"Gateway ip {gateway} conflicts with an allocation pool.", kind="InvalidInput")
                sub.gateway_ip = gateway
            if given(changes.allocation_pools):
                sub.allocation_pools = ipam.validate_pools(net_cidr, changes.allocation_pools or [], sub.gateway_ip)
                self.address_hints.forget(sub.id)
            if given(changes.dns_nameservers):
                sub.dns_nameservers = _dns(changes.dns_nameservers or [])
            if given(changes.host_routes):
                sub.host_routes = _routes(changes.host_routes or [], net_cidr.version)
            for key in ("name", "description", "enable_dhcp"):
                if getattr(changes, key) is not None:
                    setattr(sub, key, getattr(changes, key))
            touch(sub)
            s.flush()
            return self._subnet_records(s, [sub])[0]

    def delete_subnet(self, ctx: AuthContext, subnet_id: str) -> None:
        with self.db.write() as s:
            sub = self.get_owned(s, ctx, Subnet, subnet_id, lock=True)
            if s.scalar(select(exists().where(PortIP.subnet_id == sub.id))):
                raise Conflict(f"Unable to complete operation on subnet {sub.id}: One or more ports have an IP "
                               "allocation from this subnet.", kind="SubnetInUse")
            s.delete(sub)
            self.address_hints.forget(sub.id)


def _dns(servers: list[str]) -> list[str]:
    out = []
    for server in servers:
        out.append(ipam.ip_text(ipam.parse_ip(server, "dns_nameservers")))
    if len(set(out)) != len(out):
        raise BadRequest("Duplicate nameserver in dns_nameservers.", kind="InvalidInput")
    return out


def _routes(routes: list[dict], version: int) -> list[dict]:
    out = []
    for route in routes:
        try:
            dest = ipaddress.ip_network(route["destination"], strict=True)
        except (ValueError, KeyError, TypeError):
            raise BadRequest(f"Invalid input for host_routes: bad destination in {route!r}.", kind="InvalidInput") from None
        hop = ipam.parse_ip(route.get("nexthop", ""), "host_routes")
        if dest.version != version or hop.version != version:
            raise BadRequest("Invalid input for host_routes: IP version mismatch.", kind="InvalidInput")
        out.append({"destination": ipam.net_text(dest), "nexthop": ipam.ip_text(hop)})
    return out
