"""Store contract: run against every backend (SQLite + FAISS, SQLite + the exact numpy index,
PostgreSQL + pgvector), through the `store` / `store_factory` fixtures in tests/conftest.py."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fakes import HashEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import postgres
from index.errors import EmbedderMismatchError, StoreError
from index.postgres import PostgresStore
from index.protocols import Store
from index.search import bm25_top_k, dense_top_k, fts_query
from index.store import DB_NAME, SQLiteStore
from index.types import Chunk, Document, Section

PUBLIC = frozenset({"public"})
HR = frozenset({"hr"})


def make_doc(doc_id: str, texts: list[str], groups=PUBLIC, title: str | None = None, kind="text"):
    document = Document(
        id=doc_id,
        source=f"/src/{doc_id}",
        title=title or doc_id.title(),
        kind=kind,
        sections=tuple(Section(("Part",), t) for t in texts),
        groups=frozenset(groups),
        content_hash=f"hash-{doc_id}-{len(texts)}",
    )
    chunks = [
        Chunk(doc_id, t, ("Part",), i, len(t.split()) + 2, anchor="Part")
        for i, t in enumerate(texts)
    ]
    return document, chunks


def write(store: Store, embedder: HashEmbedder, doc_id: str, texts: list[str], groups=PUBLIC, **kw):
    document, chunks = make_doc(doc_id, texts, groups, **kw)
    store.check_embedder(embedder.model_id, embedder.dim)
    store.write_document(document, chunks, embedder.embed_documents(texts))
    return document


def outside_sql(store: Store, statement: str) -> None:
    """Change the store's database through a connection of its own (another process, a DBA)."""
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(statement.encode())
        return
    assert isinstance(store, SQLiteStore)
    conn = sqlite3.connect(store.data_dir / DB_NAME)
    conn.execute(statement)
    conn.commit()
    conn.close()


def derived_tables(store: Store) -> list[str]:
    """Tables holding a document and what was derived from it (SQLite adds its FTS5 table)."""
    tables = ["documents", "chunks", "acl"]
    return tables if isinstance(store, PostgresStore) else [*tables, "chunks_fts"]


def test_written_document_is_found_by_both_searches(store, embedder):
    write(store, embedder, "leave", ["Employees in Paris get 27 days of annual leave."])
    write(store, embedder, "bikes", ["The bike scheme refunds half of a new bicycle."])
    store.publish_vectors()
    lexical = bm25_top_k(store, "How much annual leave in Paris?", PUBLIC, 5)
    dense = dense_top_k(store, embedder, "annual leave Paris", PUBLIC, 5)
    assert lexical[0].document.id == "leave"
    assert dense[0].document.id == "leave"
    assert lexical[0].chunk.heading_path == ("Part",)
    assert [p.rank for p in dense] == list(range(1, len(dense) + 1))


def test_restricted_chunks_never_take_a_slot(store, embedder):
    # Ten restricted chunks that match the query better than the public ones.
    for i in range(10):
        write(store, embedder, f"secret{i}", [f"salary band salary band secret {i}"], HR)
    for i in range(5):
        write(store, embedder, f"public{i}", [f"salary review process step {i}"])
    store.publish_vectors()
    for results in (
        bm25_top_k(store, "salary band", PUBLIC, 5),
        dense_top_k(store, embedder, "salary band", PUBLIC, 5),
    ):
        assert len(results) == 5  # full k although better restricted matches exist
        assert all(p.document.id.startswith("public") for p in results)
    hr_results = bm25_top_k(store, "salary band", HR | PUBLIC, 5)
    assert all(p.document.id.startswith("secret") for p in hr_results)
    assert hr_results[0].document.groups == HR


def test_restricted_chunks_crowding_the_top_rows_still_leave_k_readable_ones(store, embedder):
    # Far more strong restricted matches than readable ones: none of them may take a slot.
    write(store, embedder, "secret", [f"salary band salary band note {i}" for i in range(40)], HR)
    write(store, embedder, "open", [f"salary review step {i}" for i in range(20)])
    results = bm25_top_k(store, "salary band", PUBLIC, 3)
    assert [p.document.id for p in results] == ["open"] * 3
    assert len(bm25_top_k(store, "salary band", HR | PUBLIC, 50)) == 50
    assert {p.document.id for p in bm25_top_k(store, "salary band", HR | PUBLIC, 10)} == {"secret"}


