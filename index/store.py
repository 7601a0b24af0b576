"""The embedded store: SQLite (WAL) as the source of truth plus a derived FAISS generation.

SQLite holds documents, chunks, ACL rows, an FTS5 index, embeddings as BLOBs and a manifest.
One document's write is one transaction. The vector file is rebuilt from the stored embeddings
whenever it is missing, damaged or behind the chunk rows, and is only ever loaded after its
SHA-256 matches the manifest. Every search applies the caller's groups inside the query.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from index.bm25 import Corpus, readable_scores, row_lengths
from index.errors import StoreError, VectorIndexError
from index.migrations import MIGRATIONS, migrate, say_upgraded
from index.protocols import Ids, VectorIndex, Vectors
from index.terms import quoted_phrase, quoted_phrases
from index.types import Chunk, Document, Passage, StoredDocument
from index.vectors import (
    ids_digest,
    load_generation,
    new_index,
    remove_stale_files,
    write_generation,
)
from index.write_rules import (
    aliases_to_drop,
    check_same_embedder,
    checked_embeddings,
    titles_to_refresh,
)

log = logging.getLogger(__name__)

DB_NAME = "hearth.sqlite3"
BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another's lock
# FTS5 bm25() column weights: title (with aliases), heading path, body.
BM25_WEIGHTS = (4.0, 2.0, 1.0)


# Readable-id arrays and masks kept per ACL version: one per group set, the most recent ones.
# A mask costs a byte per chunk id; per-user group sets (proxy headers) must not pile up.
MAX_CACHED_GROUP_SETS = 16


_Cached = TypeVar("_Cached")


def _kept(
    cache: dict[tuple[str, frozenset[str]], _Cached],
    key: tuple[str, frozenset[str]],
    value: _Cached,
) -> dict[tuple[str, frozenset[str]], _Cached]:
    """`cache` with `value` under `key`, without entries of older ACL versions and without
    the least recently added entries beyond MAX_CACHED_GROUP_SETS."""
    current = [(k, v) for k, v in cache.items() if k[0] == key[0] and k != key]
    return dict([*current[-(MAX_CACHED_GROUP_SETS - 1) :], (key, value)])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _placeholders(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


@contextmanager
def _write_errors() -> Iterator[None]:
    """Turn a failed write (disk full, file too large, I/O error) into a StoreError with a
    one-line reason; what was committed before stays whole."""
    try:
        yield
    except sqlite3.Error as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise  # callers (open_vectors) tell a busy store from a broken one
        raise StoreError(f"cannot write the store: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot write the store: {exc.strerror or exc}") from None


# What to do when SQLite finds its file damaged ("database disk image is malformed").
_DAMAGED_HINT = "; if the file is damaged, restore it from a backup (deploy/OPERATIONS.md)"


def readable_by_others(data_dir: Path) -> list[str]:
    """The store's files that other users may read (a backup restored with the umask's 0644):
    they hold restricted text, key hashes and conversations."""
    with contextlib.suppress(OSError):
        if not Path(data_dir).stat().st_mode & 0o011:  # a folder only its owner may enter
            return []
    exposed = []
    for path in sorted(Path(data_dir).glob(f"{DB_NAME}*")):
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o044:
                exposed.append(path.name)
    return exposed


def exposure_warning(data_dir: Path, exposed: list[str]) -> str:
    """What `hearth serve` and `hearth status` say about `readable_by_others`' files."""
    return (
        f"other users may read {', '.join(exposed)} in {data_dir}/, which holds restricted "
        f"text, key hashes and conversations: chmod 600 {data_dir}/{DB_NAME}*"
    )


