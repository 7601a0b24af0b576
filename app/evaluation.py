"""Measuring Hearth: retrieval metrics, abstention by evidence, and full answers.

Everything is document-level: a ranking of passages becomes the ranked list of distinct
document ids (first appearance counts), and a question's expected documents are judged
relevant (binary relevance). Metrics average over answerable questions; unanswerable ones
only enter the abstention figures.

- `hit_at_k`, `recall_at_k`, `reciprocal_rank`, `ndcg_at_k`: one question's ranking.
- `evaluate_retrieval(questions, retriever, settings, ks)`: every question searched with its
  asker's groups through the service's hybrid retrieval (`Retriever`), plus the evidence the
  service would compare with its abstention threshold.
- `evaluate_answers(questions, rag)`: the whole pipeline, answer by answer.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from app.datasets import EvalQuestion
from app.rag import Answer, Question, RagPipeline, retrieval_settings
from app.reader_notes import without_notes
from app.settings import Settings
from index.errors import HearthError
from index.protocols import Embedder, Store, Vectors
from index.search import Retrieval, hybrid_search
from index.types import Principal, parse_groups

NDCG_K = 10
THRESHOLDS = tuple(round(i * 0.05, 2) for i in range(21))

Retriever = Callable[[Principal, str, int | None], Retrieval]
"""(asker, question, passages wanted or None for the service's top_k) -> fused retrieval."""

OnQuestion = Callable[[EvalQuestion], None]


# -- one ranking --------------------------------------------------------------------------------


def distinct_documents(document_ids: Iterable[str]) -> list[str]:
    """Document ids in rank order, each at its first appearance."""
    return list(dict.fromkeys(document_ids))


def hit_at_k(ranked: Sequence[str], expected: Iterable[str], k: int) -> float:
    """1.0 if an expected document is among the first k, else 0.0."""
    wanted = set(expected)
    return 1.0 if any(doc in wanted for doc in distinct_documents(ranked)[:k]) else 0.0


def recall_at_k(ranked: Sequence[str], expected: Iterable[str], k: int) -> float:
    """The share of the (distinct) expected documents found among the first k."""
    wanted = set(expected)
    if not wanted:
        return 0.0
    return len(wanted & set(distinct_documents(ranked)[:k])) / len(wanted)


def first_relevant_rank(ranked: Sequence[str], expected: Iterable[str]) -> int | None:
    """The 1-based rank of the first expected document, None if none was retrieved."""
    wanted = set(expected)
    for rank, doc in enumerate(distinct_documents(ranked), start=1):
        if doc in wanted:
            return rank
    return None


def reciprocal_rank(ranked: Sequence[str], expected: Iterable[str]) -> float:
    """1 / rank of the first expected document (0.0 if none was retrieved)."""
    rank = first_relevant_rank(ranked, expected)
    return 0.0 if rank is None else 1.0 / rank


def ndcg_at_k(ranked: Sequence[str], expected: Iterable[str], k: int = NDCG_K) -> float:
    """nDCG@k with binary relevance over distinct documents (as BEIR's qrels of score 1)."""
    wanted = set(expected)
    if not wanted:
        return 0.0
    gains = [1.0 if doc in wanted else 0.0 for doc in distinct_documents(ranked)[:k]]
    dcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def key_term_in(term: str, text: str) -> bool:
    """Whether the key term occurs in the text, case-insensitively: a term starting with a
    letter starts a word ("art" is not in "start"), and a number is a whole number ("30" is not
    in "130", "2.30", "10:30", "1,030", "30.5" or "1,300"; it is in "30.0", "€30" and "FY2030",
    "1.5" is in "1.50", and an hour is one only on the hour: "10" is in "10:00", not "10:30").
    A word's end stays open: key terms are written as stems or singulars ("reduc", "Friday");
    a term's own trailing full stop or comma does not count."""
    term = unicodedata.normalize("NFC", term.strip().rstrip(".,;:!?").casefold())
    if not term:
        return False
    if term[0].isdigit():
        before = r"(?<!\d)(?<!\d[.,:])"
    else:
        before = r"(?<!\w)" if re.match(r"\w", term) else ""
    if not term[-1].isdigit():
        after = ""
    elif re.search(r"\.\d+$", term):  # a decimal: trailing zeros change nothing
        after = r"(?=0*(?!\d|\.\d))"
    else:
        after = r"(?!\d|,\d|\.\d*[1-9]|:\d*[1-9])"
    text = unicodedata.normalize("NFC", text.casefold())
    return re.search(before + re.escape(term) + after, text) is not None


def mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    return float(np.percentile(values, q)) if values else None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# -- retrieval ----------------------------------------------------------------------------------


class CachedQueryEmbedder:
    """An embedder that remembers its last query vector: each question is searched two or
    three times (at the service's top_k and deeper), and embedding it dominates the cost."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._last: tuple[str, Vectors] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed_query(self, text: str) -> Vectors:
        if self._last is None or self._last[0] != text:
            self._last = (text, self._embedder.embed_query(text))
        return self._last[1]


def search_retriever(store: Store, embedder: Embedder, settings: Settings) -> Retriever:
    """Hybrid search as the service runs it for a first question (no conversation), without
    loading a language model."""
    cached = cast(Embedder, CachedQueryEmbedder(embedder))

    def retrieve(principal: Principal, text: str, top_k: int | None) -> Retrieval:
        return hybrid_search(
            store, cached, [(text, 1.0)], principal.readable_groups,
            retrieval_settings(settings, top_k),
        )  # fmt: skip

    return retrieve


def pipeline_retriever(rag: RagPipeline) -> Retriever:
    """The answering pipeline's own retrieval step."""

    def retrieve(principal: Principal, text: str, top_k: int | None) -> Retrieval:
        return rag.retrieve(principal, text, [], top_k)

    return retrieve


def principal_for(question: EvalQuestion) -> Principal:
    """The asker: their groups plus `public`."""
    return Principal(user="hearth-eval", groups=parse_groups(question.groups) | {"public"})


@dataclass
class Row:
    """Everything measured for one question; `as_dict` is its JSON row."""

    question: EvalQuestion
    ranked: list[str] = field(default_factory=list)
    evidence: float = 0.0
    retrieval_ms: float = 0.0
    answer: Answer | None = None
    error: str | None = None
    # the ranking at `metrics_depth` when `ranked` came from a deeper search (a cut-off
    # above NDCG_K), None when `ranked` is that ranking
    head: list[str] | None = None

    def ranking(self, k: int = NDCG_K) -> list[str]:
        """The ranking figures at cut-off k read: for k <= NDCG_K (and MRR, nDCG@10) the one
        searched `metrics_depth` deep whatever the cut-offs asked, so that they do not change
        with them; deeper cut-offs read the deeper search."""
        return self.head if self.head is not None and k <= NDCG_K else self.ranked

    def retrieval_figures(self, ks: Sequence[int]) -> dict[str, Any]:
        expected = self.question.expected_documents
        if not self.question.answerable:
            return {}
        figures: dict[str, Any] = {}
        for k in ks:
            figures[f"hit@{k}"] = hit_at_k(self.ranking(k), expected, k)
            figures[f"recall@{k}"] = recall_at_k(self.ranking(k), expected, k)
        head = self.ranking()
        figures["rr"] = reciprocal_rank(head, expected)
        figures[f"ndcg@{NDCG_K}"] = ndcg_at_k(head, expected, NDCG_K)
        figures["first_relevant_rank"] = first_relevant_rank(head, expected)
        return figures

    def cited_documents(self) -> list[str]:
        if self.answer is None:
            return []
        return [str(c["document_id"]) for c in self.answer.citations]

    def key_term_match(self) -> bool | None:
        term = self.question.key_term.strip()
        if not self.question.answerable or not term or self.answer is None:
            return None
        # Hearth's notes to the reader are no part of the answer ("… asks for one" holds "one")
        return key_term_in(term, without_notes(self.answer.text))

    def as_dict(self, ks: Sequence[int], threshold: float) -> dict[str, Any]:
        q = self.question
        row: dict[str, Any] = {
            "id": q.id,
            "question": q.question,
            "groups": list(q.groups),
            "answerable": q.answerable,
            "expected_documents": list(q.expected_documents),
            "key_term": q.key_term,
            "retrieved_documents": self.ranked,
            **self.retrieval_figures(ks),
            "evidence": round(self.evidence, 4),
            "below_threshold": self.evidence < threshold,
            "retrieval_ms": round(self.retrieval_ms, 1),
        }
        if self.answer is not None or self.error is not None:
            a = self.answer
            row.update(
                answer=a.text if a else None,
                abstained=a.abstained if a else None,
                abstained_by=a.abstained_by if a else None,
                quoted=a.quoted if a else None,
                cited_documents=self.cited_documents(),
                key_term_match=self.key_term_match(),
                ttft_ms=a.timings.get("ttft_ms") if a else None,
                total_ms=a.timings.get("total_ms") if a else None,
                error=self.error,
            )
        return row


def metrics_depth(settings: Settings) -> int:
    """Passages searched for MRR, nDCG@10 and the figures at k <= 10: enough for 10 distinct
    documents despite the per-document cap, and the same whatever cut-offs are asked (a
    deeper search past `candidates` widens the fused pool and can reorder the top)."""
    return NDCG_K * settings.per_document


def retrieval_depth(settings: Settings, ks: Sequence[int]) -> int:
    """Passages to fetch so that max(k, 10) distinct documents can be ranked despite the
    per-document cap: the deepest search made."""
    return max([*ks, NDCG_K]) * settings.per_document


def retrieve_all(
    questions: Sequence[EvalQuestion],
    retriever: Retriever,
    settings: Settings,
    ks: Sequence[int],
    on_question: OnQuestion | None = None,
    rows: list[Row] | None = None,
) -> list[Row]:
    """Search every question: a deep ranking for the metrics, and the evidence at the
    service's own top_k (what its abstention threshold is compared with). Rows are appended to
    `rows` as they are done, so an interrupted run keeps what it searched."""
    fixed, depth = metrics_depth(settings), retrieval_depth(settings, ks)
    rows = [] if rows is None else rows
    for question in questions:
        principal = principal_for(question)
        started = time.perf_counter()
        service = retriever(principal, question.question, None)
        elapsed = (time.perf_counter() - started) * 1000
        # within `candidates` a deeper search fuses the same pool, so its top `fixed` passages
        # are the head's: one search serves both
        one_pool = depth == fixed or depth <= settings.candidates
        deep = (
            service if depth == settings.top_k else retriever(principal, question.question, depth)
        )
        head = deep.passages[:fixed] if one_pool else (
            service if fixed == settings.top_k
            else retriever(principal, question.question, fixed)
        ).passages  # fmt: skip
        rows.append(
            Row(
                question=question,
                ranked=distinct_documents(p.document.id for p in deep.passages),
                evidence=service.evidence,
                retrieval_ms=elapsed,
                head=None if depth == fixed else distinct_documents(p.document.id for p in head),
            )
        )
        if on_question:
            on_question(question)
    return rows


def retrieval_summary(rows: Sequence[Row], ks: Sequence[int]) -> dict[str, Any]:
    """Mean hit@k, recall@k, MRR and nDCG@10 over answerable questions, and search latency."""
    answerable = [r.retrieval_figures(ks) for r in rows if r.question.answerable]
    summary: dict[str, Any] = {"questions": len(answerable)}
    for k in ks:
        summary[f"hit@{k}"] = mean([f[f"hit@{k}"] for f in answerable])
    for k in ks:
        summary[f"recall@{k}"] = mean([f[f"recall@{k}"] for f in answerable])
    summary["mrr"] = mean([f["rr"] for f in answerable])
    summary[f"ndcg@{NDCG_K}"] = mean([f[f"ndcg@{NDCG_K}"] for f in answerable])
    latencies = [r.retrieval_ms for r in rows]
    summary["retrieval_ms_median"] = percentile(latencies, 50)
    summary["retrieval_ms_p95"] = percentile(latencies, 95)
    return summary


def operating_point(rows: Sequence[Row], threshold: float) -> dict[str, Any]:
    """At one threshold: the share of unanswerable questions whose evidence falls below it
    (abstained, as wanted) and of answerable ones (abstained wrongly)."""
    unanswerable = [r for r in rows if not r.question.answerable]
    answerable = [r for r in rows if r.question.answerable]
    caught = sum(r.evidence < threshold for r in unanswerable)
    wrong = sum(r.evidence < threshold for r in answerable)
    return {
        "threshold": threshold,
        "unanswerable_abstained": ratio(caught, len(unanswerable)),
        "answerable_abstained": ratio(wrong, len(answerable)),
        "unanswerable_abstained_count": caught,
        "answerable_abstained_count": wrong,
    }


def abstention_summary(
    rows: Sequence[Row], threshold: float, thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, Any]:
    """The evidence-only abstention curve and the current setting's operating point."""
    grid = sorted({*thresholds, threshold})
    return {
        "threshold": threshold,
        "unanswerable": sum(not r.question.answerable for r in rows),
        "answerable": sum(r.question.answerable for r in rows),
        "operating_point": operating_point(rows, threshold),
        "curve": [operating_point(rows, t) for t in grid],
    }


# -- full answers -------------------------------------------------------------------------------


def answer_all(
    rows: Sequence[Row], rag: RagPipeline, on_question: OnQuestion | None = None
) -> None:
    """Ask every question through the whole pipeline (nothing stored); fills `Row.answer`."""
    for row in rows:
        question = row.question
        try:
            row.answer = rag.answer(
                principal_for(question), Question(question.question, store_conversation=False)
            )
        except HearthError as exc:
            row.error = exc.message
        if on_question:
            on_question(question)


def answer_summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Abstention precision/recall/F1, false abstentions, citation precision, key terms, speed."""
    answered = [r for r in rows if r.answer is not None]
    abstained = [r for r in answered if r.answer and r.answer.abstained]
    unanswerable = [r for r in answered if not r.question.answerable]
    answerable = [r for r in answered if r.question.answerable]
    true_abstentions = sum(not r.question.answerable for r in abstained)
    precision = ratio(true_abstentions, len(abstained))
    recall = ratio(true_abstentions, len(unanswerable))
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    false_abstentions = sum(bool(r.answer and r.answer.abstained) for r in answerable)
    cited_rows = [
        r for r in answerable if r.answer and not r.answer.abstained and r.answer.citations
    ]
    citations = [(doc, r) for r in cited_rows for doc in r.cited_documents()]
    correct = sum(doc in r.question.expected_documents for doc, r in citations)
    # the quotes' share of them: the model's own citations stay measurable on their own
    quoted = [(doc, r) for doc, r in citations if r.answer and r.answer.quoted]
    quoted_correct = sum(doc in r.question.expected_documents for doc, r in quoted)
    with_terms = [r for r in answerable if r.key_term_match() is not None]
    matched = sum(bool(r.key_term_match()) for r in with_terms)
    # the model's own cited answers that miss the key term: a wrong fact that looks checked
    model_cited = [r for r in cited_rows if r.answer and not r.answer.quoted
                   and r.key_term_match() is not None]  # fmt: skip
    model_cited_misses = sum(not r.key_term_match() for r in model_cited)
    ttft = [float(r.answer.timings["ttft_ms"]) for r in answered
            if r.answer and "ttft_ms" in r.answer.timings]  # fmt: skip
    total = [float(r.answer.timings["total_ms"]) for r in answered
             if r.answer and "total_ms" in r.answer.timings]  # fmt: skip
    return {
        "questions": len(rows),
        "errors": len(rows) - len(answered),
        "abstained": len(abstained),
        "abstained_by_retrieval": sum(
            bool(r.answer and r.answer.abstained_by == "retrieval") for r in abstained
        ),
        "abstained_by_attribution": sum(
            bool(r.answer and r.answer.abstained_by == "attribution") for r in abstained
        ),
        "abstained_unanswerable": true_abstentions,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
        "unanswerable": len(unanswerable),
        "answerable": len(answerable),
        "false_abstentions": false_abstentions,
        "false_abstention_rate": ratio(false_abstentions, len(answerable)),
        "answers_with_citations": len(cited_rows),
        "answered_without_citations": sum(
            bool(r.answer and not r.answer.abstained and not r.answer.citations) for r in answerable
        ),
        "answers_quoted": sum(bool(r.answer and r.answer.quoted) for r in answered),
        "citations": len(citations),
        "citations_from_expected": correct,
        "citation_precision": ratio(correct, len(citations)),
        "quoted_citations": len(quoted),
        "quoted_citations_from_expected": quoted_correct,
        "quoted_citation_precision": ratio(quoted_correct, len(quoted)),
        "model_citations": len(citations) - len(quoted),
        "model_citations_from_expected": correct - quoted_correct,
        "model_citation_precision": ratio(correct - quoted_correct, len(citations) - len(quoted)),
        "key_term_questions": len(with_terms),
        "key_term_matches": matched,
        "key_term_match_rate": ratio(matched, len(with_terms)),
        "model_cited_answers": len(model_cited),
        "model_cited_without_key_term": model_cited_misses,
        "model_cited_without_key_term_rate": ratio(model_cited_misses, len(model_cited)),
        "ttft_ms_median": percentile(ttft, 50),
        "ttft_ms_p95": percentile(ttft, 95),
        "ttft_count": len(ttft),
        "total_ms_median": percentile(total, 50),
        "total_ms_p95": percentile(total, 95),
    }


# -- the whole run --------------------------------------------------------------------------------


@dataclass
class EvalReport:
    """A finished evaluation: summaries and per-question rows."""

    ks: list[int]
    settings: Settings
    rows: list[Row]
    retrieval: dict[str, Any]
    abstention: dict[str, Any]
    answers: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    # Ctrl-C: the figures are over the questions done before it, `asked` of them were given
    interrupted: bool = False
    asked: int = 0

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "source": self.source,
            "interrupted": self.interrupted,
            "questions_asked": self.asked,
            "questions_done": len(self.rows),
            "settings": {
                "top_k": s.top_k,
                "candidates": s.candidates,
                "fusion": s.fusion,
                "rrf_k": s.rrf_k,
                "dense_weight": s.dense_weight,
                "lexical_weight": s.lexical_weight,
                "per_document": s.per_document,
                "abstain_threshold": s.abstain_threshold,
                "metrics_depth": metrics_depth(s),
                "retrieval_depth": retrieval_depth(s, self.ks),
                "ks": self.ks,
            },
            "retrieval": self.retrieval,
            "abstention_by_evidence": self.abstention,
            "answers": self.answers,
            "rows": [r.as_dict(self.ks, s.abstain_threshold) for r in self.rows],
        }


def evaluate(
    questions: Sequence[EvalQuestion],
    retriever: Retriever,
    settings: Settings,
    ks: Sequence[int] = (5, 10),
    rag: RagPipeline | None = None,
    on_retrieved: OnQuestion | None = None,
    on_answered: OnQuestion | None = None,
) -> EvalReport:
    """Retrieval metrics and evidence abstention for every question; with `rag`, full answers.

    Interrupted (Ctrl-C), it reports on the questions done so far (with `rag`, those answered)
    and says so: a long run stopped early still tells what it measured."""
    ks = sorted(set(ks))
    rows: list[Row] = []
    interrupted = False
    try:
        retrieve_all(questions, retriever, settings, ks, on_retrieved, rows)
        if rag is not None:
            answer_all(rows, rag, on_answered)
    except KeyboardInterrupt:
        interrupted = True
        if rag is not None:
            rows = [r for r in rows if r.answer is not None or r.error is not None]
    report = EvalReport(
        ks=list(ks),
        settings=settings,
        rows=rows,
        retrieval=retrieval_summary(rows, ks),
        abstention=abstention_summary(rows, settings.abstain_threshold),
        interrupted=interrupted,
        asked=len(questions),
    )
    if rag is not None:
        report.answers = answer_summary(rows)
    return report
