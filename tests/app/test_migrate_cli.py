"""`hearth migrate`: an embedded store copied into PostgreSQL answers the same, ids kept."""

from __future__ import annotations

import numpy as np
import psycopg
from click.testing import CliRunner
from fakes import HashEmbedder

from app.conversations import ConversationStore
from app.keys import KeyStore
from app.migrate_cli import migrate_command
from index.postgres import PostgresStore
from index.search import bm25_top_k, dense_top_k
from index.store import SQLiteStore
from index.types import Chunk, Document, Section

PUBLIC = frozenset({"public"})
HR = frozenset({"hr"})


def fill(data_dir, embedder) -> SQLiteStore:
    store = SQLiteStore(data_dir, vector_kind="exact")
    store.check_embedder(embedder.model_id, embedder.dim)
    docs = [
        ("wiki:1", "Annual leave", "wiki", PUBLIC, ["Paris staff get 27 days.", "Berlin 30."]),
        ("bands", "Salary bands", "text", HR, ["Band B pays between 50 and 60 thousand."]),
        ("bikes", "Bike scheme", "text", PUBLIC | HR, ["Half of a new bicycle is refunded."]),
    ]
    for doc_id, title, kind, groups, texts in docs:
        document = Document(
            doc_id, f"/src/{doc_id}", title, kind, (Section(("Part",), " ".join(texts)),),
            groups=groups, content_hash=f"h-{doc_id}", categories=("Policies",),
        )  # fmt: skip
        chunks = [Chunk(doc_id, t, ("Part", "Sub"), i, 9, anchor="Part") for i, t in enumerate(texts)]  # fmt: skip
        store.write_document(document, chunks, embedder.embed_documents(texts))
    store.set_aliases("wiki", "/src/wiki.xml", [("PTO", "Annual leave")])
    store.delete_documents(["bikes"])  # its chunk ids must not come back in PostgreSQL
    store.write_document(*_bikes(embedder))
    store.publish_vectors()
    conversations = ConversationStore(data_dir)
    conversation = conversations.create("alice", "Leave")
    message = conversations.add_message(conversation, "alice", "assistant", "27 days.", {"n": 1})
    assert message is not None
    conversations.add_feedback(message, "alice", "up", "thanks")
    KeyStore(data_dir).create("bob", "hr")
    return store


def _bikes(embedder):
    texts = ["Half of a new bicycle is refunded."]
    document = Document("bikes", "/src/bikes", "Bike scheme", "text",
                        (Section(("Part",), texts[0]),), groups=PUBLIC, content_hash="h-bikes")  # fmt: skip
    return document, [Chunk("bikes", texts[0], ("Part",), 0, 9)], embedder.embed_documents(texts)


def test_migrate_copies_everything_and_answers_the_same(tmp_path, pg_url):
    embedder = HashEmbedder()
    source = fill(tmp_path / "data", embedder)
    runner = CliRunner()
    result = runner.invoke(migrate_command, ["--from", str(tmp_path / "data"), "--to", pg_url])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:-1]}
    assert lines["documents"] == ["3", "3"]
    assert lines["chunks"] == ["4", "4"]
    assert lines["acl"] == ["4", "4"]  # 2 public + 1 hr + 1 public
    assert lines["aliases"] == ["1", "1"]
    for table in ("conversations", "messages", "feedback", "api_keys"):
        assert lines[table] == ["1", "1"], table

    target = PostgresStore(pg_url)
    assert target.manifest()["embedder"] == embedder.model_id
    assert target.manifest()["dim"] == str(embedder.dim)
    assert target.document_state() == source.document_state()
    for query, groups in (("PTO", PUBLIC), ("Paris days", PUBLIC), ("salary band", HR)):
        expected = [(p.chunk.id, p.document.id) for p in bm25_top_k(source, query, groups, 5)]
        got = [(p.chunk.id, p.document.id) for p in bm25_top_k(target, query, groups, 5)]
        assert got == expected, query  # same chunk ids; aliases still find the page
        dense_expected = [p.chunk.id for p in dense_top_k(source, embedder, query, groups, 5)]
        assert [p.chunk.id for p in dense_top_k(target, embedder, query, groups, 5)] == dense_expected  # fmt: skip
    assert bm25_top_k(target, "salary band", PUBLIC, 5) == []  # the ACL came along
    ids = [p.chunk.id for p in source.document_chunks("wiki:1", PUBLIC)]
    np.testing.assert_array_equal(target.embeddings(ids), source.embeddings(ids))
    document = target.get_document("wiki:1", PUBLIC)
    assert document is not None and document.categories == ("Policies",)
    assert target.document_chunks("wiki:1", PUBLIC)[0].chunk.heading_path == ("Part", "Sub")

    # New chunks continue after every id SQLite ever gave out (the deleted ones included).
    highest = source.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'")[0][0]
    target.write_document(*_bikes(embedder))
    assert target.document_chunks("bikes", PUBLIC)[0].chunk.id > highest
    target.close()

    # Running it again is refused: the target now holds what was written since (a second
    # run from a runbook wiped it and brought revoked keys back); nothing is changed.
    refused = runner.invoke(migrate_command, ["--from", str(tmp_path / "data"), "--to", pg_url])
    assert refused.exit_code == 2 and "--replace" in refused.output
    assert "already holds a Hearth store" in refused.output and "Traceback" not in refused.output
    target = PostgresStore(pg_url)
    assert target.document_chunks("bikes", PUBLIC)[0].chunk.id > highest  # still there
    target.close()

    # With --replace it replaces what PostgreSQL holds (the rewritten "bikes" included).
    again = runner.invoke(
        migrate_command, ["--from", str(tmp_path / "data"), "--to", pg_url, "--replace"]
    )
    assert again.exit_code == 0, again.output
    target = PostgresStore(pg_url)
    assert target.document_state() == source.document_state()
    assert target.count_readable(PUBLIC | HR) == source.count_readable(PUBLIC | HR)
    assert int(target.manifest()["vector_generation"]) == 2
    with psycopg.connect(pg_url) as conn:
        assert conn.execute('SELECT "user", groups FROM api_keys').fetchall() == [("bob", '["hr"]')]
    target.close()
    source.close()


def test_migrate_refuses_a_folder_without_a_store(tmp_path, pg_url):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(migrate_command, ["--from", str(tmp_path / "empty"), "--to", pg_url])  # fmt: skip
    assert result.exit_code == 2  # as every other command: it was 1, with "Error:"
    assert result.output.startswith("error: ") and "no Hearth store" in result.output
    bad = CliRunner().invoke(migrate_command, ["--from", str(tmp_path), "--to", "sqlite:///x"])
    assert bad.exit_code == 2
