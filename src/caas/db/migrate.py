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



def heads() -> set[str]:
    """The newest revision of every branch, read from the version files' ``revision`` and
    ``down_revision`` assignments (with the standard library: the server never imports Alembic,
    see ``is_current``). Equals Alembic's ``ScriptDirectory.get_heads()`` (tests/db)."""
    import ast

    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (HERE / "migrations" / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = ast.literal_eval(node.value)
                if node.targets[0].id == "revision":
                    revisions.add(value)
                elif node.targets[0].id == "down_revision" and value:
                    parents.update((value,) if isinstance(value, str) else value)
    return revisions - parents


def is_current(url: str) -> bool:
    """Whether the database at ``url`` is at every head already (``upgrade`` would do nothing),
    from its ``alembic_version`` rows with plain SQLAlchemy. False for a database without the
    table, or one that cannot be read: then ``upgrade`` is the one to say why."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or ":memory:").exists():
            return False  # connecting would create the file
        engine = create_engine(parsed)
    except (SQLAlchemyError, ValueError):
        return False
    try:
        with engine.connect() as conn:
            stamped = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return stamped == heads()
