"""The page against the real models: corpus/ ingested with the bundled MiniLM embedder, answers
from the bundled SmolLM2 GGUF through llama.cpp. Checks the page shows an answer with sources
(never the model's exact words)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pagekit import Hearth, ask, screenshot, serve

from app.main import build_services
from app.settings import Settings
from index.store import SQLiteStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@pytest.fixture(scope="module")
def real_hearth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hearth]:
    from app.engines import LlamaCppChatModel, bundled_gguf_path
    from index.embedder import SentenceTransformerEmbedder
    from ingest.pipeline import IngestOptions, Ingestor

    settings = Settings(data_dir=tmp_path_factory.mktemp("real") / "data")
    embedder = SentenceTransformerEmbedder()
    store = SQLiteStore(settings.data_dir)
    report = Ingestor(store, embedder).run([CORPUS], IngestOptions())
    assert report.added > 0 and not report.failed
    model = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048)
    services = build_services(settings, store, embedder, model)
    server = serve(services, settings)
    hearth = Hearth(server.url, services, model, settings, server)
    yield hearth
    hearth.stop()
    model.close()


def test_corpus_question_gets_an_answer_with_sources(real_hearth, open_page):
    page, _ = open_page(real_hearth)
    answer = ask(page, "How many days of annual leave do employees in Paris get?", timeout=180_000)
    assert answer.locator(".badge-error").count() == 0
    assert answer.locator(".answer-body").inner_text().strip()
    assert "is-abstained" not in (answer.get_attribute("class") or "")
    assert page.locator("#source-list .source").count() >= 1
    assert page.locator("#source-list .source-title").first.inner_text().strip()
    screenshot(page, "desktop-light-real-model")
    page.click("#open-about")
    page.wait_for_selector("#about-list dt:has-text('Model licence')")
    assert "apache-2.0" in page.inner_text("#about-dialog").lower()
