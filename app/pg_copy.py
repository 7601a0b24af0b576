"""Copy an embedded store (SQLite) into PostgreSQL without re-embedding (`hearth migrate`).

Documents, chunks with their stored embeddings, ACL rows, wiki aliases, the manifest (embedder
and dimension), API keys, conversations, messages and feedback are copied in one PostgreSQL
transaction; ids are kept, so chunk and conversation ids stay valid. The HNSW index is built
after loading (faster than growing it row by row). Counts are verified before committing:
on any difference nothing is kept. Running it again replaces what the target holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from index import pg_schema
from index.errors import StoreError
from index.postgres import PostgresStore
from index.store import DB_NAME

# Service tables (index/migrations.py 0002), parents before children.
SERVICE_TABLES = ("api_keys", "conversations", "messages", "feedback")
# Manifest keys that describe the SQLite store's vector files, not the index.
SQLITE_ONLY_KEYS = frozenset(
    {"vector_file", "vector_sha256", "vector_ids_sha256", "vector_kind", "acl_version"}
)
RENAMED = {"chunk_rowid": "chunk_id"}  # SQLite column -> PostgreSQL column
CHUNK_TYPES = ["int8", "int8", "int4", "text", "text[]", "text", "int4", "int4", "text", "vector"]


def _source_rows(source: sqlite3.Connection, query: str) -> Iterator[tuple[Any, ...]]:
    cursor = source.execute(query)
    while batch := cursor.fetchmany(1024):
        yield from batch


def _copy_documents(source: sqlite3.Connection, cur: psycopg.Cursor[Any]) -> None:
    with cur.copy(
        "COPY documents (pk, id, source, kind, title, url, modified, revision, content_hash,"
        " categories, ingested_at) FROM STDIN"
    ) as copy:
        for row in _source_rows(
            source,
            "SELECT rowid, id, source, kind, title, url, modified, revision, content_hash,"
            " categories, ingested_at FROM documents ORDER BY rowid",
        ):
            modified = datetime.fromisoformat(row[6]) if row[6] else None
            ingested = datetime.fromisoformat(row[10])
            copy.write_row((*row[:6], modified, *row[7:9], json.loads(row[9]), ingested))


def _copy_chunks(source: sqlite3.Connection, cur: psycopg.Cursor[Any], dim: int) -> None:
    """Chunks with their embeddings (float32 BLOBs, as stored) and FTS title with aliases."""
    with cur.copy(
        "COPY chunks (id, document_pk, position, text, heading_path, anchor, page, n_tokens,"
        " search_title, embedding) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(CHUNK_TYPES)
        for row in _source_rows(
            source,
            "SELECT c.rowid, c.document_rowid, c.position, c.text, c.heading_path, c.anchor,"
            " c.page, c.n_tokens, coalesce(f.title, d.title), c.embedding FROM chunks c"
            " JOIN documents d ON d.rowid = c.document_rowid"
            " LEFT JOIN chunks_fts f ON f.rowid = c.rowid ORDER BY c.rowid",
        ):
            vector = np.frombuffer(row[9], dtype=np.float32)
            if vector.shape != (dim,):
                raise StoreError(f"chunk {row[0]} holds a {vector.size}-d embedding, not {dim}-d")
            copy.write_row((*row[:4], json.loads(row[4]), *row[5:9], vector))


def _copy_plain(source: sqlite3.Connection, cur: psycopg.Cursor[Any], table: str) -> bool:
    """Copy a table column by column; False if the source does not have it."""
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    if not columns:
        return False
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(RENAMED.get(c, c)) for c in columns),
    )
    with cur.copy(statement) as copy:
        quoted = ", ".join(f'"{c}"' for c in columns)
        # Service rows in insertion order: PostgreSQL numbers messages (`seq`) as they arrive.
        order = " ORDER BY rowid" if table in SERVICE_TABLES else ""
        for row in _source_rows(source, f"SELECT {quoted} FROM {table}{order}"):
            copy.write_row(row)
    return True


def _count(cur: psycopg.Cursor[Any], table: str) -> int:
    row = cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def _advance_sequences(source: sqlite3.Connection, cur: psycopg.Cursor[Any]) -> None:
    """New ids continue after every id the source ever gave out (chunk ids are never reused)."""
    used = source.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
    for table, column, floor in (("chunks", "id", used[0] if used else 0), ("documents", "pk", 0)):
        cur.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({t}, {c}), greatest({floor},"
                " (SELECT max({col}) FROM {tbl}),"
                " pg_sequence_last_value(pg_get_serial_sequence({t}, {c})::regclass), 1))"
            ).format(
                t=sql.Literal(table),
                c=sql.Literal(column),
                floor=sql.Literal(int(floor)),
                col=sql.Identifier(column),
                tbl=sql.Identifier(table),
            )
        )


def copy_store(
    data_dir: Path, url: str, *, index_memory: str = "256MB", replace: bool = False
) -> dict[str, list[int]]:
    """Replace the PostgreSQL store at `url` with the SQLite store in `data_dir`.

    Returns {table: [rows in the source, rows in PostgreSQL]}; raises StoreError (and keeps
    nothing) if any count differs, or if the target already holds documents, conversations or
    keys and `replace` is false: a second run from a runbook wiped what was written since the
    first and brought revoked keys back.
    """
    path = data_dir / DB_NAME
    if not path.is_file():
        raise StoreError(f"no Hearth store in {data_dir}/ (expected {DB_NAME})")
    PostgresStore(url, pool_size=1).close()  # creates or upgrades the target schema
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    with closing(source), psycopg.connect(url) as conn:
        register_vector(conn)
        source.execute("BEGIN")  # one consistent snapshot even while an ingest runs
        manifest = dict(source.execute("SELECT key, value FROM manifest").fetchall())
        dim = int(manifest["dim"]) if "dim" in manifest else None
        counts: dict[str, list[int]] = {}
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (pg_schema.LOCK_NAMESPACE, pg_schema.WRITE_LOCK),
            )
            old: dict[str, str] = dict(cur.execute("SELECT key, value FROM manifest").fetchall())
            held = {t: _count(cur, t) for t in ("documents", "conversations", "api_keys")}
            if any(held.values()) and not replace:
                raise StoreError(
                    "the target database already holds a Hearth store ("
                    + ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in held.items())
                    + "); migrating replaces all of it, including keys revoked since: "
                    "pass --replace to do so"
                )
            cur.execute(
                "TRUNCATE documents, chunks, acl, aliases, manifest, feedback, messages,"
                " conversations, api_keys"
            )
            pg_schema.drop_vector_index(cur)
            if dim is not None:
                pg_schema.set_vector_dim(cur, dim, build_index=False)
                _copy_documents(source, cur)
                _copy_chunks(source, cur, dim)
                _copy_plain(source, cur, "acl")
            _copy_plain(source, cur, "aliases")
            tables = ["documents", "chunks", "acl", "aliases"]
            tables += [t for t in SERVICE_TABLES if _copy_plain(source, cur, t)]
            _advance_sequences(source, cur)
            kept = {k: v for k, v in manifest.items() if k not in SQLITE_ONLY_KEYS}
            kept["vector_generation"] = str(int(old.get("vector_generation", "0")) + 1)
            kept["vector_kind"] = "pgvector-hnsw"
            kept["vector_count"] = str(_count(cur, "chunks"))
            cur.executemany("INSERT INTO manifest(key, value) VALUES (%s, %s)", list(kept.items()))
            for table in tables:
                row = source.execute(f"SELECT count(*) FROM {table}").fetchone()
                counts[table] = [int(row[0]), _count(cur, table)]
            wrong = {t: c for t, c in counts.items() if c[0] != c[1]}
            if wrong:
                raise StoreError(f"row counts differ after copying, nothing was kept: {wrong}")
            if dim is not None:
                cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", (index_memory,))
                pg_schema.create_vector_index(cur, dim)
        source.execute("ROLLBACK")
        conn.execute("ANALYZE")
    return counts
