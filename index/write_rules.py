"""Checks every Store applies before it writes, so the SQLite and PostgreSQL stores refuse the
same things with the same messages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.errors import EmbedderMismatchError, StoreError
from index.protocols import Vectors
from index.types import Chunk, Document


def check_same_embedder(stored: dict[str, str], model_id: str, dim: int, where: str) -> None:
    """Refuse an embedder other than the one the index was built with (`where`: what to ingest
    into instead)."""
    if stored["embedder"] != model_id or int(stored["dim"]) != dim:
        raise EmbedderMismatchError(
            f"this index was built with embedder {stored['embedder']!r} ({stored['dim']}-d); "
            f"the configured embedder is {model_id!r} ({dim}-d). Use the original embedder "
            f"or ingest into a new {where}."
        )


def checked_embeddings(
    document: Document, chunks: Sequence[Chunk], embeddings: Vectors
) -> np.ndarray:
    """The embeddings as a contiguous float32 matrix, after refusing a document nobody could
    read or chunks without exactly one embedding each."""
    if len(chunks) != len(embeddings):
        raise StoreError("each chunk needs exactly one embedding")
    if not document.groups:
        raise StoreError(f"document {document.id!r} has no groups; nobody could read it")
    return np.ascontiguousarray(embeddings, dtype=np.float32)