def connect(data_dir: Path) -> sqlite3.Connection:
    """A connection to the data directory's database: WAL, full fsync, foreign keys, migrated.

    Autocommit mode (isolation_level=None): callers open their own transactions explicitly.
    """
    try:
        # Only what Hearth creates is made private: the folder 0700, the database 0600 (it holds
        # restricted text, key hashes and conversations; SQLite gives its -wal and -shm files the
        # database file's mode). An existing folder or database keeps the mode its operator set.
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = data_dir / DB_NAME
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not left in free pages: a deleted
        # conversation must not stay readable in the file. (FTS5's index pages keep a pruned
        # document's words until merged; its secure-delete option needs SQLite 3.42.)
        conn.execute("PRAGMA secure_delete=ON")
        say_upgraded(str(path), migrate(conn), [name for name, _ in MIGRATIONS])
    except (OSError, sqlite3.Error) as exc:
        hint = _DAMAGED_HINT if isinstance(exc, sqlite3.DatabaseError) else ""
        raise StoreError(f"cannot open the store in {str(data_dir)!r}: {exc}{hint}") from None
    return conn


class SQLiteStore:
    """Documents, chunks, ACL, FTS5 and vectors under one data directory.

    Thread-safe through one lock around one connection; readers see committed snapshots (WAL)
    and pick up a newer vector generation on their next search, without a restart.
    """

    def __init__(self, data_dir: Path, *, vector_kind: str = "faiss") -> None:
        self.data_dir = Path(data_dir)
        self.vector_kind = vector_kind
        self._conn = connect(self.data_dir)
        self._lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._vector_generation = -1
        self._allowed_cache: dict[tuple[str, frozenset[str]], Ids] = {}
        self._readable_cache: dict[tuple[str, frozenset[str]], npt.NDArray[np.bool_]] = {}
        self._lengths_cache: tuple[str, npt.NDArray[np.float64]] | None = None

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def reachable(self) -> bool:
        """A file in the data folder: there is no server to lose."""
        return True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all of it commits, or none of it does."""
        with self._lock, _write_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._bump("acl_version")
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after e.g. SQLITE_FULL; a second ROLLBACK
                # would raise and hide the reason.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every statement of a search sees the same committed state, so
        an ingest in another process cannot delete a chunk between finding and reading it."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def _bump(self, key: str) -> None:
        self._conn.execute(
            "INSERT INTO manifest(key, value) VALUES (?, '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key,),
        )

    def manifest(self) -> dict[str, str]:
        """The manifest as a dict (embedder, dim, vector generation, last ingest, ...)."""
        with self._lock:
            return dict(self._conn.execute("SELECT key, value FROM manifest").fetchall())

    def set_manifest(self, **values: str) -> None:
        with self._lock, _write_errors():
            self._conn.executemany(
                "INSERT INTO manifest(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- embedder identity ----------------------------------------------------------------

    def check_embedder(self, model_id: str, dim: int) -> None:
        """Record the embedder on first use; refuse a different one afterwards."""
        with self._write() as conn:
            stored = dict(conn.execute("SELECT key, value FROM manifest").fetchall())
            if "embedder" not in stored:
                conn.executemany(
                    "INSERT INTO manifest(key, value) VALUES (?, ?)",
                    [("embedder", model_id), ("dim", str(dim))],
                )
                return
        check_same_embedder(stored, model_id, dim, "data directory")

    # -- writing --------------------------------------------------------------------------

    def write_document(
        self, document: Document, chunks: Sequence[Chunk], embeddings: Vectors
    ) -> None:
        """Replace `document` with its chunks, FTS rows, ACL rows and embeddings, atomically."""
        matrix = checked_embeddings(document, chunks, embeddings)
        with self._write() as conn:
            conn.execute("DELETE FROM documents WHERE id = ?", (document.id,))
            cursor = conn.execute(
                "INSERT INTO documents(id, source, kind, title, url, modified, revision,"
                " content_hash, categories, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    document.id,
                    document.source,
                    document.kind,
                    document.title,
                    document.url,
                    document.modified.isoformat() if document.modified else None,
                    document.revision,
                    document.content_hash,
                    json.dumps(list(document.categories)),
                    _now(),
                ),
            )
            doc_rowid = cursor.lastrowid
            title_field = " ".join([document.title, *self._aliases_for(document)])
            for chunk, vector in zip(chunks, matrix, strict=True):
                chunk_rowid = conn.execute(
                    "INSERT INTO chunks(document_rowid, position, text, heading_path, anchor,"
                    " page, n_tokens, embedding) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        doc_rowid,
                        chunk.position,
                        chunk.text,
                        json.dumps(chunk.heading_path),
                        chunk.anchor,
                        chunk.page,
                        chunk.n_tokens,
                        vector.tobytes(),
                    ),
                ).lastrowid
                conn.execute(
                    "INSERT INTO chunks_fts(rowid, title, heading, body) VALUES (?,?,?,?)",
                    (chunk_rowid, title_field, " ".join(chunk.heading_path), chunk.text),
                )
                conn.executemany(
                    "INSERT INTO acl(grp, chunk_rowid) VALUES (?, ?)",
                    [(group, chunk_rowid) for group in sorted(document.groups)],
                )

    def set_groups(self, document_id: str, groups: frozenset[str]) -> None:
        """Change who may read a document without re-embedding it; effective at commit."""
        if not groups:
            raise StoreError(f"document {document_id!r} would have no groups")
        with self._write() as conn:
            chunk_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT c.rowid FROM chunks c JOIN documents d ON d.rowid = c.document_rowid"
                    " WHERE d.id = ?",
                    (document_id,),
                )
            ]
            conn.execute(
                f"DELETE FROM acl WHERE chunk_rowid IN ({_placeholders(chunk_ids)})", chunk_ids
            )
            conn.executemany(
                "INSERT INTO acl(grp, chunk_rowid) VALUES (?, ?)",
                [(group, cid) for cid in chunk_ids for group in sorted(groups)],
            )

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        """Remove documents and everything derived from them; returns how many existed."""
        ids = list(document_ids)
        if not ids:
            return 0
        with self._write() as conn:
            return conn.execute(
                f"DELETE FROM documents WHERE id IN ({_placeholders(ids)})", ids
            ).rowcount

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
        targets = dict(pairs)  # alias -> target
        with self._write() as conn:
            before = conn.execute(
                "SELECT alias, target, source FROM aliases WHERE site = ?", (site,)
            ).fetchall()
            dropped = aliases_to_drop(before, targets, source, complete, gone)
            conn.executemany(
                "DELETE FROM aliases WHERE site = ? AND alias = ?", [(site, a) for a in dropped]
            )
            conn.executemany(
                "INSERT INTO aliases(site, alias, target, source) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(site, alias) DO UPDATE SET target = excluded.target,"
                " source = excluded.source",
                [(site, alias, target, source) for alias, target in targets.items()],
            )
            for target in sorted(titles_to_refresh(before, targets, dropped)):
                self._refresh_title(conn, site, target)

    @staticmethod
    def _refresh_title(conn: sqlite3.Connection, site: str, target: str) -> None:
        """The FTS title field of the site's page `target`: its title and its aliases now."""
        rows = conn.execute(
            "SELECT rowid, title FROM documents WHERE kind = 'wiki' AND title = ?"
            " AND id LIKE ? ESCAPE '\\'",
            (target, site.replace("%", "\\%").replace("_", "\\_") + ":%"),
        ).fetchall()
        aliases = [
            alias
            for (alias,) in conn.execute(
                "SELECT alias FROM aliases WHERE site = ? AND target = ? ORDER BY alias",
                (site, target),
            )
        ]
        for doc_rowid, title in rows:
            conn.execute(
                "UPDATE chunks_fts SET title = ? WHERE rowid IN"
                " (SELECT rowid FROM chunks WHERE document_rowid = ?)",
                (" ".join([title, *aliases]), doc_rowid),
            )

    def _aliases_for(self, document: Document) -> list[str]:
        if document.kind != "wiki":
            return list(document.aliases)
        site = document.id.partition(":")[0]
        rows = self._conn.execute(
            "SELECT alias FROM aliases WHERE site = ? AND target = ? ORDER BY alias",
            (site, document.title),
        ).fetchall()
        return [*document.aliases, *(alias for (alias,) in rows)]

    # -- vectors ---------------------------------------------------------------------------

    def _chunk_ids(self) -> Ids:
        rows = self._conn.execute("SELECT rowid FROM chunks ORDER BY rowid").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def publish_vectors(self) -> int:
        """Write a new vector generation holding exactly the current chunk rows; return its number.

        Runs under the write lock, so the generation and the rows it mirrors are one snapshot.
        """
        with self._write() as conn:
            dim = int(self.manifest().get("dim", "0"))
            index = new_index(self.vector_kind, dim) if dim else None
            rows = conn.execute("SELECT rowid, embedding FROM chunks ORDER BY rowid")
            ids: list[int] = []
            while batch := rows.fetchmany(4096):
                if index is None:
                    break
                batch_ids = np.array([r[0] for r in batch], dtype=np.int64)
                matrix = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32)
                index.add(batch_ids, matrix.reshape(len(batch), dim))
                ids.extend(batch_ids.tolist())
            if index is None:
                return -1
            generation = int(self.manifest().get("vector_generation", "0")) + 1
            name, digest = write_generation(index, self.data_dir, generation, self.vector_kind)
            conn.executemany(
                "INSERT INTO manifest(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [
                    ("vector_generation", str(generation)),
                    ("vector_file", name),
                    ("vector_sha256", digest),
                    ("vector_kind", self.vector_kind),
                    ("vector_count", str(len(ids))),
                    ("vector_ids_sha256", ids_digest(np.array(ids, dtype=np.int64))),
                ],
            )
        self._vectors, self._vector_generation = index, generation
        remove_stale_files(self.data_dir, keep={name})
        return generation

    def open_vectors(self) -> None:
        """Load the current generation, or rebuild it if it is missing, damaged or stale.

        "Stale" means its ids differ from the chunk rows (an ingest died before publishing);
        a running ingest will publish itself, so then the valid older generation is kept.
        """
        with self._lock:
            manifest = self.manifest()
            if "dim" not in manifest:
                return  # nothing ingested yet
            try:
                self._load_current(manifest)
            except VectorIndexError as exc:
                log.warning("rebuilding the vector index from stored embeddings: %s", exc)
                self._publish_or_keep()
                return
            if self._vectors_behind(manifest):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.execute("ROLLBACK")
                except sqlite3.OperationalError:
                    return  # an ingest holds the write lock and will publish when done
                log.warning("vector index is behind the stored chunks; rebuilding it")
                self._publish_or_keep()

    def _vectors_behind(self, manifest: dict[str, str]) -> bool:
        """Whether the published vectors are not exactly the chunk rows (an ingest died before
        publishing: equal counts can still hold other ids)."""
        published, ids = manifest.get("vector_ids_sha256"), self._chunk_ids()
        return (published is not None or len(ids) > 0) and published != ids_digest(ids)

    def _publish_or_keep(self) -> None:
        """Rebuild at open; if that cannot be written (disk full), keep serving what loaded: the
        previous valid generation, or none (lexical search still answers)."""
        try:
            self.publish_vectors()
        except StoreError as exc:
            log.error("cannot rebuild the vector index, keeping the loaded one: %s", exc.message)

    def _load_current(self, manifest: dict[str, str]) -> None:
        if "vector_file" not in manifest:
            raise VectorIndexError("no vector generation has been written")
        kind = manifest.get("vector_kind", self.vector_kind)
        index = load_generation(
            self.data_dir / manifest["vector_file"],
            manifest["vector_sha256"],
            kind,
            int(manifest["dim"]),
        )
        if len(index) != int(manifest.get("vector_count", "-1")):
            raise VectorIndexError("vector file holds a different number of vectors")
        self._vectors, self._vector_generation = index, int(manifest["vector_generation"])

    def _current_vectors(self) -> VectorIndex | None:
        """The vector index, reloaded if another process published a newer generation."""
        row = self._conn.execute(
            "SELECT value FROM manifest WHERE key = 'vector_generation'"
        ).fetchone()
        if row is not None and int(row[0]) != self._vector_generation:
            try:
                self._load_current(self.manifest())
            except VectorIndexError as exc:
                log.error("new vector generation rejected, keeping the old one: %s", exc)
                self._vector_generation = int(row[0])
        return self._vectors

    # -- reading ---------------------------------------------------------------------------

    def _acl_key(self, groups: frozenset[str]) -> tuple[str, frozenset[str]]:
        version = self._conn.execute(
            "SELECT value FROM manifest WHERE key = 'acl_version'"
        ).fetchone()
        return (version[0] if version else "0", groups)

    def _readable_mask(self, groups: frozenset[str]) -> npt.NDArray[np.bool_]:
        """mask[rowid] is True when `groups` may read that chunk (rowids past the end: False).

        Cached like the allowed ids, so counting a term's readable postings is a numpy
        gather instead of one ACL probe per posting."""
        key = self._acl_key(groups)
        cached = self._readable_cache.get(key)
        if cached is None:
            allowed = self._allowed_ids(groups)
            cached = np.zeros(int(allowed.max()) + 1 if len(allowed) else 0, dtype=bool)
            cached[allowed] = True
            self._readable_cache = _kept(self._readable_cache, key, cached)
        return cached

    def _allowed_ids(self, groups: frozenset[str]) -> Ids:
        key = self._acl_key(groups)
        cached = self._allowed_cache.get(key)
        if cached is None:
            members = sorted(groups)
            rows = self._conn.execute(
                f"SELECT DISTINCT chunk_rowid FROM acl WHERE grp IN ({_placeholders(members)})",
                members,
            ).fetchall()
            cached = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            self._allowed_cache = _kept(self._allowed_cache, key, cached)
        return cached

    def dense_search(self, query: Vectors, groups: frozenset[str], k: int) -> list[Passage]:
        """Vector top-k among the chunks `groups` may read (the filter is inside the search)."""
        if not groups or k <= 0:
            return []
        with self._lock:
            vectors = self._current_vectors()  # may repair a file: before the snapshot
            if vectors is None:
                return []
            # The allowed ids and the rows they resolve to come from one snapshot: an id the
            # published generation still holds but an in-flight ingest replaced is not allowed
            # there, so it never takes a slot (new chunks join at the run's publish).
            with self._snapshot():
                ids, scores = vectors.search(query, k, allowed=self._allowed_ids(groups))
                return self._passages(ids.tolist(), scores.tolist(), groups)

    def embeddings(self, chunk_ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks, in order; unknown ids are skipped."""
        ids = list(chunk_ids)
        dim = int(self.manifest().get("dim", "0"))
        if not ids or not dim:
            return np.empty((0, dim), dtype=np.float32)
        with self._lock:
            rows = dict(
                self._conn.execute(
                    f"SELECT rowid, embedding FROM chunks WHERE rowid IN ({_placeholders(ids)})",
                    ids,
                ).fetchall()
            )
        blobs = [rows[i] for i in ids if i in rows]
        if not blobs:
            return np.empty((0, dim), dtype=np.float32)
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)

    def term_statistics(
        self, terms: Sequence[str], groups: frozenset[str], chunk_ids: Sequence[int]
    ) -> tuple[int, dict[str, int], dict[str, set[int]]]:
        """(readable chunks, document frequency per term, which of `chunk_ids` hold each term).

        Counted only over chunks `groups` may read, so restricted text cannot sway abstention.
        Terms go through FTS5's own tokenizer (quoted), matching how chunks were indexed.
        """
        ids = sorted(set(chunk_ids))
        frequencies: dict[str, int] = {}
        holders: dict[str, set[int]] = {}
        with self._snapshot():
            readable = self._readable_mask(groups)
            total = int(np.count_nonzero(readable))
            for term in terms:
                # A term's postings as one string (an ACL probe per posting cost ~0.5 us each,
                # ~10 ms per query at 100k chunks), then counted against the cached mask.
                (postings,) = self._conn.execute(
                    "SELECT group_concat(rowid) FROM chunks_fts WHERE chunks_fts MATCH ?",
                    ('"' + term.replace('"', "") + '"',),
                ).fetchone()
                rowids = np.array(postings.split(",") if postings else [], dtype=np.int64)
                # a few chosen ids: one vectorised comparison each beats np.isin's sort
                holders[term] = {i for i in ids if np.any(rowids == i)}
                rowids = rowids[rowids < len(readable)]
                frequencies[term] = int(np.count_nonzero(readable[rowids]))
        return total, frequencies, holders

    def lexical_search(self, match: str, groups: frozenset[str], k: int) -> list[Passage]:
        """BM25 top-k for an escaped FTS5 expression (quoted phrases OR-ed), weighed by the
        statistics of the chunks `groups` may read only (index/bm25.py): restricted chunks
        must not move a caller's scores or ranks."""
        phrases = quoted_phrases(match)
        if not groups or k <= 0 or not phrases:
            return []
        with self._snapshot():
            lengths, readable = self._row_lengths(), self._readable_mask(groups)
            everyone, mine = Corpus.of(lengths), Corpus.of(lengths, readable)
            if mine.rows == everyone.rows:  # FTS5's own bm25() is already the caller's
                ored = " OR ".join(quoted_phrase(phrase) for phrase in phrases)
                rows = self._conn.execute(
                    "SELECT rowid, -bm25(chunks_fts, ?, ?, ?) FROM chunks_fts"
                    " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, ?, ?, ?) LIMIT ?",
                    (*BM25_WEIGHTS, ored, *BM25_WEIGHTS, k),
                ).fetchall()
                return self._passages([r[0] for r in rows], [r[1] for r in rows], groups)
            scored = [self._phrase_scores(phrase) for phrase in dict.fromkeys(phrases)]
            ids, scores = readable_scores(scored, lengths, readable, everyone, mine)
            return self._passages(ids[:k].tolist(), scores[:k].tolist(), groups)

    def _phrase_scores(self, phrase: str) -> tuple[Ids, npt.NDArray[np.float64]]:
        """Rowids holding one phrase and FTS5's -bm25() for that phrase alone (two lists
        aggregated in one pass, so in the same order; one string each is ~10x faster to
        fetch than a row per posting)."""
        ids, scores = self._conn.execute(
            # bm25() cannot stand inside an aggregate: the CTE is kept as it is (MATERIALIZED)
            "WITH hit AS MATERIALIZED (SELECT rowid AS id, -bm25(chunks_fts, ?, ?, ?) AS score"
            " FROM chunks_fts WHERE chunks_fts MATCH ?)"
            " SELECT group_concat(id), group_concat(printf('%.17g', score)) FROM hit",
            (*BM25_WEIGHTS, quoted_phrase(phrase)),
        ).fetchone()
        if not ids:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return (
            np.array(ids.split(","), dtype=np.int64),
            np.array(str(scores).split(","), dtype=np.float64),
        )

    def _row_lengths(self) -> npt.NDArray[np.float64]:
        """Each FTS row's token count (index/bm25.row_lengths), read once per store version."""
        version = self._acl_key(frozenset())[0]
        if self._lengths_cache is None or self._lengths_cache[0] != version:
            sizes = self._conn.execute("SELECT id, sz FROM chunks_fts_docsize").fetchall()
            self._lengths_cache = (version, row_lengths(sizes))
        return self._lengths_cache[1]

    def _passages(
        self, chunk_ids: list[int], scores: list[float], groups: frozenset[str]
    ) -> list[Passage]:
        """Hydrate chunk ids into Passages, re-checking the ACL; unknown ids are dropped."""
        if not chunk_ids:
            return []
        members = sorted(groups)
        rows = self._conn.execute(
            "SELECT c.rowid, c.position, c.text, c.heading_path, c.anchor, c.page, c.n_tokens,"
            " d.rowid FROM chunks c JOIN documents d ON d.rowid = c.document_rowid"
            f" WHERE c.rowid IN ({_placeholders(chunk_ids)}) AND EXISTS (SELECT 1 FROM acl a"
            f" WHERE a.chunk_rowid = c.rowid AND a.grp IN ({_placeholders(members)}))",
            (*chunk_ids, *members),
        ).fetchall()
        by_id = {row[0]: row for row in rows}
        documents = self._documents_by_rowid({row[7] for row in rows})
        passages: list[Passage] = []
        for chunk_id, score in zip(chunk_ids, scores, strict=True):
            row = by_id.get(chunk_id)
            if row is None:
                continue
            document = documents.get(row[7])
            if document is None:  # deleted between the two statements (outside a snapshot)
                continue
            chunk = Chunk(
                document_id=document.id,
                text=row[2],
                heading_path=tuple(json.loads(row[3])),
                position=row[1],
                n_tokens=row[6],
                anchor=row[4],
                page=row[5],
                id=row[0],
            )
            passages.append(Passage(chunk, document, float(score), len(passages) + 1))
        return passages

    def _documents_by_rowid(self, rowids: set[int]) -> dict[int, StoredDocument]:
        ids = sorted(rowids)
        rows = self._conn.execute(
            "SELECT d.rowid, d.id, d.source, d.title, d.kind, d.url, d.modified, d.revision,"
            " d.content_hash, d.categories, (SELECT count(*) FROM chunks WHERE document_rowid ="
            " d.rowid), (SELECT group_concat(grp) FROM acl WHERE chunk_rowid = (SELECT min(rowid)"
            f" FROM chunks WHERE document_rowid = d.rowid)) FROM documents d"
            f" WHERE d.rowid IN ({_placeholders(ids)})",
            ids,
        ).fetchall()
        return {
            row[0]: StoredDocument(
                id=row[1],
                source=row[2],
                title=row[3],
                kind=row[4],
                url=row[5],
                modified=datetime.fromisoformat(row[6]) if row[6] else None,
                revision=row[7],
                content_hash=row[8],
                categories=tuple(json.loads(row[9])),
                n_chunks=row[10],
                groups=frozenset((row[11] or "").split(",")) - {""},
            )
            for row in rows
        }

    def get_document(self, document_id: str, groups: frozenset[str]) -> StoredDocument | None:
        """A document's metadata if `groups` may read it, else None (same as absent)."""
        members = sorted(groups)
        if not members:
            return None
        with self._snapshot():
            row = self._conn.execute(
                "SELECT d.rowid FROM documents d WHERE d.id = ? AND EXISTS (SELECT 1 FROM chunks c"
                " JOIN acl a ON a.chunk_rowid = c.rowid WHERE c.document_rowid = d.rowid"
                f" AND a.grp IN ({_placeholders(members)}))",
                (document_id, *members),
            ).fetchone()
            return self._documents_by_rowid({row[0]}).get(row[0]) if row else None

    def document_chunks(self, document_id: str, groups: frozenset[str]) -> list[Passage]:
        """A readable document's chunks in order (empty if the caller may not read it)."""
        with self._snapshot():
            ids = [
                r[0]
                for r in self._conn.execute(
                    "SELECT c.rowid FROM chunks c JOIN documents d ON d.rowid = c.document_rowid"
                    " WHERE d.id = ? ORDER BY c.position",
                    (document_id,),
                )
            ]
            return self._passages(ids, [0.0] * len(ids), groups)

    def document_state(
        self, source_prefix: str | None = None
    ) -> dict[str, tuple[str, frozenset[str]]]:
        """document id -> (content hash, groups) for documents whose source is under a prefix."""
        query = (
            "SELECT d.id, d.content_hash, (SELECT group_concat(grp) FROM acl WHERE chunk_rowid ="
            " (SELECT min(rowid) FROM chunks WHERE document_rowid = d.rowid)) FROM documents d"
        )
        params: tuple[object, ...] = ()
        if source_prefix is not None:
            query += " WHERE d.source = ? OR substr(d.source, 1, ?) = ?"
            prefix = source_prefix.rstrip("/") + "/"
            params = (source_prefix, len(prefix), prefix)
        with self._lock:
            return {
                row[0]: (row[1], frozenset((row[2] or "").split(",")) - {""})
                for row in self._conn.execute(query, params)
            }

    def document_state_of(self, document_id: str) -> tuple[str, frozenset[str]] | None:
        """(content hash, groups) of one stored document, or None if it is not stored."""
        with self._lock:
            row = self._conn.execute(
                "SELECT d.content_hash, (SELECT group_concat(grp) FROM acl WHERE chunk_rowid ="
                " (SELECT min(rowid) FROM chunks WHERE document_rowid = d.rowid))"
                " FROM documents d WHERE d.id = ?",
                (document_id,),
            ).fetchone()
        return (row[0], frozenset((row[1] or "").split(",")) - {""}) if row else None

    def source_fingerprint(self, source: str) -> tuple[str, list[str]] | None:
        """(fingerprint, document ids) of a completely ingested source whose documents are all
        still stored; None otherwise."""
        with self._lock:
            row = self._conn.execute(
                "SELECT fingerprint, documents FROM sources WHERE path = ?", (source,)
            ).fetchone()
            if row is None:
                return None
            ids = [
                r[0]
                for r in self._conn.execute("SELECT id FROM documents WHERE source = ?", (source,))
            ]
        return (row[0], ids) if len(ids) == row[1] else None

    def record_source(self, source: str, fingerprint: str, documents: int) -> None:
        """Remember a completely ingested source (not an ACL change: no version bump)."""
        with self._lock, _write_errors():
            self._conn.execute(
                "INSERT INTO sources(path, fingerprint, documents) VALUES (?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " documents = excluded.documents",
                (source, fingerprint, documents),
            )

    def count_readable(self, groups: frozenset[str]) -> tuple[int, int]:
        """(documents, chunks) that `groups` may read: what a caller is told the corpus holds."""
        members = sorted(groups) or [""]
        with self._lock:
            row = self._conn.execute(
                "SELECT count(DISTINCT c.document_rowid), count(DISTINCT c.rowid) FROM chunks c"
                f" JOIN acl a ON a.chunk_rowid = c.rowid WHERE a.grp IN ({_placeholders(members)})",
                members,
            ).fetchone()
        return int(row[0]), int(row[1])

    def last_ingested(self, groups: frozenset[str]) -> str | None:
        members = sorted(groups) or [""]
        with self._lock:
            row = self._conn.execute(
                "SELECT d.ingested_at FROM documents d WHERE EXISTS (SELECT 1 FROM chunks c"
                " JOIN acl a ON a.chunk_rowid = c.rowid WHERE c.document_rowid = d.rowid"
                f" AND a.grp IN ({_placeholders(members)})) ORDER BY d.ingested_at DESC LIMIT 1",
                members,
            ).fetchone()
        return str(row[0]) if row else None

    def list_documents(self, groups: frozenset[str] | None = None) -> list[StoredDocument]:
        query, params = "SELECT rowid FROM documents d", list[str]()
        if groups is not None:
            params = sorted(groups) or [""]  # no group reads nothing
            query += (
                " WHERE EXISTS (SELECT 1 FROM chunks c JOIN acl a ON a.chunk_rowid = c.rowid"
                f" WHERE c.document_rowid = d.rowid AND a.grp IN ({_placeholders(params)}))"
            )
        found: dict[int, StoredDocument] = {}
        with self._snapshot():
            rowids = [row[0] for row in self._conn.execute(query, params)]
            for start in range(0, len(rowids), 500):  # SQLite caps a query's parameters
                found.update(self._documents_by_rowid(set(rowids[start : start + 500])))
        return sorted(found.values(), key=lambda document: document.id)

    def is_empty(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None

    def stats(self) -> dict[str, object]:
        """Counts for `hearth status`: documents and chunks by kind and by group, and sizes."""
        with self._lock:
            by_kind = self._conn.execute(
                "SELECT d.kind, count(DISTINCT d.rowid), count(c.rowid) FROM documents d"
                " LEFT JOIN chunks c ON c.document_rowid = d.rowid GROUP BY d.kind ORDER BY d.kind"
            ).fetchall()
            by_group = self._conn.execute(
                "SELECT a.grp, count(DISTINCT c.document_rowid), count(*) FROM acl a"
                " JOIN chunks c ON c.rowid = a.chunk_rowid GROUP BY a.grp ORDER BY a.grp"
            ).fetchall()
            aliases = self._conn.execute("SELECT count(*) FROM aliases").fetchone()[0]
            behind = self._vectors_behind(self.manifest())
        size = sum(p.stat().st_size for p in self.data_dir.iterdir() if p.is_file())
        return {
            "documents": sum(row[1] for row in by_kind),
            "chunks": sum(row[2] for row in by_kind),
            "aliases": aliases,
            "by_kind": {kind: {"documents": d, "chunks": c} for kind, d, c in by_kind},
            "by_group": {grp: {"documents": d, "chunks": c} for grp, d, c in by_group},
            "data_bytes": size,
            "vectors_behind": behind,
        }

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Read-only SQL for status reports and integrity checks."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()
