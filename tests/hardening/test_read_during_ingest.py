"""Row 17, reading during ingest: 4 reader threads x 250 queries through the service's
retrieval (its own store connection, as `hearth serve` has) while `hearth ingest` (another
connection) adds, deletes and re-groups documents, publishing a vector generation each run.

Each restricted document names, in its text, the groups that may ever read it; the ingest only
moves it between subsets of those. Pass: 0 errors, 0 ACL violations (a passage shown to a caller
none of whose groups is in its clearance), 0 dangling vector ids (an id the vector search gave
that no longer resolves to a chunk row), and after the last run every vector id is a chunk.
With the hash embedder: bounded in time, no model.
"""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path

import pytest
from fakes import HashEmbedder, ScriptedChatModel

from app.main import build_services
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Principal
from ingest.pipeline import IngestOptions, Ingestor

pytestmark = pytest.mark.hardening

READERS = 4
QUERIES = 250
TOPICS = ["leave", "canteen", "salary", "budget", "merger", "parking", "bikes", "travel"]
CLEARANCES = {  # clearance -> the group sets the ingest moves a document between
    "public": ["public"],
    "hr": ["hr", "hr,board"],
    "finance": ["finance", "finance,board"],
    "board": ["board"],
}
CALLERS = [
    Principal(user="p", groups=frozenset({"public"})),
    Principal(user="h", groups=frozenset({"public", "hr"})),
    Principal(user="f", groups=frozenset({"public", "finance"})),
    Principal(user="b", groups=frozenset({"public", "board"})),
]
CLEARED = re.compile(r"CLEARED-FOR-([a-z,]+)")


def cleared_for(clearance: str) -> set[str]:
    """Every group any of the clearance's group sets names."""
    return {g for groups in CLEARANCES[clearance] for g in groups.split(",")}


def write_corpus(root: Path, rng: random.Random, names: list[str]) -> dict[str, str]:
    """(Re)write the corpus: one folder per clearance, the sidecar picking each file's groups."""
    sidecar = []
    for name in names:
        clearance = name.split("-")[0]
        topic = rng.choice(TOPICS)
        allowed = ",".join(sorted(cleared_for(clearance)))
        path = root / clearance / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"{topic.title()} {name}\n\nNotes about {topic} number {rng.randrange(1000)}."
            f" CLEARED-FOR-{allowed} and more {topic} details.\n"
        )
        groups = rng.choice(CLEARANCES[clearance])
        sidecar.append(f'"{clearance}/{name}.txt": [{groups}]')
    (root / ".hearth-groups.yaml").write_text("\n".join(sidecar) + "\n")
    return {n: n.split("-")[0] for n in names}


@pytest.mark.timeout(300)
def test_readers_see_consistent_allowed_results_while_ingest_changes_the_corpus(tmp_path):
    rng = random.Random(17)
    root, data = tmp_path / "corpus", tmp_path / "data"
    root.mkdir()
    names = [f"{c}-{i}" for c in CLEARANCES for i in range(6)]
    write_corpus(root, rng, names)
    options = IngestOptions(isolate_parsers=False, prune=True)
    writer = SQLiteStore(data, vector_kind="faiss")
    Ingestor(writer, HashEmbedder()).run([root], options)

    reader = SQLiteStore(data, vector_kind="faiss")
    reader.open_vectors()
    services = build_services(Settings(data_dir=data), reader, HashEmbedder(), ScriptedChatModel())
    dangling: list[int] = []
    real_passages = reader._passages

    def counting_passages(chunk_ids, scores, groups):
        passages = real_passages(chunk_ids, scores, groups)
        found = {p.chunk.id for p in passages}
        missing = [i for i in chunk_ids if i not in found]
        if missing:  # dropped: gone from the chunks, or no longer readable by `groups`
            exists = reader._conn.execute(
                f"SELECT rowid FROM chunks WHERE rowid IN ({','.join('?' * len(missing))})",
                missing,
            ).fetchall()
            dangling.extend(sorted(set(missing) - {r[0] for r in exists}))
        return passages

    reader._passages = counting_passages  # type: ignore[method-assign]

    stop = threading.Event()
    errors: list[str] = []
    violations: list[str] = []
    answered = [0] * READERS
    runs = [0]

    def ingest_loop() -> None:
        local = random.Random(71)
        live = list(names)
        ingestor = Ingestor(writer, HashEmbedder())
        while not stop.is_set():
            try:
                for _ in range(3):  # add
                    live.append(f"{local.choice(list(CLEARANCES))}-{local.randrange(10_000)}")
                for _ in range(2):  # delete
                    gone = live.pop(local.randrange(len(live)))
                    (root / gone.split("-")[0] / f"{gone}.txt").unlink(missing_ok=True)
                write_corpus(root, local, live)  # new text and new groups for many
                report = ingestor.run([root], options)
                if report.failed:
                    errors.append(f"ingest: {report.failed[:2]}")
                runs[0] += 1
            except Exception as exc:
                errors.append(f"ingest: {exc!r}")
                return

    def read_loop(index: int) -> None:
        local = random.Random(index)
        for _ in range(QUERIES):
            caller = local.choice(CALLERS)
            question = f"{local.choice(TOPICS)} notes {local.choice(names)}"
            try:
                retrieval = services.rag.retrieve(caller, question, [], 8)
            except Exception as exc:
                errors.append(f"reader {index}: {exc!r}")
                continue
            for passage in retrieval.passages:
                match = CLEARED.search(passage.chunk.text)
                allowed = set(match.group(1).split(",")) if match else set()
                if not allowed & caller.groups:
                    violations.append(f"{caller.user} saw {passage.document.id}")
            answered[index] += 1

    ingest = threading.Thread(target=ingest_loop)
    readers = [threading.Thread(target=read_loop, args=(i,)) for i in range(READERS)]
    ingest.start()
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(timeout=240)
    stop.set()
    ingest.join(timeout=60)

    generation = int(reader.manifest()["vector_generation"])
    chunk_ids = {r[0] for r in writer.execute("SELECT rowid FROM chunks")}
    reader.open_vectors()
    vector_ids = set(reader._current_vectors().ids().tolist())  # type: ignore[union-attr]
    reader.close()
    writer.close()
    print(
        f"\nread during ingest: {sum(answered)} queries by {READERS} readers during {runs[0]} "
        f"ingest runs (last generation {generation}); {len(errors)} errors, "
        f"{len(violations)} ACL violations, {len(dangling)} dangling vector ids"
    )
    assert errors == [], errors[:5]
    assert sum(answered) == READERS * QUERIES
    assert runs[0] >= 2, "the ingest did not overlap the readers"
    assert violations == []
    assert dangling == []
    assert vector_ids == chunk_ids
