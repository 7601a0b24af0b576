r"""Retrieval experiments on a BEIR folder (SciFact): BM25 alone, dense alone and hybrid variants.

    nice -n 10 .venv/bin/python bench/eval_retrieval.py --beir ../shared/eval/beir-scifact \
        --data-dir /work/eval-data/scifact [--json OUT]

The dataset is indexed into --data-dir the way `hearth eval --beir` does it (reused when it is
already there; a folder holding other documents is refused). Every query is embedded once and
its dense and BM25 lists are fetched once per BM25 column weighting, 100 chunks deep; fusion
variants are then recomputed from those lists, so a table of variants costs seconds, not an
embedding run each. Ranks are document-level (a
document ranks at its best chunk), nDCG@10 and recall@100 over the split's judged queries, as
BEIR computes them. `hearth eval --beir` remains the reference for the chosen defaults: it runs
the service's own `hybrid_search`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import index.store as store_module  # noqa: E402
from app.datasets import (  # noqa: E402
    EvalQuestion,
    check_benchmark_dir,
    ingest_dataset,
    load_beir,
    with_stored_ids,
)
from app.eval_cli import unwritable  # noqa: E402
from app.evaluation import distinct_documents, ndcg_at_k, recall_at_k  # noqa: E402
from bench.exits import run_or_exit  # noqa: E402
from index.errors import HearthError  # noqa: E402
from index.search import fts_query  # noqa: E402
from index.store import SQLiteStore  # noqa: E402

DEPTH = 100
GROUPS = frozenset({"public"})

# (chunk id, document id, score) lists, best first.
Ranked = list[tuple[int, str, float]]
Weights = tuple[float, float, float]


@dataclass
class Lists:
    """One query's dense list and its BM25 lists per column weighting."""

    dense: Ranked
    lexical: dict[Weights, Ranked]


def lexical(store: SQLiteStore, text: str, weights: Weights) -> Ranked:
    store_module.BM25_WEIGHTS = weights  # read by lexical_search at call time
    return [
        (p.chunk.id or 0, p.document.id, p.score)
        for p in store.lexical_search(fts_query(text), GROUPS, DEPTH)
    ]


def rrf(
    lists: Sequence[tuple[Ranked, float]], rrf_k: int, candidates: int, level: str
) -> list[str]:
    """Documents by weighted RRF; `level` "chunk" fuses chunks (as hybrid_search does), then
    takes documents at their first appearance; "document" fuses each list's document order."""
    scores: dict[Any, float] = {}
    for ranked, weight in lists:
        if weight <= 0:
            continue
        items = ranked[:candidates]
        keys: list[Any] = (
            [chunk for chunk, _, _ in items]
            if level == "chunk"
            else distinct_documents(doc for _, doc, _ in items)
        )
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
    order = sorted(scores, key=lambda key: (-scores[key], str(key)))
    if level == "document":
        return [str(key) for key in order]
    doc_of = {chunk: doc for ranked, _ in lists for chunk, doc, _ in ranked}
    return distinct_documents(doc_of[key] for key in order)


def convex(dense: Ranked, lexical: Ranked, alpha: float, candidates: int) -> list[str]:
    """Documents by alpha * dense + (1 - alpha) * BM25, each min-max normalised over its top
    `candidates` (a document takes its best chunk's score; absent from a list: 0)."""
    fused: dict[str, float] = {}
    for ranked, weight in ((dense[:candidates], alpha), (lexical[:candidates], 1 - alpha)):
        if not ranked:
            continue
        best: dict[str, float] = {}
        for _, doc, value in ranked:
            best[doc] = max(best.get(doc, value), value)
        high, low = max(best.values()), min(best.values())
        for doc, value in best.items():
            norm = (value - low) / (high - low) if high > low else 1.0
            fused[doc] = fused.get(doc, 0.0) + weight * norm
    return sorted(fused, key=lambda doc: (-fused[doc], doc))


