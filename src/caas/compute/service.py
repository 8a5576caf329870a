"""Compute domain logic: one facade over the nouns (flavors, keypairs, server groups, hosts,
servers, quotas). Holds the collaborators every noun uses: the database, settings, the
hypervisor driver, and the network, image and volume services (called in-process), and the
composed ``inventory`` (compute/inventory.py: the hosts, their snapshot, claims and the
placement lock) and ``work`` (compute/work.py: the workers and per-server locks), each
built here with its dependencies given explicitly."""

from __future__ import annotations

from caas.compute.flavors import FlavorsMixin
from caas.compute.hosts import HostsMixin
from caas.compute.inventory import HostInventory
from caas.compute.keypairs import KeypairsMixin
from caas.compute.power import PowerSyncMixin
from caas.compute.quotas import QuotasMixin
from caas.compute.server_groups import ServerGroupsMixin
from caas.compute.actions import ActionsMixin
from caas.compute.boot import BootMixin
from caas.compute.build import BuildMixin
from caas.compute.queries import QueriesMixin
from caas.compute.scheduler import default_scheduler
from caas.compute.servers import ServersMixin
from caas.compute.work import ServerWork
from caas.network.binding import NetworkBinding


class ComputeService(FlavorsMixin, KeypairsMixin, ServerGroupsMixin, HostsMixin, QuotasMixin, ServersMixin,
                     BootMixin, BuildMixin, ActionsMixin, QueriesMixin, PowerSyncMixin):
    def __init__(self, db, settings, driver, network, image, volume=None) -> None:
        self.db = db
        self.settings = settings
        self.driver = driver
        self.network_binding = NetworkBinding(network)
        self.image = image
        # The volume service may be built after compute: a callable gives it when asked.
        self._volume = volume
        self.inventory = HostInventory(db, settings, driver, default_scheduler(settings.scheduler_strategy))
        self.work = ServerWork(settings.compute_workers, self._work_failed)
        self.init_power_sync()

    @property
    def volume(self):
        return self._volume() if callable(self._volume) else self._volume

    def bootstrap(self) -> None:
        """First-start and every-start state: hosts from the driver, default flavors, the
        reconciliation of work a previous run left half done, and the servers' power states
        from the driver (then kept in step periodically)."""
        self.inventory.sync()
        self.bootstrap_flavors()
        self.resume_work()
        self.start_power_sync()
