"""Engine and transactions.

``Database.read()`` and ``Database.write()`` are context managers yielding a Session in one
transaction, committed on success and rolled back on any error. On SQLite a write transaction
starts with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of
failing with a lock upgrade deadlock; reads stay deferred and never block under WAL.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas.errors import Conflict

# The table an INSERT, UPDATE or DELETE writes (as SQLAlchemy renders them, quoted or not).
_DML = re.compile(r'\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)', re.IGNORECASE)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            # Take transaction control away from pysqlite; we emit BEGIN ourselves.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            mode = conn.info.get("caas_begin", "BEGIN")
            conn.exec_driver_sql(mode)

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """One engine; ``read()`` and ``write()`` open one transaction each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        # SQLite has one writer at a time. Queue this process's writers on a lock, in order,
        # rather than on SQLite's busy handler, which sleeps and retries and starves some.
        self._sqlite_writer = threading.Lock()
        # (tables, callback): called after a transaction that wrote any of the tables commits.
        self._watchers: list[tuple[frozenset[str], Callable[[], None]]] = []
        event.listen(self.engine, "before_cursor_execute", self._note_write)

    def on_commit(self, tables: Iterable[str], callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every committed transaction that inserted, updated or deleted
        rows of any of ``tables`` (ORM or Core statements alike). Callbacks must be quick."""
        self._watchers.append((frozenset(tables), callback))

    def _note_write(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self._watchers:
            m = _DML.match(statement)
            if m:
                conn.info.setdefault("caas_written", set()).add(m.group(1))

    def _notify(self, written: set[str] | None) -> None:
        for tables, callback in self._watchers if written else ():
            if tables & written:
                callback()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Session]:
        if write and self.is_sqlite:
            with self._sqlite_writer:
                with self._open(write) as session:
                    yield session
        else:
            with self._open(write) as session:
                yield session

    @contextmanager
    def _open(self, write: bool) -> Iterator[Session]:
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn.info["caas_begin"] = "BEGIN IMMEDIATE" if write else "BEGIN"
                conn.info.pop("caas_written", None)  # conn.info outlives the connection in the pool
                with conn.begin():
                    with Session(bind=conn, expire_on_commit=False, autoflush=True) as session:
                        yield session
                        session.flush()
                self._notify(conn.info.pop("caas_written", None))
        except IntegrityError as exc:
            raise Conflict("the request conflicts with an existing resource") from exc

    def read(self):
        """A transaction for reads (deferred on SQLite: never waits for writers)."""
        return self._transaction(write=False)

    def write(self):
        """A transaction that will write (takes SQLite's write lock at once)."""
        return self._transaction(write=True)

    def dispose(self) -> None:
        self.engine.dispose()


def insert_if_absent(session: Session, model, **values) -> bool:
    """INSERT that does nothing when the row's key already exists (an idempotent PUT under
    concurrency, with no check-then-act race). True if a row was inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(dialect)
    # preserve_rowcount: without it SQLAlchemy 2.1 on psycopg answers -1 for an INSERT.
    result = session.execute(insert(model).values(**values).on_conflict_do_nothing(),
                             execution_options={"preserve_rowcount": True})
    return result.rowcount > 0
