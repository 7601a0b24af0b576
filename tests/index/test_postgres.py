"""PostgreSQL + pgvector store: what the shared contract (test_store.py) cannot say.

Runs against a real server started by tests/pg_fixture.py: migrations, the HNSW index with a
selective ACL (iterative scans), MVCC under a concurrent writer, the counterparts of the SQLite
store's own tests, parity with the SQLite store, and the store factory.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fakes import HashEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgvector.psycopg import register_vector

from index import pg_queries, pg_schema
from index import postgres as pg
from index.errors import ConfigurationError, StoreError
from index.open_store import open_store
from index.pg_queries import DENSE_SQL
from index.postgres import PostgresStore
from index.search import RetrievalSettings, bm25_top_k, dense_top_k, hybrid_search
from index.store import SQLiteStore
from index.types import Chunk, Document, Section
from ingest.pipeline import IngestOptions, Ingestor

PUBLIC = frozenset({"public"})
HR = frozenset({"hr"})
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@pytest.fixture
def pg_store(pg_url):
    store = PostgresStore(pg_url)
    yield store
    store.close()


def document(doc_id: str, texts: list[str], groups=PUBLIC, title: str | None = None, kind="text"):
    doc = Document(
        id=doc_id,
        source=f"/src/{doc_id}",
        title=title or doc_id.title(),
        kind=kind,
        sections=tuple(Section(("Part",), t) for t in texts),
        groups=frozenset(groups),
        content_hash=f"hash-{doc_id}-{len(texts)}",
    )
    return doc, [Chunk(doc_id, t, ("Part",), i, len(t.split()) + 2) for i, t in enumerate(texts)]


def write(store, embedder, doc_id, texts, groups=PUBLIC, **kw):
    doc, chunks = document(doc_id, texts, groups, **kw)
    store.check_embedder(embedder.model_id, embedder.dim)
    store.write_document(doc, chunks, embedder.embed_documents(texts))


def sql(url: str, statement: str, params=()):
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# -- schema ---------------------------------------------------------------------------------


def test_migrations_run_once_in_order_on_an_empty_database(pg_empty_url, embedder):
    stores = []
    threads = [threading.Thread(target=lambda: stores.append(PostgresStore(pg_empty_url)))]
    threads.append(threading.Thread(target=lambda: stores.append(PostgresStore(pg_empty_url))))
    for thread in threads:  # two replicas starting together
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores) == 2
    names = [r[0] for r in sql(pg_empty_url, "SELECT name FROM migrations ORDER BY position")]
    assert names == [name for name, _ in pg_schema.MIGRATIONS]
    assert names[:2] == ["0001_documents_chunks_acl", "0002_keys_conversations_feedback"]
    assert "0004_messages_order" in names
    stores[0].check_embedder(embedder.model_id, embedder.dim)
    assert sql(pg_empty_url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
               " WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'") == [("vector(64)",)]  # fmt: skip
    index = sql(pg_empty_url, "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                (pg_schema.HNSW_INDEX,))[0][0]  # fmt: skip
    assert "USING hnsw (embedding vector_ip_ops)" in index
    for store in stores:
        store.close()
    PostgresStore(pg_empty_url).close()
    names_after = [r[0] for r in sql(pg_empty_url, "SELECT name FROM migrations ORDER BY position")]
    assert names_after == [*names, "vector_64d"]


def test_chunk_ids_are_never_reused(pg_store, embedder):
    write(pg_store, embedder, "a", ["one", "two"])
    first = [p.chunk.id for p in pg_store.document_chunks("a", PUBLIC)]
    pg_store.delete_documents(["a"])
    write(pg_store, embedder, "a", ["one", "two"])
    second = [p.chunk.id for p in pg_store.document_chunks("a", PUBLIC)]
    assert min(second) > max(first)


def test_open_vectors_rebuilds_a_dropped_index(pg_store, pg_url, embedder):
    write(pg_store, embedder, "a", ["alpha text"])
    assert pg_store.publish_vectors() == 1
    assert pg_store.publish_vectors() == 2  # a counter: there is no file to write
    assert pg_store.manifest()["vector_count"] == "1"
    sql(pg_url, f"DROP INDEX {pg_schema.HNSW_INDEX}")
    pg_store.open_vectors()
    rebuilt = sql(pg_url, "SELECT to_regclass(%s) IS NOT NULL", (pg_schema.HNSW_INDEX,))
    assert rebuilt == [(True,)]
    assert dense_top_k(pg_store, embedder, "alpha", PUBLIC, 1)[0].document.id == "a"


# -- dense search: HNSW with the ACL inside ------------------------------------------------


def test_hnsw_with_a_selective_acl_still_returns_full_k(pg_store, pg_url, embedder, monkeypatch):
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(400)]
    pg_store.check_embedder(embedder.model_id, embedder.dim)
    for d in range(40):  # 2,000 chunks; 1 document in 20 public: 95 % restricted
        texts = [" ".join(rng.choices(vocabulary, k=12)) for _ in range(50)]
        doc, chunks = document(f"d{d}", texts, PUBLIC if d % 20 == 0 else HR)
        pg_store.write_document(doc, chunks, embedder.embed_documents(texts))
    sql(pg_url, "ANALYZE")
    query = embedder.embed_query("w1 w2 w3 w4 w5")
    exact = sql(pg_url, "SELECT c.id FROM chunks c JOIN acl a ON a.chunk_id = c.id WHERE"
                " a.grp = 'public' ORDER BY c.embedding <#> %s::vector LIMIT 10",
                (str(query.tolist()),))  # fmt: skip

    # With so few readable rows the planner may rightly rank them exactly; a replica whose
    # sessions disfavour sorting must walk the HNSW index, and still fill k without fallback.
    def no_fallback(*args):
        raise AssertionError("the index walk alone must fill k")

    monkeypatch.setattr(PostgresStore, "_exact_dense", no_fallback)
    index_url = pg_url.replace("options=", "options=-cenable_sort%3Doff%20")
    for url in (pg_url, index_url):
        replica = PostgresStore(url)
        results = replica.dense_search(query, PUBLIC, 10)
        replica.close()
        assert len(results) == 10
        assert {p.document.groups for p in results} == {PUBLIC}
        # The exact answer, or nearly: HNSW is approximate.
        assert len({r[0] for r in exact} & {p.chunk.id for p in results}) >= 9

    params = {"q": query, "groups": ["public"], "k": 10}
    with psycopg.connect(index_url) as conn:
        register_vector(conn)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + DENSE_SQL, params))
        assert f"Index Scan using {pg_schema.HNSW_INDEX}" in plan
        # Without iterative scans the same walk stops after ef_search candidates, short of k.
        conn.execute("SET hnsw.iterative_scan = off")
        assert len(conn.execute(DENSE_SQL, params).fetchall()) < 10


def test_dense_search_falls_back_to_exact_when_the_index_walk_gives_up(pg_store, embedder):
    write(pg_store, embedder, "secret", [f"budget line {i}" for i in range(30)], HR)
    write(pg_store, embedder, "open", ["budget overview"])
    results = pg_store.dense_search(embedder.embed_query("budget"), PUBLIC, 5)
    assert [p.document.id for p in results] == ["open"]


# -- lexical search ----------------------------------------------------------------------------


def test_title_outranks_body_and_accents_fold(pg_store, embedder):
    write(pg_store, embedder, "body", ["the ferry timetable is posted weekly"], title="Notes")
    write(pg_store, embedder, "title", ["posted weekly"], title="Ferry")
    write(pg_store, embedder, "cafe", ["Le Café du Port opens at eight"], title="Café")
    assert [p.document.id for p in bm25_top_k(pg_store, "ferry", PUBLIC, 5)] == ["title", "body"]
    assert [p.document.id for p in bm25_top_k(pg_store, "cafe", PUBLIC, 5)] == ["cafe"]
    assert [p.document.id for p in bm25_top_k(pg_store, "CAFÉ", PUBLIC, 5)] == ["cafe"]


def test_lexical_scores_are_bm25_with_field_weights_and_stored_lengths(pg_store, pg_url, embedder):
    """FTS5's BM25 (k1 1.2, b 0.75; title 4, heading 2, body 1) from the readable chunks'
    statistics: a restricted chunk holding the word moves nothing."""
    write(pg_store, embedder, "short", ["ferry timetable"], title="Ferry")  # 4 tokens, f = 4 + 1
    write(pg_store, embedder, "long", ["ferry ferry harbour quay dock pier boat crossing"],
          title="Notes")  # fmt: skip  # 10 tokens, f = 2
    for i in range(4):
        write(pg_store, embedder, f"other{i}", ["canteen menu"], title="Canteen")  # 4 tokens
    write(pg_store, embedder, "secret", ["ferry ferry ferry budget"], HR, title="Ferry")
    lengths = dict(sql(pg_url, "SELECT d.id, c.tsv_length FROM chunks c JOIN documents d ON d.pk = c.document_pk"))  # fmt: skip
    assert lengths == {"short": 4, "long": 10, **{f"other{i}": 4 for i in range(4)}, "secret": 6}

    def bm25(frequency: float, length: float, rows: int = 6, hits: int = 2, average: float = 5.0):
        idf = np.log((rows - hits + 0.5) / (hits + 0.5))
        return idf * frequency * 2.2 / (frequency + 1.2 * (0.25 + 0.75 * length / average))

    found = bm25_top_k(pg_store, "ferry", PUBLIC, 5)
    assert [p.document.id for p in found] == ["short", "long"]
    np.testing.assert_allclose([p.score for p in found], [bm25(5, 4), bm25(2, 10)], rtol=1e-9)


def test_bm25_statistics_are_taken_again_once_chunks_are_added(pg_store, embedder):
    """The readable count is cached 30 s: a count below a word's hits floored its IDF and the
    scores fell to 1e-6 until it was taken again."""
    write(pg_store, embedder, "ferry", ["ferry timetable"])
    assert bm25_top_k(pg_store, "ferry", PUBLIC, 5)[0].score < 1e-3  # one chunk: no IDF
    for i in range(6):
        write(pg_store, embedder, f"other{i}", ["canteen menu"])
    assert bm25_top_k(pg_store, "ferry", PUBLIC, 5)[0].score > 0.5


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(match=st.text(max_size=120), terms=st.lists(st.text(max_size=20), max_size=4))
def test_no_raw_expression_or_term_raises(pg_store, embedder, match, terms):
    if pg_store.execute("SELECT count(*) FROM documents")[0][0] == 0:
        write(pg_store, embedder, "doc", ["a & b | !c <-> d:* 'quoted' \\ (x) café"])
    assert isinstance(pg_store.lexical_search(match, PUBLIC, 5), list)
    total, frequencies, holders = pg_store.term_statistics(terms, PUBLIC, [1, 2])
    assert total == 1 and set(frequencies) == set(holders) == set(terms)


def test_match_terms_reads_quoted_or_bare_terms():
    assert pg_queries.match_terms('"leave" OR "paris" OR "leave"') == ["leave", "paris"]
    assert pg_queries.match_terms('"say ""hi"""') == ['say "hi"']
    assert pg_queries.match_terms("bare words\x00") == ["bare", "words"]
    assert pg_queries.match_terms('""') == []


