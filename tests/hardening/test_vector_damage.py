"""Row 18, vector file damage, beyond tests/index/test_store.py (missing, truncated,
bit-flipped, an older generation swapped in, chunks written but not published):

- a readable file whose digest *was* recorded but which holds the wrong dimension, the wrong
  number of vectors, or a pickle (what a buggy writer could leave): refused at open, rebuilt;
- a special file where the vector file should be (folder, FIFO, /dev/zero, a link out of
  the data folder): refused without blocking or reading forever, rebuilt;
- leftovers of a publish that died (a newer-numbered file the manifest never named, a temp
  file): never loaded, removed by the next publish;
- a running reader whose next generation arrives damaged: keeps serving the last good one.

"Never served" is checked by what dense search returns after the damage: exactly the chunks
the store holds, for the caller's groups.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder

from index.search import dense_top_k
from index.store import SQLiteStore
from index.types import Chunk, Document, Section
from index.vectors import ExactIndex, FaissIndex, file_digest, ids_digest

pytestmark = pytest.mark.hardening

PUBLIC = frozenset({"public"})
HR = frozenset({"hr"})
TEXTS = {"a": "alpha apples orchard", "b": "beta bicycles garage", "s": "salary secret bands"}


def write(store: SQLiteStore, embedder: HashEmbedder, doc_id: str, groups=PUBLIC) -> None:
    text = TEXTS[doc_id]
    document = Document(
        doc_id,
        f"/src/{doc_id}",
        doc_id.upper(),
        "text",
        (Section((), text),),
        groups=frozenset(groups),
        content_hash=f"h-{doc_id}",
    )
    store.check_embedder(embedder.model_id, embedder.dim)
    store.write_document(
        document, [Chunk(doc_id, text, (), 0, 5)], embedder.embed_documents([text])
    )


def built(tmp_path: Path, kind: str) -> tuple[SQLiteStore, HashEmbedder, int]:
    embedder = HashEmbedder()
    store = SQLiteStore(tmp_path / "d", vector_kind=kind)
    for doc_id, groups in (("a", PUBLIC), ("b", PUBLIC), ("s", HR)):
        write(store, embedder, doc_id, groups)
    return store, embedder, store.publish_vectors()


def vector_path(store: SQLiteStore) -> Path:
    return store.data_dir / store.manifest()["vector_file"]


def assert_rebuilt_and_correct(tmp_path: Path, kind: str, embedder, generation: int) -> None:
    reopened = SQLiteStore(tmp_path / "d", vector_kind=kind)
    try:
        reopened.open_vectors()
        manifest = reopened.manifest()
        assert int(manifest["vector_generation"]) == generation + 1  # a fresh generation
        assert manifest["vector_ids_sha256"] == ids_digest(reopened._chunk_ids())
        for doc_id in ("a", "b"):
            found = dense_top_k(reopened, embedder, TEXTS[doc_id], PUBLIC, 5)
            assert found and found[0].document.id == doc_id
            assert {p.document.id for p in found} == {"a", "b"}  # never the hr chunk
        assert dense_top_k(reopened, embedder, TEXTS["s"], HR, 1)[0].document.id == "s"
    finally:
        reopened.close()


@pytest.mark.parametrize("kind", ["faiss", "exact"])
@pytest.mark.parametrize("damage", ["wrong dimension", "wrong count", "pickle"])
def test_recorded_but_wrong_files_are_rebuilt(tmp_path, kind, damage):
    store, embedder, generation = built(tmp_path, kind)
    path = vector_path(store)
    marker = tmp_path / "pickle-ran"
    if damage == "wrong dimension":
        other = (FaissIndex if kind == "faiss" else ExactIndex)(embedder.dim // 2)
        other.add(np.array([1, 2, 3]), np.eye(3, embedder.dim // 2, dtype=np.float32))
        other.save(str(path))
    elif damage == "wrong count":
        fewer = (FaissIndex if kind == "faiss" else ExactIndex)(embedder.dim)
        fewer.add(np.array([1]), embedder.embed_documents([TEXTS["s"]]))
        fewer.save(str(path))
    else:

        class Payload:
            def __reduce__(self):
                return (Path.write_text, (marker, "ran"))

        evil = np.array([Payload()], dtype=object)
        with open(path, "wb") as handle:
            np.savez(handle, ids=evil, matrix=evil)
        if kind == "faiss":
            path.write_bytes(pickle.dumps(Payload()))
    # The manifest is made to agree with the bad file, as a buggy writer would have left it.
    store.set_manifest(vector_sha256=file_digest(path))
    store.close()
    assert_rebuilt_and_correct(tmp_path, kind, embedder, generation)
    assert not marker.exists()  # nothing was unpickled


@pytest.mark.timeout(30)
@pytest.mark.parametrize("special", ["folder", "fifo", "dev-zero", "link-outside"])
def test_special_files_in_place_of_the_vectors_are_rebuilt_without_blocking(tmp_path, special):
    store, embedder, generation = built(tmp_path, "faiss")
    path = vector_path(store)
    outside = tmp_path / "outside.faiss"
    outside.write_bytes(path.read_bytes())  # even a byte-identical copy is not followed
    path.unlink()
    if special == "folder":
        path.mkdir()
    elif special == "fifo":
        os.mkfifo(path)
    elif special == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.symlink_to(outside)
    store.close()
    if special == "link-outside":
        # A link to identical bytes passes the digest: it may be loaded, but answers stay right.
        reopened = SQLiteStore(tmp_path / "d")
        reopened.open_vectors()
        found = dense_top_k(reopened, embedder, TEXTS["a"], PUBLIC, 5)
        assert {p.document.id for p in found} == {"a", "b"}
        reopened.close()
        return
    assert_rebuilt_and_correct(tmp_path, "faiss", embedder, generation)


def test_leftovers_of_a_dead_publish_are_never_loaded_and_are_removed(tmp_path):
    store, embedder, generation = built(tmp_path, "faiss")
    # A newer generation that was renamed into place but never recorded (a crash in between),
    # holding vectors of a chunk that no longer exists; and an abandoned temp file.
    ghost = FaissIndex(embedder.dim)
    ghost.add(np.array([999]), embedder.embed_documents(["ghost vector"]))
    ghost_path = store.data_dir / f"vectors-{generation + 1:06d}.faiss"
    ghost.save(str(ghost_path))
    temp = store.data_dir / ".vectors-abandoned.tmp"
    temp.write_bytes(b"half written")
    store.close()
    reopened = SQLiteStore(tmp_path / "d")
    reopened.open_vectors()
    assert reopened.manifest()["vector_generation"] == str(generation)  # the recorded one
    assert dense_top_k(reopened, embedder, "ghost vector", PUBLIC, 5)[0].document.id in {"a", "b"}
    write(reopened, embedder, "a")  # rewrite: the next publish cleans the folder
    reopened.publish_vectors()
    assert not temp.exists()
    names = sorted(p.name for p in reopened.data_dir.glob("vectors-*"))
    assert names == [reopened.manifest()["vector_file"]]
    reopened.close()


def test_a_running_reader_keeps_its_good_generation_when_the_next_is_damaged(tmp_path):
    store, embedder, _ = built(tmp_path, "faiss")
    reader = SQLiteStore(tmp_path / "d")
    reader.open_vectors()
    assert dense_top_k(reader, embedder, TEXTS["a"], PUBLIC, 1)[0].document.id == "a"
    store.delete_documents(["b"])
    store.publish_vectors()
    damaged = vector_path(store)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    # The reader notices the new generation, refuses it and keeps answering from memory;
    # the deleted document's vector may still be in the old index, but is never returned.
    found = dense_top_k(reader, embedder, TEXTS["b"], PUBLIC, 5)
    assert [p.document.id for p in found] == ["a"]
    assert all(p.document.id != "s" for p in dense_top_k(reader, embedder, TEXTS["s"], PUBLIC, 5))
    reader.close()
    store.close()
