"""The PostgreSQL schema of the scale-out store: ordered, named steps recorded in a table.

Same rule as index/migrations.py: append new steps, never edit one that has shipped. All pending
steps apply in one transaction under an advisory lock, so replicas starting together cannot
race. The embedding column's dimension is only known once an embedder is recorded; that step
(`vector_<dim>d`) types the column and builds the HNSW index, and is recorded like the others.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from index.errors import StoreError
from index.migrations import refuse_newer

# pg_advisory_xact_lock(int, int) keys: ("HEAR", n). Writers are serialised like SQLite's
# BEGIN IMMEDIATE; schema changes take their own key.
LOCK_NAMESPACE = 0x48454152
WRITE_LOCK = 1
MIGRATE_LOCK = 2

TS_CONFIG = "english"  # Porter stemming + English stop words, built into every PostgreSQL
HNSW_INDEX = "chunks_embedding_hnsw"
HNSW_MAX_DIM = 2000  # pgvector's limit for indexing the `vector` type

# Accent folding like FTS5's remove_diacritics in the SQLite store, without the unaccent
# extension (not in every build): decompose, drop combining marks, recompose; ASCII text (the
# common case) skips it. Built-in and immutable, but needs a UTF8 database (checked by migrate).
_FOLD = (
    "CASE WHEN octet_length({0}) = char_length({0}) THEN {0} ELSE normalize(regexp_replace("
    "normalize({0}, NFD), '[\\u0300-\\u036f]', '', 'g'), NFC) END"
)

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_documents_chunks_acl",
        f"""
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE FUNCTION hearth_fold(value text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$ SELECT {_FOLD.format("value")} $$;
        -- Only pg_catalog functions inside: the generated column below must also compute
        -- during a pg_dump restore, which runs with an empty search_path.
        CREATE FUNCTION hearth_tsv(title text, heading text[], body text) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT setweight(to_tsvector('{TS_CONFIG}', {_FOLD.format("f.a")}), 'A')
                      || setweight(to_tsvector('{TS_CONFIG}', {_FOLD.format("f.b")}), 'B')
                      || setweight(to_tsvector('{TS_CONFIG}', {_FOLD.format("f.c")}), 'C')
                  FROM (SELECT coalesce(title, '') AS a, coalesce(array_to_string(heading, ' '),
                        '') AS b, coalesce(body, '') AS c) f $$;
        CREATE TABLE documents (
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT,
            modified TIMESTAMPTZ,
            revision TEXT,
            content_hash TEXT NOT NULL,
            categories TEXT[] NOT NULL DEFAULT '{{}}',
            aliases TEXT[] NOT NULL DEFAULT '{{}}',
            ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX documents_source ON documents (source);
        CREATE INDEX documents_wiki_title ON documents (title) WHERE kind = 'wiki';
        -- An identity is never reused: a chunk id names one chunk (and its vector) forever.
        -- `embedding` gets its dimension (and the HNSW index) once an embedder is recorded.
        CREATE TABLE chunks (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            document_pk BIGINT NOT NULL REFERENCES documents(pk) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path TEXT[] NOT NULL,
            anchor TEXT,
            page INTEGER,
            n_tokens INTEGER NOT NULL,
            search_title TEXT NOT NULL,
            embedding vector NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (hearth_tsv(search_title, heading_path, text)) STORED
        );
        CREATE INDEX chunks_document ON chunks (document_pk, position);
        CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
        -- Who may read a chunk. No row, no access: every search joins through this table.
        CREATE TABLE acl (
            grp TEXT NOT NULL,
            chunk_id BIGINT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            PRIMARY KEY (grp, chunk_id)
        );
        CREATE INDEX acl_chunk ON acl (chunk_id);
        CREATE TABLE aliases (
            site TEXT NOT NULL,
            alias TEXT NOT NULL,
            target TEXT NOT NULL,
            PRIMARY KEY (site, alias)
        );
        CREATE INDEX aliases_target ON aliases (site, target);
        CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
    (
        # The same columns as the SQLite store's 0002, so the service's stores can move over.
        "0002_keys_conversations_feedback",
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            "user" TEXT NOT NULL,
            groups TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX conversations_owner ON conversations (owner, updated_at);
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
        CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            owner TEXT NOT NULL,
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
            comment TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE (message_id, owner)
        );
        """,
    ),
    (
        # As the SQLite store's 0003: lets a re-ingest skip parsing unchanged files.
        "0003_source_fingerprints",
        """
        CREATE TABLE sources (
            path TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            documents INTEGER NOT NULL
        );
        """,
    ),
    (
        # Messages stored in the same millisecond keep their order (SQLite orders by rowid).
        "0004_messages_order",
        """
        ALTER TABLE messages ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
        DROP INDEX messages_conversation;
        CREATE INDEX messages_conversation ON messages (conversation_id, created_at, seq);
        """,
    ),
    (
        # As the SQLite store's 0004: when each API key was last used, for rotation audits.
        "0005_key_last_used",
        """
        ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
        """,
    ),
    (
        # As the SQLite store's 0005: which dump recorded each wiki alias.
        "0006_alias_sources",
        """
        ALTER TABLE aliases ADD COLUMN source TEXT;
        """,
    ),
    (
        # BM25's length norm needs each chunk's token count (FTS5 keeps it in its docsize
        # table): the indexed tokens of all three fields, stop words left out. A generated
        # column may not read another, so it computes the tsvector again (on insert only).
        "0007_chunk_lengths",
        """
        CREATE FUNCTION hearth_tsv_length(value tsvector) RETURNS integer
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$ SELECT coalesce(sum(array_length(e.positions, 1)), 0)::integer
                  FROM unnest(value) AS e $$;
        ALTER TABLE chunks ADD COLUMN tsv_length integer NOT NULL GENERATED ALWAYS AS
            (hearth_tsv_length(hearth_tsv(search_title, heading_path, text))) STORED;
        """,
    ),
]

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
    position INTEGER GENERATED ALWAYS AS IDENTITY,
    name TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


def applied_migrations(cur: psycopg.Cursor[Any]) -> list[str]:
    """Names of the steps this database has applied, in order."""
    cur.execute(_MIGRATIONS_TABLE)
    return [row[0] for row in cur.execute("SELECT name FROM migrations ORDER BY position")]


def has_schema(conn: psycopg.Connection[Any]) -> bool:
    """Whether Hearth's schema is in this database (its migrations table on the search path),
    asked without creating anything: a command that only reads must not write."""
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute("SELECT to_regclass('migrations') IS NOT NULL").fetchone()
    return bool(row and row[0])


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply every pending step in order, atomically; return the names applied now."""
    applied: list[str] = []
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATE_LOCK))
            encoding = cur.execute("SHOW server_encoding").fetchone()
            if encoding is None or encoding[0].upper() not in ("UTF8", "UTF-8"):
                raise StoreError("Hearth needs a database with UTF8 encoding")
            done = set(applied_migrations(cur))
            # the vector index's own steps ("vector_384d") are named by its dimension
            refuse_newer([n for n in done if not n.startswith("vector_")],
                         {name for name, _ in MIGRATIONS})  # fmt: skip
            for name, step in MIGRATIONS:
                if name in done:
                    continue
                cur.execute(step.encode())  # bytes: a literal statement, no placeholders
                cur.execute("INSERT INTO migrations(name) VALUES (%s)", (name,))
                applied.append(name)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError(
            "the database role may not create Hearth's schema or the pgvector extension "
            f"({exc.diag.message_primary}); ask an administrator to run CREATE EXTENSION vector "
            "and grant CREATE on the database"
        ) from None
    except psycopg.errors.FeatureNotSupported as exc:
        raise StoreError(f"pgvector is not installed on the server: {exc}") from None
    return applied


