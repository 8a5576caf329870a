"""Routers (external gateway with SNAT, interfaces on subnets) and floating IPs (an address of
an external network, reachable through a router, associated to a port)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.errors import BadRequest, Conflict, NotFound
from caas.context import AuthContext
from caas.network import ipam
from caas.network.common import Base, not_found, touch
from caas.network.models import FloatingIP, Network, Port, PortIP, Router, Subnet
from caas.network.records import Address, Interface, RouterRecord
from caas.network.requests import (Authorize, FloatingIPChanges, FloatingIPCreate, InterfaceRequest, PortCreate,
                                   RouterChanges, RouterCreate, allow, given)
from caas.network.tags import tags_of

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
FLOATING = "network:floatingip"


class RoutersMixin(Base):
    # ---- routers -------------------------------------------------------------------------
    def _router_records(self, s: Session, routers: list[Router]) -> list[RouterRecord]:
        out = []
        for r in routers:
            ips: list[Address] = []
            if r.gateway_port_id:
                ips = [Address(sid, addr) for sid, addr in
                       s.execute(select(PortIP.subnet_id, PortIP.ip_address).where(PortIP.port_id == r.gateway_port_id))]
            out.append(RouterRecord(r, tuple(ips)))
        return out

    def list_routers(self, ctx: AuthContext) -> list[RouterRecord]:
        with self.db.read() as s:
            stmt = select(Router) if ctx.is_admin else select(Router).where(Router.project_id == ctx.project_id)
            return self._router_records(s, list(s.scalars(stmt)))

    def show_router(self, ctx: AuthContext, router_id: str) -> RouterRecord:
        with self.db.read() as s:
            return self._router_records(s, [self.get_owned(s, ctx, Router, router_id)])[0]

    def create_router(self, ctx: AuthContext, req: RouterCreate, authorize: Authorize = allow) -> RouterRecord:
        project_id = self.target_project(ctx, req.project_id)
        authorize(ctx, None)
        with self.db.write() as s:
            self.claim(s, project_id, "router")
            router = Router(project_id=project_id, name=req.name or "", description=req.description or "",
                            admin_state_up=req.admin_state_up, tags=tags_of(req.tags, "routers"))
            s.add(router)
            s.flush()
            if req.external_gateway_info:
                self._set_gateway(s, ctx, router, req.external_gateway_info)
            return self._router_records(s, [router])[0]

    def update_router(self, ctx: AuthContext, router_id: str, changes: RouterChanges,
                      authorize: Authorize = allow) -> RouterRecord:
        with self.db.write() as s:
            router = self.get_owned(s, ctx, Router, router_id, lock=True)
            authorize(ctx, None)
            if given(changes.external_gateway_info):
                info = changes.external_gateway_info
                if info and info.get("network_id"):
                    self._set_gateway(s, ctx, router, info)
                else:
                    self._clear_gateway(s, router)
            if given(changes.routes):
                router.routes = self._validate_routes(s, router, changes.routes or [])
            for key in ("name", "description", "admin_state_up"):
                if getattr(changes, key) is not None:
                    setattr(router, key, getattr(changes, key))
            touch(router)
            s.flush()
            return self._router_records(s, [router])[0]

    def delete_router(self, ctx: AuthContext, router_id: str) -> None:
        with self.db.write() as s:
            router = self.get_owned(s, ctx, Router, router_id, lock=True)
            if s.scalar(select(Port.id).where(Port.device_id == router.id, Port.device_owner == INTERFACE)):
                raise Conflict(f"Router {router.id} still has ports", kind="RouterInUse")
            self._clear_gateway(s, router)
            s.delete(router)

    def _set_gateway(self, s: Session, ctx: AuthContext, router: Router, info: dict) -> None:
        net = s.get(Network, info.get("network_id"))
        if net is None:
            raise not_found(Network, info.get("network_id"))
        if not net.external:
            raise BadRequest(f"Bad router request: Network {net.id} is not an external network.", kind="BadRequest")
        if "enable_snat" in info and info["enable_snat"] is not None:
            router.enable_snat = bool(info["enable_snat"])
        if router.gateway_network_id == net.id and not info.get("external_fixed_ips"):
            return  # same gateway: only the SNAT flag may have changed
        if router.gateway_network_id:
            self._clear_gateway(s, router)
        fixed = info.get("external_fixed_ips")
        port = self.make_port(s, ctx, net, "", PortCreate(net.id, device_owner=GATEWAY, device_id=router.id,
                                                          fixed_ips=fixed or None, port_security_enabled=False),
                              claim=False)
        if not s.scalar(select(PortIP.id).where(PortIP.port_id == port.id)):
            raise BadRequest(f"Bad router request: external network {net.id} has no subnet.", kind="BadRequest")
        port.status = "ACTIVE"
        router.gateway_network_id, router.gateway_port_id = net.id, port.id

    def _clear_gateway(self, s: Session, router: Router) -> None:
        if not router.gateway_port_id:
            router.gateway_network_id = None
            return
        if s.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id)):
            raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to external network "
                           f"{router.gateway_network_id} is required by one or more floating IPs.",
                           kind="RouterExternalGatewayInUseByFloatingIp")
        port = s.get(Port, router.gateway_port_id)
        router.gateway_network_id, router.gateway_port_id = None, None
        if port is not None:
            self.drop_port(s, port)

    def _validate_routes(self, s: Session, router: Router, routes: list[dict]) -> list[dict]:
        cidrs = [ipaddress.ip_network(c) for c in s.scalars(
            select(Subnet.cidr).join(PortIP, PortIP.subnet_id == Subnet.id).join(Port, Port.id == PortIP.port_id)
            .where(Port.device_id == router.id))]
        out = []
        for route in routes:
            try:
                dest = ipaddress.ip_network(route["destination"])
                hop = ipaddress.ip_address(route["nexthop"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest(f"Invalid input for routes: {route!r}.", kind="InvalidInput") from None
            if not any(hop in c for c in cidrs):
                raise BadRequest(f"Invalid format for routes: the nexthop {hop} is not connected with router.",
                                 kind="InvalidRoutes")
            out.append({"destination": ipam.net_text(dest), "nexthop": ipam.ip_text(hop)})
        return out

    # ---- interfaces ----------------------------------------------------------------------
    def add_router_interface(self, ctx: AuthContext, router_id: str, req: InterfaceRequest) -> Interface:
        subnet_id, port_id = req.subnet_id, req.port_id
        if bool(subnet_id) == bool(port_id):
            raise BadRequest("Bad router request: Either subnet_id or port_id must be specified (not both).",
                             kind="BadRequest")
        with self.db.write() as s:
            router = self.get_owned(s, ctx, Router, router_id, lock=True)
            attached = {sid for sid, in s.execute(
                select(PortIP.subnet_id).join(Port, Port.id == PortIP.port_id)
                .where(Port.device_id == router.id, Port.device_owner == INTERFACE))}
            if subnet_id:
                sub = self.get_subnet(s, ctx, subnet_id)
                if not (ctx.is_admin or sub.project_id == ctx.project_id):
                    raise not_found(Subnet, subnet_id)
                if not sub.gateway_ip:
                    raise BadRequest(f"Bad router request: Subnet {sub.id} does not have a gateway IP.",
                                     kind="BadRequest")
                self._check_attachable(s, router, sub, attached)
                net = s.get(Network, sub.network_id)
                port = self.make_port(s, ctx, net, router.project_id,
                                      PortCreate(net.id, device_owner=INTERFACE, device_id=router.id,
                                                 port_security_enabled=False,
                                                 fixed_ips=[{"subnet_id": sub.id, "ip_address": sub.gateway_ip}]),
                                      claim=False)
            else:
                port = self.get_port(s, ctx, port_id)
                if port.device_id or port.device_owner:
                    raise Conflict(f"Port {port.id} is in use by {port.device_owner or 'a device'} "
                                   f"{port.device_id}.", kind="PortInUse")
                ips = list(s.scalars(select(PortIP).where(PortIP.port_id == port.id)))
                if len(ips) != 1:
                    raise BadRequest(f"Bad router request: Port {port.id} must have exactly one fixed IP.",
                                     kind="BadRequest")
                sub = s.get(Subnet, ips[0].subnet_id)
                self._check_attachable(s, router, sub, attached)
                port.device_owner, port.device_id = INTERFACE, router.id
            port.status = "ACTIVE"
            touch(router)
            return _interface_info(router, port, [sub])

    def _check_attachable(self, s: Session, router: Router, sub: Subnet, attached: set[str]) -> None:
        if sub.id in attached:
            raise BadRequest(f"Bad router request: Router already has a port on subnet {sub.id}.", kind="BadRequest")
        for other in attached:
            other_sub = s.get(Subnet, other)
            if other_sub is not None and ipaddress.ip_network(other_sub.cidr).overlaps(ipaddress.ip_network(sub.cidr)):
                raise BadRequest(f"Bad router request: Cidr {sub.cidr} of subnet {sub.id} overlaps with cidr "
                                 f"{other_sub.cidr} of subnet {other_sub.id}.", kind="BadRequest")

    def remove_router_interface(self, ctx: AuthContext, router_id: str, req: InterfaceRequest) -> Interface:
        subnet_id, port_id = req.subnet_id, req.port_id
        if not subnet_id and not port_id:
            raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.", kind="BadRequest")
        with self.db.write() as s:
            router = self.get_owned(s, ctx, Router, router_id, lock=True)
            stmt = select(Port).where(Port.device_id == router.id, Port.device_owner == INTERFACE)
            if port_id:
                stmt = stmt.where(Port.id == port_id)
            if subnet_id:
                stmt = stmt.join(PortIP, PortIP.port_id == Port.id).where(PortIP.subnet_id == subnet_id)
            port = s.scalar(stmt)
            if port is None:
                raise NotFound(f"Router {router.id} does not have an interface with "
                               f"{'id ' + port_id if port_id else 'subnet ' + subnet_id}",
                               kind="RouterInterfaceNotFoundForSubnet" if subnet_id else "RouterInterfaceNotFound")
            # The port's row lock: a concurrent update of its fixed IPs (which takes it too)
            # waits, so that the addresses read here are the ones removed.
            s.get(Port, port.id, with_for_update=True, populate_existing=True)
            ips = list(s.scalars(select(PortIP).where(PortIP.port_id == port.id).order_by(PortIP.id)))
            # By subnet, from a port with addresses on other subnets too (IPv6 ones added by a
            # port update): only that subnet's addresses go, as in Neutron; else the port goes.
            partial = bool(subnet_id) and any(ip.subnet_id != subnet_id for ip in ips)
            leaving = [ip for ip in ips if ip.subnet_id == subnet_id] if partial else ips
            subs = [sub for sub in (s.get(Subnet, sid) for sid in dict.fromkeys(ip.subnet_id for ip in leaving))
                    if sub is not None]
            for sub in subs:
                if self._fips_through(s, router, sub):
                    raise Conflict(f"Cannot remove the interface on subnet {sub.id} of router {router.id}: floating "
                                   "IPs are associated through it.", kind="RouterInterfaceInUseByFloatingIP")
            info = _interface_info(router, port, subs)
            if partial:
                self.release_ips(s, leaving)
                touch(port)
            else:
                self.drop_port(s, port)
            touch(router)
            return info

    @staticmethod
    def _fips_through(s: Session, router: Router, sub: Subnet) -> bool:
        subnet_ports = select(PortIP.port_id).where(PortIP.subnet_id == sub.id)
        return bool(s.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id,
                                                         FloatingIP.port_id.in_(subnet_ports))))

    # ---- floating IPs --------------------------------------------------------------------
    def list_floating_ips(self, ctx: AuthContext) -> list[FloatingIP]:
        with self.db.read() as s:
            stmt = select(FloatingIP) if ctx.is_admin else select(FloatingIP).where(FloatingIP.project_id == ctx.project_id)
            return list(s.scalars(stmt))

    def show_floating_ip(self, ctx: AuthContext, fip_id: str) -> FloatingIP:
        with self.db.read() as s:
            return self.get_owned(s, ctx, FloatingIP, fip_id)

    def create_floating_ip(self, ctx: AuthContext, req: FloatingIPCreate, authorize: Authorize = allow) -> FloatingIP:
        project_id = self.target_project(ctx, req.project_id)
        authorize(ctx, None)
        with self.db.write() as s:
            net = s.get(Network, req.floating_network_id)
            # another project's private network is not found, as in a list: never "not external"
            hidden = net is not None and not (net.external or net.shared or ctx.is_admin or net.project_id == ctx.project_id)
            if net is None or hidden:
                raise not_found(Network, req.floating_network_id)
            if not net.external:
                raise BadRequest(f"Bad floatingip request: Network {net.id} is not a valid external network.",
                                 kind="BadRequest")
            self.claim(s, project_id, "floatingip")
            fixed = None
            if req.subnet_id or req.floating_ip_address:
                fixed = [{k: v for k, v in (("subnet_id", req.subnet_id), ("ip_address", req.floating_ip_address)) if v}]
            fip = FloatingIP(project_id=project_id, floating_network_id=net.id, floating_subnet_id="",
                             floating_ip_address="", description=req.description or "",
                             tags=tags_of(req.tags, "floatingips"))
            port = self.make_port(s, ctx, net, "", PortCreate(net.id, device_owner=FLOATING, device_id=fip.id or "",
                                                              fixed_ips=fixed, port_security_enabled=False), claim=False)
            ip = s.scalar(select(PortIP).where(PortIP.port_id == port.id))
            if ip is None:
                raise BadRequest(f"Bad floatingip request: external network {net.id} has no subnet.", kind="BadRequest")
            fip.floating_subnet_id, fip.floating_ip_address = ip.subnet_id, ip.ip_address
            s.add(fip)
            s.flush()
            port.device_id = fip.id
            if req.port_id:
                self._associate(s, ctx, fip, req.port_id, req.fixed_ip_address)
            s.flush()
            return fip

    def update_floating_ip(self, ctx: AuthContext, fip_id: str, changes: FloatingIPChanges) -> FloatingIP:
        with self.db.write() as s:
            fip = self.get_owned(s, ctx, FloatingIP, fip_id, lock=True)
            if given(changes.port_id):
                if changes.port_id:
                    self._associate(s, ctx, fip, changes.port_id, changes.fixed_ip_address)
                else:
                    fip.port_id = fip.fixed_ip_address = fip.router_id = None
                    fip.status = "DOWN"
            if changes.description is not None:
                fip.description = changes.description
            touch(fip)
            s.flush()
            return fip

    def delete_floating_ip(self, ctx: AuthContext, fip_id: str) -> None:
        with self.db.write() as s:
            fip = self.get_owned(s, ctx, FloatingIP, fip_id, lock=True)
            port = s.scalar(select(Port).where(Port.device_owner == FLOATING, Port.device_id == fip.id))
            s.delete(fip)
            s.flush()
            if port is not None:
                self.drop_port(s, port)

    def _associate(self, s: Session, ctx: AuthContext, fip: FloatingIP, port_id: str, fixed_ip: str | None) -> None:
        # The port's row lock serialises associations to it: one fixed IP, one floating IP.
        port = self.get_port(s, ctx, port_id, lock=True)
        if port.project_id != fip.project_id:
            raise not_found(Port, port_id)
        ips = list(s.scalars(select(PortIP).where(PortIP.port_id == port.id).order_by(PortIP.id)))
        v4 = [i for i in ips if ipaddress.ip_address(i.ip_address).version == 4]
        if fixed_ip:
            chosen = next((i for i in ips if i.ip_address == fixed_ip), None)
            if chosen is None:
                raise BadRequest(f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip}.",
                                 kind="BadRequest")
        elif v4:
            chosen = v4[0]
        else:
            raise BadRequest(f"Bad floatingip request: Port {port.id} does not have any IPv4 address.",
                             kind="BadRequest")
        taken = s.scalar(select(FloatingIP.id).where(FloatingIP.port_id == port.id,
                                                     FloatingIP.fixed_ip_address == chosen.ip_address,
                                                     FloatingIP.id != fip.id))
        if taken:
            raise Conflict(f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port {port.id} "
                           f"using fixed IP {chosen.ip_address}, as that fixed IP already has a floating IP on "
                           f"external network {fip.floating_network_id}.", kind="FloatingIPPortAlreadyAssociated")
        router_id = s.scalar(
            select(Router.id).join(Port, Port.device_id == Router.id).join(PortIP, PortIP.port_id == Port.id)
            .where(Router.gateway_network_id == fip.floating_network_id, Port.device_owner == INTERFACE,
                   PortIP.subnet_id == chosen.subnet_id))
        if router_id is None:
            raise NotFound(f"External network {fip.floating_network_id} is not reachable from subnet "
                           f"{chosen.subnet_id}.  Therefore, cannot associate Port {port.id} with a Floating IP.",
                           kind="ExternalGatewayForFloatingIPNotFound")
        fip.port_id, fip.fixed_ip_address, fip.router_id, fip.status = port.id, chosen.ip_address, router_id, "ACTIVE"


def _interface_info(router: Router, port: Port, subs: list[Subnet]) -> Interface:
    return Interface(router.id, router.project_id, port.id, port.network_id, tuple(sub.id for sub in subs))
