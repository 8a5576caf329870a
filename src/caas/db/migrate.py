"""Alembic, driven from code: ``upgrade(url)`` brings a database to the newest schema.

Migrations live in ``caas/db/migrations/versions``; make a new one with
``alembic -c src/caas/db/alembic.ini revision --autogenerate -m "..."`` (with CAAS_DATABASE_URL
pointing at an up-to-date database).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def _config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    from alembic import command

    # Each service's migrations form a branch from the identity base, so "heads": all of them.
    command.upgrade(_config(url), "heads")

