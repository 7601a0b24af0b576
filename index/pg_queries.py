"""SQL and row helpers of the PostgreSQL store (index/postgres.py): what each search asks.

Every statement applies the caller's groups inside the query (READABLE); the helpers run inside
a transaction the store opened and turn rows into the core types.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from index import pg_schema
from index.bm25 import K1, B
from index.terms import quoted_phrases
from index.types import Chunk, Document, Passage, StoredDocument

MAX_MATCH_TERMS = 64
_WORD = re.compile(r"\w+")

READABLE = (
    "EXISTS (SELECT 1 FROM acl a WHERE a.chunk_id = c.id AND a.grp = ANY(%(groups)s::text[]))"
)
# HNSW walks in distance order and, with iterative scans, keeps walking while the ACL filter
# drops rows, so a selective ACL still fills k.
DENSE_SQL = f"""
SELECT c.id, c.embedding <#> %(q)b AS distance FROM chunks c
WHERE {READABLE} ORDER BY distance LIMIT %(k)s"""
# The same ranking without the index ("+ 0"), driven from the caller's ACL rows: used only when
# the index walk gave up before k (it stops after hnsw.max_scan_tuples).
EXACT_DENSE_SQL = """
SELECT c.id, c.embedding <#> %(q)b AS distance FROM chunks c
WHERE c.id IN (SELECT a.chunk_id FROM acl a WHERE a.grp = ANY(%(groups)s::text[]))
ORDER BY (c.embedding <#> %(q)b) + 0 LIMIT %(k)s"""
# BM25 as FTS5 computes it (index/bm25.py), over the chunks the caller may read. A term (a
# question word) matches where all its lexemes do (plainto_tsquery: "abc_def" is abc & def, as
# FTS5's phrase needs both); its weighted frequency in a chunk (title 4, heading path 2, body
# 1: the tsvector's position weights A, B, C) is its rarest lexeme's there. Each hit's tsvector
# is first cut down to the query's lexemes (ts_delete twice: 30-50 % faster than unnesting it
# whole). Lengths are the stored token counts (`tsv_length`); the row count and average length
# are the readable chunks'. It replaced an IDF-weighted ts_rank whose length norm is not BM25's
# (docs/EVALUATION.md §1, "BM25 on PostgreSQL"). plainto_tsquery never raises, and the terms
# reach tsquery's text form only as PostgreSQL itself prints them.
LEXICAL_SQL = f"""
WITH term AS MATERIALIZED (
    SELECT u.i, plainto_tsquery('{pg_schema.TS_CONFIG}', hearth_fold(u.term)) AS q,
           tsvector_to_array(to_tsvector('{pg_schema.TS_CONFIG}', hearth_fold(u.term))) AS lexemes
    FROM unnest(%(terms)s::text[]) WITH ORDINALITY AS u(term, i)),
useful AS (SELECT * FROM term WHERE numnode(q) > 0),
wanted AS (SELECT array_agg(DISTINCT l) AS lexemes FROM useful, unnest(useful.lexemes) AS l),
hit AS MATERIALIZED (
    SELECT c.id, c.tsv_length AS length,
           ts_delete(c.tsv, tsvector_to_array(ts_delete(c.tsv, wanted.lexemes))) AS tsv
    FROM chunks c, wanted
    WHERE c.tsv @@ (SELECT string_agg('(' || q::text || ')', ' | ')::tsquery FROM useful)
      AND {READABLE}),
lexeme_frequency AS MATERIALIZED (
    SELECT hit.id, e.lexeme, sum(CASE w WHEN 'A' THEN 4 WHEN 'B' THEN 2 ELSE 1 END) AS f
    FROM hit, unnest(hit.tsv) AS e, unnest(e.weights) AS w
    GROUP BY hit.id, e.lexeme),
term_frequency AS MATERIALIZED (
    SELECT hit.id, hit.length, useful.i, min(lf.f) AS f
    FROM hit JOIN useful ON hit.tsv @@ useful.q
    JOIN lexeme_frequency lf ON lf.id = hit.id AND lf.lexeme = ANY(useful.lexemes)
    GROUP BY hit.id, hit.length, useful.i),
weight AS (
    SELECT i, greatest(ln(
        (greatest(%(readable)s::bigint, count(*)) - count(*) + 0.5) / (count(*) + 0.5)), 1e-6)
        AS idf
    FROM term_frequency GROUP BY i)
SELECT f.id, sum(w.idf * f.f * ({K1} + 1) / (f.f + {K1} * (1 - {B}
           + {B} * f.length / greatest(%(average_length)s::float8, 1)))) AS score
FROM term_frequency f JOIN weight w ON w.i = f.i
GROUP BY f.id ORDER BY score DESC, f.id LIMIT %(k)s"""
TERM_STATISTICS_SQL = f"""
SELECT t.i, (SELECT count(*) FROM chunks c WHERE c.tsv @@ t.q AND {READABLE}),
       ARRAY(SELECT c.id FROM chunks c WHERE c.id = ANY(%(ids)s::bigint[]) AND c.tsv @@ t.q)
FROM (SELECT u.i, plainto_tsquery('{pg_schema.TS_CONFIG}', hearth_fold(u.term)) AS q
      FROM unnest(%(terms)s::text[]) WITH ORDINALITY AS u(term, i)) t ORDER BY t.i"""
FIRST_CHUNK_GROUPS = (
    "ARRAY(SELECT a.grp FROM acl a WHERE a.chunk_id ="
    " (SELECT min(c.id) FROM chunks c WHERE c.document_pk = d.pk) ORDER BY a.grp)"
)


def match_terms(match: str) -> list[str]:
    """The terms of an OR-expression of quoted terms (search.fts_query), else its bare words.

    Each term is parsed by plainto_tsquery and to_tsvector: no text reaches to_tsquery's
    operator syntax, so no query string can raise.
    """
    quoted = quoted_phrases(match)
    terms = [clean_text(term).strip() for term in (quoted or _WORD.findall(match))]
    return list(dict.fromkeys(term for term in terms if term))[:MAX_MATCH_TERMS]


def clean_text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; they carry nothing searchable anyway."""
    return value.replace("\x00", "")


def first_line(exc: BaseException) -> str:
    """A driver error's first line: what went wrong, without its context lines."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def insert_document(cur: psycopg.Cursor[Any], document: Document) -> int:
    """Insert a document's row; returns its key."""
    row = cur.execute(
        "INSERT INTO documents(id, source, kind, title, url, modified, revision, content_hash,"
        " categories, aliases) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING pk",
        (
            clean_text(document.id),
            clean_text(document.source),
            document.kind,
            clean_text(document.title),
            document.url and clean_text(document.url),
            document.modified,
            document.revision,
            document.content_hash,
            [clean_text(c) for c in document.categories],
            [clean_text(a) for a in document.aliases],
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_chunks(
    cur: psycopg.Cursor[Any],
    document_pk: int,
    chunks: Sequence[Chunk],
    matrix: npt.NDArray[np.float32],
    search_title: str,
) -> list[int]:
    """Insert chunks with their embeddings (sent as binary float32); returns their ids in order."""
    cur.executemany(
        "INSERT INTO chunks(document_pk, position, text, heading_path, anchor, page, n_tokens,"
        " search_title, embedding) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%b) RETURNING id",
        [
            (
                document_pk,
                chunk.position,
                clean_text(chunk.text),
                [clean_text(h) for h in chunk.heading_path],
                chunk.anchor and clean_text(chunk.anchor),
                chunk.page,
                chunk.n_tokens,
                clean_text(search_title),
                vector,
            )
            for chunk, vector in zip(chunks, matrix, strict=True)
        ],
        returning=True,
    )
    return returned_ids(cur)


def returned_ids(cur: psycopg.Cursor[Any]) -> list[int]:
    """The ids of an executemany(..., returning=True), in input order."""
    ids: list[int] = []
    while True:
        row = cur.fetchone()
        if row is not None:
            ids.append(int(row[0]))
        if not cur.nextset():
            return ids


def insert_acl(cur: psycopg.Cursor[Any], chunk_ids: list[int], groups: frozenset[str]) -> None:
    cur.execute(
        "INSERT INTO acl(grp, chunk_id) SELECT g, c FROM unnest(%s::text[]) g,"
        " unnest(%s::bigint[]) c",
        (sorted(groups), chunk_ids),
    )


def site_aliases(cur: psycopg.Cursor[Any], document: Document) -> list[str]:
    """Redirects recorded for a wiki page's title in its site (the id's prefix)."""
    if document.kind != "wiki":
        return []
    rows = cur.execute(
        "SELECT alias FROM aliases WHERE site = %s AND target = %s ORDER BY alias",
        (document.id.partition(":")[0], document.title),
    ).fetchall()
    return [row[0] for row in rows]


def passages(
    cur: psycopg.Cursor[Any], chunk_ids: list[int], scores: list[float], groups: frozenset[str]
) -> list[Passage]:
    """Hydrate chunk ids into Passages, re-checking the ACL; unknown ids are dropped."""
    if not chunk_ids or not groups:
        return []
    rows = cur.execute(
        "SELECT c.id, c.position, c.text, c.heading_path, c.anchor, c.page, c.n_tokens,"
        " c.document_pk FROM chunks c WHERE c.id = ANY(%(ids)s::bigint[]) AND " + READABLE,
        {"ids": chunk_ids, "groups": sorted(groups)},
    ).fetchall()
    by_id = {row[0]: row for row in rows}
    documents = documents_by_pk(cur, sorted({row[7] for row in rows}))
    found: list[Passage] = []
    for chunk_id, score in zip(chunk_ids, scores, strict=True):
        row = by_id.get(chunk_id)
        if row is None:
            continue
        document = documents[row[7]]
        chunk = Chunk(
            document_id=document.id,
            text=row[2],
            heading_path=tuple(row[3]),
            position=row[1],
            n_tokens=row[6],
            anchor=row[4],
            page=row[5],
            id=row[0],
        )
        found.append(Passage(chunk, document, float(score), len(found) + 1))
    return found


def documents_by_pk(cur: psycopg.Cursor[Any], pks: list[int]) -> dict[int, StoredDocument]:
    rows = cur.execute(
        "SELECT d.pk, d.id, d.source, d.title, d.kind, d.url, d.modified, d.revision,"
        " d.content_hash, d.categories, (SELECT count(*) FROM chunks c WHERE c.document_pk ="
        f" d.pk), {FIRST_CHUNK_GROUPS} FROM documents d WHERE d.pk = ANY(%s::bigint[])",
        (pks,),
    ).fetchall()
    return {
        row[0]: StoredDocument(
            id=row[1],
            source=row[2],
            title=row[3],
            kind=row[4],
            url=row[5],
            modified=row[6],
            revision=row[7],
            content_hash=row[8],
            categories=tuple(row[9]),
            n_chunks=row[10],
            groups=frozenset(row[11]),
        )
        for row in rows
    }


READABLE_STATISTICS_SQL = """
SELECT count(*), coalesce(avg(c.tsv_length), 1) FROM chunks c
WHERE c.id IN (SELECT a.chunk_id FROM acl a WHERE a.grp = ANY(%(groups)s::text[]))"""