def test_restricted_chunks_do_not_move_a_public_callers_lexical_scores(store, embedder):
    """FTS5's bm25() counted restricted chunks in its statistics, so an anonymous caller saw a
    public card's score and rank move when an hr document sharing a word was added (and, in
    the first fix, the scores' last digits)."""
    write(store, embedder, "partners", ["Kestrel Robotics invoices monthly; payroll in January."])
    write(store, embedder, "contacts", ["Contacts at Kestrel: the facilities manager in Lisbon."])
    write(store, embedder, "canteen", ["The canteen serves lunch in January from noon."])
    write(store, embedder, "unrelated", ["Board minutes of the spring meeting."], HR)
    query = "Kestrel payroll January Lisbon"

    def public_view():
        return [(p.document.id, p.score) for p in bm25_top_k(store, query, PUBLIC, 10)]

    before = public_view()
    assert len(before) == 3
    write(
        store,
        embedder,
        "nightjar",
        [f"Kestrel payroll note {i} for January" for i in range(30)],
        HR,
    )
    write(store, embedder, "long", [" ".join(["Lisbon"] + ["filler"] * 300)], HR)
    if isinstance(store, PostgresStore):
        outside_sql(store, "ANALYZE chunks")  # the table statistics an IDF might read
    assert public_view() == before  # exactly: no digit depends on what the caller cannot read
    assert "nightjar" in {p.document.id for p in bm25_top_k(store, query, HR, 10)}  # it matches


def test_last_ingested_tells_a_caller_only_of_documents_it_may_read(store, embedder):
    """/api/info gave everyone the store-wide last ingest: an anonymous caller saw it move
    when only hr documents had been added."""
    assert store.last_ingested(PUBLIC) is None
    write(store, embedder, "canteen", ["The canteen opens at noon."])
    write(store, embedder, "salaries", ["Band C pays 52,000 EUR."], HR)
    outside_sql(store, "UPDATE documents SET ingested_at = '2030-01-02T03:04:05+00:00' WHERE id = 'salaries'")  # fmt: skip
    public = store.last_ingested(PUBLIC)
    assert public is not None and public < "2030" and public[:2] == "20"
    assert store.last_ingested(HR) == "2030-01-02T03:04:05+00:00"
    assert store.last_ingested(frozenset()) is None


def test_a_word_made_of_several_tokens_matches_where_all_of_them_are(store, embedder):
    """ "abc_def" is two tokens: PostgreSQL OR-ed them and found chunks holding either."""
    write(store, embedder, "both", ["the setting max_upload is the limit"])
    write(store, embedder, "max", ["the max is high"])
    write(store, embedder, "upload", ["an upload is slow"])
    found = bm25_top_k(store, "max_upload", PUBLIC, 5)
    assert [p.document.id for p in found] == ["both"]


def test_bm25_for_a_reader_of_everything_is_fts5s_own(tmp_path, embedder):
    """index/bm25.py recomputes FTS5's bm25() from per-phrase scores; with every row readable
    it must give FTS5's numbers, or the restricted-caller path ranks by something else."""
    from index.bm25 import Corpus, readable_scores

    store = SQLiteStore(tmp_path / "data")
    write(store, embedder, "a", ["Kestrel invoices monthly", "payroll January Kestrel Kestrel"])
    write(store, embedder, "b", ["January payroll", " ".join(["word"] * 80 + ["Kestrel"])],
          title="Kestrel handbook")  # fmt: skip
    match = fts_query("Kestrel payroll January")
    with store._snapshot():
        lengths, everyone = store._row_lengths(), store._readable_mask(PUBLIC)
        phrases = [store._phrase_scores(p) for p in ("kestrel", "payroll", "january")]
        statistics = Corpus.of(lengths)
        ids, scores = readable_scores(phrases, lengths, everyone, statistics, statistics)
        expected = store._conn.execute(
            "SELECT rowid, -bm25(chunks_fts, 4, 2, 1) FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY bm25(chunks_fts, 4, 2, 1), rowid",
            (match,),
        ).fetchall()
    assert ids.tolist() == [r[0] for r in expected]
    assert scores.tolist() == pytest.approx([r[1] for r in expected], rel=1e-12)
    store.close()


