"""Retrieval primitives: dense top-k and BM25 top-k, each restricted to what a caller may read.

Raw user text never reaches FTS5's MATCH: it is reduced to quoted word tokens joined with OR
(stop words dropped), so no query string of any kind can raise a syntax error or smuggle in
column filters or operators. Fusion and abstention build on these in the answering layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from index.protocols import Embedder, Store, Vectors
from index.sentences import is_question, sentences
from index.terms import content_terms, mentions_any, query_terms, quoted_phrase, term_overlap
from index.types import Passage

# How the dense and BM25 lists are merged (`hybrid_search`): by scaled score or by rank.
Fusion = Literal["convex", "rrf"]


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for free text: its `query_terms`, quoted and OR-ed.

    Returns "" when the text holds no searchable word; the caller then skips the search.
    """
    return " OR ".join(quoted_phrase(word) for word in query_terms(text))


def bm25_top_k(store: Store, query: str, groups: frozenset[str], k: int) -> list[Passage]:
    """The k best chunks by BM25 among those `groups` may read."""
    return store.lexical_search(fts_query(query), groups, k)


def dense_top_k(
    store: Store, embedder: Embedder, query: str, groups: frozenset[str], k: int
) -> list[Passage]:
    """The k nearest chunks by embedding among those `groups` may read."""
    if not query.strip():
        return []
    return store.dense_search(embedder.embed_query(query), groups, k)


@dataclass(frozen=True)
class RetrievalSettings:
    """Knobs of hybrid retrieval; defaults chosen on corpus/questions.jsonl (see README)."""

    k: int = 4
    candidates: int = 50
    fusion: Fusion = "convex"
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    per_document: int = 2


@dataclass(frozen=True)
class Retrieval:
    """Fused passages, best first, and the evidence that they answer the question.

    `evidence` (0..1) combines the best query-passage cosine with the IDF-weighted share of
    the query's terms found in one passage; the abstention threshold is compared against it
    before any LLM call.
    """

    passages: list[Passage]
    evidence: float
    # The chunks that gave the evidence its value (best cosine, best term coverage): whatever
    # else is trimmed from a prompt, the model must see what justified calling it.
    carriers: frozenset[int] = frozenset()
    # Every sentence of the passages with its closeness to the question, measured once for the
    # evidence and reused to cut the prompt down to what matters (app.prompt.condense).
    sentences: tuple[ScoredSentence, ...] = ()


def rrf_fuse(ranked_lists: list[tuple[list[Passage], float]], rrf_k: int) -> list[Passage]:
    """Reciprocal rank fusion: each list adds weight / (rrf_k + rank) to a chunk's score."""
    scores: dict[int, float] = {}
    first_seen: dict[int, Passage] = {}
    for passages, weight in ranked_lists:
        for rank, passage in enumerate(passages, start=1):
            key = passage.chunk.id if passage.chunk.id is not None else id(passage)
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
            first_seen.setdefault(key, passage)
    return _ranked(scores, first_seen)


def convex_fuse(ranked_lists: list[tuple[list[Passage], float]]) -> list[Passage]:
    """Score fusion: each list's scores min-max scaled to 0..1 over its candidates, weighted
    and added (a chunk missing from a list gets 0 from it).

    Unlike RRF it keeps how far ahead a list's best candidates are: on SciFact nDCG@10 went
    0.718 -> 0.737 and on the SQuAD subset the gold paragraph ranked first 0.77 -> 0.83
    (docs/EVALUATION.md, sections 1 and 2; Bruch et al., TOIS 2023, found the same).
    """
    scores: dict[int, float] = {}
    first_seen: dict[int, Passage] = {}
    for passages, weight in ranked_lists:
        if not passages:
            continue
        low = min(p.score for p in passages)
        spread = max(p.score for p in passages) - low
        for passage in passages:
            key = passage.chunk.id if passage.chunk.id is not None else id(passage)
            scaled = (passage.score - low) / spread if spread > 0 else 1.0
            scores[key] = scores.get(key, 0.0) + weight * scaled
            first_seen.setdefault(key, passage)
    return _ranked(scores, first_seen)


