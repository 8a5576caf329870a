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


def test_heads_are_alembics():
    """``heads()`` reads the version files without Alembic, and finds what Alembic finds."""
    from alembic.script import ScriptDirectory

    from caas.db.migrate import _config, heads

    assert heads() == set(ScriptDirectory.from_config(_config("sqlite://")).get_heads())


def test_is_current_only_at_every_head(tmp_path):
    """A start skips the migrations' child interpreter only on a database at every head: not on
    a missing file (which it must not create), an empty one, one at an older revision, or a URL
    it cannot use."""
    from alembic import command

    from caas.db.migrate import _config, is_current

    path = tmp_path / "c.db"
    url = f"sqlite:///{path}"
    assert not is_current(url) and not path.exists()
    create_engine(url).dispose()
    path.touch()
    assert not is_current(url)  # no alembic_version table
    command.upgrade(_config(url), "0001")
    assert not is_current(url)  # identity only
    upgrade(url)
    assert is_current(url)
    assert not is_current("nonsense://x") and not is_current(f"postgresql+psycopg://u@/x?host={tmp_path}")
