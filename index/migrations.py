"""Ordered, named schema steps, each applied once in its own transaction and recorded.

Append new steps at the end; never edit one that has shipped (a store that already applied it
would silently differ from a new one).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from index.errors import StoreError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_documents_chunks_acl",
        """
        CREATE TABLE documents (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT,
            modified TEXT,
            revision TEXT,
            content_hash TEXT NOT NULL,
            categories TEXT NOT NULL DEFAULT '[]',
            ingested_at TEXT NOT NULL
        );
        CREATE INDEX documents_source ON documents(source);
        -- AUTOINCREMENT: a chunk rowid is also its vector id and must never be reused, or a
        -- vector of a deleted chunk could be read as a newer chunk.
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY AUTOINCREMENT,
            document_rowid INTEGER NOT NULL REFERENCES documents(rowid) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path TEXT NOT NULL,
            anchor TEXT,
            page INTEGER,
            n_tokens INTEGER NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX chunks_document ON chunks(document_rowid, position);
        -- Who may read a chunk. No row, no access: every search joins through this table.
        CREATE TABLE acl (
            grp TEXT NOT NULL,
            chunk_rowid INTEGER NOT NULL REFERENCES chunks(rowid) ON DELETE CASCADE,
            PRIMARY KEY (grp, chunk_rowid)
        ) WITHOUT ROWID;
        CREATE INDEX acl_chunk ON acl(chunk_rowid);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            title, heading, body, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_delete_fts AFTER DELETE ON chunks BEGIN
            DELETE FROM chunks_fts WHERE rowid = old.rowid;
        END;
        CREATE TABLE aliases (
            site TEXT NOT NULL,
            alias TEXT NOT NULL,
            target TEXT NOT NULL,
            PRIMARY KEY (site, alias)
        );
        CREATE INDEX aliases_target ON aliases(site, target);
        CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
    (
        "0002_keys_conversations_feedback",
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
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
        CREATE INDEX conversations_owner ON conversations(owner, updated_at);
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, created_at);
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
        # What each source file looked like when it was last ingested completely, so that an
        # unchanged file is not even parsed again (parsing dominates a re-ingest).
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
        # When each API key was last used (to the KEY_USE_RESOLUTION), for rotation audits.
        "0004_key_last_used",
        """
        ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
        """,
    ),
    (
        # Which dump recorded each wiki alias, so that a new read of the dump drops the
        # redirects it no longer holds (or no longer shows to the target's readers).
        "0005_alias_sources",
        """
        ALTER TABLE aliases ADD COLUMN source TEXT;
        """,
    ),
]


def refuse_newer(applied: Iterable[str], known: set[str]) -> None:
    """StoreError if the store records steps this version does not know (a newer Hearth's)."""
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"this store was upgraded by a newer Hearth (schema step {unknown[0]!r} is unknown "
            "here): run that version, or restore a backup taken before the upgrade"
        )


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the steps this database has applied, in order."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending step in order (each atomically); return the names applied now.
    A store that a newer Hearth has migrated further is refused, not used half-understood."""
    refuse_newer(applied_migrations(conn), {name for name, _ in MIGRATIONS})
    applied = []
    for name, sql in MIGRATIONS:
        if name in applied_migrations(conn):
            continue
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO migrations(name, applied_at) VALUES ('{name}', datetime('now'));\n"
                "COMMIT;"
            )
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if name not in applied_migrations(conn):
                raise
            continue  # another process applied it between our check and our lock
        applied.append(name)
    return applied


def say_upgraded(where: str, applied: list[str], every: list[str]) -> None:
    """Say when opening a store upgraded its schema (a fresh store applies all steps, said by
    nothing): any command does it, `hearth status` included, and an older Hearth then refuses
    the store, so a copy or backup opened to look at it changes too."""
    if applied and len(applied) < len(every):
        logging.getLogger("index").warning(
            "upgraded the store's schema in %s (%s): an older Hearth now refuses it",
            where,
            ", ".join(applied),
        )
