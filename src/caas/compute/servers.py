"""Servers: one object for what callers do with servers, composed of its parts, each given its
dependencies explicitly: ``ServerBuilder`` (build.py: the work on the compute workers),
``Boot`` (boot.py: a request checked and recorded), ``ServerActions`` (actions.py) and
``ServerQueries`` (queries.py). The methods below are the parts' own, named once here so that
callers (the compute API) need only ``compute.servers``."""

from __future__ import annotations

from caas.compute.actions import ServerActions
from caas.compute.boot import Boot, BootRequest, BootResult
from caas.compute.build import ServerBuilder
from caas.compute.inventory import HostInventory
from caas.compute.models import Server
from caas.compute.queries import ServerQuery, ServerQueries
from caas.compute.work import ServerWork
from caas.context import AuthContext
from caas.network.binding import NetworkBinding


class Servers:
    """The servers of one cloud (see the module's docstring). ``volume`` is the block storage
    service (None: a cloud without it)."""

    def __init__(self, db, settings, driver, inventory: HostInventory, work: ServerWork,
                 network_binding: NetworkBinding, image, volume=None) -> None:
        self.builder = ServerBuilder(db, settings, driver, inventory, work, network_binding, image, volume)
        self.boot = Boot(db, settings, inventory, network_binding, image, self.builder)
        self.actions = ServerActions(db, driver, self.builder, volume)
        self.queries = ServerQueries(db, network_binding, volume)

    def resume_work(self) -> None:
        """At start: finish the work a previous run left (ServerBuilder.resume)."""
        self.builder.resume()

    # ---- boot and queries ----------------------------------------------------------------------
    def create_servers(self, ctx: AuthContext, req: BootRequest) -> BootResult:
        return self.boot.create_servers(ctx, req)

    def show_server(self, ctx: AuthContext, server_id: str) -> Server:
        return self.queries.show_server(ctx, server_id)

    def list_servers(self, ctx: AuthContext, q: ServerQuery) -> tuple[list[Server], bool]:
        return self.queries.list_servers(ctx, q)

    def server_resources(self, rows: list[Server]) -> tuple[dict, dict]:
        return self.queries.server_resources(rows)

    # ---- actions -------------------------------------------------------------------------------
    def delete_server(self, ctx: AuthContext, server_id: str) -> None:
        self.actions.delete_server(ctx, server_id)

    def server_action(self, ctx: AuthContext, server_id: str, action: str, hard: bool = False) -> None:
        self.actions.server_action(ctx, server_id, action, hard)

    def console_output(self, ctx: AuthContext, server_id: str, length) -> str:
        return self.actions.console_output(ctx, server_id, length)

    def reset_state(self, ctx: AuthContext, server_id: str, state) -> None:
        self.actions.reset_state(ctx, server_id, state)

    def update_server(self, ctx: AuthContext, server_id: str, changes: dict) -> Server:
        return self.actions.update_server(ctx, server_id, changes)

    def server_metadata(self, ctx: AuthContext, server_id: str) -> dict:
        return self.actions.server_metadata(ctx, server_id)

    def set_server_metadata(self, ctx: AuthContext, server_id: str, values, replace: bool) -> dict:
        return self.actions.set_server_metadata(ctx, server_id, values, replace)

    def delete_server_metadata(self, ctx: AuthContext, server_id: str, key: str) -> None:
        self.actions.delete_server_metadata(ctx, server_id, key)

    def attach_volume(self, ctx: AuthContext, server_id: str, volume_id) -> dict:
        return self.actions.attach_volume(ctx, server_id, volume_id)

    def detach_volume(self, ctx: AuthContext, server_id: str, volume_id: str) -> None:
        self.actions.detach_volume(ctx, server_id, volume_id)

    def volume_attachments(self, ctx: AuthContext, server_id: str) -> list[dict]:
        return self.actions.volume_attachments(ctx, server_id)

    def volume_attachment(self, ctx: AuthContext, server_id: str, volume_id: str) -> dict:
        return self.actions.volume_attachment(ctx, server_id, volume_id)


__all__ = ["Servers"]
