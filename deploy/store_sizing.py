"""Disk per chunk, online backup and FAISS rebuild times of the embedded store, measured.

    nice -n 10 .venv/bin/python deploy/store_sizing.py [--documents 1000] [--chunks 50] [--runs 3]

Writes a synthetic store (120-word texts, random unit 384-d vectors, one transaction per
document as ingest does) into a temporary folder, then reports: bytes per chunk of SQLite and of
the FAISS file; the time of `sqlite3 .backup` (the online backup API) and of an integrity check
of the copy; and the time to rebuild the FAISS generation from the stored embeddings when the
file is missing (what a restore of the database alone costs at start-up). Medians of --runs.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from index.store import DB_NAME, SQLiteStore
from index.types import Chunk, Document, Section

WORDS = (
    "leave budget office travel canteen badge laptop review payroll bike ferry policy manager "
    "contract holiday salary pension training security access meeting report project deadline"
).split()


def fill(folder: Path, documents: int, chunks: int, dim: int = 384) -> int:
    rng = random.Random(1)
    vectors = np.random.default_rng(1)
    store = SQLiteStore(folder)
    store.check_embedder("synthetic", dim)
    for d in range(documents):
        text = " ".join(rng.choice(WORDS) for _ in range(120))
        document = Document(
            id=f"doc-{d}",
            source=f"synthetic/{d}.txt",
            title=f"Document {d}",
            kind="text",
            sections=(Section(heading_path=(), text=text),),
            content_hash=f"{d:064x}",
        )
        pieces = [
            Chunk(document.id, " ".join(rng.choice(WORDS) for _ in range(120)), ("Part",), i, 160)
            for i in range(chunks)
        ]
        matrix = vectors.standard_normal((chunks, dim)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        store.write_document(document, pieces, matrix)
    store.publish_vectors()
    store.close()
    return documents * chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        started = time.perf_counter()
        total = fill(data, args.documents, args.chunks)
        print(f"{total} chunks written in {time.perf_counter() - started:.1f} s")
        db = (data / DB_NAME).stat().st_size
        (vector_file,) = data.glob("vectors-*.faiss")
        faiss_bytes = vector_file.stat().st_size
        print(
            f"SQLite {db / 1e6:.1f} MB ({db / total / 1024:.2f} KiB/chunk), "
            f"FAISS {faiss_bytes / 1e6:.1f} MB ({faiss_bytes / total / 1024:.2f} KiB/chunk)"
        )
        backups, checks, rebuilds = [], [], []
        for run in range(args.runs):
            copy = Path(tmp) / f"backup-{run}.sqlite3"
            began = time.perf_counter()
            subprocess.run(["sqlite3", str(data / DB_NAME), f".backup '{copy}'"], check=True)
            backups.append(time.perf_counter() - began)
            began = time.perf_counter()
            result = subprocess.run(
                ["sqlite3", str(copy), "PRAGMA integrity_check"],
                check=True,
                capture_output=True,
                text=True,
            )
            checks.append(time.perf_counter() - began)
            assert result.stdout.strip() == "ok", result.stdout
            restored = Path(tmp) / f"restored-{run}"
            restored.mkdir()
            shutil.move(copy, restored / DB_NAME)
            store = SQLiteStore(restored)
            began = time.perf_counter()
            store.open_vectors()  # the manifest's file is missing: rebuilt from embeddings
            rebuilds.append(time.perf_counter() - began)
            store.close()
            shutil.rmtree(restored)
        print(
            f"online backup median {statistics.median(backups):.2f} s, integrity check "
            f"{statistics.median(checks):.2f} s, FAISS rebuild on restore "
            f"{statistics.median(rebuilds):.2f} s (runs: "
            f"{', '.join(f'{r:.2f}' for r in rebuilds)})"
        )


if __name__ == "__main__":
    main()