def test_chunk_without_acl_row_is_invisible(store, embedder, tmp_path):
    write(store, embedder, "doc", ["quarterly budget figures"])
    store.publish_vectors()
    store.execute("SELECT 1")  # connection is live
    outside_sql(store, "DELETE FROM acl")
    store.set_manifest(acl_version="999")  # readers cache allowed ids per ACL version
    assert bm25_top_k(store, "budget", PUBLIC, 5) == []
    assert dense_top_k(store, embedder, "budget", PUBLIC, 5) == []
    assert store.get_document("doc", PUBLIC) is None


def test_empty_or_unknown_groups_fail_closed(store, embedder):
    write(store, embedder, "doc", ["canteen opening hours"])
    store.publish_vectors()
    for groups in (frozenset(), frozenset({"nobody"})):
        assert bm25_top_k(store, "canteen", groups, 5) == []
        assert dense_top_k(store, embedder, "canteen", groups, 5) == []
        assert store.get_document("doc", groups) is None
    with pytest.raises(StoreError):
        write(store, embedder, "nogroups", ["text"], frozenset())


def test_rewrite_replaces_and_delete_removes_everything(store, embedder):
    write(store, embedder, "doc", ["old text about parking"])
    write(store, embedder, "doc", ["new text about canteen", "second chunk"])
    store.publish_vectors()
    assert bm25_top_k(store, "parking", PUBLIC, 5) == []
    assert len(store.document_chunks("doc", PUBLIC)) == 2
    assert store.delete_documents(["doc"]) == 1
    for table in derived_tables(store):
        assert store.execute(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    assert store.delete_documents(["doc"]) == 0


def _fail_in_the_middle_of_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    """Make the next write fail after its chunks went in; returns the error it raises."""
    if isinstance(store, PostgresStore):

        def explode(*args):
            raise psycopg.errors.DiskFull("could not extend file (injected)")

        monkeypatch.setattr(postgres, "insert_acl", explode)
        return StoreError  # driver errors reach callers as a StoreError with a clear message
    assert isinstance(store, SQLiteStore)
    calls = {"n": 0}
    real_execute = store._conn.execute

    class Exploding:
        def __getattr__(self, name):
            return getattr(store._conn_real, name)

    # Fail on the second chunk's ACL insert, in the middle of the document's transaction.
    def flaky_executemany(sql, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return store._conn_real.executemany(sql, rows)

    store._conn_real = store._conn  # type: ignore[attr-defined]
    proxy = Exploding()
    proxy.execute = real_execute  # type: ignore[attr-defined]
    proxy.executemany = flaky_executemany  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "_conn", proxy)
    return StoreError  # as with PostgreSQL: a failed write reaches callers as a StoreError


def test_failed_write_leaves_nothing_behind(store, embedder, monkeypatch):
    document, chunks = make_doc("doc", ["one", "two", "three"])
    store.check_embedder(embedder.model_id, embedder.dim)
    error = _fail_in_the_middle_of_writes(store, monkeypatch)
    with pytest.raises(error):
        store.write_document(document, chunks, embedder.embed_documents(["one", "two", "three"]))
    monkeypatch.undo()
    for table in derived_tables(store):
        assert store.execute(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    write(store, embedder, "other", ["the store still takes writes"])
    assert store.execute("SELECT count(*) FROM chunks")[0][0] == 1


def test_failed_rewrite_keeps_the_old_version(store, embedder, monkeypatch):
    write(store, embedder, "doc", ["old text about parking"])
    store.publish_vectors()
    document, chunks = make_doc("doc", ["new text", "more new text"])
    error = _fail_in_the_middle_of_writes(store, monkeypatch)
    with pytest.raises(error):
        store.write_document(document, chunks, embedder.embed_documents(["new", "more"]))
    monkeypatch.undo()
    assert [p.chunk.text for p in store.document_chunks("doc", PUBLIC)] == [
        "old text about parking"
    ]
    assert [p.document.id for p in bm25_top_k(store, "parking", PUBLIC, 5)] == ["doc"]


def test_set_groups_takes_effect_at_once(store, embedder):
    write(store, embedder, "doc", ["expense policy for travel"], HR)
    store.publish_vectors()
    assert bm25_top_k(store, "expense", PUBLIC, 5) == []
    store.set_groups("doc", PUBLIC)
    assert [p.document.id for p in bm25_top_k(store, "expense", PUBLIC, 5)] == ["doc"]
    assert [p.document.id for p in dense_top_k(store, embedder, "expense", PUBLIC, 5)] == ["doc"]
    store.set_groups("doc", HR)
    assert dense_top_k(store, embedder, "expense", PUBLIC, 5) == []


def test_other_embedder_is_refused(store, embedder):
    write(store, embedder, "doc", ["text"])
    with pytest.raises(EmbedderMismatchError, match="built with embedder 'hash-embedder'"):
        store.check_embedder("another-model", embedder.dim)
    with pytest.raises(EmbedderMismatchError):
        store.check_embedder(embedder.model_id, embedder.dim + 1)


def test_aliases_make_the_target_findable(store, embedder):
    write(store, embedder, "wiki:1", ["Days off per office."], title="Annual leave", kind="wiki")
    store.set_aliases("wiki", "/src/wiki.xml", [("PTO", "Annual leave")])
    assert [p.document.id for p in bm25_top_k(store, "PTO", PUBLIC, 5)] == ["wiki:1"]
    # A rewrite of the target keeps its aliases.
    write(store, embedder, "wiki:1", ["Days off, revised."], title="Annual leave", kind="wiki")
    assert [p.document.id for p in bm25_top_k(store, "pto", PUBLIC, 5)] == ["wiki:1"]


def test_a_dump_read_again_drops_the_redirects_it_no_longer_holds(store, embedder):
    """Aliases were only ever added: a removed redirect, one pointed elsewhere, or one whose
    page became restricted stayed a searchable word of its old target."""
    write(store, embedder, "wiki:1", ["Days off per office."], title="Annual leave", kind="wiki")
    write(store, embedder, "wiki:2", ["Ferns and palms."], title="Plants", kind="wiki")
    write(store, embedder, "wiki:3", ["Lunch from noon."], title="Canteen", kind="wiki")
    dump, part_two = "/dumps/wiki.xml", "/dumps/wiki-2.xml"

    def found(word: str) -> list[str]:
        return [p.document.id for p in bm25_top_k(store, word, PUBLIC, 5)]

    store.set_aliases("wiki", dump, [("PTO", "Annual leave"), ("Greenery", "Plants")])
    store.set_aliases("wiki", part_two, [("Holiday", "Annual leave")])
    assert found("PTO") == found("Holiday") == ["wiki:1"] and found("Greenery") == ["wiki:2"]
    store.set_aliases("wiki", dump, [("Greenery", "Canteen")], complete=False)  # read in part
    assert found("PTO") == ["wiki:1"] and found("Greenery") == ["wiki:3"]
    store.set_aliases("wiki", dump, [("Greenery", "Canteen")])  # read whole: PTO is gone
    assert found("PTO") == [] and found("Greenery") == ["wiki:3"]
    assert found("Holiday") == ["wiki:1"]  # another part of the dump keeps its own
    store.set_aliases("wiki", dump, [], gone=lambda source: source == part_two)
    assert found("Holiday") == found("Greenery") == []
    assert store.stats()["aliases"] == 0


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=200))
def test_no_query_string_raises(store, embedder, query):
    if store.execute("SELECT count(*) FROM documents")[0][0] == 0:
        write(store, embedder, "doc", ['AND OR NOT "quoted" title:x NEAR(a b) * ^ ( ) -x'])
    bm25_top_k(store, query, PUBLIC, 5)
    expression = fts_query(query)
    assert '"' not in expression.replace('" OR "', "").strip('"')


