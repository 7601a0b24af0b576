"""The PostgreSQL fixture skips locally when no server can start, but fails under CI=true."""

from __future__ import annotations

import pytest
from pg_fixture import _unavailable


def test_unavailable_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL must run in CI"):
        _unavailable("no initdb")


def test_unavailable_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not available here"):
        _unavailable("no initdb")
