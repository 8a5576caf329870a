"""The build worker: what runs on a compute worker thread for one server. A build schedules and
claims a host, makes and binds the server's ports, spawns it on the driver and marks it ACTIVE,
or undoes what it did and records a fault that says why; a delete tears down the instance, its
ports and volumes and frees the claim; stop, start and reboot run on the driver. The work is
queued on ``compute.work.ServerWork`` (one job at a time per server); a restart resumes what a
previous run left half done (``resume``)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caas.compute.flavors import pci_aliases
from caas.compute.inventory import HostInventory
from caas.compute.models import Server, ServerGroup
from caas.compute.scheduler import RequestSpec, pci_requests
from caas.compute.server_state import UNEXPECTED, record_error, service_context, set_error
from caas.compute.work import ServerWork
from caas.db.base import utcnow
from caas.errors import CaasError, NotFound
from caas.network.binding import NetworkBinding, PortBinding
from caas.virt.driver import NOSTATE as POWER_NOSTATE
from caas.virt.driver import RUNNING as POWER_RUNNING
from caas.virt.driver import SHUTDOWN as POWER_SHUTDOWN
from caas.virt.driver import DriverError, InstanceSpec, NicSpec, PciDevice, ShareMount

log = logging.getLogger("caas.compute")


class ServerBuilder:
    """The work on servers: queued on ``work``, placed through ``inventory``, run on ``driver``,
    wired through ``network_binding``, booted from ``image``'s images, with ``volume``'s volumes
    (None: a cloud without block storage)."""

    def __init__(self, db, settings, driver, inventory: HostInventory, work: ServerWork,
                 network_binding: NetworkBinding, image, volume=None, shares=None) -> None:
        self.db = db
        self.settings = settings
        self.driver = driver
        self.inventory = inventory
        self.work = work
        self.network_binding = network_binding
        self.image = image
        self.volume = volume
        self.shares = shares  # the share service: which shares an instance may mount (None: none)

    # ---- queueing --------------------------------------------------------------------------
    def start_build(self, server_id: str) -> None:
        """Build the server (recorded BUILD) on a worker."""
        self.work.submit(server_id, self._build, on_failure=self._build_failed)

    def start_delete(self, server_id: str) -> None:
        """Delete the server (its task ``deleting``) on a worker."""
        self.work.submit(server_id, self._delete, on_failure=self._failed)

    def start_power(self, server_id: str, action: str, hard: bool = False) -> None:
        """Stop, start or reboot the server (``action``) on a worker."""
        self.work.submit(server_id, self._power, action, hard, on_failure=self._failed)

    def _build_failed(self, server_id: str) -> None:
        """A build that raised is undone (driver, ports, claim), then the server is ERROR."""
        try:
            self._abort_build(server_id, UNEXPECTED)
        except Exception:  # noqa: BLE001 - fall back to recording the failure
            log.exception("could not undo the build of server %s", server_id)
            record_error(self.db, server_id)

    def _failed(self, server_id: str) -> None:
        """Other work that raised: the server is ERROR."""
        record_error(self.db, server_id)

    def resume(self) -> None:
        """At start: finish what a previous run left. Builds are restarted from the record
        (the steps are idempotent), deletes finished, stops and starts settled."""
        with self.db.read() as s:
            pending = list(s.execute(select(Server.id, Server.status, Server.task_state)
                                     .where((Server.task_state.is_not(None)) | (Server.status == "building"))))
        for sid, vm_state, task in pending:
            if task == "deleting":
                self.start_delete(sid)
            elif vm_state == "building":
                self.start_build(sid)
            elif task in ("powering-off",):
                self.start_power(sid, "stop")
            elif task in ("powering-on",):
                self.start_power(sid, "start")
            elif task in ("rebooting", "rebooting_hard"):
                self.start_power(sid, "reboot")
            else:
                with self.db.write() as s:
                    row = s.get(Server, sid)
                    if row is not None:
                        row.task_state = None

    # ---- the jobs ----------------------------------------------------------------------------
    def _build(self, server_id: str) -> None:
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None or row.status != "building" or row.task_state == "deleting":
                return
            if not row.host:
                failure = self._schedule(s, row)
                if failure:
                    set_error(row, failure, code=500)
                    return
            row.task_state = "networking"
            project_id, user_id, host = row.project_id, row.user_id, row.host
            nics, groups = list(row.requested_networks), list(row.security_groups)
            zone, image_id = row.availability_zone, row.image_id
        try:
            ports = self._bind_ports(server_id, project_id, user_id, host, zone, nics, groups)
            image = self._image_view(image_id, project_id, user_id)
            shares = self._share_mounts(project_id, ports)
            with self.db.write() as s:
                row = s.get(Server, server_id)
                if row is None or row.task_state == "deleting":
                    return
                row.task_state = "spawning"
                spec = self._instance_spec(row, ports, image, shares)
            self.driver.spawn(spec)
        except (DriverError, CaasError) as exc:
            message = str(exc) if isinstance(exc, DriverError) else exc.message
            self._abort_build(server_id, f"Build of instance {server_id} aborted: {message}")
            return
        self._settle(server_id, "active", POWER_RUNNING, launched=True)

    def _settle(self, server_id: str, status: str, power_state: int, launched: bool = False) -> None:
        """The end of a server's work: its status and power state, no task; unless it went, or
        a delete began, meanwhile (the delete decides then)."""
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None or row.task_state == "deleting":
                return
            row.status, row.task_state, row.power_state = status, None, power_state
            row.updated_at = utcnow()
            if launched:
                row.launched_at = row.updated_at

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
            pci = pci_requests(flavor.get("extra_specs") or {}, pci_aliases(self.settings))
        except CaasError as exc:
            return f"No valid host was found. {exc.message}"
        spec = RequestSpec(vcpus=row.vcpus, memory_mb=row.memory_mb, disk_gb=row.disk_gb,
                           availability_zone=row.requested_az, force_host=hints.get("force_host"),
                           pci_requests=pci, group_policy=group_policy, group_hosts=group_hosts,
                           max_server_per_host=max_per_host, same_host=same, different_host=different)
        # Decide and claim under the placement lock, so that each decision sees the claims made
        # before it (the parallel builds of a multi-create spread as Nova's one scheduler
        # spreads them, instead of all ranking the same empty host first).
        with self.inventory.placement_lock:
            # The snapshot may be stale (other processes, rolled-back claims): read again. And a
            # read may be older than claims not yet committed; one more read after waiting on
            # their rows sees them, so that the fault names the filter that leaves no host.
            for fresh in (False, True, True):
                if fresh:
                    self.inventory.forget_snapshot()
                decision = self.inventory.scheduler.select(self.inventory.snapshot(s), spec)
                for candidate in decision.hosts:
                    taken = self.inventory.claim_on(s, candidate.name, spec, row.id)
                    if taken is not None:
                        row.host, row.availability_zone, row.pci_devices = (candidate.name,
                                                                             candidate.availability_zone, taken)
                        return None
        return decision.fault or "No valid host was found. Every candidate host was claimed by another request."

    def _bind_ports(self, server_id, project_id, user_id, host, zone, nics, groups) -> list:
        """Make (or bind) the server's ports; idempotent: ports already bound to it are kept."""
        ctx = service_context(project_id, user_id)
        existing = self.network_binding.server_ports([server_id])[server_id]
        have = {p.network_id for p in existing}
        binding = PortBinding(server_id, host, f"compute:{zone or 'nova'}")
        for nic in nics:
            if nic.get("port_id"):
                if not any(p.id == nic["port_id"] for p in existing):
                    self.network_binding.bind_port(ctx, nic["port_id"], binding)
            elif nic["network_id"] not in have or nic.get("fixed_ip"):
                self.network_binding.create_port(ctx, project_id, nic["network_id"], binding, groups,
                                                 nic.get("fixed_ip"))
        return self.network_binding.server_ports([server_id])[server_id]

    def _image_view(self, image_id: str, project_id: str, user_id: str) -> dict:
        """The image a server boots from, as the driver reads it (id, name, disk_format,
        container_format, properties); an image that no longer exists (or a volume-backed
        server's empty id) is given by its id alone, which a driver that needs the image refuses."""
        try:
            image = self.image.get_image(service_context(project_id, user_id), image_id) if image_id else None
        except NotFound:
            image = None
        if image is None:
            return {"id": image_id}
        return {"id": image.id, "name": image.name, "disk_format": image.disk_format,
                "container_format": image.container_format, "properties": dict(image.extra)}

    def _share_mounts(self, project_id: str, ports: list) -> tuple[ShareMount, ...]:
        """The shares the share service allows the server's fixed IPs (its project's only)."""
        if self.shares is None:
            return ()
        addresses = [ip["ip_address"] for p in ports for ip in p.fixed_ips]
        return tuple(ShareMount(**m) for m in self.shares.mounts_for(project_id, addresses))

    @staticmethod
    def _instance_spec(row: Server, ports: list, image: dict, shares: tuple[ShareMount, ...] = ()) -> InstanceSpec:
        """What the driver needs to run ``row`` with its ``ports`` (ServerPort) from ``image``
        (its ``_image_view``), and the ``shares`` it may mount."""
        nics = tuple(NicSpec(port_id=p.id, mac_address=p.mac_address, network_id=p.network_id, mtu=p.mtu,
                             fixed_ips=p.fixed_ips) for p in ports)
        devices = tuple(PciDevice(address=a, vendor_id="", product_id="") for a in row.pci_devices or ())
        return InstanceSpec(id=row.id, name=row.name, hostname=row.hostname, host=row.host or "", vcpus=row.vcpus,
                            memory_mb=row.memory_mb, disk_gb=row.disk_gb, image=image, nics=nics,
                            key_data=row.key_data, user_data=row.user_data, metadata=dict(row.metadata_ or {}),
                            config_drive=row.config_drive, pci_devices=devices, shares=shares)

    def _abort_build(self, server_id: str, message: str) -> None:
        """A build that failed after its claim: undo the driver, the ports and the claim, ERROR."""
        self._teardown(server_id)
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            self.inventory.release_on(s, row)
            if row.task_state != "deleting":
                set_error(row, message, code=500)

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
        for port in self.network_binding.server_ports([server_id])[server_id]:
            try:
                if port.id in given:  # the user's own port: unbind it, as Nova does
                    self.network_binding.unbind_port(ctx, port.id)
                else:
                    self.network_binding.delete_port(ctx, port.id)
            except NotFound:
                pass
        if self.volume is not None:
            self.volume.detach_all(server_id)

    def _delete(self, server_id: str) -> None:
        self._teardown(server_id)
        with self.db.write() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            self.inventory.release_on(s, row)
            s.delete(row)
        self.work.forget(server_id)

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
                    set_error(row, f"{action} failed: {exc}")
            return
        if action == "stop":
            self._settle(server_id, "stopped", POWER_SHUTDOWN)
        else:
            self._settle(server_id, "active", POWER_RUNNING)

    def _power_on(self, server_id: str, action: str, hard: bool) -> None:
        """Start or reboot on the driver, with what the instance needs (its ports). An instance
        the driver no longer has (its files removed by ``caas cleanup --all``) is booted again
        from the record, with a fresh disk, and its volumes attached again."""
        with self.db.read() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            image_id, project_id, user_id = row.image_id, row.project_id, row.user_id
        image = self._image_view(image_id, project_id, user_id)
        ports = self.network_binding.server_ports([server_id])[server_id]
        shares = self._share_mounts(project_id, ports)
        with self.db.read() as s:
            row = s.get(Server, server_id)
            if row is None:
                return
            spec = self._instance_spec(row, ports, image, shares)
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
