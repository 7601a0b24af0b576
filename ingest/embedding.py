"""Embedding queued documents in batches on a worker thread, and writing them in order.

A batch's chunks are embedded on a worker thread while the next batch is parsed and chunked
(onnxruntime and torch release the GIL); its documents are written by the calling thread once
the vectors are in, so the writes keep their order. Each document is written in its own
transaction, and a source's fingerprint is recorded only after its documents are written, so
a run killed at any point leaves whole documents and parses an unfinished source again.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from index.protocols import Embedder, Store, Vectors
from index.types import PUBLIC_GROUP, Chunk, Document
from ingest.chunker import embedding_text
from ingest.report import IngestReport, Progress

EMBED_BATCH_CHUNKS = 64  # documents are buffered until this many chunks, for efficient batches
EMBED_PROGRESS_SLICE = 256  # the most chunks embedded between two steps of the progress bar


class EmbeddingBatches:
    """Documents queued for embedding and writing, one batch on the worker thread at a time.

    Created once per Ingestor; `start` and `stop` bracket each run (the worker thread)."""

    def __init__(self, store: Store, embedder: Embedder, progress: Progress) -> None:
        self.store = store
        self.embedder = embedder
        self.progress = progress
        self._pending: list[tuple[Document, list[Chunk], bool]] = []
        # Vectors of the stored versions of the pending documents, by embedding text: the
        # chunks an update leaves as they were keep theirs instead of being embedded again.
        self._reusable: dict[str, np.ndarray] = {}
        # Sources parsed completely whose documents may still be pending: their fingerprints
        # are recorded only once those documents are written.
        self._pending_sources: list[tuple[str, str, int]] = []
        # The batch being embedded on the worker thread while the next one is parsed and
        # chunked; written by the calling thread once its vectors are in.
        self._embedding: _Embedding | None = None
        self._thread: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start a run's worker thread."""
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hearth-embed")

    def stop(self) -> None:
        """End a run: an interrupted batch is dropped (its documents stay unwritten) and the
        worker thread is waited for."""
        self._embedding = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)

    def add(
        self,
        document: Document,
        chunks: list[Chunk],
        stored_groups: frozenset[str] | None,
        report: IngestReport,
    ) -> None:
        """Queue a new document (`stored_groups` None) or an update of the stored one, read
        with `stored_groups`; a full batch goes to the worker thread."""
        if stored_groups is not None:
            self._reusable.update(self._stored_vectors(document.id, stored_groups))
        self._pending.append((document, chunks, stored_groups is None))
        if sum(len(c) for _, c, _ in self._pending) >= EMBED_BATCH_CHUNKS:
            self.flush(report)

    def source_done(self, source: str, fingerprint: str, documents: int) -> None:
        """`source` was read whole: its fingerprint is recorded once its documents are written."""
        self._pending_sources.append((source, fingerprint, documents))

    def flush(self, report: IngestReport, wait: bool = False) -> None:
        """Hand the buffered documents to the embedding thread, after writing the batch it
        finished before; with `wait`, also write this one before returning. The fingerprints
        of the sources those documents complete are recorded only after their writes."""
        pending, self._pending = self._pending, []
        sources, self._pending_sources = self._pending_sources, []
        self._write_embedded(report)
        texts = [
            embedding_text(doc.title, chunk.heading_path, chunk.text)
            for doc, chunks, _ in pending
            for chunk in chunks
        ]
        reusable, self._reusable = self._reusable, {}
        kept = {i: reusable[text] for i, text in enumerate(texts) if text in reusable}
        vectors = None
        if texts:
            assert self._thread is not None, "start() a run before flushing"
            vectors = self._thread.submit(self._embed, texts, kept)
        self._embedding = _Embedding(pending, sources, vectors, len(kept))
        if wait:
            self._write_embedded(report)

    def _stored_vectors(self, document_id: str, groups: frozenset[str]) -> dict[str, np.ndarray]:
        """The stored version's vectors by embedding text: editing one paragraph of a long
        document re-embedded all of it (83 chunks, 27 s, for one changed word)."""
        passages = self.store.document_chunks(document_id, groups | {PUBLIC_GROUP})
        vectors = self.store.embeddings([p.chunk.id for p in passages if p.chunk.id is not None])
        if not passages or len(vectors) != len(passages):  # a chunk without its vector: none
            return {}
        return {
            embedding_text(p.document.title, p.chunk.heading_path, p.chunk.text): vector
            for p, vector in zip(passages, vectors, strict=True)
        }

    def _embed(self, texts: list[str], kept: dict[int, np.ndarray]) -> np.ndarray:
        """The texts' vectors, those in `kept` (by position) taken as they are, the others
        embedded a slice at a time so that progress shows as it goes: a large file is one
        batch of thousands of chunks, and the bar stood at 0 for minutes."""
        if kept:
            self.progress.chunks_embedded(len(kept))
        todo = [i for i in range(len(texts)) if i not in kept]
        vectors = np.empty((len(texts), self.embedder.dim), np.float32)
        for index, vector in kept.items():
            vectors[index] = vector
        for start in range(0, len(todo), EMBED_PROGRESS_SLICE):
            part = todo[start : start + EMBED_PROGRESS_SLICE]
            vectors[part] = self.embedder.embed_documents([texts[i] for i in part])
            self.progress.chunks_embedded(len(part))
        return vectors

    def _write_embedded(self, report: IngestReport) -> None:
        """Write the batch handed to the embedding thread (waiting for its vectors), each
        document in its own transaction, then record the sources it completed."""
        batch, self._embedding = self._embedding, None
        if batch is None:
            return
        vectors = (
            batch.vectors.result()
            if batch.vectors is not None
            else np.empty((0, self.embedder.dim), np.float32)  # documents without chunks
        )
        report.chunks_reused += batch.reused
        offset = 0
        for document, chunks, is_new in batch.documents:
            self.store.write_document(document, chunks, vectors[offset : offset + len(chunks)])
            offset += len(chunks)
            report.chunks += len(chunks)
            if is_new:
                report.added += 1
            else:
                report.updated += 1
        for source, fingerprint, documents in batch.sources:
            self.store.record_source(source, fingerprint, documents)


@dataclass
class _Embedding:
    """A batch of documents whose chunks are being embedded, and the sources it completes."""

    documents: list[tuple[Document, list[Chunk], bool]]
    sources: list[tuple[str, str, int]]
    vectors: Future[Vectors] | None  # None when the documents have no chunks
    reused: int = 0  # of the chunks, those whose stored vector was kept