def _ranked(scores: dict[int, float], passages: dict[int, Passage]) -> list[Passage]:
    """The passages by fused score, best first (ties by chunk id), carrying score and rank."""
    order = sorted(scores, key=lambda key: (-scores[key], key))
    return [
        Passage(passages[key].chunk, passages[key].document, scores[key], rank)
        for rank, key in enumerate(order, start=1)
    ]


def hybrid_search(
    store: Store,
    embedder: Embedder,
    queries: list[tuple[str, float]],
    groups: frozenset[str],
    settings: RetrievalSettings,
    exclude_document_ids: frozenset[str] = frozenset(),
    borrow_evidence: bool = False,
) -> Retrieval:
    """Dense + BM25 for each (query, weight), fused (by score or RRF), capped per document.

    Several queries let a follow-up ("and in Berlin?") search both alone and with the
    conversation before it; both searches apply the caller's groups inside the query. The
    evidence for abstention is measured for the first query, or with `borrow_evidence` (a
    follow-up that leans on the question before it) the better of the first and the second,
    as long as the passages found hold one of the first query's own terms ("part-timers" in
    "What about part-timers?"), if it has any ("By when?").
    """
    lists: list[tuple[list[Passage], float]] = []
    used: list[tuple[str, Vectors]] = []
    for text, weight in queries:
        if not text.strip():
            continue
        vector = embedder.embed_query(text)
        used.append((text, vector))
        # A list weighted 0 is not searched at all (HEARTH_DENSE_WEIGHT=0: BM25 alone).
        if settings.dense_weight > 0:
            dense = store.dense_search(vector, groups, settings.candidates)
            lists.append(([p for p in dense if p.document.id not in exclude_document_ids],
                          weight * settings.dense_weight))  # fmt: skip
        if settings.lexical_weight > 0:
            lexical = store.lexical_search(fts_query(text), groups, settings.candidates)
            lists.append(([p for p in lexical if p.document.id not in exclude_document_ids],
                          weight * settings.lexical_weight))  # fmt: skip
    fused = rrf_fuse(lists, settings.rrf_k) if settings.fusion == "rrf" else convex_fuse(lists)
    chosen: list[Passage] = []
    per_document: dict[str, int] = {}
    for passage in fused:
        count = per_document.get(passage.document.id, 0)
        if count >= settings.per_document:
            continue
        per_document[passage.document.id] = count + 1
        chosen.append(Passage(passage.chunk, passage.document, passage.score, len(chosen) + 1))
        if len(chosen) == settings.k:
            break
    # Evidence comes from the first query (the question itself): the others only help ranking.
    # Otherwise an unrelated question asked as a follow-up would borrow the evidence of the
    # previous question's words and be answered instead of refused. A follow-up that leans on
    # that question ("By when?") has no evidence of its own: measured alone, 21 of 68 answerable
    # ones were refused (corpus/conversations.jsonl, bench/follow_ups.py).
    if not used:
        return Retrieval(chosen, 0.0)
    scored = score_sentences(embedder, chosen, [vector for _, vector in used], used[0][0])
    signals = evidence_signals(store, chosen, *used[0], groups, scored)
    if (
        borrow_evidence
        and len(used) > 1
        and _leans_on_known_words(store, used[0][0], chosen, groups)
    ):
        joined = measured_against(scored, used[1][0])
        leaning = evidence_signals(store, chosen, *used[1], groups, joined)
        if leaning.score > signals.score:  # closeness, too, to what the two ask together
            signals, scored = leaning, joined
    return Retrieval(chosen, signals.score, signals.carriers, tuple(scored))


_HYPHENATED = re.compile(r"\w+(?:-\w+)+")


def _leans_on_known_words(
    store: Store, follow_up: str, chosen: list[Passage], groups: frozenset[str]
) -> bool:
    """Whether a follow-up may borrow the question before it's evidence: what was found holds
    one of its own words (if it has any), and none of them is a word no readable document
    holds ("And is there a sabbatical policy?" after the sick pay question: the corpus has no
    sabbatical, so the sick pay sentence was quoted). Parts of hyphenated words ("part-timers"
    searched as part, timers) are not held against it."""
    own = content_terms(follow_up)
    texts = [f"{p.document.title} {' '.join(p.chunk.heading_path)} {p.chunk.text}" for p in chosen]
    if not mentions_any(own, texts):
        return False
    hyphenated = {
        part for word in _HYPHENATED.findall(follow_up.casefold()) for part in word.split("-")
    }
    whole = [term for term in own if term not in hyphenated]
    if not whole:
        return True
    _, frequencies, _ = store.term_statistics(whole, groups, [])
    return all(frequencies.get(term, 0) > 0 for term in whole)


