"""Network domain logic: one facade over the nouns (networks and subnets, ports, routers and
floating IPs, security groups, quotas, the tags of each) and the first-start external network."""

from __future__ import annotations

from sqlalchemy import select

from caas.errors import CaasError
from caas.network import ipam
from caas.network.hostroutes import overlapping_route
from caas.network.models import Network, Subnet
from caas.network.networks import NetworksMixin
from caas.network.ports import PortsMixin
from caas.network.quotas import QuotasMixin
from caas.network.routers import RoutersMixin
from caas.network.security_groups import SecurityGroupsMixin
from caas.network.tags import TagsMixin

EXTERNAL_NAME = "public"


class ExternalNetworkOverlap(CaasError):
    status = 400
    title = "External network overlaps a host route"


class NetworkService(NetworksMixin, PortsMixin, RoutersMixin, SecurityGroupsMixin, QuotasMixin, TagsMixin):
    def bootstrap(self, admin_project_id: str | None = None) -> None:
        """Create the external network ``public`` and its subnet on first start; on every start,
        refuse an external subnet that overlaps a route the host already has."""
        cidr = str(ipam.parse_cidr(self.settings.external_cidr))
        with self.db.write() as s:
            net = s.scalar(select(Network).where(Network.external.is_(True), Network.name == EXTERNAL_NAME))
            existing = list(s.scalars(select(Subnet.cidr).where(Subnet.network_id == net.id))) if net else [cidr]
            for c in existing:
                clash = overlapping_route(c)
                if clash:
                    raise ExternalNetworkOverlap(
                        f"the external network {c} overlaps the host route {clash}; choose another CIDR with "
                        "CAAS_EXTERNAL_CIDR (on a fresh data dir) so that floating IPs never shadow a network the "
                        "host already reaches")
            if net is not None:
                return
            net_cidr = ipam.parse_cidr(cidr)
            gateway = ipam.default_gateway(net_cidr)
            net = Network(project_id=admin_project_id or "", name=EXTERNAL_NAME, external=True, network_type="flat",
                          physical_network="public", mtu=1500, description="External network (floating IPs)")
            s.add(net)
            s.flush()
            s.add(Subnet(project_id=admin_project_id or "", network_id=net.id, name="public-subnet", cidr=cidr,
                         ip_version=4, gateway_ip=gateway, enable_dhcp=False,
                         allocation_pools=ipam.default_pools(net_cidr, gateway)))

    def external_gateway(self) -> str | None:
        """The gateway address of the external network ``public`` (the network node's address
        as instances reach it: where the share service says its exports live); None without one."""
        with self.db.read() as s:
            return s.scalar(select(Subnet.gateway_ip).join(Network, Subnet.network_id == Network.id).where(
                Network.external.is_(True), Network.name == EXTERNAL_NAME, Subnet.ip_version == 4,
                Subnet.gateway_ip.is_not(None)).order_by(Subnet.created_at).limit(1))
