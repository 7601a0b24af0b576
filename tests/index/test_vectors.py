"""VectorIndex contract: FAISS and the exact numpy index agree, with and without ACL filters."""

from __future__ import annotations

import numpy as np
import pytest

from index.vectors import ExactIndex, FaissIndex, new_index


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["faiss", "exact"])
def test_contract(kind, tmp_path):
    rng = np.random.default_rng(7)
    index = new_index(kind, 16)
    ids = np.arange(100, 300, dtype=np.int64)
    vectors = unit(rng, len(ids), 16)
    index.add(ids, vectors)
    assert len(index) == 200
    found, scores = index.search(vectors[5], 3)
    assert found[0] == 105 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    allowed = ids[::7]
    found, _ = index.search(vectors[5], 10, allowed=allowed)
    assert len(found) == 10 and set(found) <= set(allowed)
    other = ids[1::7]  # a second group set, then the first again (the selector is cached)
    assert set(index.search(vectors[5], 10, allowed=other)[0]) <= set(other)
    assert list(index.search(vectors[5], 10, allowed=allowed)[0]) == list(found)
    assert index.search(vectors[5], 10, allowed=np.array([], dtype=np.int64))[0].size == 0
    index.remove(ids[:50])
    assert len(index) == 150 and 105 not in index.search(vectors[5], 5)[0]
    assert list(index.ids()) == list(ids[50:])
    path = tmp_path / f"v{kind}"
    index.save(str(path))
    loaded = type(index).load(str(path), 16)
    assert list(loaded.ids()) == list(index.ids())


def test_backends_agree():
    rng = np.random.default_rng(11)
    ids = rng.choice(10_000, size=500, replace=False).astype(np.int64)
    vectors = unit(rng, 500, 32)
    faiss_index, exact = FaissIndex(32), ExactIndex(32)
    faiss_index.add(ids, vectors)
    exact.add(ids, vectors)
    for q in unit(rng, 20, 32):
        allowed = rng.choice(ids, size=100, replace=False)
        a, sa = faiss_index.search(q, 10, allowed=allowed)
        b, sb = exact.search(q, 10, allowed=allowed)
        assert list(a) == list(b)
        np.testing.assert_allclose(sa, sb, rtol=1e-5, atol=1e-5)
