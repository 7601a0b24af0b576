"""Choose the store: SQLite + FAISS files in a data folder (the default) or PostgreSQL.

`HEARTH_DATABASE_URL=postgresql://…` selects PostgreSQL + pgvector; the CLI, the pipeline and
the service all open their store here so the choice is made in one place.
"""

from __future__ import annotations

from pathlib import Path

from index.errors import ConfigurationError
from index.protocols import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(data_dir: Path, database_url: str | None, vector_kind: str = "faiss") -> Store:
    """A PostgresStore when a database URL is given, else a SQLiteStore in `data_dir`."""
    if not database_url:
        from index.store import SQLiteStore

        return SQLiteStore(data_dir, vector_kind=vector_kind)
    if not database_url.startswith(POSTGRES_SCHEMES):
        raise ConfigurationError(
            "HEARTH_DATABASE_URL must be a postgresql:// URL (or be left unset for the embedded "
            "SQLite store)"
        )
    from index.postgres import PostgresStore  # imported only when used: psycopg, pgvector

    return PostgresStore(database_url)
