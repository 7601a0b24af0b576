"""Choose the store: SQLite + FAISS files in a data folder (the default) or PostgreSQL.

`HEARTH_DATABASE_URL=postgresql://…` selects PostgreSQL + pgvector; the CLI, the pipeline and
the service all open their store here so the choice is made in one place.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from index.errors import ConfigurationError, NoIndexError
from index.protocols import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(data_dir: Path, database_url: str | None) -> Store:
    """A PostgresStore when a database URL is given, else a SQLiteStore in `data_dir`."""
    if not database_url:
        from index.store import SQLiteStore

        return SQLiteStore(data_dir)
    _check_url(database_url)
    from index.postgres import PostgresStore  # imported only when used: psycopg, pgvector

    return PostgresStore(database_url)


def open_existing_store(data_dir: Path, database_url: str | None) -> Store | None:
    """The store, or None when there is none yet, creating nothing: for commands that only
    read (`hearth status` on an empty database created Hearth's schema in it)."""
    if not database_url:
        return open_store(data_dir, None) if store_exists(data_dir, None) else None
    _check_url(database_url)
    from index.postgres import PostgresStore

    try:
        return PostgresStore(database_url, create=False)
    except NoIndexError:
        return None


def _check_url(database_url: str) -> None:
    if not database_url.startswith(POSTGRES_SCHEMES):
        raise ConfigurationError(
            "HEARTH_DATABASE_URL must be a postgresql:// URL (or be left unset for the embedded "
            "SQLite store)"
        )


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
