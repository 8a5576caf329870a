"""Alembic environment: the URL comes from the config (set by caas.db.migrate) or from
CAAS_DATABASE_URL; the target metadata is every caas model."""

import os

from alembic import context
from sqlalchemy import create_engine

from caas.db import all_models  # noqa: F401  (registers every table)
from caas.db.base import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("CAAS_DATABASE_URL")


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
