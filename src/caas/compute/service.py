"""Compute, composed: ``ComputeService`` builds one service per noun, each given its
dependencies explicitly, and exposes them as attributes: ``flavors``, ``keypairs``,
``server_groups``, ``quotas``, ``hosts``, ``servers`` (boot, the build worker, actions and
queries: compute/servers.py) and ``power_sync``; with what they share, ``inventory``
(compute/inventory.py: the hosts, their snapshot, claims and the placement lock) and ``work``
(compute/work.py: the workers and per-server locks). Callers use the attributes
(``cloud.compute.servers.queries.list_servers(...)``)."""

from __future__ import annotations

from caas.compute.flavors import Flavors
from caas.compute.hosts import Hosts
from caas.compute.inventory import HostInventory
from caas.compute.keypairs import Keypairs
from caas.compute.power import PowerSync
from caas.compute.quotas import Quotas
from caas.compute.scheduler import default_scheduler
from caas.compute.server_groups import ServerGroups
from caas.compute.servers import Servers
from caas.compute.work import ServerWork
from caas.network.binding import NetworkBinding


class ComputeService:
    """Compute for one cloud: the database, settings and hypervisor driver, and the network,
    image and volume services it calls in process (``volume`` None: no block storage)."""

    def __init__(self, db, settings, driver, network, image, volume=None, shares=None) -> None:
        self.inventory = HostInventory(db, settings, driver, default_scheduler(settings.scheduler_strategy))
        self.work = ServerWork(settings.compute_workers)
        self.flavors = Flavors(db, settings)
        self.keypairs = Keypairs(db)
        self.server_groups = ServerGroups(db)
        self.quotas = Quotas(db)
        self.hosts = Hosts(db, self.inventory)
        self.servers = Servers(db, settings, driver, self.inventory, self.work, NetworkBinding(network), image,
                               volume, shares)
        self.power_sync = PowerSync(db, settings, driver, self.work)

    def bootstrap(self) -> None:
        """First-start and every-start state: hosts from the driver, default flavors, the
        reconciliation of work a previous run left half done, and the servers' power states
        from the driver (then kept in step periodically)."""
        self.inventory.sync()
        self.flavors.bootstrap()
        self.servers.builder.resume()
        self.power_sync.start()

    def shutdown(self) -> None:
        """Stop the power sync and finish the work in progress; queued work is dropped, and the
        next start resumes it from the record (ServerBuilder.resume)."""
        self.power_sync.stop()
        self.work.shutdown()
