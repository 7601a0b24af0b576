"""Crash safety, measured: SIGKILL an ingest at random moments and check the store every time.

After each kill the store must open cleanly: `PRAGMA integrity_check` and the FTS5 integrity
check pass, every document is complete (all its chunks, FTS rows, ACL rows and embeddings) or
absent, and once the vector file is opened its ids are exactly the chunk rows. Re-running the
ingest must then finish the job: the final store equals one built without interruption.

    python bench/crash_safety.py [--trials 50]

Uses the hash embedder from tests/fakes.py so that the kill points fall on store writes rather
than inside the model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from fakes import HashEmbedder
from index.store import SQLiteStore
from ingest.pipeline import Ingestor, IngestOptions
store = SQLiteStore(Path({data!r}))
print("ready", flush=True)
Ingestor(store, HashEmbedder(max_tokens=48)).run([Path({corpus!r})], IngestOptions(prune=True))
"""


def make_corpus(folder: Path, documents: int = 300, seed: int = 1) -> Path:
    """A folder of text files of varied length, some restricted by a sidecar."""
    rng = random.Random(seed)
    words = "leave budget office travel canteen badge laptop review payroll bike ferry".split()
    (folder / "restricted").mkdir(parents=True, exist_ok=True)
    for i in range(documents):
        sub = "restricted" if i % 5 == 0 else ""
        suffix = ".txt"  # the plain-text parser: kill points fall on writes, not on imports
        body = "\n\n".join(
            " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + f" fact{i}x{p}."
            for p in range(rng.randint(1, 12))
        )
        heading = f"Document {i}\n\n"
        (folder / sub / f"doc{i:04d}{suffix}").write_text(heading + body)
    (folder / ".hearth-groups.yaml").write_text('"restricted/**": [hr]\n')
    return folder


def _run_worker(data: Path, corpus: Path, kill_after: float | None) -> tuple[int, float]:
    """Run one ingest; kill it `kill_after` seconds after its imports are done.

    Returns (exit code, seconds from "ready" to exit); -9 means it was killed.
    """
    code = WORKER.format(tests=str(ROOT / "tests"), data=str(data), corpus=str(corpus))
    # A killed ingest cannot remove its temporary folders (ingest/sources.verified_path):
    # they go beside its data, not into /tmp, where CI runs had left thousands.
    scratch = data.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    process.stdout.readline()  # "ready": imports done, the ingest starts now
    started = time.perf_counter()
    if kill_after is None:
        code_ = process.wait(timeout=600)
        return code_, time.perf_counter() - started
    try:
        code_ = process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        code_ = -9
    return code_, time.perf_counter() - started


def database_problems(conn: sqlite3.Connection) -> list[str]:
    """What SQLite's own checks find wrong in a store's database: `PRAGMA integrity_check` and
    FTS5's integrity-check command ([] when both pass)."""
    found = []
    if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
        found.append("integrity_check")
    try:
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        found.append(f"fts5 integrity: {exc}")
    return found


def snapshot(data: Path) -> dict[str, object]:
    """Check a store's consistency and describe its content (document -> chunk texts)."""
    from index.store import DB_NAME, SQLiteStore

    conn = sqlite3.connect(data / DB_NAME)
    problems = database_problems(conn)
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM chunks_fts),"
        " (SELECT count(DISTINCT chunk_rowid) FROM acl),"
        " (SELECT count(*) FROM chunks WHERE length(embedding) = 0),"
        " (SELECT count(*) FROM documents d WHERE NOT EXISTS"
        "   (SELECT 1 FROM chunks c WHERE c.document_rowid = d.rowid))"
    ).fetchone()
    if counts[0] != counts[1] or counts[0] != counts[2] or counts[3] or counts[4]:
        problems.append(f"torn document rows {counts}")
    content = {
        doc: texts
        for doc, texts in conn.execute(
            "SELECT d.id, group_concat(c.text, '|') FROM documents d JOIN chunks c"
            " ON c.document_rowid = d.rowid GROUP BY d.id"
        )
    }
    conn.close()
    store = SQLiteStore(data)
    store.open_vectors()
    vectors = store._vectors
    chunk_ids = [r[0] for r in store.execute("SELECT rowid FROM chunks ORDER BY rowid")]
    if chunk_ids and (vectors is None or list(vectors.ids()) != chunk_ids):
        problems.append("vector ids differ from chunk rows")
    store.close()
    return {"problems": problems, "content": content}


@dataclass
class CrashReport:
    trials: int = 0
    killed: int = 0
    consistent: int = 0
    finished: int = 0
    partial_documents: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run_trials(
    kills: int, workdir: Path, seed: int = 7, max_trials: int | None = None
) -> CrashReport:
    """Kill ingests at random points until `kills` of them died mid-run (a run may finish before
    its kill time); check the store after each one and re-run the ingest to completion."""
    rng = random.Random(seed)
    corpus = make_corpus(workdir / "corpus")
    reference_dir = workdir / "reference"
    status, full = _run_worker(reference_dir, corpus, None)
    assert status == 0
    reference = snapshot(reference_dir)["content"]
    report = CrashReport()
    trial = 0
    while report.killed < kills and trial < (max_trials or 3 * kills):
        data = workdir / f"trial{trial}"
        # Every third trial starts from a partly filled store (a crash during an update run).
        if trial % 3 == 2:
            _run_worker(data, corpus, rng.uniform(0.3, 1.0) * full)
        report.trials += 1
        if _run_worker(data, corpus, rng.uniform(0.0, 0.9) * full)[0] == -9:
            report.killed += 1
        state = snapshot(data)
        if not state["problems"]:
            report.consistent += 1
        report.problems.extend(f"trial {trial}: {p}" for p in state["problems"])  # type: ignore[attr-defined]
        report.partial_documents.append(len(state["content"]))  # type: ignore[arg-type]
        assert _run_worker(data, corpus, None)[0] == 0
        final = snapshot(data)
        if not final["problems"] and final["content"] == reference:
            report.finished += 1
        else:
            report.problems.append(f"trial {trial}: re-run did not finish the job")
        trial += 1
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="kills wanted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_trials(args.trials, Path(tmp))
    print(json.dumps(report.__dict__, indent=2))
    print(
        f"{report.trials} trials, {report.killed} killed mid-run, {report.consistent} consistent "
        f"after the kill, {report.finished} finished by re-running; "
        f"documents present at kill: min {min(report.partial_documents)}, "
        f"max {max(report.partial_documents)}"
    )


if __name__ == "__main__":
    main()
