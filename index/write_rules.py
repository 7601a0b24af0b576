"""Checks and rules every Store applies when it writes, so the SQLite and PostgreSQL stores
refuse the same things with the same messages and keep the same rows."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

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


def aliases_to_drop(
    before: Collection[tuple[str, str, str | None]],
    targets: Mapping[str, str],
    source: str,
    complete: bool,
    gone: Callable[[str], bool],
) -> list[str]:
    """Which of a site's stored (alias, target, source) rows a complete read of the dump
    `source` drops: those it, no known dump or a gone dump recorded that it no longer holds
    (a split dump's other parts keep theirs)."""
    if not complete:
        return []
    return [
        alias
        for alias, _, recorded_by in before
        if alias not in targets and (recorded_by in (None, source) or gone(recorded_by))
    ]


def titles_to_refresh(
    before: Collection[tuple[str, str, str | None]], targets: Mapping[str, str], dropped: list[str]
) -> set[str]:
    """Pages whose searchable title changes: new targets and the pages that lost an alias."""
    gone_from = {target for alias, target, _ in before if alias in dropped or alias in targets}
    return gone_from | set(targets.values())
