"""Network domain logic (placeholder until the network service lands)."""

from __future__ import annotations

from caas.config import Settings
from caas.db import Database


class NetworkService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def bootstrap(self) -> None:
        """First-start state (the external network ``public``). Idempotent."""
