"""Retrieval primitives: dense top-k and BM25 top-k, each restricted to what a caller may read.

Raw user text never reaches FTS5's MATCH: it is reduced to quoted word tokens joined with OR
(stop words dropped), so no query string of any kind can raise a syntax error or smuggle in
column filters or operators. Fusion and abstention build on these in the answering layer.
"""

from __future__ import annotations

import re

from index.protocols import Embedder, Store
from index.types import Passage

MAX_QUERY_TERMS = 32

_WORD = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "get",
        "got",
        "tell",
        "please",
    ]
)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for free text: quoted terms OR-ed, stop words removed.

    Returns "" when the text holds no searchable word; the caller then skips the search.
    """
    words = [w for w in _WORD.findall(text.casefold()) if w.strip("_")]
    content = [w for w in words if w not in STOP_WORDS] or words
    unique = list(dict.fromkeys(content))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{word}"' for word in unique)


def bm25_top_k(store: Store, query: str, groups: frozenset[str], k: int) -> list[Passage]:
    """The k best chunks by BM25 among those `groups` may read."""
    return store.lexical_search(fts_query(query), groups, k)


def dense_top_k(
    store: Store, embedder: Embedder, query: str, groups: frozenset[str], k: int
) -> list[Passage]:
    """The k nearest chunks by embedding among those `groups` may read."""
    if not query.strip():
        return []
    return store.dense_search(embedder.embed_query(query), groups, k)
