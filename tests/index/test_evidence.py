"""The evidence abstention compares with: the closer of a chunk and its best sentence, plus the
share of the question's rare terms one passage holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder
from faq_sample import FAQ, faq_sentences

from index.search import (
    ANSWER_SENTENCES,
    COSINE_WEIGHT,
    ScoredSentence,
    answering,
    evidence_signals,
    score_sentences,
)
from index.sentences import sentences
from index.store import SQLiteStore
from index.types import Chunk, Document, Passage, Section

PUBLIC = frozenset({"public"})
LONG = (
    "The office kitchen is cleaned every evening. Bicycles go in the courtyard racks. "
    "Paris staff get 27 days of annual leave.\nVisitors sign in at the front desk."
)


@pytest.fixture
def store(tmp_path: Path):
    embedder = HashEmbedder()
    store = SQLiteStore(tmp_path / "data", vector_kind="exact")
    store.check_embedder(embedder.model_id, embedder.dim)
    document = Document("office", "/office.md", "Office notes", "markdown", (Section((), LONG),))
    chunk = Chunk("office", LONG, (), 0, 40)
    store.write_document(document, [chunk], embedder.embed_documents([LONG]))
    store.publish_vectors()
    yield store
    store.close()


def passages_of(store: SQLiteStore) -> list[Passage]:
    passages = store.dense_search(HashEmbedder().embed_query("office"), PUBLIC, 5)
    assert [p.chunk.text for p in passages] == [LONG]
    return passages


def test_sentences_cut_after_full_stops_and_at_line_breaks():
    assert sentences(LONG) == [
        "The office kitchen is cleaned every evening.",
        "Bicycles go in the courtyard racks.",
        "Paris staff get 27 days of annual leave.",
        "Visitors sign in at the front desk.",
    ]
    assert sentences("  \n\n ") == []


def test_one_sentence_that_says_what_was_asked_outweighs_its_diluted_chunk(store):
    embedder = HashEmbedder()
    question = "Paris staff get 27 days of annual leave."
    vector = embedder.embed_query(question)
    chunk_cosine = float(store.embeddings([passages_of(store)[0].chunk.id])[0] @ vector)
    signals = evidence_signals(
        store, passages_of(store), question, vector, PUBLIC,
        score_sentences(embedder, passages_of(store), [vector], question),
    )  # fmt: skip
    assert signals.cosine == pytest.approx(1.0, abs=1e-5)  # the sentence, word for word
    assert chunk_cosine < 0.8  # what the whole chunk's vector alone would have given
    assert signals.carriers == frozenset({passages_of(store)[0].chunk.id})
    assert signals.score == pytest.approx(
        COSINE_WEIGHT * signals.cosine + (1 - COSINE_WEIGHT) * signals.coverage
    )


def test_a_question_spanning_sentences_keeps_the_chunk_cosine(store):
    embedder = HashEmbedder()
    question = (
        "office kitchen cleaned, Bicycles in courtyard racks, Paris annual leave, Visitors sign in"
    )
    vector = embedder.embed_query(question)
    chunk_cosine = float(store.embeddings([passages_of(store)[0].chunk.id])[0] @ vector)
    per_sentence = np.asarray(embedder.embed_documents(sentences(LONG))) @ vector
    assert chunk_cosine > per_sentence.max()  # the premise: no one sentence is as close
    signals = evidence_signals(
        store, passages_of(store), question, vector, PUBLIC,
        score_sentences(embedder, passages_of(store), [vector], question),
    )  # fmt: skip
    assert signals.cosine == pytest.approx(chunk_cosine, abs=1e-5)


def test_no_passages_no_evidence(store):
    embedder = HashEmbedder()
    signals = evidence_signals(store, [], "anything", embedder.embed_query("x"), PUBLIC, [])
    assert (signals.cosine, signals.coverage, signals.score) == (0.0, 0.0, 0.0)


def test_sentences_are_scored_for_the_question_and_for_the_conversation(store):
    """`cosine` (what the evidence uses) is the question's alone; `relevance` (what the prompt
    keeps by) is the best over every query, so a follow-up keeps what its conversation needs."""
    embedder = HashEmbedder()
    question, joined = "Visitors sign in", "Paris staff get 27 days of annual leave. Visitors?"
    vectors = [embedder.embed_query(question), embedder.embed_query(joined)]
    scored = score_sentences(embedder, passages_of(store), vectors, question)
    assert [(s.position, s.text) for s in scored] == list(enumerate(sentences(LONG)))
    leave = scored[2]
    assert leave.relevance > leave.cosine  # close to the conversation, not to "Visitors sign in"
    assert max(scored, key=lambda s: s.cosine).text == "Visitors sign in at the front desk."
    for s in scored:
        assert s.relevance >= s.cosine
        alone = float(embedder.embed_documents([s.text])[0] @ embedder.embed_query(question))
        assert s.cosine == pytest.approx(alone, abs=1e-5)
    assert score_sentences(embedder, passages_of(store), [], question) == []


def test_sentences_are_scored_for_the_questions_words_too(store):
    """`overlap` is the question's share of words in the sentence, rare ones weighing most;
    the cosine, which the evidence uses, does not change with it."""
    embedder = HashEmbedder()
    question = "annual leave days of Paris staff"
    vectors = [embedder.embed_query(question)]
    scored = score_sentences(embedder, passages_of(store), vectors, question)
    leave = next(s for s in scored if "annual leave" in s.text)
    assert leave.overlap == pytest.approx(1.0)  # the only sentence with any of its words
    assert all(s.overlap == 0.0 for s in scored if s is not leave)
    assert leave.closeness > leave.cosine and leave.pertinence > leave.relevance
    plain = score_sentences(embedder, passages_of(store), vectors, "")  # no words to share
    assert [s.cosine for s in plain] == [s.cosine for s in scored]
    assert all(s.overlap == 0.0 for s in plain)


def test_sentences_after_a_question_of_their_passage_answer_it():
    """An FAQ's answer is as close to the user's question as the FAQ's question it answers, up
    to the next question; the cosine, which the evidence uses, stays the sentence's own."""
    marked = answering(faq_sentences())
    assert [s.answers for s in marked] == [None, None, *[(0.55, 0.55)] * 3, None, (0.02, 0.02)]
    assert [round(s.closeness, 2) for s in marked] == [0.51, 0.55, 0.55, 0.55, 0.55, 0.02, 0.06]
    assert [s.cosine for s in marked] == [cosine for _, cosine in FAQ]
    assert marked[3].own_closeness == pytest.approx(0.42)


