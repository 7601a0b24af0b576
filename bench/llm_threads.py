"""The LLM's threads, measured: answers of each thread layout, on a quiet machine and beside
busy processes (why `HEARTH_DECODE_THREADS` is 1 and OpenMP threads sleep while they wait).

    python -m bench.llm_threads [--data-dir DIR] [--questions N] [--busy 0,2] [--json OUT]

Each layout is a worker process with its own environment that loads the service once
(`load_services` over DIR; corpus/ is ingested into a temporary one without `--data-dir`) and
answers questions of corpus/questions.jsonl without storing them. The driver asks each question
of every layout in turn, rotating which goes first, so other jobs' bursts hit all alike, once
per `--busy` count of processes that spin on the CPU beside them. Printed per layout: the
median and p95 time to first token and whole answer, and the median of the ratios to the first
layout on the same question. Answers are compared word for word (threads must not change them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# name -> environment. GOMP_SPINCOUNT=300000 is libgomp's own default when OMP_WAIT_POLICY is
# unset, and Hearth leaves a set spin count alone: the layout Hearth shipped until session 22.
LAYOUTS: dict[str, dict[str, str]] = {
    "2 threads, spinning (before)": {"HEARTH_DECODE_THREADS": "2", "GOMP_SPINCOUNT": "300000"},
    "2 threads, sleeping": {"HEARTH_DECODE_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "decode on 1 (default)": {},
}
SPIN = "while True: pass"


def worker(data_dir: str) -> None:
    """Answer question numbers read from stdin, one JSON line each on stdout."""
    from app.main import close_services, load_services
    from app.rag import Question
    from app.settings import Settings
    from index.types import Principal

    services = load_services(Settings(data_dir=Path(data_dir)))
    questions = [json.loads(line) for line in (ROOT / "corpus/questions.jsonl").open()]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        q = questions[int(line)]
        asker = Principal(user="bench", groups=frozenset(q.get("groups") or []) | {"public"})
        answer = services.rag.answer(asker, Question(q["question"], store_conversation=False))
        out = {"ttft_ms": answer.timings.get("ttft_ms"), "total_ms": answer.timings.get("total_ms")}
        print(json.dumps({**out, "answer": answer.text}), flush=True)
    close_services(services)


def start_worker(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.llm_threads", "--worker", str(data_dir)],
        cwd=ROOT,
        env={**clean, "HF_HUB_OFFLINE": "1", **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def ask(worker: subprocess.Popen[str], number: int) -> dict[str, Any]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"{number}\n")
    worker.stdin.flush()
    return dict(json.loads(worker.stdout.readline()))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(rows: list[dict[str, Any]], busy: int) -> None:
    """Medians, p95 and paired ratios of answers the model wrote (abstentions never reach it)."""
    names = list(LAYOUTS)
    base = names[0]
    by_question: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["busy"] == busy and row["ttft_ms"]:
            by_question.setdefault(row["question"], {})[row["layout"]] = row
    paired = [v for v in by_question.values() if len(v) == len(names)]
    load = statistics.median(row["load"] for row in rows if row["busy"] == busy)
    print(f"\n{busy} busy processes beside it: {len(paired)} answers each, load {load:.1f}")
    print(f"{'layout':32} {'TTFT ms median / p95':>22} {'answer ms median / p95':>24} "
          f"{'TTFT / before':>14} {'answer / before':>16}")  # fmt: skip
    for name in names:
        ttft = [v[name]["ttft_ms"] for v in paired]
        total = [v[name]["total_ms"] for v in paired]
        ratios = [
            statistics.median(v[name][m] / v[base][m] for v in paired)
            for m in ("ttft_ms", "total_ms")
        ]
        print(f"{name:32} {statistics.median(ttft):10.0f} / {p95(ttft):9.0f} "
              f"{statistics.median(total):12.0f} / {p95(total):9.0f} "
              f"{ratios[0]:14.2f} {ratios[1]:16.2f}")  # fmt: skip
    differ = sum(len({r["answer"] for r in v.values()}) > 1 for v in paired)
    print(f"questions whose answers differ between layouts: {differ} of {len(paired)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="an ingested store (default: corpus/)")
    parser.add_argument("--questions", type=int, default=80, help="the first N questions")
    parser.add_argument("--busy", default="0,2", help="busy processes beside it, per round")
    parser.add_argument("--json", type=Path, help="write every answer's timings here")
    args = parser.parse_args()
    rounds = [int(n) for n in args.busy.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        if args.data_dir is None:
            hearth = [sys.executable, "-c", "from app.cli import main; main()"]
            subprocess.run([*hearth, "ingest", str(ROOT / "corpus"), "--data-dir", str(data_dir)],
                           check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
        workers = {name: start_worker(data_dir, env) for name, env in LAYOUTS.items()}
        rows: list[dict[str, Any]] = []
        try:
            for name, process in workers.items():
                assert process.stdout is not None
                assert json.loads(process.stdout.readline())["ready"], name
            for busy in rounds:
                spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
                try:
                    for number in range(args.questions):
                        names = list(workers)
                        turn = number % len(names)
                        for name in names[turn:] + names[:turn]:
                            row = ask(workers[name], number)
                            rows.append({**row, "layout": name, "question": number,
                                         "busy": busy, "load": os.getloadavg()[0]})  # fmt: skip
                finally:
                    for spinner in spinners:
                        spinner.kill()
                report(rows, busy)
        finally:
            for process in workers.values():
                process.kill()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2])
    else:
        main()
