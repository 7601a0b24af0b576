"""Embedder backends compared: passages/s and SciFact nDCG@10 for torch, onnx and onnx-int8.

    nice -n 10 .venv/bin/python -m bench.embedders [--scifact DIR] [--rounds 5] [--json OUT]

Speed: 128 SciFact abstracts cut to exactly 256 word pieces, batch 16 (int8: one at a time, see
index/onnx_embedder.py), 2 threads; the backends take turns within each round (so background
load hits all of them alike) and the median round is reported, with its ratio to torch, and
passages per CPU-second of this process (less sensitive to other load on the machine).
Quality: dense retrieval only — the whole corpus
(title + " " + abstract) embedded by each backend, the 300 test queries ranked by exact cosine,
nDCG@10 with the BEIR qrels. Also: how far each backend's vectors are from torch's (cosine) and
the nDCG when queries of one backend search documents of another (does the store need to tell
them apart?). Reads ../shared/eval/beir-scifact; never run by the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from index.embedder import BACKENDS, SentenceTransformerEmbedder

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "beir-scifact"


def load_scifact(folder: Path) -> tuple[list[str], list[str], list[str], list[str], dict]:
    """(doc ids, doc texts, test query ids, query texts, qrels {qid: {docid: rel}})."""
    doc_ids, docs = [], []
    for line in (folder / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        doc_ids.append(row["_id"])
        docs.append(f"{row['title']} {row['text']}".strip())
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.strip().split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["_id"] in qrels:
            queries[row["_id"]] = row["text"]
    qids = sorted(queries, key=int)
    return doc_ids, docs, qids, [queries[q] for q in qids], qrels


def ndcg_at_10(scores: np.ndarray, doc_ids: list[str], qids: list[str], qrels: dict) -> float:
    """Mean nDCG@10 (binary gains as in BEIR's qrels) over the queries."""
    total = 0.0
    for row, qid in zip(scores, qids, strict=True):
        top = np.argpartition(-row, 10)[:10]
        top = top[np.argsort(-row[top])]
        relevant = qrels[qid]
        dcg = sum(relevant.get(doc_ids[i], 0) / math.log2(rank + 2) for rank, i in enumerate(top))
        ideal = sorted(relevant.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(qids)


def passages_of_256_tokens(
    embedder: SentenceTransformerEmbedder, docs: list[str], n: int
) -> list[str]:
    """`n` corpus texts cut to 254 word pieces (+ [CLS] and [SEP] = 256), decoded back to text."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_model_folder() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out = []
    for text in docs:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if len(ids) >= 300:
            cut = tokenizer.decode(ids[:254])
            if embedder.count_tokens(cut) == 256:
                out.append(cut)
        if len(out) == n:
            break
    return out


def _model_folder() -> Path:
    from index.embedder import bundled_model_path

    return bundled_model_path()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/work/eval-data/embedder-cache"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    doc_ids, docs, qids, queries, qrels = load_scifact(args.scifact)
    embedders = {}
    load_seconds = {}
    for backend in BACKENDS:
        started = time.perf_counter()
        embedders[backend] = SentenceTransformerEmbedder(
            threads=args.threads, backend=backend, cache_dir=args.cache / "onnx"
        )
        load_seconds[backend] = time.perf_counter() - started
        print(
            f"{backend}: loaded in {load_seconds[backend]:.1f} s "
            f"(id {embedders[backend].model_id})",
            flush=True,
        )

    passages = passages_of_256_tokens(embedders["torch"], docs, 128)
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    cpu_rates: dict[str, list[float]] = {b: [] for b in BACKENDS}  # per CPU-second (this process)
    for backend in BACKENDS:  # warm-up (allocations, ORT graph optimisation)
        embedders[backend].embed_documents(passages[:16])
    for round_no in range(args.rounds):
        for backend in BACKENDS:
            started, cpu_started = time.perf_counter(), time.process_time()
            embedders[backend].embed_documents(passages)
            rates[backend].append(len(passages) / (time.perf_counter() - started))
            cpu_rates[backend].append(len(passages) / (time.process_time() - cpu_started))
        print(
            f"round {round_no + 1}: " + ", ".join(f"{b} {rates[b][-1]:.1f}/s" for b in BACKENDS),
            flush=True,
        )
    query_ms = {}
    for backend in BACKENDS:
        times = []
        for q in queries[:50]:
            started = time.perf_counter()
            embedders[backend].embed_query(q)
            times.append(time.perf_counter() - started)
        query_ms[backend] = 1000 * statistics.median(times)

    doc_vectors, query_vectors = {}, {}
    args.cache.mkdir(parents=True, exist_ok=True)
    for backend in BACKENDS:
        cached = args.cache / f"scifact-{backend}.npy"
        if cached.is_file():
            doc_vectors[backend] = np.load(cached)
        else:
            started = time.perf_counter()
            doc_vectors[backend] = embedders[backend].embed_documents(docs)
            np.save(cached, doc_vectors[backend])
            print(
                f"{backend}: corpus embedded in {time.perf_counter() - started:.0f} s", flush=True
            )
        query_vectors[backend] = embedders[backend].embed_documents(queries)

    results: dict[str, dict] = {}
    base = "torch"
    for backend in BACKENDS:
        cosines = np.sum(doc_vectors[backend] * doc_vectors[base], axis=1)
        results[backend] = {
            "passages_per_s_median": statistics.median(rates[backend]),
            "passages_per_s_runs": rates[backend],
            "ratio_vs_torch": statistics.median(rates[backend]) / statistics.median(rates[base]),
            "passages_per_cpu_s_median": statistics.median(cpu_rates[backend]),
            "query_ms_median": query_ms[backend],
            "load_s": load_seconds[backend],
            "ndcg@10": ndcg_at_10(
                query_vectors[backend] @ doc_vectors[backend].T, doc_ids, qids, qrels
            ),
            "ndcg@10_queries_vs_torch_docs": ndcg_at_10(
                query_vectors[backend] @ doc_vectors[base].T, doc_ids, qids, qrels
            ),
            "doc_cosine_to_torch_mean": float(cosines.mean()),
            "doc_cosine_to_torch_min": float(cosines.min()),
            "model_id": embedders[backend].model_id,
        }
    print(
        f"\n{len(passages)} passages of 256 tokens, batch 16, {args.threads} threads, "
        f"median of {args.rounds} rounds; SciFact test ({len(qids)} queries, {len(docs)} docs)"
    )
    print(
        f"{'backend':10} {'passages/s':>10} {'x torch':>8} {'per CPU-s':>9} {'query ms':>9} "
        f"{'nDCG@10':>8} "
        f"{'q→torch docs':>12} {'cos mean':>9} {'cos min':>8}"
    )
    for backend, r in results.items():
        print(
            f"{backend:10} {r['passages_per_s_median']:10.1f} {r['ratio_vs_torch']:8.2f} "
            f"{r['passages_per_cpu_s_median']:9.1f} "
            f"{r['query_ms_median']:9.1f} {r['ndcg@10']:8.4f} "
            f"{r['ndcg@10_queries_vs_torch_docs']:12.4f} {r['doc_cosine_to_torch_mean']:9.5f} "
            f"{r['doc_cosine_to_torch_min']:8.5f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
