"""Secrets at rest (caas.identity.secrets): what the credential keys encrypt stays readable
across rotations, because each rotation re-encrypts it with the new primary key; without that
re-encryption the second rotation would drop the only key that opens it. On a real migrated
SQLite database and real key files; no server."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from caas.db import Database
from caas.errors import CaasError
from caas.identity import secrets
from caas.identity.credential_models import Credential
from caas.identity.tokens import KeyRepository
from tests.conftest import sqlite_template


@pytest.fixture
def db(tmp_path):
    shutil.copyfile(sqlite_template(), tmp_path / "caas.db")
    database = Database(f"sqlite:///{tmp_path / 'caas.db'}")
    yield database
    database.dispose()


def test_rotation_reencrypts_every_secret(tmp_path, db):
    box = secrets.SecretBox(KeyRepository(tmp_path / "credential-keys"))
    box.setup()
    with db.write() as s:
        s.add(Credential(id="c1", user_id="u", type="cert", encrypted_blob=box.encrypt("the blob"), extra={}))
    assert sorted(p.name for p in box.keys.directory.iterdir()) == ["0", "1"]  # staged, primary
    for _ in range(3):  # more rotations than kept keys: the first keys are gone by the end
        _, count = secrets.rotate(box, db)
        assert count == 1
    assert "1" not in {p.name for p in box.keys.directory.iterdir()}  # the key that first encrypted it
    with db.read() as s:
        stored = s.scalar(select(Credential.encrypted_blob).where(Credential.id == "c1"))
    assert box.decrypt(stored) == "the blob" and "the blob" not in stored
    # a box over other keys cannot read it: 500 from a request, never the blob
    stranger = secrets.SecretBox(KeyRepository(tmp_path / "other-keys"))
    stranger.setup()
    with pytest.raises(CaasError):
        stranger.decrypt(stored)