def score(rankings: Sequence[list[str]], questions: Sequence[EvalQuestion]) -> dict[str, float]:
    pairs = list(zip(rankings, questions, strict=True))
    return {
        "ndcg@10": statistics.fmean(ndcg_at_k(r, q.expected_documents, 10) for r, q in pairs),
        "recall@100": statistics.fmean(recall_at_k(r, q.expected_documents, 100) for r, q in pairs),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--beir",
        type=Path,
        required=True,
        metavar="DIR",
        help="required: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)",
    )
    parser.add_argument(
        "--split", default="test", help="the qrels split whose queries are asked (default: test)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="required: the dataset's own index folder, made or reused (one holding other "
        "documents is refused)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write every variant's figures to OUT (default: none; checked before the run)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """The run, with one line and exit code 2 (as `hearth eval`) for input it cannot use."""
    run_or_exit(run, parse_args(argv))


def run(args: argparse.Namespace) -> None:
    if args.json is not None and (reason := unwritable(args.json)) is not None:
        raise HearthError(f"--json: {reason}")

    from index.embedder import SentenceTransformerEmbedder

    dataset = load_beir(args.beir, args.split)
    questions = with_stored_ids(dataset.questions)
    store = SQLiteStore(args.data_dir)
    check_benchmark_dir(store, dataset)  # before loading the embedder
    embedder = SentenceTransformerEmbedder(None)
    report = ingest_dataset(dataset, store, embedder)
    print(f"{dataset.name}: {'reused' if report is None else 'indexed'} in {args.data_dir}")
    store.open_vectors()
    stats = store.stats()
    print(f"{len(questions)} queries; store: {stats}")

    weightings: list[Weights] = [
        (1.0, 1.0, 1.0),
        (2.0, 1.0, 1.0),
        (4.0, 2.0, 1.0),
        (8.0, 2.0, 1.0),
        (0.5, 0.5, 1.0),
    ]
    started = time.perf_counter()
    per_query: list[Lists] = []
    for question in questions:
        vector = embedder.embed_query(question.question)
        dense = [
            (p.chunk.id or 0, p.document.id, p.score)
            for p in store.dense_search(vector, GROUPS, DEPTH)
        ]
        per_query.append(
            Lists(dense, {w: lexical(store, question.question, w) for w in weightings})
        )
    print(f"lists fetched in {time.perf_counter() - started:.0f} s")

    results: list[dict[str, Any]] = []

    def record(name: str, rankings: list[list[str]], quiet: bool = False) -> None:
        figures = score(rankings, questions)
        results.append({"variant": name, **figures})
        if not quiet:
            print(f"{name:<72} nDCG@10 {figures['ndcg@10']:.4f}  R@100 {figures['recall@100']:.4f}")

    def hybrid(
        w: Weights, level: str, candidates: int, rrf_k: int, dense: float
    ) -> list[list[str]]:
        return [
            rrf([(q.dense, dense), (q.lexical[w], 1.0)], rrf_k, candidates, level)
            for q in per_query
        ]

    record("dense alone (MiniLM, max over chunks)",
           [distinct_documents(d for _, d, _ in q.dense) for q in per_query])  # fmt: skip
    for w in weightings:
        record(f"BM25 alone, FTS5 column weights title/heading/body {w}",
               [distinct_documents(d for _, d, _ in q.lexical[w]) for q in per_query])  # fmt: skip
    record("hybrid as shipped: chunk-level, (4,2,1), cand 20, rrf_k 60, dense 1.0",
           hybrid((4.0, 2.0, 1.0), "chunk", 20, 60, 1.0))  # fmt: skip
    for w in weightings:
        for level in ("chunk", "document"):
            for candidates in (20, 50, 100):
                for rrf_k in (5, 10, 20, 30, 60, 100):
                    for dw in (0.5, 0.75, 1.0, 1.25, 1.5):
                        name = f"hybrid {level} {w} cand {candidates} rrf_k {rrf_k} dense {dw}"
                        record(name, hybrid(w, level, candidates, rrf_k, dw), quiet=True)
    for w in weightings:
        for candidates in (20, 50, 100):
            for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
                name = f"convex {w} cand {candidates} alpha(dense) {alpha}"
                rankings = [convex(q.dense, q.lexical[w], alpha, candidates) for q in per_query]
                record(name, rankings, quiet=True)
    best = sorted(results, key=lambda r: -r["ndcg@10"])[:25]
    print("\nbest 25:")
    for r in best:
        print(f"{r['variant']:<72} nDCG@10 {r['ndcg@10']:.4f}  R@100 {r['recall@100']:.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    store.close()


if __name__ == "__main__":
    main()
