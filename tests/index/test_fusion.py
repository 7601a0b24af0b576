"""Fusing the dense and BM25 lists: score (convex) fusion keeps margins that RRF throws away."""

from __future__ import annotations

import pytest

from index.search import convex_fuse, rrf_fuse
from index.types import Chunk, Passage, StoredDocument


def passage(chunk_id: int, score: float) -> Passage:
    chunk = Chunk(f"doc-{chunk_id}", f"text {chunk_id}", (), 0, 10, id=chunk_id)
    document = StoredDocument(
        f"doc-{chunk_id}", f"/{chunk_id}.md", "", "markdown", frozenset({"public"}), None, None,
        None, "", 1,
    )  # fmt: skip
    return Passage(chunk, document, score, 0)


def ids(passages: list[Passage]) -> list[int | None]:
    return [p.chunk.id for p in passages]


def test_a_far_ahead_candidate_wins_under_convex_fusion_but_not_under_rrf():
    # Dense: chunk 1 is barely ahead of 2. BM25: chunk 2 is far ahead of 1.
    dense = [passage(1, 0.80), passage(2, 0.79), passage(3, 0.40)]
    lexical = [passage(2, 30.0), passage(1, 4.0), passage(3, 3.0)]
    lists = [(dense, 1.0), (lexical, 1.0)]
    assert ids(convex_fuse(lists)) == [2, 1, 3]
    # RRF sees only ranks: 1st + 2nd for both, a tie that the lower id wins
    rrf = rrf_fuse(lists, 60)
    assert ids(rrf) == [1, 2, 3]
    assert rrf[0].score == pytest.approx(rrf[1].score)


def test_scores_are_min_max_scaled_per_list_and_weighted():
    dense = [passage(1, 0.9), passage(2, 0.5), passage(3, 0.1)]
    lexical = [passage(3, 12.0), passage(4, 2.0)]
    fused = {p.chunk.id: p.score for p in convex_fuse([(dense, 1.0), (lexical, 0.5)])}
    assert fused == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0 + 0.5, 4: 0.0})
    assert [p.rank for p in convex_fuse([(dense, 1.0)])] == [1, 2, 3]


def test_a_list_of_equal_scores_counts_fully_and_empty_lists_are_skipped():
    fused = convex_fuse([([passage(7, 3.0), passage(8, 3.0)], 1.0), ([], 1.0)])
    assert [(p.chunk.id, p.score) for p in fused] == [(7, 1.0), (8, 1.0)]  # ties: by id
    assert convex_fuse([([], 1.0)]) == []
