"""Choose the store: SQLite + FAISS files in a data folder (the default) or PostgreSQL.

`HEARTH_DATABASE_URL=postgresql://…` selects PostgreSQL + pgvector; the CLI, the pipeline and
the service all open their store here so the choice is made in one place.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from index.errors import ConfigurationError
from index.protocols import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(data_dir: Path, database_url: str | None) -> Store:
    """A PostgresStore when a database URL is given, else a SQLiteStore in `data_dir`."""
    if not database_url:
        from index.store import SQLiteStore

        return SQLiteStore(data_dir)
    if not database_url.startswith(POSTGRES_SCHEMES):
        raise ConfigurationError(
            "HEARTH_DATABASE_URL must be a postgresql:// URL (or be left unset for the embedded "
            "SQLite store)"
        )
    from index.postgres import PostgresStore  # imported only when used: psycopg, pgvector

    return PostgresStore(database_url)


def store_location(data_dir: Path, database_url: str | None) -> str:
    """Where the store is, safe to print: the data folder, or the URL without its password."""
    if not database_url:
        return f"{data_dir}/"
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def store_exists(data_dir: Path, database_url: str | None) -> bool:
    """Whether there is a store to read: a data folder's database (PostgreSQL always is one)."""
    from index.store import DB_NAME

    return bool(database_url) or (data_dir / DB_NAME).is_file()
