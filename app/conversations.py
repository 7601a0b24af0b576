"""Owner-only conversations, messages and feedback.

Every method takes the owner and behaves as if an id did not exist when it belongs to someone
else, so routes can answer 404 without telling "not yours" from "no such thing". The rows live
in the data folder's SQLite database or, with HEARTH_DATABASE_URL, in PostgreSQL
(app/service_db.py), so any replica can continue a conversation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.service_db import ServiceDatabase, database_or_sqlite
from app.throttle import Every

PURGE_EVERY_S = 3600.0
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Message:
    id: str
    role: str
    content: str
    details: dict[str, Any]
    created_at: str
    rating: str | None = None  # the reader's own thumbs ("up"/"down") on an assistant message

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "details": self.details,
            "created_at": self.created_at,
        }
        if self.role == "assistant":
            data["rating"] = self.rating
        return data


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: str
    updated_at: str
    messages: tuple[Message, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "messages": [m.as_dict() for m in self.messages],
        }


class ConversationStore:
    """The conversations, messages and feedback tables, scoped by owner."""

    def __init__(
        self,
        data_dir: Path | None = None,
        conn: sqlite3.Connection | None = None,
        *,
        database: ServiceDatabase | None = None,
        retention_days: int = 0,
    ) -> None:
        self._db = database_or_sqlite(database, data_dir, conn, "ConversationStore")
        self.retention_days = retention_days
        self._purge = Every(PURGE_EVERY_S)

    def _purge_when_due(self) -> None:
        """Purge expired conversations at most once per PURGE_EVERY_S: purged only at start,
        a server up for months kept showing conversations past HEARTH_RETENTION_DAYS."""
        if self.retention_days > 0 and self._purge.due():
            try:  # never make a reader wait for an ingest's write lock: next time, then
                self.purge(self.retention_days, wait=False)
            except Exception as exc:  # any store error: the reading matters more
                log.warning("could not purge expired conversations now: %s", exc)
                self._purge.again_in(60)

    def create(self, owner: str, title: str) -> str:
        conversation_id = uuid.uuid4().hex
        now = _now()
        with self._db.transaction(write=True) as tx:
            tx.execute(
                "INSERT INTO conversations(id, owner, title, created_at, updated_at)"
                " VALUES (?,?,?,?,?)",
                (conversation_id, owner, title.strip()[:120] or "New conversation", now, now),
            )
        return conversation_id

    def list_for(self, owner: str) -> list[Conversation]:
        self._purge_when_due()
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE owner = ?"
                " ORDER BY updated_at DESC",
                (owner,),
            ).fetchall()
        return [Conversation(*row) for row in rows]

    def get(self, conversation_id: str, owner: str) -> Conversation | None:
        """The owner's conversation with its messages, each assistant message carrying the
        owner's own rating of it (feedback is keyed by message and owner: nobody else's)."""
        self._purge_when_due()
        with self._db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT id, title, created_at, updated_at FROM conversations"
                " WHERE id = ? AND owner = ?",
                (conversation_id, owner),
            ).fetchone()
            if row is None:
                return None
            messages = tx.execute(
                "SELECT id, role, content, details, created_at FROM messages"
                f" WHERE conversation_id = ? ORDER BY created_at, {self._db.order_column}",
                (conversation_id,),
            ).fetchall()
            ratings = dict(
                tx.execute(
                    "SELECT f.message_id, f.rating FROM feedback f"
                    " JOIN messages m ON m.id = f.message_id"
                    " WHERE m.conversation_id = ? AND f.owner = ?",
                    (conversation_id, owner),
                ).fetchall()
            )
        return Conversation(
            row[0],
            row[1],
            row[2],
            row[3],
            messages=tuple(
                Message(m[0], m[1], m[2], json.loads(m[3]), m[4], ratings.get(m[0]))
                for m in messages
            ),
        )

    def add_message(
        self, conversation_id: str, owner: str, role: str, content: str, details: dict[str, Any]
    ) -> str | None:
        message_id = uuid.uuid4().hex
        now = _now()
        with self._db.transaction(write=True) as tx:
            owned = tx.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).fetchone()
            if owned is None:
                return None
            tx.execute(
                "INSERT INTO messages(id, conversation_id, role, content, details, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (message_id, conversation_id, role, content, json.dumps(details), now),
            )
            tx.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return message_id

    def rename(self, conversation_id: str, owner: str, title: str) -> bool:
        with self._db.transaction(write=True) as tx:
            cursor = tx.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?",
                (title.strip()[:120] or "Untitled", conversation_id, owner),
            )
            return cursor.rowcount == 1

    def delete(self, conversation_id: str, owner: str) -> bool:
        with self._db.transaction(write=True) as tx:
            cursor = tx.execute(
                "DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            )
            deleted = cursor.rowcount == 1
        if deleted:
            self._db.scrub()
        return deleted

    def delete_all(self, owner: str) -> tuple[int, int]:
        """Delete every conversation of `owner`, with its messages and ratings, for good
        (someone who left, an erasure request); returns (conversations, messages)."""
        with self._db.transaction(write=True) as tx:
            messages = tx.execute(
                "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE c.owner = ?",
                (owner,),
            ).fetchone()
            deleted = tx.execute("DELETE FROM conversations WHERE owner = ?", (owner,)).rowcount
        if deleted:
            self._db.scrub()
        return deleted, int(messages[0]) if messages else 0

    def add_feedback(self, message_id: str, owner: str, rating: str, comment: str) -> str | None:
        """Record (or replace) the owner's rating of one of their assistant messages."""
        with self._db.transaction(write=True) as tx:
            row = tx.execute(
                "SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE m.id = ? AND c.owner = ? AND m.role = 'assistant'",
                (message_id, owner),
            ).fetchone()
            if row is None:
                return None
            feedback_id = uuid.uuid4().hex
            tx.execute(
                "INSERT INTO feedback(id, message_id, owner, rating, comment, created_at)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(message_id, owner) DO UPDATE SET"
                " rating = excluded.rating, comment = excluded.comment,"
                " created_at = excluded.created_at",
                (feedback_id, message_id, owner, rating, comment[:2000], _now()),
            )
        return feedback_id

    def feedback_for(self, message_id: str, owner: str) -> dict[str, str] | None:
        with self._db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT rating, comment FROM feedback WHERE message_id = ? AND owner = ?",
                (message_id, owner),
            ).fetchone()
        return {"rating": row[0], "comment": row[1]} if row else None

    def purge(self, retention_days: int, wait: bool = True) -> int:
        """Delete conversations idle for longer than the retention period."""
        if retention_days <= 0:
            return 0
        cutoff = (datetime.now(UTC) - timedelta(days=retention_days)).isoformat()
        with self._db.transaction(write=True, wait=wait) as tx:
            purged = tx.execute(
                "DELETE FROM conversations WHERE updated_at < ?", (cutoff,)
            ).rowcount
        if purged:
            self._db.scrub()
        return purged
