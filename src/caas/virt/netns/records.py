"""Records of kernel objects: ``add`` before creating one, ``remove`` after deleting it; read
as the driver protocol's ``Owned``."""

from __future__ import annotations

from sqlalchemy import delete, select

from caas.db.engine import Database, insert_if_absent
from caas.virt.driver import Owned
from caas.virt.netns.models import KernelObject


def _record(row: KernelObject) -> Owned:
    """A row as the driver protocol's plain ``Owned`` (what ``NetnsDriver.owned`` lists)."""
    return Owned(row.kind, row.name, row.owner_kind, row.owner_id, row.netns)


class Records:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: str, name: str, owner_kind: str, owner_id: str, netns: str = "") -> None:
        """Record an object about to be created (idempotent)."""
        with self.db.write() as s:
            insert_if_absent(s, KernelObject, kind=kind, name=name, netns=netns,
                             owner_kind=owner_kind, owner_id=owner_id)

    def add_many(self, rows) -> None:
        """``add`` for many objects in one transaction (the boot path makes several at once):
        (kind, name, owner_kind, owner_id, netns) each."""
        with self.db.write() as s:
            for kind, name, owner_kind, owner_id, netns in rows:
                insert_if_absent(s, KernelObject, kind=kind, name=name, netns=netns,
                                 owner_kind=owner_kind, owner_id=owner_id)

    def remove(self, kind: str, name: str, netns: str = "") -> None:
        """Forget an object that no longer exists."""
        with self.db.write() as s:
            s.execute(delete(KernelObject).where(KernelObject.kind == kind, KernelObject.name == name,
                                                 KernelObject.netns == netns))

    def owned_by(self, owner_kind: str, owner_id: str) -> list[Owned]:
        with self.db.read() as s:
            rows = s.scalars(select(KernelObject).where(KernelObject.owner_kind == owner_kind,
                                                        KernelObject.owner_id == owner_id))
            return [_record(r) for r in rows]

    def all(self) -> list[Owned]:
        with self.db.read() as s:
            return [_record(r) for r in s.scalars(select(KernelObject))]
