"""Servers: the boot request checked and recorded (quota claimed in the same transaction), then
built in the background (schedule and claim a host, make and bind the Neutron ports, spawn on
the driver, ACTIVE) or failed with a fault that says why; stop, start, reboot, console output,
update, metadata; delete frees ports, volumes and the host claim. All work on one server runs
in order, on a compute worker thread; a restart resumes or fails what was left half done."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import logging
import re
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caas.compute import quotas
from caas.compute.common import isotime, isotime_us, require_admin
from caas.compute.flavors import get_flavor, pci_aliases
from caas.compute.keypairs import get_keypair
from caas.compute.models import Flavor, Server, ServerGroup
from caas.compute.scheduler import RequestSpec, default_scheduler, disk_gb, pci_requests
from caas.compute.server_groups import get_server_group
from caas.db.base import utcnow
from caas.errors import BadRequest, CaasError, Conflict, Forbidden, NotFound
from caas.context import AuthContext, Ref
from caas.network.ipam import ip_text
from caas.numbers import INT32_MAX, parse_int
from caas.virt.driver import NOSTATE as POWER_NOSTATE
from caas.virt.driver import RUNNING as POWER_RUNNING
from caas.virt.driver import SHUTDOWN as POWER_SHUTDOWN
from caas.virt.driver import DriverError, InstanceSpec, NicSpec, PciDevice

log = logging.getLogger("caas.compute")

# Nova's vm_state -> API status (task states that override it are in status_of()).
STATUS = {"building": "BUILD", "active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR", "deleted": "DELETED",
          "paused": "PAUSED", "suspended": "SUSPENDED"}
VM_STATE = {v: k for k, v in STATUS.items()}
KNOWN_STATUSES = set(STATUS.values()) | {"REBOOT", "HARD_REBOOT"}
HOSTNAME_BAD = re.compile(r"[^a-z0-9-]+")
TAG_RE = re.compile(r"^[^,/]{1,60}$")
METADATA_LIMIT = 255
MAX_LIMIT = 1000  # Nova's [api] max_limit: the most servers one list answer holds


def require_writer(ctx: AuthContext, action: str) -> None:
    """Changing servers needs a role other than ``reader`` on the project (AuthContext.may_write)."""
    if not ctx.may_write:
        raise Forbidden(f"Policy doesn't allow os_compute_api:servers:{action} to be performed.")


def status_of(vm_state: str, task_state: str | None) -> str:
    if vm_state == "active" and task_state == "rebooting":
        return "REBOOT"
    if vm_state == "active" and task_state == "rebooting_hard":
        return "HARD_REBOOT"
    return STATUS.get(vm_state, vm_state.upper())


def hostname_for(name: str) -> str:
    """Nova's sanitised hostname: lower case, [a-z0-9-], at most 63 characters."""
    host = HOSTNAME_BAD.sub("-", name.lower().replace("_", "-")).strip("-.")[:63].strip("-")
    return host or "server"


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: the host as seen by one project (sha224 of project + host)."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


def service_context(project_id: str, user_id: str) -> AuthContext:
    """The compute service acting on the cloud's other services for one server (admin rights,
    in the server's project): what it may do was checked against the caller at the API."""
    return AuthContext(token_id="", token=None, user=Ref(user_id, "nova"), user_domain=Ref("default", "Default"),
                       project=Ref(project_id, ""), roles=(Ref("", "admin"),))


