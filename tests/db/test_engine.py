"""Database.on_commit: callbacks after committed writes to watched tables, and only then."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, update

from caas.db import migrate
from caas.db.engine import Database
from caas.errors import Conflict
from caas.virt.netns.models import KernelObject


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    d = Database(url)
    yield d
    d.dispose()


def row(name: str) -> dict:
    return {"kind": "link", "name": name, "netns": "", "owner_kind": "port", "owner_id": "p"}


def test_callbacks_follow_committed_writes_only(db):
    calls = []
    db.on_commit(["kernel_object"], lambda: calls.append("k"))
    db.on_commit(["network"], lambda: calls.append("n"))
    with db.read() as s:
        s.get(KernelObject, ("link", "x", ""))
    assert calls == []  # reads do not count
    with db.write() as s:  # Core insert
        s.execute(insert(KernelObject).values(**row("a")))
    assert calls == ["k"]
    with db.write() as s:  # ORM add, then update and delete
        s.add(KernelObject(**row("b")))
    with db.write() as s:
        s.execute(update(KernelObject).where(KernelObject.name == "b").values(owner_id="q"))
        s.execute(delete(KernelObject).where(KernelObject.name == "a"))
    assert calls == ["k", "k", "k"]
    with pytest.raises(RuntimeError):  # rolled back: no callback
        with db.write() as s:
            s.execute(insert(KernelObject).values(**row("c")))
            raise RuntimeError("boom")
    with pytest.raises(Conflict):  # failed: no callback, and none leaks into the next one
        with db.write() as s:
            s.execute(insert(KernelObject).values(**row("b")))
    with db.read() as s:
        s.get(KernelObject, ("link", "b", ""))
    assert calls == ["k", "k", "k"]
