"""Keys, conversations, messages and feedback: one contract on SQLite and on PostgreSQL.

With HEARTH_DATABASE_URL the service's own rows live in PostgreSQL next to the store, so a key
created by `hearth keys create` works on every replica and a conversation continues anywhere.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fakes import HashEmbedder, ScriptedChatModel

from app.conversations import ConversationStore
from app.keys import KeyStore
from app.main import build_services
from app.service_db import (
    PostgresServiceDatabase,
    SQLiteServiceDatabase,
    service_database,
)
from app.settings import Settings
from index.postgres import PostgresStore
from index.store import SQLiteStore
from index.types import Principal


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request, tmp_path):
    """Opens service databases on one backend's data: a second one is another replica's."""
    opened = []

    def open_database():
        if request.param == "postgres":
            database = service_database(tmp_path, request.getfixturevalue("pg_url"))
            assert isinstance(database, PostgresServiceDatabase)
        else:
            database = service_database(tmp_path / "data")
            assert isinstance(database, SQLiteServiceDatabase)
        opened.append(database)
        return database

    yield open_database
    for database in opened:
        database.close()


@pytest.fixture
def conversations(databases):
    return ConversationStore(database=databases())


def test_conversations_belong_to_their_owner(conversations):
    mine = conversations.create("alice", "  Leave  ")
    assert conversations.get(mine, "bob") is None
    assert conversations.add_message(mine, "bob", "user", "hi", {}) is None
    assert not conversations.rename(mine, "bob", "stolen")
    assert not conversations.delete(mine, "bob")
    assert conversations.list_for("bob") == []
    conversation = conversations.get(mine, "alice")
    assert conversation is not None and conversation.title == "Leave"
    assert [c.id for c in conversations.list_for("alice")] == [mine]


def test_messages_keep_their_order_and_details(conversations):
    conversation_id = conversations.create("alice", "")
    for i in range(12):  # several land in the same millisecond
        role = "user" if i % 2 == 0 else "assistant"
        conversations.add_message(conversation_id, "alice", role, f"m{i}", {"i": i, "ü": [1]})
    conversation = conversations.get(conversation_id, "alice")
    assert conversation.title == "New conversation"
    assert [m.content for m in conversation.messages] == [f"m{i}" for i in range(12)]
    assert conversation.messages[3].details == {"i": 3, "ü": [1]}
    assert conversations.get(conversation_id, "bob") is None


def test_feedback_is_replaced_and_owner_only(conversations):
    conversation_id = conversations.create("alice", "t")
    question = conversations.add_message(conversation_id, "alice", "user", "q", {})
    answer = conversations.add_message(conversation_id, "alice", "assistant", "a", {})
    assert conversations.add_feedback(question, "alice", "up", "") is None  # not an answer
    assert conversations.add_feedback(answer, "bob", "up", "") is None
    assert conversations.add_feedback(answer, "alice", "up", "good") is not None
    assert conversations.add_feedback(answer, "alice", "down", "x" * 5000) is not None
    feedback = conversations.feedback_for(answer, "alice")
    assert feedback == {"rating": "down", "comment": "x" * 2000}
    assert conversations.feedback_for(answer, "bob") is None


def test_rename_delete_and_purge(conversations):
    kept = conversations.create("alice", "kept")
    gone = conversations.create("alice", "gone")
    answer = conversations.add_message(gone, "alice", "assistant", "a", {})
    conversations.add_feedback(answer, "alice", "up", "")
    assert conversations.rename(kept, "alice", "  ")
    assert conversations.get(kept, "alice").title == "Untitled"
    assert conversations.delete(gone, "alice")
    assert conversations.get(gone, "alice") is None
    assert conversations.feedback_for(answer, "alice") is None  # cascaded
    assert conversations.purge(0) == 0  # keep forever
    assert conversations.purge(1) == 0
    assert [c.id for c in conversations.list_for("alice")] == [kept]


def test_delete_all_removes_one_owners_conversations_and_ratings(conversations):
    for owner in ("alice", "alice", "bob"):
        conversation = conversations.create(owner, "t")
        conversations.add_message(conversation, owner, "user", "q", {})
        answer = conversations.add_message(conversation, owner, "assistant", "a", {})
        conversations.add_feedback(answer, owner, "up", "")
    assert conversations.delete_all("alice") == (2, 4)
    assert conversations.list_for("alice") == [] and conversations.feedback_for(answer, "bob")
    assert conversations.delete_all("alice") == (0, 0)


def test_a_deleted_conversation_leaves_no_copy_in_the_sqlite_files(tmp_path):
    """The write-ahead log kept the question, the title and the feedback after Delete."""
    database = service_database(tmp_path / "data")
    conversations = ConversationStore(database=database)
    gone = conversations.create("alice", "ZEBRATITLE divorce lawyer")
    conversations.add_message(gone, "alice", "user", "ZEBRAQUESTION my manager", {})
    answer = conversations.add_message(gone, "alice", "assistant", "ZEBRAANSWER", {})
    conversations.add_feedback(answer, "alice", "down", "ZEBRACOMMENT Jane Doe")
    kept = conversations.create("alice", "kept")
    conversations.add_message(kept, "alice", "user", "ZEBRAKEPT", {})
    files = sorted((tmp_path / "data").glob("hearth.sqlite3*"))
    assert b"ZEBRAQUESTION" in b"".join(f.read_bytes() for f in files)

    assert conversations.delete(gone, "alice")
    on_disk = b"".join(f.read_bytes() for f in (tmp_path / "data").glob("hearth.sqlite3*"))
    for secret in (b"ZEBRATITLE", b"ZEBRAQUESTION", b"ZEBRAANSWER", b"ZEBRACOMMENT"):
        assert secret not in on_disk, secret
    assert b"ZEBRAKEPT" in on_disk  # only the deleted one
    database.close()


def test_a_delete_waits_briefly_for_a_reader_to_leave_the_log(tmp_path):
    """The review: a search open on the store gave up the truncation at once, silently."""
    import sqlite3
    import threading

    database = service_database(tmp_path / "data")
    conversations = ConversationStore(database=database)
    gone = conversations.create("alice", "t")
    conversations.add_message(gone, "alice", "user", "ZEBRAREADER question", {})
    reader = sqlite3.connect(tmp_path / "data" / "hearth.sqlite3", check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM conversations").fetchall()  # a snapshot held
    threading.Timer(0.3, reader.rollback).start()
    assert conversations.delete(gone, "alice")
    reader.close()
    on_disk = b"".join(f.read_bytes() for f in (tmp_path / "data").glob("hearth.sqlite3*"))
    assert b"ZEBRAREADER" not in on_disk
    database.close()


def test_purge_removes_idle_conversations(databases):
    database = databases()
    conversations = ConversationStore(database=database)
    old = conversations.create("alice", "old")
    conversations.create("alice", "new")
    long_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    with database.transaction(write=True) as tx:
        tx.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (long_ago, old))
    assert conversations.purge(7) == 1
    assert [c.title for c in conversations.list_for("alice")] == ["new"]


def test_a_running_service_purges_expired_conversations_when_they_are_read(databases, monkeypatch):
    """Purged only at start, a server up for months kept serving conversations past
    HEARTH_RETENTION_DAYS; now reading them purges, at most once per PURGE_EVERY_S."""
    from app import conversations as module

    database = databases()
    store = ConversationStore(database=database, retention_days=7)
    assert store.list_for("alice") == []  # the first read purges (nothing yet)
    kept, expired = store.create("alice", "kept"), store.create("alice", "expired")
    long_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    with database.transaction(write=True) as tx:
        tx.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (long_ago, expired))
    assert store.get(expired, "alice") is not None  # purged less than an hour ago: not yet
    later = time.monotonic() + module.PURGE_EVERY_S
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert store.get(expired, "alice") is None
    assert [c.id for c in store.list_for("alice")] == [kept]


def test_keys_verify_until_revoked(databases):
    keys = KeyStore(database=databases())
    key, info = keys.create(" carol ", "hr, Finance")
    assert info.user == "carol" and info.groups == frozenset({"hr", "finance"})
    assert keys.verify(key) == Principal("carol", frozenset({"hr", "finance"}))
    assert keys.verify(key + "x") is None
    assert keys.verify("not-a-key") is None
    listed = keys.all()
    assert [(k.id, k.user, k.revoked_at) for k in listed] == [(info.id, "carol", None)]
    assert keys.revoke(info.id)
    assert not keys.revoke(info.id)
    assert keys.verify(key) is None
    assert keys.all()[0].revoked_at is not None
    with pytest.raises(ValueError):
        keys.create("  ", "public")


def test_a_keys_last_use_is_recorded_at_most_once_per_resolution(databases, monkeypatch):
    """`keys list` shows when a key was last used, for rotation audits, without a write per
    request."""
    from app import keys as keys_module

    keys = KeyStore(database=databases())
    key, _ = keys.create("erin", "public")
    assert keys.all()[0].last_used_at is None
    assert keys.verify(key) is not None
    first = keys.all()[0].last_used_at
    assert first is not None and datetime.fromisoformat(first) > datetime.now(UTC) - timedelta(
        minutes=1
    )
    assert keys.verify(key) is not None  # again at once: not written again
    assert keys.all()[0].last_used_at == first
    later = datetime.now(UTC) + keys_module.KEY_USE_RESOLUTION + timedelta(seconds=1)
    monkeypatch.setattr(keys_module, "datetime", type("Later", (), {"now": lambda tz: later}))
    assert keys.verify(key) is not None
    assert keys.all()[0].last_used_at == later.isoformat()


def test_recording_a_keys_use_never_waits_for_an_ingests_write_lock(tmp_path, caplog):
    """Written inside the request, it waited for the lock (up to 30 s) and held up every other
    key check and conversation read: now it gives up at once and says so."""
    import sqlite3
    import threading

    from app.service_db import SQLiteServiceDatabase

    SQLiteStore(tmp_path).close()
    keys = KeyStore(database=SQLiteServiceDatabase(tmp_path))
    key, _ = keys.create("gina", "public")
    ingest = sqlite3.connect(tmp_path / "hearth.sqlite3", isolation_level=None)
    ingest.execute("BEGIN IMMEDIATE")  # as an ingest holds it while it writes a document
    verified = []
    thread = threading.Thread(target=lambda: verified.append(keys.verify(key)), daemon=True)
    thread.start()
    thread.join(20)  # a guard against hanging only: the lock is held for 30 s
    ingest.execute("ROLLBACK")
    ingest.close()
    assert verified == [Principal("gina", frozenset({"public"}))]
    assert "could not record the use of API key" in caplog.text
    assert keys.all()[0].last_used_at is None  # recorded on a later use


def test_a_key_is_accepted_when_its_use_cannot_be_recorded(databases, monkeypatch, caplog):
    keys = KeyStore(database=databases())
    key, _ = keys.create("frank", "public")

    def refuse(*, write, **options):
        if write:
            raise RuntimeError("read-only")
        return real(write=write, **options)

    real = keys._db.transaction
    monkeypatch.setattr(keys._db, "transaction", refuse)
    assert keys.verify(key) == Principal("frank", frozenset({"public"}))
    assert "could not record the use of API key" in caplog.text
    assert "read-only" in caplog.text  # the refusal itself, not a fake that failed otherwise


def test_another_replica_sees_keys_and_conversations_at_once(databases):
    first, second = databases(), databases()
    key, info = KeyStore(database=first).create("dave", "public")
    assert KeyStore(database=second).verify(key) == Principal("dave", frozenset({"public"}))
    conversation_id = ConversationStore(database=first).create("dave", "t")
    ConversationStore(database=second).add_message(conversation_id, "dave", "user", "q", {})
    ConversationStore(database=first).add_message(conversation_id, "dave", "assistant", "a", {})
    seen = ConversationStore(database=second).get(conversation_id, "dave")
    assert [(m.role, m.content) for m in seen.messages] == [("user", "q"), ("assistant", "a")]
    KeyStore(database=second).revoke(info.id)
    assert KeyStore(database=first).verify(key) is None


def test_services_keep_their_rows_next_to_the_store(tmp_path, pg_url):
    """With a PostgreSQL store the service writes keys and conversations there, not to disk."""
    store = PostgresStore(pg_url)
    settings = Settings(data_dir=tmp_path / "unused", database_url=pg_url)
    services = build_services(settings, store, HashEmbedder(), ScriptedChatModel())
    key, _ = services.keys.create("erin", "public")
    conversation_id = services.conversations.create("erin", "t")
    assert not (tmp_path / "unused").exists()
    replica = service_database(tmp_path, pg_url)
    assert KeyStore(database=replica).verify(key) is not None
    assert ConversationStore(database=replica).get(conversation_id, "erin") is not None
    replica.close()
    store.close()

    embedded = SQLiteStore(tmp_path / "data", vector_kind="exact")
    local = build_services(Settings(data_dir=tmp_path / "data"), embedded, HashEmbedder(),
                           ScriptedChatModel())  # fmt: skip
    key, _ = local.keys.create("erin", "public")
    assert KeyStore(tmp_path / "data").verify(key) is not None
    embedded.close()
