"""Boot: a typed boot request (parsed from the wire by api/compute/schemas.py) checked against
what the caller may use (image, flavor, networks, ports, security groups, zone, key pair,
server group, quota) and recorded as BUILD servers in one transaction; the build worker
(compute/build.py) does the rest in the background."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caas.compute import quotas
from caas.compute.flavors import get_flavor, pci_aliases
from caas.compute.keypairs import get_keypair
from caas.compute.models import Flavor, Server
from caas.compute.scheduler import disk_gb, pci_requests
from caas.compute.server_groups import get_server_group
from caas.compute.build import ServerBuilder
from caas.compute.inventory import HostInventory
from caas.compute.server_state import check_metadata, get_server, hostname_for, require_writer
from caas.context import AuthContext
from caas.db.base import utcnow
from caas.errors import BadRequest, Conflict, Forbidden, NotFound
from caas.network.binding import NetworkBinding
from caas.virt.driver import NOSTATE as POWER_NOSTATE


@dataclass(frozen=True)
class NicRequest:
    """One requested NIC: a port of the caller's (``port_id``), or a network with an optional
    fixed address."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None


@dataclass(frozen=True)
class BootRequest:
    """What a boot asks for, in domain terms (ids, not hrefs; counts, not strings).
    ``networks``: "auto", "none" or the NICs; ``hints``: {"group"?, "same_host"?,
    "different_host"?}; ``security_groups``: names or ids (None: the project's default)."""

    name: str
    image_id: str
    flavor_id: str
    networks: str | tuple[NicRequest, ...] = "auto"
    min_count: int = 1
    max_count: int = 1
    description: str | None = None
    tags: tuple[str, ...] = ()
    config_drive: bool = False
    access_ipv4: str = ""
    access_ipv6: str = ""
    user_data: str | None = None
    key_name: str | None = None
    metadata: dict = field(default_factory=dict)
    security_groups: tuple[str, ...] | None = None
    availability_zone: str | None = None
    force_host: str | None = None
    hints: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BootResult:
    """The servers a boot recorded (BUILD; the first is the one the API shows) and their
    reservation id."""

    servers: list[Server]
    reservation_id: str


