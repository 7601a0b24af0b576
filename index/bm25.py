"""BM25 over the chunks a caller may read, from SQLite FTS5's own per-phrase scores.

FTS5's `bm25()` weighs each phrase by statistics of the whole table: the row count, the rows
holding the phrase and the average row length all count restricted chunks. A public caller's
scores and ranks then moved when a restricted document that shares a word was added, which
told an anonymous caller what restricted documents hold. Here each phrase is scored alone by
FTS5 (its tokenizer, column weights and term frequencies), the weighted term frequency is
recovered from that score, and the score is computed again with the readable chunks'
statistics: for a caller who may read everything it equals FTS5's `bm25()` (to 1e-15), so
such a caller is served by FTS5 alone (the store compares the two `Corpus` row counts).
Scoring each phrase apart costs about twice FTS5's one query (bench/answer.py part 4: lexical
p50 19 -> 41 ms at 100,000 chunks, 3 -> 5 ms at 10,000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

K1 = 1.2  # FTS5's constants (fts5_aux.c)
B = 0.75
_MIN_IDF = 1e-6  # FTS5 floors a phrase in more than half the rows at this weight

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Corpus:
    """Row count and average row length (tokens, all columns) of a set of chunks."""

    rows: int
    average_length: float

    @classmethod
    def of(cls, lengths: Floats, mask: npt.NDArray[np.bool_] | None = None) -> Corpus:
        """The rows of the FTS table (`lengths[rowid]` >= 0), or those of them `mask` keeps."""
        kept = lengths >= 0 if mask is None else mask[: len(lengths)] & (lengths[: len(mask)] >= 0)
        rows = int(np.count_nonzero(kept))
        total = float(lengths[: len(kept)][kept].sum())
        return cls(rows, total / rows if rows else 1.0)


def idf(corpus: Corpus, hits: int) -> float:
    """FTS5's inverse document frequency of a phrase found in `hits` rows."""
    value = math.log((corpus.rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else _MIN_IDF


def _length_norm(lengths: Floats, corpus: Corpus) -> Floats:
    return K1 * (1 - B + B * lengths / corpus.average_length)


def _saturation(frequency: Floats, lengths: Floats, corpus: Corpus) -> Floats:
    return frequency * (K1 + 1) / (frequency + _length_norm(lengths, corpus))


def _frequency(saturation: Floats, lengths: Floats, corpus: Corpus) -> Floats:
    """The weighted term frequency behind a saturation (the inverse of `_saturation`)."""
    return saturation * _length_norm(lengths, corpus) / np.maximum(K1 + 1 - saturation, 1e-12)


def readable_scores(
    phrases: Sequence[tuple[Ids, Floats]],
    lengths: Floats,
    readable: npt.NDArray[np.bool_],
    everyone: Corpus,
    mine: Corpus,
) -> tuple[Ids, Floats]:
    """Rowids the caller may read and their BM25 scores (higher is better), best first.

    `phrases` holds, per phrase, the rowids FTS5 matched and its `-bm25()` for that phrase
    alone, with whole-number column weights; `lengths[rowid]` is each row's token count;
    `readable[rowid]` the caller's mask; `everyone` and `mine` the statistics of all rows and
    of the readable ones (`Corpus.of`, which the caller has already taken).
    """
    if not mine.rows:
        return np.empty(0, dtype=np.int64), np.empty(0)
    found: list[Ids] = []
    points: list[Floats] = []
    for rowids, scores in phrases:
        if not len(rowids):
            continue
        row_lengths = lengths[rowids]
        # Whole-number column weights make a whole-number weighted frequency: rounding drops
        # the last digits the whole table's statistics left in it (a public score's last
        # digits moved when a restricted document arrived).
        frequency = np.round(_frequency(scores / idf(everyone, len(rowids)), row_lengths, everyone))
        kept = rowids < len(readable)
        kept[kept] = readable[rowids[kept]]
        if not kept.any():
            continue
        weight = idf(mine, int(np.count_nonzero(kept)))
        found.append(rowids[kept])
        points.append(weight * _saturation(frequency[kept], row_lengths[kept], mine))
    if not found:
        return np.empty(0, dtype=np.int64), np.empty(0)
    ids, where = np.unique(np.concatenate(found), return_inverse=True)
    totals = np.bincount(where, weights=np.concatenate(points)).astype(np.float64)
    order = np.lexsort((ids, -totals))  # best first, ties by rowid
    return ids[order], totals[order]


def row_lengths(sizes: Sequence[tuple[int, bytes]]) -> Floats:
    """lengths[rowid] = tokens of the row in all columns, from FTS5's docsize blobs (one
    SQLite varint per column); rowids with no row are -1."""
    top = max((rowid for rowid, _ in sizes), default=0)
    lengths = np.full(top + 1, -1.0)
    for rowid, blob in sizes:
        total = value = 0
        for byte in blob:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                total, value = total + value, 0
        lengths[rowid] = total
    return lengths
