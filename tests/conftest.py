"""Shared fixtures: stores on a temp folder, the hash embedder, small documents."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fakes import HashEmbedder
from pg_fixture import pg_empty_url, pg_server, pg_url

from index.protocols import Store
from index.store import SQLiteStore

__all__ = ["pg_empty_url", "pg_server", "pg_url"]  # fixtures for every test package


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


BACKENDS = ["faiss", "exact", "postgres"]


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens stores on one backend's data (a data folder or a PostgreSQL schema), closed after.

    The contract tests run against SQLite + FAISS, SQLite + the exact index and a real
    PostgreSQL + pgvector (tests/pg_fixture.py); a second store opened here is another process's
    view of the same data, e.g. a replica.
    """
    if request.param == "postgres":
        from index.postgres import PostgresStore

        url = request.getfixturevalue("pg_url")

        def opener() -> Store:
            return PostgresStore(url)
    else:

        def opener() -> Store:
            return SQLiteStore(tmp_path / "data", vector_kind=request.param)

    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(opener())
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    """A store per backend: the contract tests run against each."""
    return store_factory()
