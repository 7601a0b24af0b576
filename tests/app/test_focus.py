"""The model is shown only passages close to the best one: far-behind passages are where a small
model borrows wrong facts from, and every passage shown costs prompt tokens."""

from __future__ import annotations

from dataclasses import replace

import pytest
from faq_sample import faq_sentences
from test_attribution import passage

from app.prompt import condense, focus
from index.search import ScoredSentence, answering
from index.types import Principal


def with_scores(*scores: float):
    return [
        type(p)(p.chunk, p.document, s, p.rank)
        for p, s in zip((passage(i, f"text {i}") for i in range(1, 9)), scores, strict=False)
    ]


def test_passages_far_behind_the_best_are_not_shown():
    shown = focus(with_scores(0.0328, 0.0320, 0.0301, 0.0290), 0.92)
    assert [p.chunk.id for p in shown] == [1, 2]


def test_the_best_passage_is_always_shown_and_order_is_kept():
    assert [p.chunk.id for p in focus(with_scores(0.5), 0.99)] == [1]
    shown = focus(with_scores(0.030, 0.032, 0.010), 0.9)
    assert [p.chunk.id for p in shown] == [1, 2]


@pytest.mark.parametrize("ratio", [0.0, -1.0])
def test_ratio_zero_shows_every_passage(ratio):
    passages = with_scores(0.03, 0.001, 0.0)
    assert focus(passages, ratio) == passages


def test_no_passages_stay_no_passages():
    assert focus([], 0.92) == []


def test_a_far_behind_passage_is_neither_prompted_nor_a_source(client, model, settings):
    question = {"question": "How many days of annual leave in Paris?", "top_k": 4}
    client.app.state.settings.prompt_sentences = 0  # passages whole: only focus drops any
    client.app.state.settings.focus_ratio = 0.0  # every passage of the top k
    every = client.post("/api/query", json=question).json()
    assert len(every["sources"]) == 4
    client.app.state.settings.focus_ratio = 0.999  # only passages tied with the best
    focused = client.post("/api/query", json=question).json()
    assert len(focused["sources"]) < len(every["sources"])
    assert focused["sources"][0]["document_id"] == every["sources"][0]["document_id"]
    assert model.prompts[-1][-1]["content"].count("Passage [") == len(focused["sources"])


def test_passages_that_carried_the_evidence_are_shown_even_far_behind():
    passages = with_scores(0.0328, 0.0320, 0.0290, 0.0280)
    shown = focus(passages, 0.92, keep=frozenset({4}))
    assert [p.chunk.id for p in shown] == [1, 2, 4]


def test_retrieval_names_the_chunks_that_carried_its_evidence(services):
    from index.search import evidence_signals, score_sentences
    from index.sentences import sentences

    principal = Principal("reader", frozenset({"public"}))
    retrieval = services.rag.retrieve(principal, "annual leave days in the Paris office", [])
    ids = {p.chunk.id for p in retrieval.passages}
    assert retrieval.carriers and retrieval.carriers <= ids
    vector = services.embedder.embed_query("annual leave days in the Paris office")
    # measured afresh, not from the retrieval's own sentences
    afresh = score_sentences(
        services.embedder, retrieval.passages, [vector], "annual leave days in the Paris office"
    )
    signals = evidence_signals(
        services.store, retrieval.passages,
        "annual leave days in the Paris office", vector, frozenset({"public"}), afresh,
    )  # fmt: skip
    assert signals.score == retrieval.evidence and signals.carriers == retrieval.carriers
    # the carrier of the cosine: the closest chunk, or the chunk of the closest sentence
    scored = [
        (float(services.store.embeddings([p.chunk.id])[0] @ vector), p.chunk.id)
        for p in retrieval.passages
    ] + [
        (float(services.embedder.embed_documents([s])[0] @ vector), p.chunk.id)
        for p in retrieval.passages
        for s in sentences(p.chunk.text)
    ]
    assert max(scored)[1] in retrieval.carriers