@pytest.mark.parametrize(
    "query", ['"', "title:secret", "NEAR(a b)", "a AND", "*", "-x", "(", "^start", "\x00", "é’🙂"]
)
def test_fts_operators_are_neutralised(store, embedder, query):
    write(store, embedder, "doc", ["title secret near start"])
    assert isinstance(bm25_top_k(store, query, PUBLIC, 5), list)


def test_readers_pick_up_new_generations(store_factory, embedder):
    writer, reader = store_factory(), store_factory()  # e.g. `hearth ingest` and a replica
    write(writer, embedder, "a", ["first document about bicycles"])
    writer.publish_vectors()
    reader.open_vectors()
    assert [p.document.id for p in dense_top_k(reader, embedder, "bicycles", PUBLIC, 3)] == ["a"]
    write(writer, embedder, "b", ["second document about ferries"])
    writer.publish_vectors()
    assert dense_top_k(reader, embedder, "ferries", PUBLIC, 1)[0].document.id == "b"
    assert [p.document.id for p in bm25_top_k(reader, "ferries", PUBLIC, 3)] == ["b"]
    writer.delete_documents(["a"])
    writer.publish_vectors()
    assert dense_top_k(reader, embedder, "bicycles", PUBLIC, 3)[0].document.id == "b"


def _vector_file(store: SQLiteStore) -> Path:
    return store.data_dir / store.manifest()["vector_file"]


