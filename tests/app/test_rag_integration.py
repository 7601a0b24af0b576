"""The real models over corpus/: retrieval, abstention and answers end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main import build_services
from app.rag import Question
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Principal
from ingest.pipeline import IngestOptions, Ingestor

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    from app.engines import LlamaCppChatModel, bundled_gguf_path
    from index.embedder import SentenceTransformerEmbedder

    data = tmp_path_factory.mktemp("data")
    embedder = SentenceTransformerEmbedder()
    store = SQLiteStore(data)
    report = Ingestor(store, embedder).run([CORPUS], IngestOptions())
    assert report.ok and report.added >= 45
    model = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048)
    built = build_services(Settings(data_dir=data), store, embedder, model)
    yield built
    model.close()
    store.close()


def test_answer_cites_the_right_document(services):
    answer = services.rag.answer(
        Principal("tester"), Question("How many days of annual leave do employees in Paris get?")
    )
    assert answer.abstained_by != "retrieval"
    assert answer.sources[0]["document_id"] == "emberwiki:2"
    assert answer.sources[0]["url"].endswith("#Paris")
    assert "ttft_ms" in answer.timings
    for citation in answer.citations:  # whatever the model said, citations point at sources
        assert citation["document_id"] in {s["document_id"] for s in answer.sources}


def test_out_of_corpus_question_abstains_without_the_model(services):
    before = services.model.requests_done
    answer = services.rag.answer(
        Principal("tester"), Question("Who won the 2022 football World Cup?")
    )
    assert answer.abstained and answer.abstained_by == "retrieval"
    assert services.model.requests_done == before


def test_follow_up_finds_berlin(services):
    principal = Principal("follow-up-user")
    first = services.rag.answer(
        principal, Question("How many days of annual leave do employees in Paris get?")
    )
    second = services.rag.answer(
        principal, Question("and in Berlin?", conversation_id=first.conversation_id)
    )
    assert second.sources[0]["document_id"] == "emberwiki:2"
    assert second.sources[0]["heading"].endswith("Berlin")


def test_restricted_questions_need_the_group(services):
    question = Question("What is the salary range of band C?", store_conversation=False)
    public = services.rag.answer(Principal("tester"), question)
    hr = services.rag.answer(Principal("hr-user", frozenset({"hr"})), question)
    assert all(s["document_id"] != "hr/salary-bands-2026.docx" for s in public.sources)
    assert any(s["document_id"] == "hr/salary-bands-2026.docx" for s in hr.sources)
