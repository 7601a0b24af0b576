"""The scale-out store: the same Store contract on PostgreSQL with pgvector.

Documents, chunks, ACL rows, aliases and the manifest live in tables (index/pg_schema.py);
embeddings in a pgvector column with an HNSW index; lexical search on a weighted tsvector with a
GIN index. Both searches join the ACL inside the SQL, so restricted chunks never take a top-k
slot. One document's write is one transaction; writers queue on an advisory lock (one writer,
like SQLite) and readers see MVCC snapshots, so replicas never read a torn document. There is
no derived vector file: a "generation" is only a counter in the manifest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import IsolationLevel
from psycopg_pool import ConnectionPool, PoolTimeout

from index import pg_schema
from index.errors import NoIndexError, StoreError, StoreUnavailableError
from index.migrations import say_upgraded
from index.pg_queries import (
    DENSE_SQL,
    EXACT_DENSE_SQL,
    FIRST_CHUNK_GROUPS,
    LEXICAL_SQL,
    READABLE,
    READABLE_STATISTICS_SQL,
    TERM_STATISTICS_SQL,
    clean_text,
    documents_by_pk,
    first_line,
    insert_acl,
    insert_chunks,
    insert_document,
    match_terms,
    passages,
    site_aliases,
)
from index.protocols import Vectors
from index.types import Chunk, Document, Passage, StoredDocument
from index.write_rules import (
    aliases_to_drop,
    check_same_embedder,
    checked_embeddings,
    titles_to_refresh,
)

log = logging.getLogger(__name__)

DEFAULT_EF_SEARCH = 40
READY_TIMEOUT_S = 2.0  # how long /readyz waits for a connection before saying "not ready"


def _configure(conn: psycopg.Connection) -> None:
    """Per-connection set-up: vector types, UTC timestamps, HNSW iterative index scans."""
    register_vector(conn)
    conn.execute("SET timezone = 'UTC'")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.commit()


# How long a request waits for a pooled connection before its 503: with the database down,
# 30 s (the connect timeout) kept every request, /api/info included, hanging that long.
WAIT_S = 8.0
# A group set's readable-chunk count and average length (BM25's statistics) are taken again
# after this long.
READABLE_STATISTICS_S = 30.0
MAX_COUNTED_GROUP_SETS = 64  # per-user group sets (proxy headers) must not pile up


class PostgresStore:
    """Documents, chunks, ACL, full-text and vectors in one PostgreSQL database.

    Thread-safe: every call borrows a pooled connection for one transaction. Reads run in
    REPEATABLE READ READ ONLY transactions (one snapshot for search and hydration).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        timeout: float = 30.0,
        wait: float = WAIT_S,
        create: bool = True,
    ) -> None:
        """Opens the store, creating or upgrading its schema; with `create` False, a database
        without Hearth's schema raises NoIndexError and is left untouched."""
        self.url = url
        self._timeout = wait  # what a request waits for a connection
        self._readable_statistics: dict[frozenset[str], tuple[float, int, int, float]] = {}
        try:
            with psycopg.connect(url, connect_timeout=int(timeout)) as conn:
                if not create and not pg_schema.has_schema(conn):
                    raise NoIndexError("there is no Hearth index in this database yet")
                applied = pg_schema.migrate(conn)
                say_upgraded("the database", applied, [n for n, _ in pg_schema.MIGRATIONS])
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL store: {first_line(exc)}") from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=wait,
            configure=_configure,
            check=ConnectionPool.check_connection,  # a restarted server costs no failed call
            open=False,
            name="hearth",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreError("cannot connect to the PostgreSQL store (timed out)") from None

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def reachable(self) -> bool:
        """A `SELECT 1` within READY_TIMEOUT_S (not the pool's full wait)."""
        try:
            with self._pool.connection(timeout=READY_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
        except (PoolTimeout, psycopg.Error):
            return False
        return True

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """A database that cannot be reached, or no connection free in time: a retryable
        StoreUnavailableError (a 503) with a one-line reason."""
        try:
            yield
        except PoolTimeout:
            raise StoreUnavailableError(
                f"no connection to the PostgreSQL store within {self._timeout:.0f} s: is it "
                "running and reachable?"
            ) from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the PostgreSQL store failed: {first_line(exc)}") from None

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[psycopg.Cursor[Any]]:
        with self._unavailable(), self._pool.connection() as conn:
            conn.isolation_level = (
                IsolationLevel.READ_COMMITTED if write else IsolationLevel.REPEATABLE_READ
            )
            conn.read_only = not write
            with conn.transaction(), conn.cursor() as cur:
                if write:
                    cur.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)",
                        (pg_schema.LOCK_NAMESPACE, pg_schema.WRITE_LOCK),
                    )
                yield cur

    @contextmanager
    def service_transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """A read-write READ COMMITTED transaction without the writer lock, for the service's
        own tables (keys, conversations, feedback): they must not wait for an ingest."""
        with self._unavailable(), self._pool.connection() as conn:
            conn.isolation_level = IsolationLevel.READ_COMMITTED
            conn.read_only = False
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    def _read(self) -> Any:
        return self._transaction(write=False)

    def _write(self) -> Any:
        """One transaction holding the writer lock: all of it commits, or none of it does."""
        return self._transaction(write=True)

    @staticmethod
    def _manifest(cur: psycopg.Cursor[Any]) -> dict[str, str]:
        return dict(cur.execute("SELECT key, value FROM manifest").fetchall())

    @staticmethod
    def _set(cur: psycopg.Cursor[Any], values: dict[str, str]) -> None:
        cur.executemany(
            "INSERT INTO manifest(key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def manifest(self) -> dict[str, str]:
        """The manifest as a dict (embedder, dim, vector generation, last ingest, ...)."""
        with self._read() as cur:
            return self._manifest(cur)

    def set_manifest(self, **values: str) -> None:
        with self._write() as cur:
            self._set(cur, values)

    def check_embedder(self, model_id: str, dim: int) -> None:
        """Record the embedder (and type the vector column) on first use; refuse another."""
        with self._write() as cur:
            stored = self._manifest(cur)
            if "embedder" not in stored:
                self._set(cur, {"embedder": model_id, "dim": str(dim)})
                pg_schema.set_vector_dim(cur, dim)
                return
        check_same_embedder(stored, model_id, dim, "database")

    # -- writing --------------------------------------------------------------------------

    def write_document(
        self, document: Document, chunks: Sequence[Chunk], embeddings: Vectors
    ) -> None:
        """Replace `document` with its chunks, ACL rows and embeddings, atomically."""
        matrix = checked_embeddings(document, chunks, embeddings)
        with self._write() as cur:
            dim = self._manifest(cur).get("dim")
            if chunks and (dim is None or matrix.shape[1] != int(dim)):
                raise StoreError(
                    f"embeddings of {matrix.shape[1]} dimensions do not fit this index "
                    f"({dim or 'no embedder recorded'}); record the embedder first"
                )
            cur.execute("DELETE FROM documents WHERE id = %s", (document.id,))
            document_pk = insert_document(cur, document)
            if not chunks:
                return
            title = " ".join([document.title, *document.aliases, *site_aliases(cur, document)])
            chunk_ids = insert_chunks(cur, document_pk, chunks, matrix, title)
            insert_acl(cur, chunk_ids, document.groups)

    def set_groups(self, document_id: str, groups: frozenset[str]) -> None:
        """Change who may read a document without re-embedding it; effective at commit."""
        if not groups:
            raise StoreError(f"document {document_id!r} would have no groups")
        with self._write() as cur:
            chunk_ids = [
                r[0]
                for r in cur.execute(
                    "SELECT c.id FROM chunks c JOIN documents d ON d.pk = c.document_pk"
                    " WHERE d.id = %s",
                    (document_id,),
                )
            ]
            cur.execute("DELETE FROM acl WHERE chunk_id = ANY(%s::bigint[])", (chunk_ids,))
            insert_acl(cur, chunk_ids, groups)

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        """Remove documents and everything derived from them; returns how many existed."""
        ids = [clean_text(i) for i in document_ids]
        if not ids:
            return 0
        with self._write() as cur:
            cur.execute("DELETE FROM documents WHERE id = ANY(%s::text[])", (ids,))
            return cur.rowcount

    def set_aliases(
        self,
        site: str,
        source: str,
        pairs: Iterable[tuple[str, str]],
        *,
        complete: bool = True,
        gone: Callable[[str], bool] = lambda source: False,
    ) -> None:
        """Record a dump's wiki redirects; drop the ones it no longer holds (see the protocol)."""
        targets = {clean_text(alias): clean_text(target) for alias, target in pairs}
        with self._write() as cur:
            before = cur.execute(
                "SELECT alias, target, source FROM aliases WHERE site = %s", (site,)
            ).fetchall()
            dropped = aliases_to_drop(before, targets, source, complete, gone)
            cur.execute(
                "DELETE FROM aliases WHERE site = %s AND alias = ANY(%s::text[])", (site, dropped)
            )
            cur.executemany(
                "INSERT INTO aliases(site, alias, target, source) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (site, alias) DO UPDATE SET target = excluded.target,"
                " source = excluded.source",
                [(site, alias, target, source) for alias, target in targets.items()],
            )
            cur.execute(
                "UPDATE chunks c SET search_title = concat_ws(' ', d.title,"
                " array_to_string(d.aliases, ' '), (SELECT string_agg(a.alias, ' ' ORDER BY"
                " a.alias) FROM aliases a WHERE a.site = %(site)s AND a.target = d.title))"
                " FROM documents d WHERE c.document_pk = d.pk AND d.kind = 'wiki'"
                " AND d.title = ANY(%(targets)s::text[]) AND starts_with(d.id, %(prefix)s)",
                {
                    "site": site,
                    "targets": sorted(titles_to_refresh(before, targets, dropped)),
                    "prefix": f"{site}:",
                },
            )

    # -- vectors ---------------------------------------------------------------------------

    def publish_vectors(self) -> int:
        """Nothing to build (the HNSW index follows every commit): bump the generation."""
        with self._write() as cur:
            manifest = self._manifest(cur)
            if "dim" not in manifest:
                return -1
            generation = int(manifest.get("vector_generation", "0")) + 1
            count = cur.execute("SELECT count(*) FROM chunks").fetchone()
            self._set(
                cur,
                {
                    "vector_generation": str(generation),
                    "vector_kind": "pgvector-hnsw",
                    "vector_count": str(count[0] if count else 0),
                },
            )
        return generation

    def open_vectors(self) -> None:
        """A cheap check that the column is typed for the recorded embedder and indexed."""
        with self._read() as cur:
            dim = self._manifest(cur).get("dim")
            if dim is None:
                return  # nothing ingested yet
            typed = pg_schema.vector_dim(cur)
            indexed = pg_schema.has_vector_index(cur) or int(dim) > pg_schema.HNSW_MAX_DIM
        if typed == int(dim) and indexed:
            return
        log.warning("the embedding column or its HNSW index is missing; rebuilding it")
        try:
            with self._write() as cur:
                pg_schema.set_vector_dim(cur, int(dim))  # also builds a missing index
        except psycopg.Error as exc:
            raise StoreError(f"cannot repair the vector index: {first_line(exc)}") from None

    # -- reading ---------------------------------------------------------------------------

    def dense_search(self, query: Vectors, groups: frozenset[str], k: int) -> list[Passage]:
        """Vector top-k among the chunks `groups` may read (the filter is inside the search)."""
        if not groups or k <= 0:
            return []
        params = {
            "q": np.ascontiguousarray(query, dtype=np.float32).reshape(-1),
            "groups": sorted(groups),
            "k": k,
        }
        with self._read() as cur:
            if k > DEFAULT_EF_SEARCH:
                cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(k),))
            rows = cur.execute(DENSE_SQL, params).fetchall()
            if len(rows) < k:
                rows = self._exact_dense(cur, params)
            rows.sort(key=lambda r: (r[1], r[0]))  # relaxed_order may be slightly out of order
            return passages(cur, [r[0] for r in rows], [-r[1] for r in rows], groups)

    def _exact_dense(self, cur: psycopg.Cursor[Any], params: dict[str, Any]) -> list[Any]:
        return cur.execute(EXACT_DENSE_SQL, params).fetchall()

    def lexical_search(self, match: str, groups: frozenset[str], k: int) -> list[Passage]:
        """Full-text top-k by BM25 among the readable chunks, for an OR-expression of quoted
        terms."""
        terms = match_terms(match)
        if not groups or k <= 0 or not terms:
            return []
        with self._read() as cur:
            readable, average_length = self._readable_corpus(cur, groups)
            params = {
                "terms": terms,
                "groups": sorted(groups),
                "k": k,
                "readable": readable,
                "average_length": average_length,
            }
            rows = cur.execute(LEXICAL_SQL, params).fetchall()
            return passages(cur, [r[0] for r in rows], [float(r[1]) for r in rows], groups)

    def _readable_corpus(
        self, cur: psycopg.Cursor[Any], groups: frozenset[str]
    ) -> tuple[int, float]:
        """How many chunks `groups` may read and their average token count: BM25's statistics
        (the whole table's would let restricted chunks move public scores). Taken at most
        every READABLE_STATISTICS_S per group set (they cost ~150 ms at 100,000 chunks), and
        again once chunks were added: a count below a word's hits floors its IDF, and scores
        fell to 1e-6 until the count was taken again."""
        now = time.monotonic()
        newest = cur.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()
        newest_id = int(newest[0]) if newest else 0
        cached = self._readable_statistics.get(groups)
        if cached is None or now - cached[0] > READABLE_STATISTICS_S or cached[1] != newest_id:
            row = cur.execute(READABLE_STATISTICS_SQL, {"groups": sorted(groups)}).fetchone()
            count, average = (int(row[0]), float(row[1])) if row else (0, 1.0)
            cached = (now, newest_id, count, average)
            kept = list(self._readable_statistics.items())[-(MAX_COUNTED_GROUP_SETS - 1) :]
            self._readable_statistics = {**dict(kept), groups: cached}
        return cached[2], cached[3]

    def term_statistics(
        self, terms: Sequence[str], groups: frozenset[str], chunk_ids: Sequence[int]
    ) -> tuple[int, dict[str, int], dict[str, set[int]]]:
        """(readable chunks, chunks holding each term, which of `chunk_ids` hold each term).

        Counted only over chunks `groups` may read, so restricted text cannot sway abstention.
        Terms go through the same parser, stemmer and accent folding as the indexed text.
        """
        terms = list(terms)
        with self._read() as cur:
            total = cur.execute(
                "SELECT count(DISTINCT chunk_id) FROM acl WHERE grp = ANY(%s::text[])",
                (sorted(groups),),
            ).fetchone()
            rows = cur.execute(
                TERM_STATISTICS_SQL,
                {
                    "groups": sorted(groups),
                    "ids": [int(i) for i in chunk_ids],
                    "terms": [clean_text(t) for t in terms],
                },
            ).fetchall()
        frequencies = {term: int(row[1]) for term, row in zip(terms, rows, strict=True)}
        holders = {term: set(row[2]) for term, row in zip(terms, rows, strict=True)}
        return int(total[0]) if total else 0, frequencies, holders

    def embeddings(self, chunk_ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks, in order; unknown ids are skipped."""
        ids = [int(i) for i in chunk_ids]
        with self._read() as cur:
            dim = int(self._manifest(cur).get("dim", "0"))
            rows = dict(
                cur.execute(
                    "SELECT id, embedding FROM chunks WHERE id = ANY(%s::bigint[])",
                    (ids,),
                    binary=True,  # vectors as float32 bytes, not decimal text
                ).fetchall()
            )
        found = [rows[i].to_numpy() for i in ids if i in rows]
        if not found:
            return np.empty((0, dim), dtype=np.float32)
        return np.stack(found).astype(np.float32, copy=False)

    def get_document(self, document_id: str, groups: frozenset[str]) -> StoredDocument | None:
        """A document's metadata if `groups` may read it, else None (same as absent)."""
        if not groups:
            return None
        with self._read() as cur:
            row = cur.execute(
                "SELECT d.pk FROM documents d WHERE d.id = %(id)s AND EXISTS (SELECT 1 FROM"
                " chunks c WHERE c.document_pk = d.pk AND " + READABLE + ")",
                {"id": clean_text(document_id), "groups": sorted(groups)},
            ).fetchone()
            return documents_by_pk(cur, [row[0]]).get(row[0]) if row else None

    def document_chunks(self, document_id: str, groups: frozenset[str]) -> list[Passage]:
        """A readable document's chunks in order (empty if the caller may not read it)."""
        with self._read() as cur:
            ids = [
                r[0]
                for r in cur.execute(
                    "SELECT c.id FROM chunks c JOIN documents d ON d.pk = c.document_pk"
                    " WHERE d.id = %s ORDER BY c.position",
                    (clean_text(document_id),),
                )
            ]
            return passages(cur, ids, [0.0] * len(ids), groups)

    def document_state(
        self, source_prefix: str | None = None
    ) -> dict[str, tuple[str, frozenset[str]]]:
        """document id -> (content hash, groups) for documents whose source is under a prefix."""
        query = f"SELECT d.id, d.content_hash, {FIRST_CHUNK_GROUPS} FROM documents d"
        params: tuple[str, ...] = ()
        if source_prefix is not None:
            query += " WHERE d.source = %s OR starts_with(d.source, %s)"
            params = (clean_text(source_prefix), clean_text(source_prefix).rstrip("/") + "/")
        with self._read() as cur:
            return {row[0]: (row[1], frozenset(row[2])) for row in cur.execute(query, params)}

    def document_state_of(self, document_id: str) -> tuple[str, frozenset[str]] | None:
        """(content hash, groups) of one stored document, or None if it is not stored."""
        with self._read() as cur:
            row = cur.execute(
                f"SELECT d.content_hash, {FIRST_CHUNK_GROUPS} FROM documents d WHERE d.id = %s",
                (clean_text(document_id),),
            ).fetchone()
        return (row[0], frozenset(row[1])) if row else None

    def source_fingerprint(self, source: str) -> tuple[str, list[str]] | None:
        """(fingerprint, document ids) of a completely ingested source whose documents are all
        still stored; None otherwise."""
        with self._read() as cur:
            row = cur.execute(
                "SELECT fingerprint, documents FROM sources WHERE path = %s", (clean_text(source),)
            ).fetchone()
            if row is None:
                return None
            ids = [
                r[0]
                for r in cur.execute(
                    "SELECT id FROM documents WHERE source = %s", (clean_text(source),)
                )
            ]
        return (row[0], ids) if len(ids) == row[1] else None

    def record_source(self, source: str, fingerprint: str, documents: int) -> None:
        """Remember a completely ingested source."""
        with self._write() as cur:
            cur.execute(
                "INSERT INTO sources (path, fingerprint, documents) VALUES (%s, %s, %s)"
                " ON CONFLICT (path) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " documents = excluded.documents",
                (clean_text(source), fingerprint, documents),
            )

    def count_readable(self, groups: frozenset[str]) -> tuple[int, int]:
        """(documents, chunks) that `groups` may read: what a caller is told the corpus holds."""
        with self._read() as cur:
            row = cur.execute(
                "SELECT count(DISTINCT c.document_pk), count(DISTINCT c.id) FROM chunks c"
                " JOIN acl a ON a.chunk_id = c.id WHERE a.grp = ANY(%s::text[])",
                (sorted(groups),),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def last_ingested(self, groups: frozenset[str]) -> str | None:
        with self._read() as cur:
            row = cur.execute(
                "SELECT max(d.ingested_at) FROM documents d WHERE EXISTS (SELECT 1 FROM chunks c"
                f" WHERE c.document_pk = d.pk AND {READABLE})",
                {"groups": sorted(groups)},
            ).fetchone()
        if not row or row[0] is None:
            return None
        return str(row[0].astimezone(UTC).isoformat(timespec="seconds"))

    def list_documents(self, groups: frozenset[str] | None = None) -> list[StoredDocument]:
        query = "SELECT d.pk FROM documents d"
        if groups is not None:
            query += " WHERE EXISTS (SELECT 1 FROM chunks c WHERE c.document_pk = d.pk AND "
            query += READABLE + ")"
        with self._read() as cur:
            pks = [row[0] for row in cur.execute(query, {"groups": sorted(groups or ())})]
            found = documents_by_pk(cur, pks)
        return sorted(found.values(), key=lambda document: document.id)

    def is_empty(self) -> bool:
        with self._read() as cur:
            return cur.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None

    def stats(self) -> dict[str, object]:
        """Counts for `hearth status`: documents and chunks by kind and by group, and size."""
        with self._read() as cur:
            by_kind = cur.execute(
                "SELECT d.kind, count(DISTINCT d.pk), count(c.id) FROM documents d"
                " LEFT JOIN chunks c ON c.document_pk = d.pk GROUP BY d.kind ORDER BY d.kind"
            ).fetchall()
            by_group = cur.execute(
                "SELECT a.grp, count(DISTINCT c.document_pk), count(*) FROM acl a"
                " JOIN chunks c ON c.id = a.chunk_id GROUP BY a.grp ORDER BY a.grp"
            ).fetchall()
            sizes = cur.execute(
                "SELECT (SELECT count(*) FROM aliases), pg_database_size(current_database())"
            ).fetchone()
            published = self._manifest(cur).get("vector_count")
        assert sizes is not None
        chunks = sum(row[2] for row in by_kind)
        return {
            "documents": sum(row[1] for row in by_kind),
            "chunks": chunks,
            "aliases": sizes[0],
            "by_kind": {kind: {"documents": d, "chunks": c} for kind, d, c in by_kind},
            "by_group": {grp: {"documents": d, "chunks": c} for grp, d, c in by_group},
            "data_bytes": sizes[1],
            # pgvector indexes each row as it is written: only the recorded count can lag
            "vectors_behind": int(published or 0) != chunks,
        }

    def execute(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL (%s placeholders) for status reports and integrity checks."""
        with self._read() as cur:
            return cur.execute(query.encode(), tuple(params) or None).fetchall()