@pytest.mark.parametrize("damage", ["missing", "truncated", "bitflip", "swapped"])
def test_damaged_vector_file_is_rebuilt_not_served(tmp_path, embedder, damage):
    store = SQLiteStore(tmp_path / "d")
    write(store, embedder, "a", ["alpha text"])
    store.publish_vectors()
    good = _vector_file(store).read_bytes()
    write(store, embedder, "b", ["beta text"])
    generation = store.publish_vectors()
    path = _vector_file(store)
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "bitflip":
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x40
        path.write_bytes(bytes(flipped))
    else:  # an older, valid generation file put in place of the current one
        path.write_bytes(good)
    store.close()
    reopened = SQLiteStore(tmp_path / "d")
    reopened.open_vectors()
    assert int(reopened.manifest()["vector_generation"]) == generation + 1
    found = {p.document.id for p in dense_top_k(reopened, embedder, "beta text", PUBLIC, 5)}
    assert found == {"a", "b"}
    reopened.close()


def test_stale_generation_is_rebuilt_at_open(tmp_path, embedder):
    store = SQLiteStore(tmp_path / "d")
    write(store, embedder, "a", ["alpha"])
    store.publish_vectors()
    write(store, embedder, "b", ["beta gamma"])  # written, but the run "died" before publishing
    store.close()
    reopened = SQLiteStore(tmp_path / "d")
    reopened.open_vectors()
    assert [p.document.id for p in dense_top_k(reopened, embedder, "beta gamma", PUBLIC, 1)] == [
        "b"
    ]
    assert int(reopened.manifest()["vector_count"]) == 2
    reopened.close()


def test_vectors_use_no_pickle(tmp_path, embedder):
    store = SQLiteStore(tmp_path / "d", vector_kind="exact")
    write(store, embedder, "a", ["alpha"])
    store.publish_vectors()
    with np.load(_vector_file(store), allow_pickle=False) as data:
        assert set(data.files) == {"ids", "matrix"}
    store.close()


def test_list_documents_shows_every_document_or_those_groups_may_read(store, embedder):
    write(store, embedder, "b-pay", ["pay scales"], HR, title="Pay")
    write(store, embedder, "a-leave", ["leave", "more leave"], PUBLIC | HR, title="Leave")
    write(store, embedder, "c-menu", ["menu"], PUBLIC, title="Menu")
    every = store.list_documents()
    assert [d.id for d in every] == ["a-leave", "b-pay", "c-menu"]
    leave = every[0]
    assert (leave.title, leave.groups, leave.n_chunks) == ("Leave", PUBLIC | HR, 2)
    assert [d.id for d in store.list_documents(HR)] == ["a-leave", "b-pay"]
    assert [d.id for d in store.list_documents(PUBLIC)] == ["a-leave", "c-menu"]
    assert store.list_documents(frozenset({"finance"})) == []
    assert store.list_documents(frozenset()) == []


