"""Vector indexes (FAISS and an exact numpy twin) and their crash-safe generation files.

A generation file is derived data: it is written to a temp file in the data folder, fsynced,
renamed into place, the folder fsynced, and only then does the store's manifest point at it.
Loading checks the file's SHA-256 against the manifest first, so a torn, bit-flipped, swapped
or foreign file is never deserialised, let alone served. Neither format uses pickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.errors import StoreError, VectorIndexError
from index.protocols import Ids, VectorIndex, Vectors

_EMPTY_IDS: Ids = np.empty(0, dtype=np.int64)


def _as_matrix(vectors: Vectors, dim: int) -> Vectors:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    return matrix


class FaissIndex:
    """Exact inner-product search in FAISS (`IndexIDMap2` over `IndexFlatIP`); ids = chunk rowids.

    ACL filtering happens inside the search through an `IDSelectorBatch` of allowed ids, so a
    restricted chunk never takes one of the k slots.
    """

    suffix = ".faiss"

    def __init__(self, dim: int, index: Any | None = None) -> None:
        import faiss

        self._faiss: Any = faiss  # its SWIG stubs do not describe the numpy overloads
        self._dim = dim
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        # The last allowed-id array and its selector: the store hands the same (cached) array
        # for every query of one group set until the ACL changes, and building the selector's
        # hash set costs milliseconds at 100k ids. The array is kept so its id() stays unique.
        self._selector: tuple[Ids, Any] | None = None

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        if len(ids):
            self._index.add_with_ids(_as_matrix(vectors, self._dim), np.asarray(ids, np.int64))

    def remove(self, ids: Ids) -> None:
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def ids(self) -> Ids:
        if len(self) == 0:
            return _EMPTY_IDS
        return np.sort(self._faiss.vector_to_array(self._index.id_map).astype(np.int64))

    def search(
        self, query: Vectors, k: int, allowed: Ids | None = None
    ) -> tuple[Ids, npt.NDArray[np.float32]]:
        if k <= 0 or len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return _EMPTY_IDS, np.empty(0, dtype=np.float32)
        params = None
        if allowed is not None:
            params = self._faiss.SearchParameters(sel=self._selector_for(allowed))
        scores, ids = self._index.search(_as_matrix(query, self._dim)[:1], k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def _selector_for(self, allowed: Ids) -> Any:
        if self._selector is None or self._selector[0] is not allowed:
            ids = np.asarray(allowed, dtype=np.int64)
            self._selector = (allowed, self._faiss.IDSelectorBatch(ids))
        return self._selector[1]

    def save(self, path: str) -> None:
        try:
            self._faiss.write_index(self._index, path)
        except RuntimeError as exc:  # FAISS reports a failed write (e.g. ENOSPC) this way
            reason = str(exc).rpartition("(")[2].rstrip(")") or "write error"
            raise StoreError(f"cannot write the vector file: {reason}") from None

    @classmethod
    def load(cls, path: str, dim: int) -> FaissIndex:
        import faiss

        index = faiss.read_index(path)
        if index.d != dim:
            raise VectorIndexError(f"vector file has dimension {index.d}, expected {dim}")
        return cls(dim, index)


class ExactIndex:
    """A plain numpy matrix with the same contract: the reference the FAISS index is tested
    against, and good enough for tiny corpora."""

    suffix = ".npz"

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._ids: Ids = _EMPTY_IDS
        self._matrix: Vectors = np.empty((0, dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self.remove(ids)
        self._ids = np.concatenate([self._ids, ids])
        self._matrix = np.vstack([self._matrix, _as_matrix(vectors, self._dim)])

    def remove(self, ids: Ids) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        self._ids, self._matrix = self._ids[keep], self._matrix[keep]

    def ids(self) -> Ids:
        return np.sort(self._ids)

    def search(
        self, query: Vectors, k: int, allowed: Ids | None = None
    ) -> tuple[Ids, npt.NDArray[np.float32]]:
        if k <= 0 or len(self) == 0:
            return _EMPTY_IDS, np.empty(0, dtype=np.float32)
        scores = self._matrix @ _as_matrix(query, self._dim)[0]
        candidates = np.arange(len(self._ids))
        if allowed is not None:
            candidates = candidates[np.isin(self._ids, np.asarray(allowed, dtype=np.int64))]
        # Highest score first; ties broken by id so results are deterministic.
        order = np.lexsort((self._ids[candidates], -scores[candidates]))[:k]
        best = candidates[order]
        return self._ids[best], scores[best].astype(np.float32)

    def save(self, path: str) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, ids=self._ids, matrix=self._matrix)

    @classmethod
    def load(cls, path: str, dim: int) -> ExactIndex:
        with np.load(path, allow_pickle=False) as data:
            ids, matrix = data["ids"], data["matrix"]
        if matrix.ndim != 2 or matrix.shape[1] != dim or len(ids) != len(matrix):
            raise VectorIndexError("vector file does not hold a matrix of the expected shape")
        index = cls(dim)
        index._ids, index._matrix = ids.astype(np.int64), matrix.astype(np.float32)
        return index


INDEX_KINDS: dict[str, type[FaissIndex] | type[ExactIndex]] = {
    "faiss": FaissIndex,
    "exact": ExactIndex,
}


def new_index(kind: str, dim: int) -> VectorIndex:
    """An empty index of the named kind ("faiss" or "exact")."""
    try:
        return INDEX_KINDS[kind](dim)
    except KeyError:
        raise VectorIndexError(f"unknown vector index kind {kind!r}") from None


def ids_digest(ids: Ids) -> str:
    """A digest of a sorted id set: proves a generation holds exactly the store's chunk rows."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_generation(
    index: VectorIndex, folder: Path, generation: int, kind: str
) -> tuple[str, str]:
    """Write `index` durably as generation `generation`; return (file name, SHA-256).

    Temp file in the same folder, fsync, atomic rename, folder fsync: a crash leaves either no
    new file or a complete one, and the caller only then records it in the manifest.
    """
    name = f"vectors-{generation:06d}{INDEX_KINDS[kind].suffix}"
    fd, temp = tempfile.mkstemp(prefix=".vectors-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        index.save(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        digest = file_digest(Path(temp))
        os.replace(temp, folder / name)
        _fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return name, digest


def load_generation(path: Path, expected_digest: str, kind: str, dim: int) -> VectorIndex:
    """Load a generation file only if its bytes are exactly those Hearth wrote and recorded."""
    if not path.is_file():
        raise VectorIndexError("vector file is missing")
    if file_digest(path) != expected_digest:
        raise VectorIndexError("vector file does not match the manifest (damaged or replaced)")
    try:
        return INDEX_KINDS[kind].load(str(path), dim)
    except VectorIndexError:
        raise
    except Exception as exc:  # a faiss/numpy reader error on a file that passed the digest
        raise VectorIndexError(f"vector file cannot be read: {type(exc).__name__}") from None


def remove_stale_files(folder: Path, keep: set[str]) -> None:
    """Delete old generations and abandoned temp files, keeping the named files."""
    for path in [*folder.glob("vectors-*"), *folder.glob(".vectors-*.tmp")]:
        if path.name in keep or (path.is_dir() and not path.is_symlink()):
            continue  # never delete a folder someone put here
        with contextlib.suppress(OSError):
            path.unlink()
