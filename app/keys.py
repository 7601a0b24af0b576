"""API keys: created once (printed, never stored in clear), verified by hash, revocable.

Keys are 32 random bytes, so a single SHA-256 is enough (no password-stretching needed);
comparison happens in SQL on the hash, and a revoked key stops working on the next request.
The table lives next to the store (app/service_db.py): SQLite, or PostgreSQL for replicas.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.service_db import ServiceDatabase, Transaction, database_or_sqlite
from app.throttle import Every
from index.types import ANONYMOUS_USER, PROXY_USER_PREFIX, Principal, parse_groups

KEY_PREFIX = "hk_"
# A key's last use is written at most this often: a write per request would make every
# answer wait for the store's write lock (an ingest holds it a document at a time).
KEY_USE_RESOLUTION = timedelta(minutes=10)
WARN_EVERY_S = 60.0
log = logging.getLogger(__name__)


def reserved_user(user: str) -> bool:
    """A name the service gives callers without a key: a key named so would share their
    conversations ("proxy:carol" is carol signed in through the proxy)."""
    return user.casefold().startswith((PROXY_USER_PREFIX, ANONYMOUS_USER))


def _revoke(tx: Transaction, key_id: str) -> bool:
    """Revoke a live key by id within `tx`; whether there was one."""
    cursor = tx.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (datetime.now(UTC).isoformat(), key_id),
    )
    return bool(cursor.rowcount == 1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A key's public description (never the key itself)."""

    id: str
    user: str
    groups: frozenset[str]
    created_at: str
    revoked_at: str | None
    last_used_at: str | None = None  # to KEY_USE_RESOLUTION; None: never used


class KeyStore:
    """The api_keys table."""

    def __init__(
        self,
        data_dir: Path | None = None,
        conn: sqlite3.Connection | None = None,
        *,
        database: ServiceDatabase | None = None,
    ) -> None:
        self._db = database_or_sqlite(database, data_dir, conn, "KeyStore")
        self._warning = Every(WARN_EVERY_S)  # not on every request of a long ingest

    def create(self, user: str, groups: str | list[str]) -> tuple[str, KeyInfo]:
        """A new key for `user` with `groups`; returns (the key, shown once; its info)."""
        user = user.strip()
        if not user or len(user) > 200:
            raise ValueError("a key needs a user name (1-200 characters)")
        if reserved_user(user):
            raise ValueError(
                f"{user!r} is reserved: names starting with 'proxy:' or 'anonymous' are the ones "
                "Hearth gives callers signed in through a proxy or without a key"
            )
        parsed = parse_groups(groups)
        if not parsed:  # `--groups ""` would print "groups ." and read as public only
            raise ValueError("a key needs at least one group (e.g. public)")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo(uuid.uuid4().hex[:12], user, parsed, datetime.now(UTC).isoformat(), None)
        with self._db.transaction(write=True) as tx:
            tx.execute(
                'INSERT INTO api_keys(id, "user", groups, key_hash, created_at) VALUES (?,?,?,?,?)',
                (info.id, user, json.dumps(sorted(parsed)), _hash(key), info.created_at),
            )
        return key, info

    def verify(self, key: str) -> Principal | None:
        """The principal a live key belongs to, or None."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        with self._db.transaction(write=False) as tx:
            row = tx.execute(
                'SELECT id, "user", groups, last_used_at FROM api_keys'
                " WHERE key_hash = ? AND revoked_at IS NULL",
                (_hash(key),),
            ).fetchone()
        if row is None or reserved_user(row[1]):  # made before such names were refused
            return None
        self._note_use(row[0], row[3])
        return Principal(user=row[1], groups=frozenset(json.loads(row[2])))

    def _note_use(self, key_id: str, last_used_at: str | None) -> None:
        """Record that a key was used now, unless that was recorded less than
        KEY_USE_RESOLUTION ago. Bookkeeping only: a store that cannot write it (locked,
        read-only) does not turn a valid key away."""
        now = datetime.now(UTC)
        stale = (now - KEY_USE_RESOLUTION).isoformat()
        if last_used_at is not None and last_used_at > stale:
            return
        try:
            with self._db.transaction(write=True, wait=False) as tx:  # never wait for an ingest
                tx.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
                    " AND (last_used_at IS NULL OR last_used_at <= ?)",
                    (now.isoformat(), key_id, stale),
                )
        except Exception as exc:  # any store error: the answer matters more than this
            if self._warning.due():
                log.warning("could not record the use of API key %s: %s", key_id, exc)

    def revoke_key(self, key: str) -> str | None:
        """Revoke the live key `key` itself (a leaked key whose id is unknown); its id, or None."""
        with self._db.transaction(write=True) as tx:
            row = tx.execute(
                "SELECT id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (_hash(key),)
            ).fetchone()
            return str(row[0]) if row is not None and _revoke(tx, row[0]) else None

    def revoke(self, key_id: str) -> bool:
        with self._db.transaction(write=True) as tx:
            return _revoke(tx, key_id)

    def revoke_user(self, user: str) -> int:
        """Revoke every live key of `user`; how many were."""
        with self._db.transaction(write=True) as tx:
            rows = tx.execute(
                'SELECT id FROM api_keys WHERE "user" = ? AND revoked_at IS NULL', (user,)
            ).fetchall()
            return sum(1 for row in rows if _revoke(tx, row[0]))

    def all(self) -> list[KeyInfo]:
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(
                'SELECT id, "user", groups, created_at, revoked_at, last_used_at FROM api_keys'
                " ORDER BY created_at"
            ).fetchall()
        return [KeyInfo(r[0], r[1], frozenset(json.loads(r[2])), r[3], r[4], r[5]) for r in rows]