def test_document_state_and_counts(store, embedder):
    store.check_embedder(embedder.model_id, embedder.dim)
    assert store.is_empty()
    for doc_id, source, groups in (
        ("a", "/wiki/a", PUBLIC),
        ("b", "/wiki/sub/b", HR),
        ("c", "/wikipedia/c", PUBLIC),
    ):
        document, chunks = make_doc(doc_id, [f"{doc_id} one", f"{doc_id} two"], groups)
        document = dataclasses.replace(document, source=source)
        store.write_document(document, chunks, embedder.embed_documents([c.text for c in chunks]))
    assert set(store.document_state("/wiki")) == {"a", "b"}  # a folder, not a name prefix
    assert store.document_state_of("b") == ("hash-b-2", HR)
    assert store.document_state_of("missing") is None
    assert store.count_readable(PUBLIC) == (2, 4)
    assert store.count_readable(PUBLIC | HR) == (3, 6)
    assert store.count_readable(frozenset()) == (0, 0)
    assert not store.is_empty()
    stats = store.stats()
    assert (stats["documents"], stats["chunks"]) == (3, 6)
    assert stats["by_group"] == {
        "hr": {"documents": 1, "chunks": 2},
        "public": {"documents": 2, "chunks": 4},
    }


def test_embeddings_come_back_in_the_order_asked(store, embedder):
    write(store, embedder, "doc", ["alpha", "beta", "gamma"])
    ids = [p.chunk.id for p in store.document_chunks("doc", PUBLIC)]
    got = store.embeddings([ids[2], 10**9, ids[0]])  # an unknown id is skipped
    np.testing.assert_allclose(got, embedder.embed_documents(["gamma", "alpha"]), rtol=1e-6)
    assert store.embeddings([]).shape == (0, embedder.dim)


def test_term_statistics_count_only_readable_chunks(store, embedder):
    write(store, embedder, "open", ["canteen menu", "parking rules"])
    write(store, embedder, "closed", ["canteen budget"], HR)
    ids = [p.chunk.id for p in store.document_chunks("open", PUBLIC)]
    total, frequencies, holders = store.term_statistics(["canteen", "zzz"], PUBLIC, ids)
    assert total == 2
    assert frequencies == {"canteen": 1, "zzz": 0}
    assert holders == {"canteen": {ids[0]}, "zzz": set()}
    assert store.term_statistics(["canteen"], PUBLIC | HR, ids)[:2] == (3, {"canteen": 2})


def test_term_statistics_follow_acl_changes_and_new_chunks(store, embedder):
    write(store, embedder, "open", ["canteen menu", "parking rules"])
    write(store, embedder, "closed", ["canteen budget", "canteen staff"], HR)
    open_ids = [p.chunk.id for p in store.document_chunks("open", PUBLIC)]
    assert store.term_statistics(["canteen"], PUBLIC, open_ids)[:2] == (2, {"canteen": 1})
    store.set_groups("closed", PUBLIC | HR)  # now readable: counted at once
    closed_ids = [p.chunk.id for p in store.document_chunks("closed", PUBLIC)]
    total, frequencies, holders = store.term_statistics(["canteen"], PUBLIC, closed_ids)
    assert (total, frequencies, holders) == (4, {"canteen": 3}, {"canteen": set(closed_ids)})
    write(store, embedder, "later", ["canteen hours"])  # a chunk written after the counts
    assert store.term_statistics(["canteen", "hours"], PUBLIC, [])[:2] == (
        5,
        {"canteen": 4, "hours": 1},
    )
    assert store.term_statistics(["canteen"], frozenset({"nobody"}), open_ids) == (
        0,
        {"canteen": 0},
        {"canteen": {open_ids[0]}},  # holders say which given chunk holds a term, readable or not
    )


def test_document_routes_respect_the_acl(store, embedder):
    write(store, embedder, "doc", ["first part", "second part"], HR)
    assert store.get_document("doc", PUBLIC) is None
    assert store.document_chunks("doc", PUBLIC) == []
    document = store.get_document("doc", HR)
    assert document is not None and document.n_chunks == 2 and document.groups == HR
    assert [p.chunk.position for p in store.document_chunks("doc", HR)] == [0, 1]


