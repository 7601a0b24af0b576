"""The seams between layers: each has a real implementation, a fake, and a contract test.

Kept deliberately small (Haystack-style Protocols) so a second backend — PostgreSQL + pgvector,
a remote embedder — only has to implement these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from index.types import Chunk, Document, Passage, StoredDocument

Vectors = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors; knows its own token budget."""

    @property
    def model_id(self) -> str:
        """Identifies the model; an index built with one model refuses another."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The window in the model's own tokens; longer text would be truncated silently."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


@runtime_checkable
class VectorIndex(Protocol):
    """An id-addressed inner-product index; ids are chunk rowids."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, ids: Ids, vectors: Vectors) -> None: ...

    def remove(self, ids: Ids) -> None: ...

    def ids(self) -> Ids:
        """Every id held, sorted; lets the store check the index against its chunk rows."""
        ...

    def search(
        self, query: Vectors, k: int, allowed: Ids | None = None
    ) -> tuple[Ids, npt.NDArray[np.float32]]:
        """Top-k ids and scores, considering only `allowed` ids when given (ACL inside search)."""
        ...

    def save(self, path: str) -> None: ...


class Store(Protocol):
    """Documents, chunks, ACL, embeddings and both searches, restricted by groups inside.

    Implemented by SQLiteStore (SQLite + FAISS files) and PostgresStore (PostgreSQL + pgvector);
    one contract-test suite runs against both.
    """

    # identity of the index
    def check_embedder(self, model_id: str, dim: int) -> None:
        """Record the embedder on first use; raise EmbedderMismatchError for another one."""
        ...

    def manifest(self) -> dict[str, str]: ...

    def set_manifest(self, **values: str) -> None: ...

    # writing
    def write_document(
        self, document: Document, chunks: Sequence[Chunk], embeddings: Vectors
    ) -> None:
        """Replace the document and everything derived from it in one transaction."""
        ...

    def set_groups(self, document_id: str, groups: frozenset[str]) -> None: ...

    def delete_documents(self, document_ids: Iterable[str]) -> int: ...

    def set_aliases(
        self,
        site: str,
        source: str,
        pairs: Iterable[tuple[str, str]],
        *,
        complete: bool = True,
        gone: Callable[[str], bool] = lambda source: False,
    ) -> None:
        """Wiki redirects the dump `source` holds: make `alias` find the page titled `target`
        in wiki `site`. When the whole dump was read (`complete`), the site's aliases recorded
        by it, by no known dump (older stores) or by a dump that is `gone` and are not in
        `pairs` are dropped, so a removed, retargeted or restricted redirect stops finding."""
        ...

    def publish_vectors(self) -> int:
        """Make the vectors written so far searchable; returns a generation number."""
        ...

    def open_vectors(self) -> None:
        """Load (or repair) the vector index before serving."""
        ...

    # reading
    def document_state(
        self, source_prefix: str | None = None
    ) -> dict[str, tuple[str, frozenset[str]]]:
        """document id -> (content hash, groups), for documents whose source is under a prefix."""
        ...

    def document_state_of(self, document_id: str) -> tuple[str, frozenset[str]] | None: ...

    def source_fingerprint(self, source: str) -> tuple[str, list[str]] | None:
        """(fingerprint, document ids) recorded for a source file, or None when there is none or
        some document it produced is no longer stored (the file must then be parsed again)."""
        ...

    def record_source(self, source: str, fingerprint: str, documents: int) -> None:
        """Remember that `source`, fingerprinted so, was ingested completely into `documents`."""
        ...

    def get_document(self, document_id: str, groups: frozenset[str]) -> StoredDocument | None: ...

    def document_chunks(self, document_id: str, groups: frozenset[str]) -> list[Passage]: ...

    def lexical_search(self, match: str, groups: frozenset[str], k: int) -> list[Passage]:
        """BM25-style top-k for an OR-expression of quoted terms (see search.fts_query),
        only over chunks `groups` may read."""
        ...

    def dense_search(self, query: Vectors, groups: frozenset[str], k: int) -> list[Passage]:
        """Vector top-k, only chunks `groups` may read."""
        ...

    def term_statistics(
        self, terms: Sequence[str], groups: frozenset[str], chunk_ids: Sequence[int]
    ) -> tuple[int, dict[str, int], dict[str, set[int]]]:
        """Readable chunk count, per-term document frequency, and which chunks hold each term."""
        ...

    def embeddings(self, chunk_ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks, in the given order (unknown ids are skipped)."""
        ...

    def count_readable(self, groups: frozenset[str]) -> tuple[int, int]: ...

    def last_ingested(self, groups: frozenset[str]) -> str | None:
        """When a document `groups` may read was last written (ISO 8601, UTC, seconds), or
        None: what a caller is told of the corpus's freshness (the store-wide time would tell
        them when restricted documents arrive)."""
        ...

    def list_documents(self, groups: frozenset[str] | None = None) -> list[StoredDocument]:
        """Every stored document by id, or only those `groups` may read: what an administrator
        checks access against (`hearth status --documents`)."""
        ...

    def stats(self) -> dict[str, object]: ...

    def is_empty(self) -> bool:
        """Whether the store holds no document: one row looked up, where `stats` counts every
        chunk (slow on a large PostgreSQL store at start-up)."""
        ...

    def reachable(self) -> bool:
        """Whether the store answers now, quickly (for /readyz): a database server may go
        down while the service runs."""
        ...

    def close(self) -> None: ...
