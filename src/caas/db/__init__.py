"""Database: engine and sessions (``engine``), declarative base (``base``), migrations
(``migrate`` and ``migrations/``)."""

from caas.db.base import Base, new_id, utcnow
from caas.db.engine import Database

__all__ = ["Base", "Database", "new_id", "utcnow"]