def test_manifest_round_trips(store, embedder):
    store.check_embedder(embedder.model_id, embedder.dim)
    store.set_manifest(last_ingest="2026-01-01T00:00:00Z")
    manifest = store.manifest()
    assert manifest["embedder"] == embedder.model_id
    assert manifest["dim"] == str(embedder.dim)
    assert manifest["last_ingest"] == "2026-01-01T00:00:00Z"


def test_sqlite_keeps_readable_ids_for_a_bounded_number_of_group_sets(tmp_path, embedder):
    from index import store as store_module

    store = SQLiteStore(tmp_path / "d", vector_kind="exact")
    write(store, embedder, "open", ["canteen menu monday"])
    write(store, embedder, "staff", ["canteen staff rota"], HR)
    callers = [PUBLIC | {f"user-{i}"} for i in range(3 * store_module.MAX_CACHED_GROUP_SETS)]
    for groups in callers:  # per-user group sets, as reverse-proxy headers may send
        assert store.term_statistics(["canteen"], groups, [])[:2] == (1, {"canteen": 1})
        assert [p.document.id for p in bm25_top_k(store, "canteen", groups, 5)] == ["open"]
    assert len(store._readable_cache) <= store_module.MAX_CACHED_GROUP_SETS
    assert len(store._allowed_cache) <= store_module.MAX_CACHED_GROUP_SETS
    assert store.term_statistics(["canteen"], PUBLIC | HR, [])[:2] == (2, {"canteen": 2})
    store.close()


def test_sqlite_store_hearth_creates_is_private_and_an_operators_one_keeps_its_mode(
    tmp_path, embedder
):
    """The database holds restricted text, key hashes and conversations: the folder and the
    database Hearth creates are the owner's alone (SQLite gives -wal and -shm the database's
    mode); a folder or database set up beforehand keeps the mode its operator chose."""
    old_umask = os.umask(0o022)
    try:
        data = tmp_path / "new" / "data"
        store = SQLiteStore(data)
        write(store, embedder, "a", ["alpha"])  # a write: the -wal and -shm files exist now
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.glob(f"{DB_NAME}*")}
        assert modes == {DB_NAME: 0o600, f"{DB_NAME}-wal": 0o600, f"{DB_NAME}-shm": 0o600}
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        store.close()

        existing = tmp_path / "operator"
        existing.mkdir(mode=0o750)
        sqlite3.connect(existing / DB_NAME).close()
        (existing / DB_NAME).chmod(0o640)
        SQLiteStore(existing).close()
        assert stat.S_IMODE(existing.stat().st_mode) == 0o750
        assert stat.S_IMODE((existing / DB_NAME).stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)


def test_a_store_a_newer_hearth_migrated_is_refused_not_half_used(store, embedder):
    """A step this version does not know (a newer Hearth's) was opened without a word."""
    store.check_embedder(embedder.model_id, embedder.dim)
    outside_sql(
        store,
        "INSERT INTO migrations(name, applied_at) VALUES ('9999_from_the_future', '2030-01-01')",
    )
    with pytest.raises(StoreError, match=r"upgraded by a newer Hearth.*9999_from_the_future"):
        if isinstance(store, PostgresStore):
            PostgresStore(store.url)
        else:
            SQLiteStore(store.data_dir)


def test_opening_an_older_sqlite_store_says_it_upgraded_its_schema(tmp_path, monkeypatch, caplog):
    """`hearth status` on a backup copy upgraded it without a word; an older Hearth then
    refuses it."""
    import logging

    from index import migrations
    from index import store as sqlite_store

    older = migrations.MIGRATIONS[:-1]
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", older)
        patch.setattr(sqlite_store, "MIGRATIONS", older)
        with caplog.at_level(logging.WARNING):
            SQLiteStore(tmp_path).close()  # a new store of the older version: nothing said
    assert "upgraded" not in caplog.text
    with caplog.at_level(logging.WARNING):
        SQLiteStore(tmp_path).close()
    newest = migrations.MIGRATIONS[-1][0]
    assert f"upgraded the store's schema in {tmp_path / DB_NAME} ({newest})" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        SQLiteStore(tmp_path).close()
    assert "upgraded" not in caplog.text