class Boot:
    """Boot requests checked against ``db`` (flavors, key pairs, groups, quotas, zones in
    ``inventory``), ``image``'s images and ``network_binding``'s networks, recorded, and
    handed to ``builder``."""

    def __init__(self, db, settings, inventory: HostInventory, network_binding: NetworkBinding, image,
                 builder: ServerBuilder) -> None:
        self.db = db
        self.settings = settings
        self.inventory = inventory
        self.network_binding = network_binding
        self.image = image
        self.builder = builder

    def create_servers(self, ctx: AuthContext, req: BootRequest) -> BootResult:
        """Check and record a boot request; the servers are BUILD when this returns and are
        built in the background."""
        require_writer(ctx, "create")
        self.network_binding.ensure_default_security_group(ctx.project_id)
        image = self._image_for_boot(ctx, req.image_id)
        nics = self._networks_for_boot(ctx, req.networks)
        group_ids = self._security_groups_for_boot(ctx, req.security_groups)
        az, force_host = self._zone(ctx, req.availability_zone, req.force_host)
        with self.db.write() as s:
            flavor = self._flavor_for_boot(s, ctx, req.flavor_id)
            self._check_fit(ctx, image, flavor)
            key_data = self._key_data(s, ctx, req.key_name)
            metadata = check_metadata(req.metadata, quotas.limit(s, ctx.project_id, "metadata_items"))
            group = self._group_for_boot(s, ctx, req)
            count = quotas.claim_instances(s, ctx.project_id, req.min_count, req.max_count, cores=flavor.vcpus,
                                           ram=flavor.ram)
            reservation = "r-" + secrets.token_hex(4)
            common = dict(description=req.description, project_id=ctx.project_id, user_id=ctx.user_id,
                          reservation_id=reservation, flavor_id=flavor.id, flavor=self._flavor_snapshot(flavor),
                          vcpus=flavor.vcpus, memory_mb=flavor.ram,
                          disk_gb=disk_gb(flavor.disk, flavor.ephemeral, flavor.swap), image_id=image.id,
                          key_name=req.key_name, key_data=key_data, status="building", task_state="scheduling",
                          power_state=POWER_NOSTATE, requested_az=az, server_group_id=group.id if group else None,
                          requested_networks=nics, security_groups=group_ids,
                          scheduler_hints={**req.hints, "force_host": force_host}, metadata_=metadata,
                          tags=list(dict.fromkeys(req.tags)), user_data=req.user_data,
                          config_drive=req.config_drive, access_ipv4=req.access_ipv4, access_ipv6=req.access_ipv6)
            rows = self._record_servers(s, req.name, count, common)
        for row in rows:
            self.builder.start_build(row.id)
        return BootResult(rows, reservation)

    @staticmethod
    def _record_servers(s: Session, name: str, count: int, common: dict) -> list[Server]:
        """``count`` server rows (``name-1``... when more than one) sharing ``common``."""
        now = utcnow()
        rows = []
        for index in range(count):
            server_name = name if count == 1 else f"{name}-{index + 1}"
            row = Server(id=str(uuid.uuid4()), name=server_name, hostname=hostname_for(server_name),
                         launch_index=index, created_at=now, updated_at=now, **common)
            s.add(row)
            rows.append(row)
        s.flush()
        return rows

    @staticmethod
    def _flavor_snapshot(flavor: Flavor) -> dict:
        """The flavor as the server keeps it (Nova's embedded flavor: later edits do not move it)."""
        return {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus, "ram": flavor.ram, "disk": flavor.disk,
                "ephemeral": flavor.ephemeral, "swap": flavor.swap, "extra_specs": dict(flavor.extra_specs or {})}

    def _check_fit(self, ctx: AuthContext, image, flavor: Flavor) -> None:
        """The image fits the flavor, the flavor is allowed to this caller, and its PCI alias
        is defined (400 now, not a failed build later)."""
        if image.min_ram and flavor.ram < image.min_ram:
            raise BadRequest("Flavor's memory is too small for requested image.")
        if flavor.disk == 0 and not ctx.is_admin:
            # Nova's zero_disk_flavor rule (admin only): a disk of 0 means "as large as the
            # image", which the scheduler cannot weigh; such flavors are for volume-backed
            # servers, which caas does not make.
            raise Forbidden("Only volume-backed servers are allowed for flavors with zero disk.")
        if image.min_disk and 0 < flavor.disk < image.min_disk:  # 0: no size to check, as Nova
            raise BadRequest("Flavor's disk is too small for requested image.")
        pci_requests(dict(flavor.extra_specs or {}), pci_aliases(self.settings))

    @staticmethod
    def _key_data(s: Session, ctx: AuthContext, key_name: str | None) -> str | None:
        if key_name is None:
            return None
        try:
            return get_keypair(s, ctx.user_id, key_name).public_key
        except NotFound:
            raise BadRequest("Invalid key_name provided.") from None

    def _group_for_boot(self, s: Session, ctx: AuthContext, req: BootRequest):
        """The server group hint's group (locked, its member quota checked) and the servers
        the same/different host hints name (404 for unknown or foreign ones, as Nova)."""
        group = None
        hints = req.hints
        if "group" in hints:
            try:
                group = get_server_group(s, ctx, hints["group"], lock=True)
            except NotFound:
                raise BadRequest(f"Invalid server group {hints['group']}") from None
            members = s.scalar(select(func.count()).select_from(Server).where(Server.server_group_id == group.id))
            quotas.check_count("server_group_members", req.max_count, members,
                               quotas.limit(s, ctx.project_id, "server_group_members"))
        for key in ("same_host", "different_host"):
            for sid in hints.get(key, []):
                get_server(s, ctx, sid)
        return group

    def _flavor_for_boot(self, s: Session, ctx: AuthContext, flavor_id: str) -> Flavor:
        try:
            flavor = get_flavor(s, ctx, flavor_id) if len(flavor_id) <= 255 else None
        except NotFound:
            flavor = None
        if flavor is None or flavor.disabled:
            raise BadRequest(f"Flavor {flavor_id} could not be found.")
        return flavor

    def _image_for_boot(self, ctx: AuthContext, image_id: str):
        try:
            image = self.image.get_image(ctx, image_id)
        except NotFound:
            raise BadRequest(f"Image {image_id} could not be found.") from None
        if image.status != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        return image

    def _networks_for_boot(self, ctx: AuthContext, requested) -> list[dict]:
        """The requested NICs as [{"network_id", "port_id"?, "fixed_ip"?}] (the server's
        record), checked against what the caller may use. Nova's rules for "auto" and "none"."""
        if requested == "none":
            return []
        if requested == "auto":
            return self._auto_network(ctx)
        out = []
        for nic in requested:
            if nic.port_id:
                try:
                    port = self.network_binding.port(ctx, nic.port_id)
                except NotFound:
                    raise BadRequest(f"Port {nic.port_id} could not be found.") from None
                if port.device_id:
                    raise Conflict(f"Port {nic.port_id} is still in use.")
                out.append({"network_id": port.network_id, "port_id": nic.port_id})
                continue
            try:
                net = self.network_binding.network_info(ctx, nic.network_id)
            except NotFound:
                raise BadRequest(f"Network {nic.network_id} could not be found.") from None
            if net.external and not (ctx.is_admin or net.shared):
                raise Forbidden(f"It is not allowed to create an interface on external network {nic.network_id}")
            out.append({"network_id": nic.network_id, **({"fixed_ip": nic.fixed_ip} if nic.fixed_ip else {})})
        return out

    def _auto_network(self, ctx: AuthContext) -> list[dict]:
        """Nova's "auto": the one internal network with a subnet the project owns (or, without
        one, is shared with it); none at all gives a server without a NIC."""
        nets = [n for n in self.network_binding.networks(ctx) if not n.external and n.has_subnets
                and (n.project_id == ctx.project_id or n.shared)]
        if not nets:
            return []  # Nova without get-me-a-network would fail; a server with no NIC is clearer
        own = [n for n in nets if n.project_id == ctx.project_id] or nets
        if len(own) > 1:
            raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
        return [{"network_id": own[0].id}]

    def _security_groups_for_boot(self, ctx: AuthContext, requested) -> list[str]:
        """Group ids for Nova's names or ids, resolved in the network service for the project."""
        if requested is None:
            return []
        groups = self.network_binding.security_groups(ctx)
        mine = [g for g in groups if g.project_id == ctx.project_id] or groups
        out = []
        for ref in requested:
            match = [g for g in mine if g.id == ref] or [g for g in mine if g.name == ref]
            if not match:
                raise BadRequest(f"Security group {ref} not found for project {ctx.project_id}.")
            if len(match) > 1:
                raise Conflict(f"Multiple security groups named {ref}; use its id.")
            out.append(match[0].id)
        return list(dict.fromkeys(out))

    def _zone(self, ctx: AuthContext, zone: str | None, host: str | None) -> tuple[str | None, str | None]:
        """The requested zone (it must exist) and forced host (admins only)."""
        if host and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
        with self.db.read() as s:
            if zone and zone not in self.inventory.zone_names(s):
                raise BadRequest("The requested availability zone is not available")
        return zone or None, host or None