# -- transactions ------------------------------------------------------------------------------


def test_failed_write_leaves_nothing_behind(pg_store, embedder, monkeypatch):
    write(pg_store, embedder, "doc", ["old text"])

    def explode(*args):
        raise RuntimeError("disk full (injected after the chunks were inserted)")

    monkeypatch.setattr(pg, "insert_acl", explode)
    doc, chunks = document("doc", ["one", "two", "three"])
    with pytest.raises(RuntimeError):
        pg_store.write_document(doc, chunks, embedder.embed_documents(["one", "two", "three"]))
    monkeypatch.undo()
    assert [p.chunk.text for p in pg_store.document_chunks("doc", PUBLIC)] == ["old text"]
    assert pg_store.execute("SELECT count(*) FROM chunks")[0][0] == 1
    write(pg_store, embedder, "other", ["the pool still works"])


def test_connections_killed_by_the_server_are_replaced(pg_store, pg_url, embedder):
    write(pg_store, embedder, "a", ["canteen opening hours"])
    killed = sql(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
    assert killed  # e.g. a database restart or failover
    assert [p.document.id for p in bm25_top_k(pg_store, "canteen", PUBLIC, 3)] == ["a"]


def test_concurrent_writer_never_shows_a_torn_document(pg_url, embedder):
    """A reader (another replica) never sees a document with chunks of two versions."""
    writer, reader = PostgresStore(pg_url), PostgresStore(pg_url)
    versions = 8

    def texts(version: int) -> list[str]:
        return [f"version{version} part {i}" for i in range(3 + version % 4)]

    for d in range(3):
        write(writer, embedder, f"doc{d}", texts(0))
    stop = threading.Event()
    errors: list[str] = []
    seen: set[int] = set()

    def read() -> None:
        while not stop.is_set():
            for d in range(3):
                passages = reader.document_chunks(f"doc{d}", PUBLIC)
                tags = {p.chunk.text.split()[0] for p in passages}
                if len(tags) != 1:
                    errors.append(f"doc{d}: mixed versions {sorted(tags)}")
                    continue
                version = int(tags.pop()[len("version") :])
                seen.add(version)
                if len(passages) != len(texts(version)):
                    errors.append(f"doc{d}: {len(passages)} chunks of version {version}")
                rows = reader.execute(
                    "SELECT count(*), count(DISTINCT split_part(c.text, ' ', 1)) FROM chunks c"
                    " JOIN documents d ON d.pk = c.document_pk WHERE d.id = %s", (f"doc{d}",)
                )  # fmt: skip
                if rows[0][1] != 1:
                    errors.append(f"doc{d}: one statement saw {rows}")

    thread = threading.Thread(target=read)
    thread.start()
    started = time.monotonic()
    for version in range(1, versions + 1):
        for d in range(3):
            write(writer, embedder, f"doc{d}", texts(version))
    stop.set()
    thread.join()
    writer.close()
    reader.close()
    assert errors == []
    elapsed = time.monotonic() - started
    assert len(seen) >= 2, f"the reader saw only versions {seen} in {elapsed:.1f}s"


def test_a_second_replica_sees_new_documents_at_once(pg_url, embedder):
    writer, reader = PostgresStore(pg_url), PostgresStore(pg_url)
    write(writer, embedder, "a", ["first document about bicycles"])
    writer.publish_vectors()
    reader.open_vectors()
    assert [p.document.id for p in dense_top_k(reader, embedder, "bicycles", PUBLIC, 3)] == ["a"]
    write(writer, embedder, "b", ["second document about ferries"])
    assert dense_top_k(reader, embedder, "ferries", PUBLIC, 1)[0].document.id == "b"
    writer.set_groups("b", HR)
    assert [p.document.id for p in dense_top_k(reader, embedder, "ferries", PUBLIC, 3)] == ["a"]
    writer.close()
    reader.close()


# -- parity with the SQLite store --------------------------------------------------------------


def test_corpus_ingest_matches_the_sqlite_store(pg_store, tmp_path):
    embedder = HashEmbedder()
    sqlite_store = SQLiteStore(tmp_path / "data", vector_kind="exact")
    options = IngestOptions(groups=PUBLIC)
    reports = [Ingestor(s, embedder).run([CORPUS], options) for s in (sqlite_store, pg_store)]
    assert reports[0].ok and reports[1].ok
    assert reports[1].chunks == reports[0].chunks > 50
    assert pg_store.document_state() == sqlite_store.document_state()
    assert pg_store.count_readable(PUBLIC) == sqlite_store.count_readable(PUBLIC)
    pg_stats, sqlite_stats = pg_store.stats(), sqlite_store.stats()
    for key in ("documents", "chunks", "aliases", "by_kind", "by_group"):
        assert pg_stats[key] == sqlite_stats[key], key
    again = Ingestor(pg_store, embedder).run([CORPUS], options)  # a re-run changes nothing
    assert again.unchanged == reports[1].added and again.added == again.updated == 0

    # Same answers: both compute BM25, so the keyword scores agree on the best document, the
    # documents of the best three chunks and the best score to a few percent (the tokenizers
    # differ: PostgreSQL drops stop words, so lengths differ), and so does hybrid search.
    retrieval = RetrievalSettings()
    questions = [
        "How many days of annual leave in Paris?",
        "bike scheme refund",
        "PTO Lisbon",
        "Who approves expense claims above the limit?",
        "What is the meal voucher in Berlin?",
        "How do I reset my EmberGate password?",
    ]
    for question in questions:
        lexical = [bm25_top_k(s, question, PUBLIC, 3) for s in (sqlite_store, pg_store)]
        assert lexical[0][0].document.id == lexical[1][0].document.id, question
        assert {p.document.id for p in lexical[0]} == {p.document.id for p in lexical[1]}, question
        assert lexical[1][0].score == pytest.approx(lexical[0][0].score, rel=0.06), question
        found = [
            hybrid_search(s, embedder, [(question, 1.0)], PUBLIC, retrieval).passages
            for s in (sqlite_store, pg_store)
        ]
        assert found[0][0].document.id == found[1][0].document.id, question
    ids = {s: [p.chunk.id for p in s.document_chunks("emberwiki:2", PUBLIC)] for s in (sqlite_store, pg_store)}  # fmt: skip
    results = [s.term_statistics(["leave", "paris", "zzzz"], PUBLIC, ids[s]) for s in ids]
    assert results[0][0] == results[1][0]
    assert results[1][1]["zzzz"] == 0 and results[1][1]["leave"] > 0
    assert len(results[1][2]["leave"]) == len(results[0][2]["leave"])
    np.testing.assert_allclose(
        pg_store.embeddings(ids[pg_store]), sqlite_store.embeddings(ids[sqlite_store])
    )
    sqlite_store.close()


# -- the factory --------------------------------------------------------------------------------


def test_open_store_chooses_the_backend(tmp_path, pg_url):
    embedded = open_store(tmp_path / "data", None)
    assert isinstance(embedded, SQLiteStore)
    embedded.close()
    shared = open_store(tmp_path / "unused", pg_url)
    assert isinstance(shared, PostgresStore)
    shared.close()
    assert not (tmp_path / "unused").exists()
    with pytest.raises(ConfigurationError):
        open_store(tmp_path, "mysql://localhost/hearth")


def test_unreachable_database_is_a_clear_error_without_the_password(tmp_path):
    url = f"postgresql://hearth:s3cret-pw@/hearth?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, timeout=2)
    assert "s3cret-pw" not in caught.value.message
    assert "PostgreSQL" in caught.value.message


def test_a_database_that_stops_answering_is_unavailable_then_recovers(pg_server, pg_empty_url):
    """PostgreSQL down while Hearth serves: a retryable StoreUnavailableError (a 503), not a
    StoreError answered with 400, and `reachable` (for /readyz) says so."""
    from index.errors import StoreUnavailableError

    store = PostgresStore(pg_empty_url, timeout=2, wait=2)
    name = psycopg.conninfo.conninfo_to_dict(pg_empty_url)["dbname"]
    admin = pg_server.get_uri()
    try:
        assert store.reachable()
        with psycopg.connect(admin, autocommit=True) as conn:  # as if the server went away
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))  # fmt: skip
        assert not store.reachable()
        with pytest.raises(StoreUnavailableError):
            store.manifest()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        deadline = time.monotonic() + 20
        while not store.reachable() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.reachable() and isinstance(store.manifest(), dict)  # no restart needed
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        store.close()
