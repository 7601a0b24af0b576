"""Row 16, disk full: the ingest runs out of space at ≥ 10 different points.

A store holding a first corpus (60 documents, one vector generation) ingests a second one (60
updated, 140 new documents) with too little room. Two ways to run out, the first preferred:

- `tmpfs`: the data folder on a small tmpfs (needs root and `mount`), a ballast file leaving
  a different number of free bytes each time: writes fail with ENOSPC;
- `rlimit`: RLIMIT_FSIZE in the ingest child (SIGXFSZ ignored) caps every file it writes at a
  different size each time: writes fail with EFBIG, not ENOSPC, but SQLite and FAISS meet the
  same short write. This one needs no privileges and always runs.

After each failure, with the disk still full: the CLI exited 1 or 2 with an `error:` line and no
traceback; the database passes `PRAGMA integrity_check` and the FTS5 integrity check; every
document is one whole version (v1 or v2: all its chunks, each with ACL rows and an embedding);
the manifest's vector file matches its digest and is the previous generation or one holding
exactly the chunk rows; the store opens and dense + lexical searches answer. Then, with room
again, the same ingest completes and the store equals one built without trouble.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder

from index.store import DB_NAME, SQLiteStore
from index.vectors import file_digest, ids_digest

# The repository root, not bench/ (bench/ingest.py would shadow the ingest package).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.crash_safety import database_problems, make_corpus

pytestmark = pytest.mark.hardening

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("disk_full_child.py")
# Fill points as fractions of the room the second ingest needs at its peak (a full WAL plus
# what the database and the vector file grow by); the last ones land on the final checkpoint
# and the vector file write (tmpfs), and may let the ingest finish (not counted as a point).
FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.98, 1.0)
TMPFS_BYTES = 8 << 20


def run_ingest(data: Path, corpus: Path, fsize_limit: int = 0) -> subprocess.CompletedProcess[str]:
    # v2 is a new export of the corpus in another folder: --replace takes its files
    args = ["ingest", str(corpus), "--data-dir", str(data), "--prune", "--replace", "--json"]
    scratch = data.parent / "tmp"  # what a killed child leaves, kept out of /tmp
    scratch.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(CHILD), str(fsize_limit), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "TMPDIR": str(scratch)},
    )


def content(data: Path) -> dict[str, tuple[str, ...]]:
    """document id -> its chunk texts in order."""
    conn = sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT d.id, c.text FROM documents d JOIN chunks c ON c.document_rowid = d.rowid"
            " ORDER BY d.id, c.position"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, list[str]] = {}
    for doc, text in rows:
        out.setdefault(doc, []).append(text)
    return {doc: tuple(texts) for doc, texts in out.items()}


def problems(
    data: Path, v1: dict[str, tuple[str, ...]], v2: dict[str, tuple[str, ...]], gen1: str
) -> list[str]:
    """Everything wrong with a store after a failed (or finished) ingest; [] when sound."""
    conn = sqlite3.connect(data / DB_NAME)
    try:
        found = database_problems(conn)
        dim = HashEmbedder().dim
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM chunks c WHERE NOT EXISTS"
            "  (SELECT 1 FROM acl a WHERE a.chunk_rowid = c.rowid)),"
            " (SELECT count(*) FROM chunks WHERE length(embedding) != ?),"
            " (SELECT count(*) FROM chunks) - (SELECT count(*) FROM chunks_fts)",
            (dim * 4,),
        ).fetchone()
        if any(orphans):
            found.append(f"chunks without ACL / embedding / FTS row: {orphans}")
        manifest = dict(conn.execute("SELECT key, value FROM manifest").fetchall())
        chunk_ids = np.array(
            [r[0] for r in conn.execute("SELECT rowid FROM chunks ORDER BY rowid")], np.int64
        )
    finally:
        conn.close()
    for doc, texts in content(data).items():
        if texts not in (v1.get(doc), v2.get(doc)):
            found.append(f"document {doc} is neither its old nor its new version")
    vector_file = data / manifest["vector_file"]
    if not vector_file.is_file() or file_digest(vector_file) != manifest["vector_sha256"]:
        found.append("the manifest's vector file is missing or does not match its digest")
    if manifest["vector_generation"] != gen1 and manifest["vector_ids_sha256"] != ids_digest(
        chunk_ids
    ):
        found.append("a new vector generation that does not hold the chunk rows")
    return found


def answers(data: Path) -> list[str]:
    """Open the store as the service does and query it; what went wrong ([] when it answers)."""
    found: list[str] = []
    store = SQLiteStore(data)
    try:
        store.open_vectors()
        embedder = HashEmbedder()
        groups = frozenset({"public"})
        dense = store.dense_search(embedder.embed_query("budget office travel"), groups, 5)
        lexical = store.lexical_search('"budget"', groups, 5)
        # Dense search serves the generation it could load: after a failed rebuild (disk still
        # full) that is the previous one, whose replaced chunks no longer take slots, so it may
        # find fewer than k; with a current generation it must find k. Lexical always must.
        current = store.manifest()["vector_ids_sha256"] == ids_digest(
            np.array([r[0] for r in store.execute("SELECT rowid FROM chunks ORDER BY rowid")])
        )
        if len(lexical) != 5 or (current and len(dense) != 5):
            found.append(f"search answered {len(dense)} dense / {len(lexical)} lexical hits")
        known = {r[0] for r in store.execute("SELECT rowid FROM chunks")}
        if any(p.chunk.id not in known for p in dense):
            found.append("dense search returned a chunk that is not stored")
    finally:
        store.close()
    return found


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("corpora")
    return make_corpus(folder / "v1", 60, seed=1), make_corpus(folder / "v2", 200, seed=2)


@pytest.fixture(scope="module")
def references(
    corpora: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], str, int]:
    """(store after v1, v1 content, v2 content, v1's vector generation, peak bytes v2 needs)."""
    folder = tmp_path_factory.mktemp("reference")
    base, full = folder / "base", folder / "full"
    assert run_ingest(base, corpora[0]).returncode == 0
    shutil.copytree(base, full)
    assert run_ingest(full, corpora[1]).returncode == 0
    conn = sqlite3.connect(base / DB_NAME)
    generation = dict(conn.execute("SELECT key, value FROM manifest").fetchall())
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    wal = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] * (page + 24)
    conn.close()
    grown = sum(p.stat().st_size for p in full.iterdir()) - sum(
        p.stat().st_size for p in base.iterdir()
    )
    return base, content(base), content(full), generation["vector_generation"], wal + grown


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a tmpfs needs root; the rlimit variant covers this row")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def outcome(run: subprocess.CompletedProcess[str], data: Path, v2: dict, gen1: str) -> str:
    """One line for the report: exit code, the error line, how far the ingest got."""
    error = next((ln for ln in run.stderr.splitlines() if ln.startswith("error:")), "")
    stored = content(data)
    conn = sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True)
    generation = conn.execute(
        "SELECT value FROM manifest WHERE key = 'vector_generation'"
    ).fetchone()[0]
    conn.close()
    new = sum(stored.get(doc) == texts for doc, texts in v2.items())
    kept = "previous" if generation == gen1 else "new"
    return f"exit {run.returncode}, {new}/{len(v2)} v2 documents, {kept} vectors, {error[:90]}"


