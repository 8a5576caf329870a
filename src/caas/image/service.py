"""Image domain logic (placeholder until the image service lands)."""

from __future__ import annotations

from caas.config import Settings
from caas.db import Database


class ImageService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def bootstrap(self) -> None:
        """First-start state (the ``host`` image). Idempotent."""
