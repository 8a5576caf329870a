"""Servers: one object for what callers do with servers, composed of its parts, each given its
dependencies explicitly: ``ServerBuilder`` (build.py: the work on the compute workers),
``Boot`` (boot.py: a request checked and recorded), ``ServerActions`` (actions.py) and
``ServerQueries`` (queries.py). Callers reach the part that does what they need
(``compute.servers.queries.list_servers``)."""

from __future__ import annotations

from caas.compute.actions import ServerActions
from caas.compute.boot import Boot
from caas.compute.build import ServerBuilder
from caas.compute.inventory import HostInventory
from caas.compute.queries import ServerQueries
from caas.compute.work import ServerWork
from caas.network.binding import NetworkBinding


class Servers:
    """The servers of one cloud (see the module's docstring). ``volume`` is the block storage
    service (None: a cloud without it)."""

    def __init__(self, db, settings, driver, inventory: HostInventory, work: ServerWork,
                 network_binding: NetworkBinding, image, volume=None, shares=None) -> None:
        self.builder = ServerBuilder(db, settings, driver, inventory, work, network_binding, image, volume, shares)
        self.boot = Boot(db, settings, inventory, network_binding, image, self.builder)
        self.actions = ServerActions(db, driver, self.builder, volume)
        self.queries = ServerQueries(db, network_binding, volume)


__all__ = ["Servers"]
