"""An app wired with real store + fakes (hash embedder, scripted model), in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import PEER, HashEmbedder, ScriptedChatModel
from fastapi.testclient import TestClient

from app.main import build_services, create_app
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Chunk, Document, Section

DOCS = [
    ("leave", "Annual leave", ("Paris",), "Employees in the Paris office get 27 days of annual leave each year.", {"public"}),
    ("leave", "Annual leave", ("Berlin",), "Employees in the Berlin office get 30 days of annual leave each year.", {"public"}),
    ("canteen", "Canteen", (), "The canteen opens at 11:30 and serves lunch until 14:00 on weekdays.", {"public"}),
    ("bikes", "Bike scheme", (), "The bike scheme refunds half of a new bicycle up to 400 euros.", {"public"}),
    ("salaries", "Salary bands", (), "Band C salary ranges from 52000 to 61000 euros. CANARY-HR-7731", {"hr"}),
    ("budget", "Budget thresholds", (), "Spending above 5000 euros needs CFO approval. CANARY-FIN-2294", {"finance"}),
]  # fmt: skip


def fill(store: SQLiteStore, embedder: HashEmbedder) -> None:
    store.check_embedder(embedder.model_id, embedder.dim)
    by_doc: dict[str, list[tuple[str, tuple[str, ...], str, set[str]]]] = {}
    for doc_id, title, path, text, groups in DOCS:
        by_doc.setdefault(doc_id, []).append((title, path, text, groups))
    for doc_id, parts in by_doc.items():
        title, groups = parts[0][0], frozenset(parts[0][3])
        sections = tuple(Section(p[1], p[2], anchor=p[1][-1] if p[1] else None) for p in parts)
        document = Document(
            id=doc_id, source=f"/corpus/{doc_id}.md", title=title, kind="markdown",
            sections=sections, groups=groups, url=f"https://intranet.example/{doc_id}",
            content_hash=doc_id,
        )  # fmt: skip
        chunks = [
            Chunk(doc_id, s.text, s.heading_path, i, 20, anchor=s.anchor)
            for i, s in enumerate(sections)
        ]
        texts = [f"{title} > {' > '.join(c.heading_path)}\n{c.text}" for c in chunks]
        store.write_document(document, chunks, embedder.embed_documents(texts))
    store.publish_vectors()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", trusted_proxies="10.9.8.7")


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def services(settings: Settings, model: ScriptedChatModel):
    embedder = HashEmbedder()
    store = SQLiteStore(settings.data_dir, vector_kind="exact")
    fill(store, embedder)
    built = build_services(settings, store, embedder, model)
    yield built
    store.close()


@pytest.fixture
def client(settings: Settings, services) -> TestClient:
    with TestClient(create_app(settings, services=services), client=PEER) as test_client:
        yield test_client


@pytest.fixture
def hr_key(services) -> str:
    key, _ = services.keys.create("alice", "hr")
    return key