def test_an_answer_is_a_few_sentences_inside_its_own_passage():
    long = [ScoredSentence(1, 0, "Why does it matter?", 0.6, 0.6)] + [
        ScoredSentence(1, i, f"Because of reason {i}.", 0.1, 0.1) for i in range(1, 7)
    ]
    marked = answering([*long, ScoredSentence(2, 0, "Another passage.", 0.1, 0.1)])
    answered = [s.position for s in marked if s.chunk_id == 1 and s.answers]
    assert answered == list(range(1, ANSWER_SENTENCES + 1))
    assert marked[-1].answers is None


def test_the_answer_after_two_questions_answers_both():
    two = [
        ScoredSentence(1, 0, "Is there Wi-Fi?", 0.3, 0.3),
        ScoredSentence(1, 1, "What is its password?", 0.7, 0.7),
        ScoredSentence(1, 2, "It is on the board.", 0.1, 0.1),
        ScoredSentence(1, 3, "Where do I print?", 0.2, 0.2),
        ScoredSentence(1, 4, "In the corridor.", 0.1, 0.1),
    ]
    marked = answering(list(reversed(two[:2])) + two[2:])  # either order: the closer counts
    assert marked[2].answers == (0.7, 0.7) and marked[4].answers == (0.2, 0.2)
    assert answering(two)[2].answers == (0.7, 0.7)