def scored(chunk_id: int, *relevances: float) -> list[ScoredSentence]:
    return [
        ScoredSentence(chunk_id, position, f"sentence {chunk_id}.{position}", 0.0, relevance)
        for position, relevance in enumerate(relevances)
    ]


def test_passages_are_cut_to_the_sentences_closest_to_the_question():
    passages = with_scores(0.03, 0.02, 0.01)
    sentences = scored(1, 0.2, 0.9, 0.1) + scored(2, 0.1, 0.1) + scored(3, 0.5, 0.8)
    condensed = condense(passages, sentences, 3)
    # the three closest overall, in reading order inside each passage; passage 2 has none left
    assert [(p.chunk.id, p.chunk.text) for p in condensed] == [
        (1, "sentence 1.1"),
        (3, "sentence 3.0\nsentence 3.1"),
    ]
    assert [p.score for p in condensed] == [0.03, 0.01]  # rank, score and document are kept
    assert condensed[1].document == passages[2].document


def test_sentences_sharing_the_questions_rare_words_are_kept_before_slightly_closer_ones():
    passages = with_scores(0.03)
    sentences = [
        ScoredSentence(1, 0, "Reported the email: 48%.", 0.0, 0.68, 0.0),
        ScoredSentence(1, 1, "Opened the email: 71%.", 0.0, 0.60, 0.0),
        ScoredSentence(1, 2, "Clicked the link: 9%.", 0.0, 0.57, 0.8),
    ]
    assert condense(passages, sentences, 1)[0].chunk.text == "Clicked the link: 9%."
    plain = [replace(s, overlap=0.0) for s in sentences]
    assert condense(passages, plain, 1)[0].chunk.text == "Reported the email: 48%."


def test_sentences_of_passages_not_shown_are_not_taken():
    passages = with_scores(0.03)
    condensed = condense(passages, scored(1, 0.1, 0.2) + scored(7, 0.99, 0.98), 2)
    assert [p.chunk.text for p in condensed] == ["sentence 1.0\nsentence 1.1"]


@pytest.mark.parametrize("count", [0, -1])
def test_a_count_of_zero_keeps_passages_whole(count):
    passages = with_scores(0.03, 0.02)
    assert condense(passages, scored(1, 0.5) + scored(2, 0.4), count) == passages
    assert condense(passages, [], 3) == passages  # nothing scored: nothing to cut by


def test_the_model_is_shown_the_closest_sentences_and_so_is_the_reader(client, model, settings):
    question = {"question": "How many days of annual leave in Paris?", "top_k": 4}
    client.app.state.settings.focus_ratio = 0  # every passage shown: only condensing cuts
    client.app.state.settings.prompt_sentences = 0
    whole = client.post("/api/query", json=question).json()
    whole_prompt = model.prompts[-1][-1]["content"]
    client.app.state.settings.prompt_sentences = 1
    cut = client.post("/api/query", json=question).json()
    cut_prompt = model.prompts[-1][-1]["content"]
    assert len(cut_prompt) < len(whole_prompt)
    assert cut_prompt.count("Passage [") == len(cut["sources"]) == 1
    # what a source shows is what the model was shown
    snippet = cut["sources"][0]["snippet"]
    assert snippet in cut_prompt and "\n" not in snippet
    assert snippet in " ".join(s["snippet"] for s in whole["sources"])


def test_a_passage_that_carried_the_evidence_keeps_its_closest_sentence():
    passages = with_scores(0.03, 0.02, 0.01)
    sentences = scored(1, 0.9, 0.8) + scored(2, 0.3, 0.4) + scored(3, 0.2)
    assert [p.chunk.id for p in condense(passages, sentences, 2)] == [1]
    condensed = condense(passages, sentences, 2, keep=frozenset({2, 9}))
    assert [(p.chunk.id, p.chunk.text) for p in condensed] == [
        (1, "sentence 1.0\nsentence 1.1"),
        (2, "sentence 2.1"),  # its closest, besides the two closest overall
    ]