# evidence = 0.7 * cosine + 0.3 * term coverage, the cosine being the better of the best chunk's
# and the best single sentence's. The weight and the default threshold were chosen together on
# the SQuAD fit half (docs/EVALUATION.md, "Abstention").
COSINE_WEIGHT = 0.7


# Sentences are shown to the model and quoted by their cosine plus this much of their share of
# the question's words (`ScoredSentence.overlap`). Replayed over the sentences retrieval offers
# (docs/EVALUATION.md, "Sentences that share the question's words"), 0.15-0.25 put the key term
# in more prompts and quotes on corpus/ and SQuAD alike; from 0.3 corpus/ loses quotes.
TERM_WEIGHT = 0.2


@dataclass(frozen=True)
class ScoredSentence:
    """One sentence of a retrieved chunk (`position`: its place in the chunk's `sentences()`).

    `cosine` is its closeness to the question itself, which the evidence uses; `relevance` the
    best over every query searched, so a follow-up ("and in Berlin?") also values sentences
    close to the conversation it continues; `overlap` its share of the question's words, rare
    ones among the retrieved sentences weighing most (index/terms.py).
    """

    chunk_id: int
    position: int
    text: str
    cosine: float
    relevance: float
    overlap: float = 0.0
    # the passage's question this sentence answers ("Q: What is the Wi-Fi?" before "Visitors
    # use Emberline-Guest."), as its (closeness, pertinence); see `answering`
    answers: tuple[float, float] | None = None

    @property
    def own_closeness(self) -> float:
        """How close it is to the question, in meaning and in words."""
        return self.cosine + TERM_WEIGHT * self.overlap

    @property
    def closeness(self) -> float:
        """Its own closeness, or that of the question it answers if higher: what a quote ranks
        by."""
        return max(self.own_closeness, self.answers[0]) if self.answers else self.own_closeness

    @property
    def pertinence(self) -> float:
        """The same over the conversation too: what picks the sentences the model sees."""
        own = self.relevance + TERM_WEIGHT * self.overlap
        return max(own, self.answers[1]) if self.answers else own


@dataclass(frozen=True)
class EvidenceSignals:
    """What abstention looks at for one query: the best cosine between the query and a passage
    or one sentence of it, and the largest IDF-weighted share of the query's terms found in one
    passage (both 0..1)."""

    cosine: float
    coverage: float
    carriers: frozenset[int] = frozenset()  # the chunk ids of the best cosine and coverage

    @property
    def score(self) -> float:
        return COSINE_WEIGHT * self.cosine + (1 - COSINE_WEIGHT) * self.coverage


def evidence_signals(
    store: Store,
    passages: list[Passage],
    text: str,
    vector: Vectors,
    groups: frozenset[str],
    scored: list[ScoredSentence],
) -> EvidenceSignals:
    """The signals of `passages` for one query (zeros when there is no passage); `scored` are
    their sentences measured against this query (`score_sentences`).

    Cosine alone could not tell "no such policy" from "a related policy"; a question whose
    rare terms (Madrid, sabbatical, ferry) appear in no readable passage is what abstention
    must catch, hence the IDF-weighted term coverage. The cosine is also taken per sentence:
    an answerable question usually has one sentence that says what it asks, which a whole
    chunk's vector dilutes (out-of-corpus SQuAD questions abstained at <= 5 % wrongly: 0.832
    -> 0.879 on the fit half); the whole chunk's still counts when it is better, for a question
    whose answer spans sentences.
    """
    ids = [p.chunk.id for p in passages if p.chunk.id is not None]
    if not ids:
        return EvidenceSignals(0.0, 0.0)
    coverage, covering = _best_coverage(store, text, ids, groups)
    cosine, carrier = 0.0, None
    matrix = store.embeddings(ids)
    if matrix.size:
        chunk_cosines = matrix @ vector
        closest = int(np.argmax(chunk_cosines))
        cosine, carrier = float(chunk_cosines[closest]), ids[closest]
    if scored:
        closest_sentence = max(scored, key=lambda sentence: sentence.cosine)
        if closest_sentence.cosine > cosine:
            cosine, carrier = closest_sentence.cosine, closest_sentence.chunk_id
    carriers = {chunk_id for chunk_id in (covering, carrier) if chunk_id is not None}
    return EvidenceSignals(cosine, coverage, frozenset(carriers))


