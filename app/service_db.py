"""Where the service's own rows live: API keys, conversations, messages and feedback.

In the embedded mode they share the data folder's SQLite database; with HEARTH_DATABASE_URL
they live in the PostgreSQL store's database, so every replica sees the same keys and a
conversation started on one replica continues on another. The key and conversation stores
write their SQL once (`?` placeholders, quoted identifiers) and run it on either.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from index.protocols import Store
from index.store import BUSY_TIMEOUT_MS, connect

log = logging.getLogger(__name__)
# How long a delete waits for readers and writers to let the write-ahead log be truncated.
SCRUB_WAIT_S = 2.0


class Rows(Protocol):
    """What a statement returns (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...


class ServiceDatabase(Protocol):
    """One transaction at a time per call; all of it commits, or none of it does."""

    # Breaks ties between rows created in the same millisecond (insertion order).
    order_column: str

    def transaction(self, *, write: bool, wait: bool = True) -> AbstractContextManager[Transaction]:
        """`wait=False`: bookkeeping that gives up at once (an error) rather than wait for
        another writer, such as an ingest holding SQLite's write lock."""
        ...

    def scrub(self) -> None:
        """Best effort, after rows the user expects gone for good were deleted: leave no copy
        of them where the database keeps old page versions."""
        ...

    def close(self) -> None: ...


class SQLiteServiceDatabase:
    """The data folder's SQLite database (one connection, one lock, WAL)."""

    order_column = "rowid"

    def __init__(self, data_dir: Path, conn: sqlite3.Connection | None = None) -> None:
        self._conn = conn or connect(Path(data_dir))
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool, wait: bool = True) -> Iterator[Transaction]:
        # Readers take no write lock: a key check never waits for an ingest's transaction.
        with self._lock:
            if not wait:  # SQLite waits up to the connection's timeout for the write lock
                self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            finally:
                if not wait:
                    self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def scrub(self) -> None:
        """Copy the write-ahead log into the database (whose freed pages secure_delete zeroed)
        and truncate it: the log still held the deleted text. A search or an ingest in
        progress holds it back: tried for up to SCRUB_WAIT_S (they are short), then left to
        the next delete, and logged."""
        deadline = time.monotonic() + SCRUB_WAIT_S
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                while True:
                    try:
                        busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    except sqlite3.Error:
                        busy = (1,)
                    if not busy or not busy[0] or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if busy and busy[0]:
            log.warning(
                "a deleted conversation's text stays in the write-ahead log until the next "
                "delete: a reader or writer held it for %.0f s",
                SCRUB_WAIT_S,
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PostgresTransaction:
    """A psycopg cursor taking the same `?` placeholders as sqlite3."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        result: Rows = self._cursor.execute(sql.replace("?", "%s"), tuple(params))
        return result


class PostgresServiceDatabase:
    """The PostgreSQL store's database, through the store's connection pool."""

    order_column = "seq"

    def __init__(self, store: Any, *, owns_store: bool = False) -> None:
        self._store = store
        self._owns_store = owns_store

    @contextmanager
    def transaction(self, *, write: bool, wait: bool = True) -> Iterator[Transaction]:
        # service rows take no writer lock here: nothing to give up on
        with self._store.service_transaction() as cursor:
            yield _PostgresTransaction(cursor)

    def scrub(self) -> None:
        """Nothing here: PostgreSQL keeps deleted rows until (auto)vacuum reuses their space
        (docs/OPERATIONS.md)."""

    def close(self) -> None:
        if self._owns_store:
            self._store.close()


def service_database(
    data_dir: Path, database_url: str | None = None, *, store: Store | None = None
) -> ServiceDatabase:
    """The service tables next to the store: in `store`'s PostgreSQL database when it has one
    (sharing its pool), else at `database_url`, else in the data folder's SQLite database."""
    if store is not None and hasattr(store, "service_transaction"):
        return PostgresServiceDatabase(store)
    if database_url:
        from index.open_store import open_store

        return PostgresServiceDatabase(open_store(data_dir, database_url), owns_store=True)
    return SQLiteServiceDatabase(data_dir)


def database_or_sqlite(
    database: ServiceDatabase | None,
    data_dir: Path | None,
    conn: sqlite3.Connection | None,
    owner: str,
) -> ServiceDatabase:
    """`database`, else the SQLite service tables in `data_dir` (over `conn` when given): what
    the key and conversation stores accept so that older callers keep working."""
    if database is not None:
        return database
    if data_dir is None:
        raise ValueError(f"a {owner} needs a data folder or a database")
    return SQLiteServiceDatabase(Path(data_dir), conn)