def test_an_faq_passage_shows_the_answer_to_its_question_not_its_title():
    """The FAQ's title and question sit closest to the user's question; the answer after the
    question is what the model needs to see."""
    faq = answering(faq_sentences())
    condensed = condense(with_scores(0.03), faq, 3)
    assert condensed[0].chunk.text.split("\n") == [
        "Q: What is the Wi-Fi?",
        'Visitors use "Emberline-Guest".',
        "The guest password is on the board.",
    ]
    alone = condense(with_scores(0.03), faq_sentences(), 3)  # without: title, question, guest
    assert "LISBON OFFICE - PRACTICAL FAQ" in alone[0].chunk.text


def test_a_line_that_adds_nothing_to_the_question_or_repeats_one_takes_no_slot():
    """An infobox's title rows ("Iwan Roberts", twice) were closest to "When was Iwan Roberts
    born?" and left no slot for "(born 26 June 1968)": the model echoed the question."""
    passages = with_scores(0.03)
    sentences = [
        ScoredSentence(1, 0, "Iwan Roberts", 0.0, 0.93),
        ScoredSentence(1, 1, "Iwan  roberts", 0.0, 0.92),
        ScoredSentence(1, 2, "Personal information", 0.0, 0.85),
        ScoredSentence(1, 3, "Iwan Wyn Roberts (born 26 June 1968) is a Welsh striker.", 0.0, 0.81),
    ]
    question = "When was Iwan Roberts born?"
    kept = condense(passages, sentences, 2, question=question)[0].chunk.text.splitlines()
    assert kept == ["Personal information", sentences[3].text]
    # nothing else left: a line that adds nothing still fills a slot (once)
    assert condense(passages, sentences[:2], 2, question=question)[0].chunk.text == "Iwan Roberts"


def test_a_tables_header_row_keeps_its_slot_though_it_adds_no_word():
    """ "Move | Relocation allowance" names the columns of the row that answers: without it the
    model read "Within the same country | 1,500 EUR" as the allowance from another country."""
    passages = with_scores(0.03)
    sentences = [
        ScoredSentence(1, 0, "Move | Relocation allowance", 0.0, 0.81),
        ScoredSentence(1, 1, "From another country | 3,500 EUR", 0.0, 0.39),
        ScoredSentence(1, 2, "Within the same country | 1,500 EUR", 0.0, 0.35),
    ]
    question = "How much relocation allowance do we offer someone moving from another country?"
    kept = condense(passages, sentences, 2, question=question)[0].chunk.text.splitlines()
    assert kept == ["Move | Relocation allowance", "From another country | 3,500 EUR"]


def test_a_yes_no_questions_answer_may_repeat_it_and_only_a_passages_own_repeat_is_dropped():
    """ "The office is closed on Monday." answers "Is the office closed on Monday?" though it
    adds no word; the same sentence in two documents is two offices' rule (a review's cases)."""
    passages = with_scores(0.03)
    sentences = [
        ScoredSentence(1, 0, "The office is closed on Monday.", 0.0, 0.9),
        ScoredSentence(1, 1, "It opens at 8:00.", 0.0, 0.6),
        ScoredSentence(1, 2, "Visitors sign in at reception.", 0.0, 0.5),
    ]
    kept = condense(passages, sentences, 1, question="Is the office closed on Monday?")
    assert kept[0].chunk.text == "The office is closed on Monday."
    two = with_scores(0.03, 0.02)
    same = [
        ScoredSentence(1, 0, "The allowance is 20 EUR per day.", 0.0, 0.9),
        ScoredSentence(2, 0, "The allowance is 20 EUR per day.", 0.0, 0.8),
        ScoredSentence(2, 1, "It is paid monthly.", 0.0, 0.7),
    ]
    condensed = condense(two, same, 2, question="What is the daily allowance?")
    assert [p.chunk.text for p in condensed] == [same[0].text, same[1].text]