def score_sentences(
    embedder: Embedder, passages: list[Passage], vectors: list[Vectors], question: str
) -> list[ScoredSentence]:
    """Every sentence of the passages, in reading order, scored against the query vectors (the
    first is the question itself) and the `question`'s words. One embedding call for all."""
    pieces = [
        (passage.chunk.id, position, sentence)
        for passage in passages
        if passage.chunk.id is not None
        for position, sentence in enumerate(sentences(passage.chunk.text))
    ]
    if not pieces or not vectors:
        return []
    texts = [text for *_, text in pieces]
    embedded = np.asarray(embedder.embed_documents(texts), np.float32)
    cosines = embedded @ np.stack(vectors, axis=1)
    return measured_against(
        [
            ScoredSentence(chunk_id, position, text, float(row[0]), float(row.max()))
            for (chunk_id, position, text), row in zip(pieces, cosines, strict=True)
        ],
        question,
    )


def measured_against(scored: list[ScoredSentence], question: str) -> list[ScoredSentence]:
    """The sentences with their share of `question`'s words (and so what each answers)
    measured anew, their cosines kept: a follow-up's sentences are measured against the
    question it leans on without embedding them a second time."""
    overlaps = term_overlap(query_terms(question), [sentence.text for sentence in scored])
    return answering(
        [
            replace(sentence, overlap=overlap, answers=None)
            for sentence, overlap in zip(scored, overlaps, strict=True)
        ]
    )


# An FAQ answers its question in the sentences after it: these many at most, up to the next one.
ANSWER_SENTENCES = 4


def answering(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """`scored` (in reading order), each sentence that follows a question sentence of its passage
    marked as answering it (`ScoredSentence.answers`).

    An FAQ's question sits closest to a user's question ("Q: What is the Wi-Fi?" to "What's
    the name of the guest Wi-Fi network?") while its answer, which the reader needs, shares
    few of its words ('Visitors use "Emberline-Guest".'). Ranked alone, the prompt showed the
    model the FAQ's question and title and left out the answer. The evidence, and so
    abstention, still uses each sentence's own cosine.
    """
    out: list[ScoredSentence] = []
    asked: tuple[float, float] | None = None  # the (closeness, pertinence) being answered
    left = 0
    for s in scored:
        if out and out[-1].chunk_id != s.chunk_id:
            asked, left = None, 0
        if is_question(s.text):
            own = (s.own_closeness, s.pertinence)
            # "Is there Wi-Fi? What's the password?": the answer after both answers either
            follows = asked is not None and left == ANSWER_SENTENCES
            asked = (max(asked[0], own[0]), max(asked[1], own[1])) if asked and follows else own
            left = ANSWER_SENTENCES
        elif asked is not None and left:
            s = replace(s, answers=asked)
            left -= 1
        out.append(s)
    return out


def _best_coverage(
    store: Store, text: str, chunk_ids: list[int], groups: frozenset[str]
) -> tuple[float, int | None]:
    """(term coverage, the first chunk reaching it; None when no term counts)."""
    terms = query_terms(text)
    if not terms:
        return 0.0, None
    total, frequencies, holders = store.term_statistics(terms, groups, chunk_ids)
    weights = {t: math.log((total + 1) / (frequencies[t] + 0.5)) for t in terms}
    denominator = sum(weights.values())
    if denominator <= 0:
        return 0.0, None
    per_chunk = {
        chunk_id: sum(weights[t] for t in terms if chunk_id in holders[t]) for chunk_id in chunk_ids
    }
    best = max(per_chunk, key=lambda chunk_id: per_chunk[chunk_id])
    return per_chunk[best] / denominator, best