def vector_dim(cur: psycopg.Cursor[Any]) -> int | None:
    """The dimension the embedding column is typed with, or None while it is untyped."""
    row = cur.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
        " AND attname = 'embedding'"
    ).fetchone()
    return int(row[0]) if row and row[0] > 0 else None


def set_vector_dim(cur: psycopg.Cursor[Any], dim: int, *, build_index: bool = True) -> None:
    """Type the embedding column as vector(dim) and build the HNSW index (inner product).

    Run inside the writer's transaction when the embedder is first recorded (the table is
    empty then), or by `hearth migrate` on an emptied table (which builds the index after
    loading: faster than growing it row by row). Embeddings are unit length, so inner product
    ranks like cosine and the score equals the SQLite store's.
    """
    if vector_dim(cur) != dim:
        cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(HNSW_INDEX)))
        cur.execute(
            sql.SQL("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({})").format(
                sql.Literal(int(dim))
            )
        )
        cur.execute("DELETE FROM migrations WHERE name LIKE %s", ("vector\\_%d",))
        cur.execute("INSERT INTO migrations(name) VALUES (%s)", (f"vector_{int(dim)}d",))
    if build_index:
        create_vector_index(cur, dim)


def drop_vector_index(cur: psycopg.Cursor[Any]) -> None:
    cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(HNSW_INDEX)))


def create_vector_index(cur: psycopg.Cursor[Any], dim: int) -> None:
    """The HNSW index over the embeddings (skipped above pgvector's 2,000 dimensions)."""
    if dim > HNSW_MAX_DIM:
        return  # exact scans still work; pgvector cannot index wider `vector` columns
    cur.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON chunks USING hnsw (embedding vector_ip_ops)"
            " WITH (m = 16, ef_construction = 64)"
        ).format(sql.Identifier(HNSW_INDEX))
    )


def has_vector_index(cur: psycopg.Cursor[Any]) -> bool:
    """Whether the HNSW index exists (a restore or an operator may have dropped it)."""
    row = cur.execute("SELECT to_regclass(%s) IS NOT NULL", (HNSW_INDEX,)).fetchone()
    return bool(row and row[0])