def check_failure(run: subprocess.CompletedProcess[str], point: str) -> list[str]:
    found = []
    if run.returncode == 0:
        return []  # it fitted: not a fill point, still checked below
    if run.returncode not in (1, 2) or "Traceback" in run.stderr:
        found.append(f"{point}: exit {run.returncode}, stderr tail {run.stderr[-600:]!r}")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    if len(errors) != 1:
        found.append(f"{point}: expected one 'error:' line, got {run.stderr[-400:]!r}")
    return found


def test_disk_full_tmpfs(
    tmpfs: Path, corpora: tuple[Path, Path], references: tuple, tmp_path: Path
) -> None:
    base, v1, v2, gen1, peak = references
    failures: list[str] = []
    points = 0
    for fraction in FRACTIONS:
        data = tmpfs / f"data-{uuid.uuid4().hex[:6]}"
        shutil.copytree(base, data)
        ballast = tmpfs / "ballast"
        room = int(fraction * peak)
        with open(ballast, "wb") as handle:
            handle.write(b"\0" * max(free_bytes(tmpfs) - room, 0))
        point = f"{room} bytes free"
        run = run_ingest(data, corpora[1])
        failed = check_failure(run, point)
        if run.returncode != 0:
            points += 1
        failures += failed
        print(f"{point}: {outcome(run, data, v2, gen1)}")
        failures += [f"{point}: {p}" for p in problems(data, v1, v2, gen1)]
        failures += [f"{point}: {p}" for p in answers(data)]
        ballast.unlink()
        again = run_ingest(data, corpora[1])
        if again.returncode != 0 or content(data) != v2 or problems(data, v1, v2, gen1):
            failures.append(f"{point}: re-run with room did not finish: {again.stderr[-300:]!r}")
        shutil.rmtree(data)
    assert points >= 10
    assert not failures, "\n".join(failures)


def test_disk_full_rlimit(corpora: tuple[Path, Path], references: tuple, tmp_path: Path) -> None:
    base, v1, v2, gen1, peak = references
    largest = max(p.stat().st_size for p in base.iterdir())
    failures: list[str] = []
    points = 0
    for fraction in FRACTIONS:
        data = tmp_path / f"data-{fraction}"
        shutil.copytree(base, data)
        limit = largest + int(fraction * (0.75 * peak - largest))  # below the WAL peak
        point = f"files capped at {limit} bytes"
        run = run_ingest(data, corpora[1], fsize_limit=limit)
        if run.returncode != 0:
            points += 1
        failures += check_failure(run, point)
        print(f"{point}: {outcome(run, data, v2, gen1)}")
        failures += [f"{point}: {p}" for p in problems(data, v1, v2, gen1)]
        failures += [f"{point}: {p}" for p in answers(data)]
        again = run_ingest(data, corpora[1])
        if again.returncode != 0 or content(data) != v2 or problems(data, v1, v2, gen1):
            failures.append(f"{point}: re-run with room did not finish: {again.stderr[-300:]!r}")
    assert points >= 10
    assert not failures, "\n".join(failures)