class ServersMixin:
    # ---- setup ---------------------------------------------------------------------------
    def init_servers(self) -> None:
        self.scheduler = default_scheduler(self.settings.scheduler_strategy)
        self.workers = ThreadPoolExecutor(self.settings.compute_workers, thread_name_prefix="caas-compute")
        self._server_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # One placement at a time in this process (see _schedule).
        self._placement_lock = threading.Lock()

    def _lock_for(self, server_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._server_locks.setdefault(server_id, threading.Lock())

    def _submit(self, server_id: str, fn, *args) -> None:
        """Run ``fn(server_id, *args)`` on a worker, after any earlier work on that server."""
        def job():
            lock = self._lock_for(server_id)
            with lock:
                try:
                    fn(server_id, *args)
                except Exception:  # noqa: BLE001 - a worker must never die silently
                    log.exception("compute work %s on server %s failed", fn.__name__, server_id)
                    message = "An unexpected error stopped the operation; see the caas log."
                    if fn == self._build:  # undo what the build did (driver, ports, claim), then ERROR
                        try:
                            self._abort_build(server_id, message)
                            return
                        except Exception:  # noqa: BLE001 - fall back to recording the failure
                            log.exception("could not undo the build of server %s", server_id)
                    self._fail(server_id, message)
        self.workers.submit(job)

    def shutdown(self) -> None:
        """Finish the work in progress; queued work is dropped, and the next start resumes it
        from the record (resume_work)."""
        self.stop_power_sync()
        self.workers.shutdown(wait=True, cancel_futures=True)

    def resume_work(self) -> None:
        """At start: finish what a previous run left. Builds are restarted from the record
        (the steps are idempotent), deletes finished, stops and starts settled."""
        with self.db.read() as s:
            pending = list(s.execute(select(Server.id, Server.status, Server.task_state)
                                     .where((Server.task_state.is_not(None)) | (Server.status == "building"))))
        for sid, vm_state, task in pending:
            if task == "deleting":
                self._submit(sid, self._delete)
            elif vm_state == "building":
                self._submit(sid, self._build)
            elif task in ("powering-off",):
                self._submit(sid, self._power, "stop")
            elif task in ("powering-on",):
                self._submit(sid, self._power, "start")
            elif task in ("rebooting", "rebooting_hard"):
                self._submit(sid, self._power, "reboot")
            else:
                with self.db.write() as s:
                    row = s.get(Server, sid)
                    if row is not None:
                        row.task_state = None

    # ---- lookups -------------------------------------------------------------------------
    def get_server(self, s: Session, ctx: AuthContext, server_id: str, lock: bool = False) -> Server:
        """A server of the caller's project (any for admins); 404 otherwise."""
        row = s.get(Server, server_id, with_for_update=lock) if server_id and len(server_id) <= 36 else None
        if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
            raise NotFound(f"Instance {server_id} could not be found.")
        return row

    def _flavor_for_boot(self, s: Session, ctx: AuthContext, ref) -> Flavor:
        if not isinstance(ref, (str, int)) or isinstance(ref, bool) or str(ref) == "":
            raise BadRequest("Invalid input for field/attribute flavorRef. Value: %r." % (ref,))
        flavor_id = str(ref).rstrip("/").rsplit("/", 1)[-1]
        try:
            flavor = get_flavor(s, ctx, flavor_id) if len(flavor_id) <= 255 else None
        except NotFound:
            flavor = None
        if flavor is None or flavor.disabled:
            raise BadRequest(f"Flavor {flavor_id} could not be found.")
        return flavor

    def _image_for_boot(self, ctx: AuthContext, ref) -> dict:
        if not isinstance(ref, str) or not ref:
            raise BadRequest("Invalid input for field/attribute imageRef. Value: %r. An image is required "
                             "(boot from volume is not supported)." % (ref,))
        image_id = ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            image = self.image.get_image(ctx, image_id)
        except NotFound:
            raise BadRequest(f"Image {image_id} could not be found.") from None
        if image.status != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        return {"id": image.id, "name": image.name, "disk_format": image.disk_format, "min_ram": image.min_ram,
                "min_disk": image.min_disk, "size": image.size, "properties": image.extra}

    def _networks_for_boot(self, ctx: AuthContext, requested, version) -> list[dict]:
        """The requested NICs as [{"network_id", "port_id"?, "fixed_ip"?}], checked against what
        the caller may use. Nova's rules for a missing list, "auto" and "none"."""
        if requested is None:
            if version >= (2, 37):
                raise BadRequest("Invalid input for field/attribute networks. Value: None. 'networks' is a "
                                 "required property")
            requested = "auto"
        elif isinstance(requested, str) and version < (2, 37):
            raise BadRequest(f"Invalid input for field/attribute networks. Value: {requested[:40]}. "
                             "'auto' and 'none' need microversion 2.37; give a list of networks.")
        if requested in ("auto", "none"):
            if requested == "none":
                return []
            nets = [n for n in self.network.list_networks(ctx) if not n.get("router:external")
                    and n.get("subnets") and (n["project_id"] == ctx.project_id or n.get("shared"))]
            if not nets:
                return []  # Nova without get-me-a-network would fail; a server with no NIC is clearer
            own = [n for n in nets if n["project_id"] == ctx.project_id] or nets
            if len(own) > 1:
                raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
            return [{"network_id": own[0]["id"]}]
        if not isinstance(requested, list):
            raise BadRequest("Invalid input for field/attribute networks. Value: %r. It must be a list, "
                             "'auto' or 'none'." % (requested,))
        out = []
        for item in requested:
            if not isinstance(item, dict):
                raise BadRequest("Invalid input for field/attribute networks. Each entry must be an object.")
            extra = set(item) - {"uuid", "port", "fixed_ip", "tag"}
            if extra:
                raise BadRequest(f"Invalid input for field/attribute networks. Additional properties are not "
                                 f"allowed ({', '.join(sorted(extra))} unexpected)")
            if "tag" in item and version < (2, 32):
                raise BadRequest("Invalid input for field/attribute networks: 'tag' needs microversion 2.32.")
            port_id, net_id, fixed = item.get("port"), item.get("uuid"), item.get("fixed_ip")
            for key, value in (("port", port_id), ("uuid", net_id), ("fixed_ip", fixed)):
                if value is not None and (not isinstance(value, str) or len(value) > 255):
                    raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
            if port_id:
                try:
                    port = self.network.show_port(ctx, port_id)
                except NotFound:
                    raise BadRequest(f"Port {port_id} could not be found.") from None
                if port["device_id"]:
                    raise Conflict(f"Port {port_id} is still in use.")
                out.append({"network_id": port["network_id"], "port_id": port_id})
                continue
            if not net_id:
                raise BadRequest("Bad networks format: network uuid is not in proper format ()")
            try:
                net = self.network.show_network(ctx, net_id)
            except NotFound:
                raise BadRequest(f"Network {net_id} could not be found.") from None
            if net.get("router:external") and not (ctx.is_admin or net.get("shared")):
                raise Forbidden(f"It is not allowed to create an interface on external network {net_id}")
            entry = {"network_id": net_id}
            if fixed:
                try:
                    ipaddress.ip_address(fixed)
                except ValueError:
                    raise BadRequest(f"Invalid fixed IP address ({fixed})") from None
                entry["fixed_ip"] = fixed
            out.append(entry)
        return out

    def _security_groups_for_boot(self, ctx: AuthContext, requested) -> list[str]:
        """Group ids from Nova's [{"name": NAME or ID}], resolved in Neutron for the project."""
        if requested is None:
            return []
        if not isinstance(requested, list) or not all(isinstance(g, dict) and isinstance(g.get("name"), str)
                                                      for g in requested):
            raise BadRequest("Invalid input for field/attribute security_groups. It must be a list of "
                             "{\"name\": ...} objects.")
        groups = self.network.list_security_groups(ctx)
        mine = [g for g in groups if g["project_id"] == ctx.project_id] or groups
        out = []
        for item in requested:
            ref = item["name"]
            match = [g for g in mine if g["id"] == ref] or [g for g in mine if g["name"] == ref]
            if not match:
                raise BadRequest(f"Security group {ref} not found for project {ctx.project_id}.")
            if len(match) > 1:
                raise Conflict(f"Multiple security groups named {ref}; use its id.")
            out.append(match[0]["id"])
        return list(dict.fromkeys(out))

    @staticmethod
    def _metadata(value, limit: int) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise BadRequest("Invalid input for field/attribute metadata. It must be an object.")
        for k, v in value.items():
            if not 1 <= len(k) <= METADATA_LIMIT:
                raise BadRequest(f"Invalid input for field/attribute metadata. Key '{k[:40]}' must be 1 to 255 "
                                 "characters.")
            if not isinstance(v, str) or len(v) > METADATA_LIMIT:
                raise BadRequest(f"Invalid input for field/attribute metadata. The value of '{k[:40]}' must be a "
                                 "string of at most 255 characters.")
        quotas.check_count("metadata_items", len(value), 0, limit)
        return dict(value)

    @staticmethod
    def _user_data(value) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequest("Invalid input for field/attribute user_data. It must be a base64 string.")
        if len(value) > 65535:
            raise BadRequest("Invalid input for field/attribute user_data. It is longer than 65535 characters.")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.") from None
        return value

    @staticmethod
    def _count(body: dict, key: str, default: int) -> int:
        value = body.get(key, default)
        return parse_int(value, key, 1, 10000, message=f"Invalid input for field/attribute {key}. Value: {value!r}. "
                                                       "It must be an integer from 1 to 10000.")

    @staticmethod
    def _block_devices(v2, legacy) -> str | None:
        """What caas takes of a block device mapping: the image as the local root disk (what
        the CLI sends for every image boot) and blank local disks (swap, ephemeral, which the
        flavor already sizes). Volumes as disks are refused. Returns the root image id, if any."""
        if legacy:
            raise BadRequest("block_device_mapping (v1) is not supported; boot from an image.")
        if v2 is None:
            return None
        if not isinstance(v2, list) or not all(isinstance(m, dict) for m in v2):
            raise BadRequest("Invalid input for field/attribute block_device_mapping_v2. It must be a list of "
                             "objects.")
        root = None
        for m in v2:
            source, dest = m.get("source_type"), m.get("destination_type", "volume")
            if source == "image" and dest == "local" and m.get("boot_index") in (0, "0"):
                if not isinstance(m.get("uuid"), str):
                    raise BadRequest("Invalid input for field/attribute uuid of the image block device.")
                root = m["uuid"]
            elif source == "blank" and dest == "local":
                continue
            else:
                raise BadRequest(f"Block device mapping with source_type {source!r} and destination_type {dest!r} "
                                 "is not supported: caas boots from an image; attach volumes after the boot.")
        return root

    @staticmethod
    def _hints(value) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise BadRequest("Invalid input for field/attribute os:scheduler_hints. It must be an object.")
        out = {}
        for key in ("same_host", "different_host"):
            if key in value:
                ids = value[key] if isinstance(value[key], list) else [value[key]]
                if not all(isinstance(i, str) and len(i) <= 36 for i in ids):
                    raise BadRequest(f"Invalid input for field/attribute {key}: a server id or a list of them.")
                out[key] = ids
        if "group" in value:
            if not isinstance(value["group"], str) or len(value["group"]) > 36:
                raise BadRequest("Invalid input for field/attribute group: a server group id.")
            out["group"] = value["group"]
        return out

    # ---- create --------------------------------------------------------------------------
    def create_servers(self, ctx: AuthContext, body: dict, version, hints=None) -> dict:
        """Check and record a boot request (``body`` is the inside of {"server": ...}); the
        servers are BUILD when this returns and are built in the background. Returns the first
        server's creation view (with adminPass) and the reservation id."""
        if not isinstance(body, dict):
            raise BadRequest("Invalid input for field/attribute server. It must be an object.")
        require_writer(ctx, "create")
        allowed = {"name", "imageRef", "flavorRef", "networks", "key_name", "security_groups", "user_data",
                   "metadata", "availability_zone", "config_drive", "min_count", "max_count", "accessIPv4",
                   "accessIPv6", "adminPass", "OS-DCF:diskConfig", "return_reservation_id", "personality",
                   "description", "tags", "block_device_mapping_v2", "block_device_mapping"}
        extra = set(body) - allowed
        if extra:
            raise BadRequest(f"Invalid input for field/attribute server. Additional properties are not allowed "
                             f"({', '.join(sorted(repr(e) for e in extra))} unexpected)")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute name. It must be a non-blank string of at most "
                             "255 characters.")
        body = dict(body)
        root_image = self._block_devices(body.get("block_device_mapping_v2"), body.get("block_device_mapping"))
        if root_image and not body.get("imageRef"):
            body["imageRef"] = root_image
        if "description" in body and version < (2, 19):
            raise BadRequest("Invalid input for field/attribute server. 'description' needs microversion 2.19.")
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            raise BadRequest("Invalid input for field/attribute description. At most 255 characters.")
        if "personality" in body and version >= (2, 57):
            raise BadRequest("Invalid input for field/attribute server. 'personality' was removed in 2.57.")
        if "tags" in body and version < (2, 52):
            raise BadRequest("Invalid input for field/attribute server. 'tags' needs microversion 2.52.")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or len(tags) > 50 or not all(isinstance(t, str) and TAG_RE.match(t)
                                                                    for t in tags):
            raise BadRequest("Invalid input for field/attribute tags. At most 50 tags of 1-60 characters without "
                             "'/' or ','.")
        config_drive = body.get("config_drive", False)
        if isinstance(config_drive, str):
            config_drive = config_drive.lower() in ("true", "1", "yes")
        if not isinstance(config_drive, bool):
            raise BadRequest("Invalid input for field/attribute config_drive. It must be a boolean.")
        min_count = self._count(body, "min_count", 1)
        max_count = self._count(body, "max_count", min_count)
        if min_count > max_count:
            raise BadRequest("min_count must be <= max_count")
        access = {key: _access_ip(key, body.get(key)) for key in ("accessIPv4", "accessIPv6")}
        hints = self._hints(hints)
        user_data = self._user_data(body.get("user_data"))
        self.network.ensure_default_security_group(ctx.project_id)
        image = self._image_for_boot(ctx, body.get("imageRef"))
        nics = self._networks_for_boot(ctx, body.get("networks"), version)
        if sum(1 for n in nics if n.get("port_id")) and max_count > 1:
            raise BadRequest("Unable to launch multiple instances with a single configured port ID.")
        group_ids = self._security_groups_for_boot(ctx, body.get("security_groups"))
        az, force_host = self._zone(ctx, body.get("availability_zone"))
        key_name = body.get("key_name")
        with self.db.write() as s:
            flavor = self._flavor_for_boot(s, ctx, body.get("flavorRef"))
            if image["min_ram"] and flavor.ram < image["min_ram"]:
                raise BadRequest("Flavor's memory is too small for requested image.")
            if flavor.disk == 0 and not ctx.is_admin:
                # Nova's zero_disk_flavor rule (admin only): a disk of 0 means "as large as the
                # image", which the scheduler cannot weigh; such flavors are for volume-backed
                # servers, which caas does not make.
                raise Forbidden("Only volume-backed servers are allowed for flavors with zero disk.")
            if image["min_disk"] and 0 < flavor.disk < image["min_disk"]:  # 0: no size to check, as Nova
                raise BadRequest("Flavor's disk is too small for requested image.")
            specs = dict(flavor.extra_specs or {})
            pci_requests(specs, self.pci_aliases)  # 400 now for a flavor whose alias is not defined
            key_data = None
            if key_name is not None:
                if not isinstance(key_name, str):
                    raise BadRequest("Invalid input for field/attribute key_name.")
                try:
                    key_data = get_keypair(s, ctx.user_id, key_name).public_key
                except NotFound:
                    raise BadRequest("Invalid key_name provided.") from None
            metadata = self._metadata(body.get("metadata"), quotas.limit(s, ctx.project_id, "metadata_items"))
            group = None
            if "group" in hints:
                try:
                    group = get_server_group(s, ctx, hints["group"], lock=True)
                except NotFound:
                    raise BadRequest(f"Invalid server group {hints['group']}") from None
                members = s.scalar(select(func.count()).select_from(Server).where(Server.server_group_id == group.id))
                quotas.check_count("server_group_members", max_count, members,
                                   quotas.limit(s, ctx.project_id, "server_group_members"))
            for key in ("same_host", "different_host"):
                for sid in hints.get(key, []):
                    self.get_server(s, ctx, sid)  # 404 for an unknown or foreign id, as Nova
            count = self._claim_instances(s, ctx.project_id, flavor, min_count, max_count)
            reservation = "r-" + secrets.token_hex(4)
            snapshot = {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus, "ram": flavor.ram,
                        "disk": flavor.disk, "ephemeral": flavor.ephemeral, "swap": flavor.swap,
                        "extra_specs": specs}
            now = utcnow()
            rows = []
            for index in range(count):
                server_name = name if count == 1 else f"{name}-{index + 1}"
                row = Server(id=str(uuid.uuid4()), name=server_name, description=description,
                             project_id=ctx.project_id, user_id=ctx.user_id, hostname=hostname_for(server_name),
                             reservation_id=reservation, launch_index=index, flavor_id=flavor.id, flavor=snapshot,
                             vcpus=flavor.vcpus, memory_mb=flavor.ram,
                             disk_gb=disk_gb(flavor.disk, flavor.ephemeral, flavor.swap),
                             image_id=image["id"], key_name=key_name, key_data=key_data, status="building",
                             task_state="scheduling", power_state=POWER_NOSTATE, requested_az=az,
                             server_group_id=group.id if group else None, requested_networks=nics,
                             security_groups=group_ids, scheduler_hints={**hints, "force_host": force_host},
                             metadata_=metadata, tags=list(dict.fromkeys(tags)), user_data=user_data,
                             config_drive=config_drive, access_ipv4=access["accessIPv4"],
                             access_ipv6=access["accessIPv6"], created_at=now, updated_at=now)
                s.add(row)
                rows.append(row)
            s.flush()
        for row in rows:
            self._submit(row.id, self._build)
        first = rows[0]
        password = body.get("adminPass") if isinstance(body.get("adminPass"), str) else secrets.token_urlsafe(9)
        return {"server": first, "reservation_id": reservation, "admin_pass": password,
                "security_groups": body.get("security_groups") or [{"name": "default"}]}

    def _claim_instances(self, s: Session, project_id: str, flavor: Flavor, min_count: int, max_count: int) -> int:
        """As many instances as the quota allows between min_count and max_count (Nova's rule);
        QuotaExceeded naming the shortfall when not even min_count fit."""
        return quotas.claim_instances(s, project_id, min_count, max_count, cores=flavor.vcpus, ram=flavor.ram)

    def _zone(self, ctx: AuthContext, value) -> tuple[str | None, str | None]:
        """``availability_zone``: "ZONE", "ZONE:HOST" (admins) or None."""
        if value is None or value == "":
            return None, None
        if not isinstance(value, str) or len(value) > 255:
            raise BadRequest("Invalid input for field/attribute availability_zone.")
        zone, _, host = value.partition(":")
        if host and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
        with self.db.read() as s:
            if zone and zone not in self.zone_names(s):
                raise BadRequest("The requested availability zone is not available")
        return zone or None, host or None

    @property
    def pci_aliases(self):
        return pci_aliases(self.settings)

    # ---- build (worker) -------------------------------------------------------------------
    def _build(self, server_id: str) -> None:
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None or row.status != "building" or row.task_state == "deleting":
                return
            if not row.host:
                failure = self._schedule(s, row)
                if failure:
                    self._set_error(row, failure, code=500)
                    return
            row.task_state = "networking"
            project_id, user_id, host = row.project_id, row.user_id, row.host
            nics, groups = list(row.requested_networks), list(row.security_groups)
            zone = row.availability_zone
        try:
            ports = self._bind_ports(server_id, project_id, user_id, host, zone, nics, groups)
            with self.db.write() as s:
                row = s.get(Server, server_id)
                if row is None or row.task_state == "deleting":
                    return
                row.task_state = "spawning"
                spec = self._instance_spec(row, ports)
            self.driver.spawn(spec)
        except (DriverError, CaasError) as exc:
            message = str(exc) if isinstance(exc, DriverError) else exc.message
            self._abort_build(server_id, f"Build of instance {server_id} aborted: {message}")
            return
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None or row.task_state == "deleting":
                return
            row.status, row.task_state, row.power_state = "active", None, POWER_RUNNING
            row.launched_at = row.updated_at = utcnow()

    def _schedule(self, s: Session, row: Server) -> str | None:
        """Pick and claim a host for ``row`` (in the caller's transaction); the fault message
        when there is none."""
        hints = row.scheduler_hints or {}
        flavor = row.flavor
        group_policy, group_hosts, max_per_host = None, {}, 1
        if row.server_group_id:
            group = s.get(ServerGroup, row.server_group_id, with_for_update=True)  # one placement at a time
            if group is not None:
                group_policy = group.policy
                max_per_host = int((group.rules or {}).get("max_server_per_host", 1))
                for host, n in s.execute(select(Server.host, func.count()).where(
                        Server.server_group_id == group.id, Server.host.is_not(None), Server.id != row.id)
                        .group_by(Server.host)):
                    group_hosts[host] = n
        same = None
        if hints.get("same_host"):
            same = frozenset(h for h in s.scalars(select(Server.host).where(Server.id.in_(hints["same_host"]))) if h)
        different = frozenset(h for h in s.scalars(select(Server.host).where(
            Server.id.in_(hints.get("different_host") or []))) if h)
        try:
            pci = pci_requests(flavor.get("extra_specs") or {}, self.pci_aliases)
        except CaasError as exc:
            return f"No valid host was found. {exc.message}"
        spec = RequestSpec(vcpus=row.vcpus, memory_mb=row.memory_mb, disk_gb=row.disk_gb,
                           availability_zone=row.requested_az, force_host=hints.get("force_host"),
                           pci_requests=pci, group_policy=group_policy, group_hosts=group_hosts,
                           max_server_per_host=max_per_host, same_host=same, different_host=different)
        # Decide and claim under the placement lock, so that each decision sees the claims made
        # before it (the parallel builds of a multi-create spread as Nova's one scheduler
        # spreads them, instead of all ranking the same empty host first).
        with self._placement_lock:
            # The snapshot may be stale (other processes, rolled-back claims): read again. And a
            # read may be older than claims not yet committed; one more read after waiting on
            # their rows sees them, so that the fault names the filter that leaves no host.
            for fresh in (False, True, True):
                if fresh:
                    self.forget_snapshot()
                decision = self.scheduler.select(self.host_snapshot(s), spec)
                for candidate in decision.hosts:
                    taken = self.claim_on(s, candidate.name, spec, row.id)
                    if taken is not None:
                        row.host, row.availability_zone, row.pci_devices = (candidate.name,
                                                                             candidate.availability_zone, taken)
                        return None
        return decision.fault or "No valid host was found. Every candidate host was claimed by another request."

    def _bind_ports(self, server_id, project_id, user_id, host, zone, nics, groups) -> list[dict]:
        """Make (or bind) the server's ports; idempotent: ports already bound to it are kept."""
        ctx = service_context(project_id, user_id)
        existing = self.network.device_ports([server_id])[server_id]
        have = {p["network_id"]: p for p in existing}
        for nic in nics:
            if nic.get("port_id"):
                if any(p["id"] == nic["port_id"] for p in existing):
                    continue
                self.network.update_port(ctx, nic["port_id"], {"device_id": server_id,
                                                               "device_owner": f"compute:{zone or 'nova'}",
                                                               "binding:host_id": host})
                continue
            if nic["network_id"] in have and not nic.get("fixed_ip"):
                continue
            body = {"network_id": nic["network_id"], "project_id": project_id, "device_id": server_id,
                    "device_owner": f"compute:{zone or 'nova'}", "binding:host_id": host}
            if groups:
                body["security_groups"] = groups
            if nic.get("fixed_ip"):
                body["fixed_ips"] = [{"ip_address": nic["fixed_ip"]}]
            self.network.create_port(ctx, body)
        return self.network.device_ports([server_id])[server_id]

    def _instance_spec(self, row: Server, ports: list[dict]) -> InstanceSpec:
        nics = tuple(NicSpec(port_id=p["id"], mac_address=p["mac_address"], network_id=p["network_id"], mtu=p["mtu"],
                             fixed_ips=tuple(p["fixed_ips"])) for p in ports)
        devices = tuple(PciDevice(address=a, vendor_id="", product_id="") for a in row.pci_devices or ())
        return InstanceSpec(id=row.id, name=row.name, hostname=row.hostname, host=row.host or "", vcpus=row.vcpus,
                            memory_mb=row.memory_mb, disk_gb=row.disk_gb, image={"id": row.image_id}, nics=nics,
                            key_data=row.key_data, user_data=row.user_data, metadata=dict(row.metadata_ or {}),
                            config_drive=row.config_drive, pci_devices=devices)

    def _abort_build(self, server_id: str, message: str) -> None:
        """A build that failed after its claim: undo the driver, the ports and the claim, ERROR."""
        self._teardown(server_id)
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            self.release_on(s, row)
            if row.task_state != "deleting":
                self._set_error(row, message, code=500)

    def _teardown(self, server_id: str) -> None:
        """Remove the instance from the driver and free its ports and volumes (idempotent)."""
        try:
            self.driver.destroy(server_id)
        except DriverError as exc:
            log.warning("driver could not destroy %s: %s", server_id, exc)
        with self.db.read() as s:
            row = s.get(Server, server_id)
            project_id, user_id = (row.project_id, row.user_id) if row else ("", "")
            given = {n["port_id"] for n in (row.requested_networks if row else []) if n.get("port_id")}
        ctx = service_context(project_id, user_id)
        for port in self.network.device_ports([server_id])[server_id]:
            try:
                if port["id"] in given:  # the user's own port: unbind it, as Nova does
                    self.network.update_port(ctx, port["id"], {"device_id": "", "device_owner": "",
                                                               "binding:host_id": ""})
                else:
                    self.network.delete_port(ctx, port["id"])
            except NotFound:
                pass
        if self.volume is not None:
            self.volume.detach_all(server_id)

    @staticmethod
    def _set_error(row: Server, message: str, code: int = 500) -> None:
        row.status, row.task_state, row.power_state = "error", None, POWER_NOSTATE
        row.fault = {"code": code, "message": message[:255], "details": message, "created": isotime(utcnow())}
        row.updated_at = utcnow()

    def _fail(self, server_id: str, message: str) -> None:
        try:
            with self.db.write() as s:
                row = s.get(Server, server_id)
                if row is not None and row.task_state != "deleting":
                    self._set_error(row, message)
        except Exception:  # noqa: BLE001 - already failing; the log has the first error
            log.exception("could not record the failure of server %s", server_id)

    # ---- delete --------------------------------------------------------------------------
    def delete_server(self, ctx: AuthContext, server_id: str) -> None:
        require_writer(ctx, "delete")
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            if row.locked and not ctx.is_admin:
                raise Conflict(f"Instance {server_id} is locked")
            if row.task_state == "deleting":
                return
            row.task_state = "deleting"
            row.updated_at = utcnow()
        self._submit(server_id, self._delete)

    def _delete(self, server_id: str) -> None:
        self._teardown(server_id)
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            self.release_on(s, row)
            s.delete(row)
        with self._locks_guard:
            self._server_locks.pop(server_id, None)

    # ---- power actions -------------------------------------------------------------------
    ACTIONS = {"stop": ("active", "powering-off"), "start": ("stopped", "powering-on"),
               "reboot": (("active", "stopped"), "rebooting")}

    def server_action(self, ctx: AuthContext, server_id: str, action: str, hard: bool = False) -> None:
        """os-stop, os-start, reboot: checked and marked now, done on a worker."""
        require_writer(ctx, "action")
        states, task = self.ACTIONS[action]
        states = states if isinstance(states, tuple) else (states,)
        if action == "reboot" and hard:
            task = "rebooting_hard"
        name = {"stop": "stop", "start": "start", "reboot": "reboot"}[action]
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            if row.locked and not ctx.is_admin:
                raise Conflict(f"Instance {server_id} is locked")
            if row.task_state is not None or row.status not in states or (
                    action == "reboot" and row.status == "stopped" and not hard):
                raise Conflict(f"Cannot '{name}' instance {server_id} while it is in vm_state {row.status}"
                               + (f" and task_state {row.task_state}" if row.task_state else ""))
            row.task_state = task
            row.updated_at = utcnow()
        self._submit(server_id, self._power, action, hard)

    def _power(self, server_id: str, action: str, hard: bool = False) -> None:
        try:
            if action == "stop":
                self.driver.power_off(server_id)
            else:
                self._power_on(server_id, action, hard)
        except DriverError as exc:
            with self.db.write() as s:
                row = s.get(Server, server_id)
                if row is not None and row.task_state != "deleting":
                    self._set_error(row, f"{action} failed: {exc}")
            return
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None or row.task_state == "deleting":
                return
            if action == "stop":
                row.status, row.power_state = "stopped", POWER_SHUTDOWN
            else:
                row.status, row.power_state = "active", POWER_RUNNING
            row.task_state = None
            row.updated_at = utcnow()

    def _power_on(self, server_id: str, action: str, hard: bool) -> None:
        """Start or reboot on the driver, with what the instance needs (its ports). An instance
        the driver no longer has (its files removed by ``caas cleanup --all``) is booted again
        from the record, with a fresh disk, and its volumes attached again."""
        with self.db.read() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            spec = self._instance_spec(row, self.network.device_ports([server_id])[server_id])
        if self.driver.power_states([server_id]).get(server_id) == POWER_NOSTATE:
            log.warning("server %s: the driver has no instance for it; booting it again from its record", server_id)
            self.driver.spawn(spec)
            for attachment in self.volume.server_attachments(server_id) if self.volume is not None else []:
                self.driver.attach_volume(server_id, self.volume.volume_path(attachment["volume_id"]),
                                          attachment["device"])
        elif action == "start":
            self.driver.power_on(spec)
        else:
            self.driver.reboot(spec, hard)

    def console_output(self, ctx: AuthContext, server_id: str, length) -> str:
        if length is not None:
            length = parse_int(length, "length", -1, INT32_MAX,
                               message="Invalid input for field/attribute length. It must be an integer >= -1.")
            if length == -1:
                length = None
        with self.db.read() as s:
            row = self.get_server(s, ctx, server_id)
            if row.status not in ("active", "stopped") or not row.host:
                raise Conflict(f"Instance {server_id} is not ready (vm_state {row.status}); no console yet.")
        return self.driver.console_output(server_id, length)

    def reset_state(self, ctx: AuthContext, server_id: str, state) -> None:
        require_admin(ctx, "os_compute_api:os-admin-actions:reset_state")
        if state not in ("active", "error"):
            raise BadRequest("Invalid input for field/attribute state. It must be 'active' or 'error'.")
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            row.status, row.task_state = state, None

    # ---- update and metadata -------------------------------------------------------------
    def update_server(self, ctx: AuthContext, server_id: str, body: dict, version) -> Server:
        if not isinstance(body, dict):
            raise BadRequest("Invalid input for field/attribute server. It must be an object.")
        require_writer(ctx, "update")
        allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"} | ({"description"} if version >= (2, 19)
                                                                                 else set())
        extra = set(body) - allowed
        if extra:
            raise BadRequest(f"Invalid input for field/attribute server. Additional properties are not allowed "
                             f"({', '.join(sorted(repr(e) for e in extra))} unexpected)")
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            if "name" in body:
                name = body["name"]
                if not isinstance(name, str) or not name.strip() or len(name) > 255:
                    raise BadRequest("Invalid input for field/attribute name.")
                row.name = name
            if "description" in body:
                d = body["description"]
                if d is not None and (not isinstance(d, str) or len(d) > 255):
                    raise BadRequest("Invalid input for field/attribute description.")
                row.description = d
            for key, attr in (("accessIPv4", "access_ipv4"), ("accessIPv6", "access_ipv6")):
                if key in body:
                    setattr(row, attr, _access_ip(key, body[key]))
            row.updated_at = utcnow()
            return row

    def server_metadata(self, ctx: AuthContext, server_id: str) -> dict:
        with self.db.read() as s:
            return dict(self.get_server(s, ctx, server_id).metadata_ or {})

    def set_server_metadata(self, ctx: AuthContext, server_id: str, values, replace: bool) -> dict:
        require_writer(ctx, "update_metadata")
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            current = {} if replace else dict(row.metadata_ or {})
            if not isinstance(values, dict):
                raise BadRequest("Malformed request body: metadata must be an object.")
            current.update(values)
            row.metadata_ = self._metadata(current, quotas.limit(s, row.project_id, "metadata_items"))
            row.updated_at = utcnow()
            return dict(row.metadata_)

    def delete_server_metadata(self, ctx: AuthContext, server_id: str, key: str) -> None:
        require_writer(ctx, "delete_metadata")
        with self.db.write() as s:
            row = self.get_server(s, ctx, server_id, lock=True)
            current = dict(row.metadata_ or {})
            if key not in current:
                raise NotFound("Metadata item was not found")
            del current[key]
            row.metadata_ = current

    # ---- volume attachments --------------------------------------------------------------
    def _volumes(self):
        if self.volume is None:
            raise NotFound("The block storage service is not available.")
        return self.volume

    def attach_volume(self, ctx: AuthContext, server_id: str, volume_id) -> dict:
        require_writer(ctx, "attach_volume")
        if not isinstance(volume_id, str) or not volume_id or len(volume_id) > 36:
            raise BadRequest("Invalid input for field/attribute volumeId.")
        with self.db.read() as s:
            row = self.get_server(s, ctx, server_id)
            if row.status not in ("active", "stopped") or row.task_state is not None:
                raise Conflict(f"Cannot 'attach_volume' instance {server_id} while it is in vm_state {row.status}")
            host = row.host
        attachment = self._volumes().attach(ctx, volume_id, server_id, host)
        try:
            self.driver.attach_volume(server_id, self._volumes().volume_path(volume_id), attachment["device"])
        except DriverError as exc:
            self._volumes().detach(ctx, volume_id, server_id)
            raise Conflict(f"The hypervisor could not attach volume {volume_id}: {exc}") from None
        return attachment

    def detach_volume(self, ctx: AuthContext, server_id: str, volume_id: str) -> None:
        require_writer(ctx, "detach_volume")
        with self.db.read() as s:
            row = self.get_server(s, ctx, server_id)
            if row.task_state is not None:
                raise Conflict(f"Cannot 'detach_volume' instance {server_id} while it is in task_state "
                               f"{row.task_state}")
        attachment = self._volumes().server_attachment(server_id, volume_id)
        self.driver.detach_volume(server_id, attachment["device"])
        self._volumes().detach(ctx, volume_id, server_id)

    def volume_attachments(self, ctx: AuthContext, server_id: str) -> list[dict]:
        with self.db.read() as s:
            self.get_server(s, ctx, server_id)
        return self._volumes().server_attachments(server_id) if self.volume is not None else []

    def volume_attachment(self, ctx: AuthContext, server_id: str, volume_id: str) -> dict:
        with self.db.read() as s:
            self.get_server(s, ctx, server_id)
        try:
            return self._volumes().server_attachment(server_id, volume_id)
        except NotFound:
            raise NotFound(f"Volume {volume_id} is not attached to instance {server_id}.") from None

    # ---- reads ---------------------------------------------------------------------------
    def show_server(self, ctx: AuthContext, server_id: str) -> Server:
        with self.db.read() as s:
            return self.get_server(s, ctx, server_id)

    def list_servers(self, ctx: AuthContext, query, version) -> tuple[list[Server], bool]:
        """One page of the servers the caller may see, filtered as Nova filters, and whether
        there are more. ``query`` is the request's query (a multi-dict)."""
        all_tenants = query.get("all_tenants") is not None and query.get("all_tenants", "").lower() not in (
            "0", "false", "off", "no")
        if all_tenants and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.")
        stmt = select(Server)
        if not all_tenants:  # Nova ignores project_id without all_tenants, for admins too
            stmt = stmt.where(Server.project_id == ctx.project_id)
        elif query.get("project_id") or query.get("tenant_id"):
            stmt = stmt.where(Server.project_id == (query.get("project_id") or query.get("tenant_id")))
        status = query.get("status")
        if status:
            wanted = status.upper()
            if wanted not in KNOWN_STATUSES and wanted != "DELETED":
                if version >= (2, 38):
                    raise BadRequest(f"Invalid status value: {status}")
                return [], False
            if wanted == "REBOOT":
                stmt = stmt.where(Server.task_state == "rebooting")
            elif wanted == "HARD_REBOOT":
                stmt = stmt.where(Server.task_state == "rebooting_hard")
            else:
                stmt = stmt.where(Server.status == VM_STATE.get(wanted, wanted.lower()))
        for param, column in (("image", Server.image_id), ("flavor", Server.flavor_id),
                              ("reservation_id", Server.reservation_id), ("availability_zone",
                                                                          Server.availability_zone)):
            value = query.get(param)
            if value:
                stmt = stmt.where(column == value.rstrip("/").rsplit("/", 1)[-1])
        if ctx.is_admin:
            for param, column in (("host", Server.host), ("node", Server.host), ("user_id", Server.user_id)):
                if query.get(param):
                    stmt = stmt.where(column == query.get(param))
        since = query.get("changes-since")
        if since:
            stmt = stmt.where(Server.updated_at >= _parse_time(since, "changes-since"))
        name = query.get("name")
        sort_keys = query.getlist("sort_key") or ["created_at"]
        sort_dirs = query.getlist("sort_dir") or ["desc"]
        columns = {"created_at": Server.created_at, "updated_at": Server.updated_at, "display_name": Server.name,
                   "name": Server.name, "uuid": Server.id, "id": Server.id, "vm_state": Server.status,
                   "task_state": Server.task_state, "host": Server.host, "instance_type_id": Server.flavor_id,
                   "image_ref": Server.image_id, "launched_at": Server.launched_at, "project_id": Server.project_id,
                   "user_id": Server.user_id, "availability_zone": Server.availability_zone,
                   "hostname": Server.hostname, "key_name": Server.key_name, "power_state": Server.power_state}
        order = []
        for i, key in enumerate(sort_keys):
            if key not in columns:
                raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
            direction = sort_dirs[i] if i < len(sort_dirs) else sort_dirs[-1]
            if direction not in ("asc", "desc"):
                raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
            order.append(columns[key].desc() if direction == "desc" else columns[key].asc())
        order.append(Server.id.desc() if sort_dirs[0] == "desc" else Server.id.asc())
        limit = query.get("limit")
        if limit is not None:
            limit = min(parse_int(limit, "limit", 0, message="Invalid input for query parameters limit. Value must be "
                                                             "an integer >= 0."), MAX_LIMIT)
        else:
            limit = MAX_LIMIT  # Nova's max_limit: a longer list is paged, with a next link
        # A page (limit or marker) is found on the keys alone (id, and the name and tags the
        # filters below read); only the page's rows are loaded in full, so paging through many
        # servers does not load every server for every page.
        paged = limit is not None or bool(query.get("marker"))
        by_tags = version >= (2, 26) and any(query.get(p) for p in ("tags", "tags-any", "not-tags", "not-tags-any"))
        with self.db.read() as s:
            if paged:
                keys = [Server.id] + ([Server.name] if name else []) + ([Server.tags] if by_tags else [])
                rows = list(s.execute(stmt.with_only_columns(*keys).order_by(*order)))
            else:
                rows = list(s.scalars(stmt.order_by(*order)))
        if name:
            try:
                pattern = _user_regex(name)
            except re.error:
                raise BadRequest(f"Invalid name filter {name[:60]!r}: not a regular expression, or one with nested "
                                 "repetition or over 255 characters (refused: it could take exponential time).") from None
            rows = [r for r in rows if pattern.search(r.name)]
        ip = query.get("ip") or query.get("ip6")
        if ip:
            ports = self.network.device_ports([r.id for r in rows])
            try:
                ip_re = _user_regex(ip)
            except re.error:
                raise BadRequest("Invalid ip filter.") from None
            rows = [r for r in rows if any(ip_re.search(f["ip_address"]) for p in ports[r.id]
                                           for f in p["fixed_ips"])]
        if by_tags:
            rows = _tag_filter(rows, query)
        marker = query.get("marker")
        if marker:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1:]
        more = limit is not None and len(rows) > limit
        page = rows[:limit] if limit is not None else rows
        if paged and page:
            ids = [r.id for r in page]
            full: dict[str, Server] = {}
            with self.db.read() as s:
                for i in range(0, len(ids), 500):  # bounded IN lists
                    full.update((r.id, r) for r in s.scalars(select(Server).where(Server.id.in_(ids[i:i + 500]))))
            page = [full[i] for i in ids if i in full]  # one deleted in between is left out
        return page, more

    # ---- views ---------------------------------------------------------------------------
    def server_views(self, ctx: AuthContext, rows: list[Server], version, base: str, detail: bool = True,
                     api: str | None = None) -> list[dict]:
        """Nova's server views at ``version`` for many servers, in a few queries. ``base``: the
        cloud's URL; ``api``: the API's (self links; ``{base}/compute/v2.1`` unless given)."""
        api = api or f"{base}/compute/v2.1"
        if not detail:
            return [{"id": r.id, "name": r.name, "links": _links(api, base, "servers", r.id)} for r in rows]
        ports = self.network.device_ports([r.id for r in rows])
        volumes = self.volume.attachments_by_server([r.id for r in rows]) \
            if self.volume is not None and hasattr(self.volume, "attachments_by_server") else {}
        return [self._server_view(ctx, r, version, base, api, ports.get(r.id, []), volumes.get(r.id)) for r in rows]

    def _server_view(self, ctx: AuthContext, r: Server, version, base: str, api: str, ports: list[dict],
                     attachments: list[dict] | None = None) -> dict:
        if attachments is None and self.volume is not None:
            attachments = self.volume.server_attachments(r.id)
        addresses: dict[str, list[dict]] = {}
        for p in ports:
            entries = addresses.setdefault(p["network_name"], [])
            for f in p["fixed_ips"]:
                entries.append({"version": 6 if ":" in f["ip_address"] else 4, "addr": f["ip_address"],
                                "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p["mac_address"]})
            for addr in p["floating_ips"]:
                entries.append({"version": 6 if ":" in addr else 4, "addr": addr, "OS-EXT-IPS:type": "floating",
                                "OS-EXT-IPS-MAC:mac_addr": p["mac_address"]})
        fl = r.flavor or {}
        if version >= (2, 47):
            flavor = {"vcpus": fl.get("vcpus"), "ram": fl.get("ram"), "disk": fl.get("disk"),
                      "ephemeral": fl.get("ephemeral", 0), "swap": fl.get("swap", 0),
                      "original_name": fl.get("name"), "extra_specs": dict(fl.get("extra_specs") or {})}
        else:
            flavor = {"id": r.flavor_id, "links": [{"rel": "bookmark", "href": f"{base}/compute/flavors/{r.flavor_id}"}]}
        groups = sorted({g for p in ports for g in p["security_groups"]})
        status = status_of(r.status, r.task_state)
        view = {
            "id": r.id, "name": r.name, "status": status, "tenant_id": r.project_id, "user_id": r.user_id,
            "metadata": dict(r.metadata_ or {}), "hostId": host_id(r.project_id, r.host),
            "image": {"id": r.image_id, "links": [{"rel": "bookmark", "href": f"{base}/compute/images/{r.image_id}"}]},
            "flavor": flavor, "created": isotime(r.created_at), "updated": isotime(r.updated_at),
            "addresses": addresses, "accessIPv4": r.access_ipv4,
            "accessIPv6": ip_text(r.access_ipv6) if r.access_ipv6 else "",  # rows stored before it was canonical
            "links": _links(api, base, "servers", r.id), "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": r.availability_zone or "", "config_drive": "True" if r.config_drive else "",
            "key_name": r.key_name, "OS-SRV-USG:launched_at": isotime_us(r.launched_at),
            "OS-SRV-USG:terminated_at": None, "OS-EXT-STS:task_state": r.task_state,
            "OS-EXT-STS:vm_state": r.status, "OS-EXT-STS:power_state": r.power_state,
            "os-extended-volumes:volumes_attached": [
                {"id": a["volume_id"], **({"delete_on_termination": False} if version >= (2, 3) else {})}
                for a in attachments or []],
        }
        if status in ("BUILD", "ACTIVE"):
            view["progress"] = 100 if status == "ACTIVE" else 0
        if groups:
            view["security_groups"] = [{"name": g} for g in groups]
        if r.fault and r.status == "error":
            fault = {"code": r.fault["code"], "created": r.fault["created"], "message": r.fault["message"]}
            if ctx.is_admin or r.fault["code"] != 500:
                fault["details"] = r.fault.get("details", "")
            view["fault"] = fault
        if ctx.is_admin:
            view.update({"OS-EXT-SRV-ATTR:host": r.host, "OS-EXT-SRV-ATTR:hypervisor_hostname": r.host,
                         "OS-EXT-SRV-ATTR:instance_name": _instance_name(r.id)})
            if version >= (2, 3):
                view.update({"OS-EXT-SRV-ATTR:reservation_id": r.reservation_id,
                             "OS-EXT-SRV-ATTR:launch_index": r.launch_index,
                             "OS-EXT-SRV-ATTR:hostname": r.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
                             "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                             "OS-EXT-SRV-ATTR:user_data": r.user_data})
            if version >= (2, 16):
                view["host_status"] = "UP" if r.host else ""
        if version >= (2, 9):
            view["locked"] = r.locked
        if version >= (2, 19):
            view["description"] = r.description
        if version >= (2, 26):
            view["tags"] = list(r.tags or [])
        return view


def _access_ip(key: str, value) -> str:
    """accessIPv4 / accessIPv6: an address of that version ("" or None for none), as Nova's
    'ipv4' and 'ipv6' formats, in the canonical text Nova stores and answers (``ip_text``:
    "0:0:0:0:0:babe:220.12.22.2" is "::babe:dc0c:1602"); BadRequest otherwise."""
    if value is None or value == "":
        return ""
    version = 4 if key == "accessIPv4" else 6
    try:
        ok = isinstance(value, str) and ipaddress.ip_address(value).version == version
    except ValueError:
        ok = False
    if not ok:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. {value!r} is not a 'ipv{version}'")
    return ip_text(value)


def _links(api: str, base: str, collection: str, id_: str) -> list[dict]:
    """Nova's self (under the API the request used) and bookmark (unversioned) links."""
    return [{"rel": "self", "href": f"{api}/{collection}/{id_}"},
            {"rel": "bookmark", "href": f"{base}/compute/{collection}/{id_}"}]


def _instance_name(server_id: str) -> str:
    return "instance-" + server_id.replace("-", "")[:8]


def _parse_time(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. It must be an ISO 8601 "
                         "time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


# A group that repeats and holds a repetition ("(a+)+", "(a|aa)*"): the shapes that make a
# backtracking matcher take exponential time. Refused in caller-supplied filters.
NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[*+}]|\|)(?:[^()\\]|\\.)*\)\s*[*+{]")


def _user_regex(text: str) -> re.Pattern:
    """A caller's regular expression for the name and ip filters (Nova matches them as
    regular expressions), refused (re.error, then 400) when it is long or has nested
    repetition, so that one request cannot keep a worker busy for ever."""
    if len(text) > 255 or NESTED_REPEAT.search(text):
        raise re.error("nested repetition or too long")
    return re.compile(text)


def _tag_filter(rows: list[Server], query) -> list[Server]:
    def tags(param):
        raw = query.get(param)
        return [t for t in raw.split(",") if t] if raw else None
    all_of, any_of, not_all, not_any = tags("tags"), tags("tags-any"), tags("not-tags"), tags("not-tags-any")
    out = []
    for r in rows:
        have = set(r.tags or [])
        if all_of and not set(all_of) <= have:
            continue
        if any_of and not have & set(any_of):
            continue
        if not_all and set(not_all) <= have:
            continue
        if not_any and have & set(not_any):
            continue
        out.append(r)
    return out


__all__ = ["ServersMixin", "status_of", "hostname_for"]
