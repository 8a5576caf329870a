"""0010_identity_catalog marks the catalog entries a database already holds as caas's own:
before it nobody could write the catalog, so every entry there was caas's, and the next start
must keep re-pointing them (``bootstrap.sync_catalog`` only touches marked entries)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from caas.db.migrate import _config, upgrade


def test_existing_entries_become_caas_own(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    command.upgrade(_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO region (id, description) VALUES ('RegionOne', '')"))
        conn.execute(text("INSERT INTO service (id, type, name, description, enabled) "
                          "VALUES ('s1', 'identity', 'keystone', 'Identity Service', 1)"))
        conn.execute(text("INSERT INTO endpoint (id, service_id, interface, region_id, url, enabled) "
                          "VALUES ('e1', 's1', 'public', 'RegionOne', 'http://old:1/identity', 1)"))
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT caas_key, extra FROM service")).one() == ("identity", "{}")
        assert conn.execute(text("SELECT caas_managed, region_id FROM endpoint")).one() == (1, "RegionOne")
        assert conn.execute(text("SELECT parent_region_id FROM region")).scalar() is None
    engine.dispose()
