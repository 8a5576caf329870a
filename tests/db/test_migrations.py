"""The migrations make exactly the schema the models describe (on a fresh SQLite file)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from caas.db import all_models  # noqa: F401 - every table
from caas.db.base import Base
from caas.db.migrate import upgrade


def test_models_match_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], diff
