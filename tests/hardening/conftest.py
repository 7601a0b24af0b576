"""Fixtures for the hardening matrix (issue 7): an app with a real store and the fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import PEER, ScriptedChatModel
from fastapi.testclient import TestClient
from hardkit import make_services

from app.deps import Services
from app.main import create_app
from app.settings import Settings


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def hearth(tmp_path: Path, model: ScriptedChatModel) -> Iterator[tuple[Services, Settings]]:
    services, settings = make_services(tmp_path / "data", model)
    yield services, settings
    services.store.close()


@pytest.fixture
def services(hearth: tuple[Services, Settings]) -> Services:
    return hearth[0]


@pytest.fixture
def settings(hearth: tuple[Services, Settings]) -> Settings:
    return hearth[1]


@pytest.fixture
def client(hearth: tuple[Services, Settings]) -> Iterator[TestClient]:
    services, settings = hearth
    with TestClient(create_app(settings, services=services), client=PEER) as test_client:
        yield test_client


@pytest.fixture
def keys(services: Services) -> dict[str, str | None]:
    """API keys by name: one per group, one with every group, one with public only (a key
    needs a group), one with groups no document has (and anonymous)."""
    made: dict[str, str | None] = {"anonymous": None}
    for name, groups in {
        "hr": "hr",
        "finance": "finance",
        "board": "board",
        "all": "hr,finance,board",
        "nogroups": "public",
        "unknown": "nobody,ghosts",
    }.items():
        made[name] = services.keys.create(name, groups)[0]
    return made
