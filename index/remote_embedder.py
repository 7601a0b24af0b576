"""Embed documents on an OpenAI-compatible `/v1/embeddings` server (HEARTH_EMBED_URL), for
ingest at scale; the service keeps embedding queries locally (one short query is ~8 ms).

Identity: queries are embedded by the local model, so an index is only usable if the server
runs the *same* model. The remote is therefore not identified by the name it reports (any
server can call itself anything) but checked against the local embedder: on first use a few
probe sentences are embedded both ways and must agree (same dimension, cosine >= 0.98 each:
the local default is int8-quantised MiniLM, which agrees with a full-precision MiniLM server at
~0.99, while a different model lands far below).
The store then records the local embedder's model id, and the usual guard (an index built with
one embedder refuses another) still holds. Tokens are counted by the local tokenizer, which is
the same model's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import httpx
import numpy as np

from index.errors import ConfigurationError, EmbedderMismatchError, UpstreamError
from index.protocols import Embedder, Vectors

log = logging.getLogger(__name__)

PROBES = (
    "How many days of annual leave do employees in Paris get?",
    "The bike scheme refunds half of a new bicycle.",
    "Quarterly budget figures are published on the intranet.",
)
MIN_PROBE_COSINE = 0.98  # int8 vs fp32 MiniLM: >= 0.99; another model: far below


class RemoteEmbedder:
    """An Embedder whose `embed_documents` calls a remote server; everything else is local."""

    def __init__(
        self,
        url: str,
        local: Embedder,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        batch_size: int = 32,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError("HEARTH_EMBED_URL must be an http(s):// URL ending in /v1")
        self.url = url.rstrip("/")
        self.local = local
        self.model = model or local.model_id
        self.batch_size = max(1, batch_size)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # trust_env=False: no proxy from the environment sees documents.
        self._client = httpx.Client(headers=headers, timeout=timeout, trust_env=False)
        self._checked = False
        self._lock = threading.Lock()

    # -- identity: the local model's, once the server is shown to run it ------------------

    @property
    def model_id(self) -> str:
        return self.local.model_id

    @property
    def dim(self) -> int:
        return self.local.dim

    @property
    def max_tokens(self) -> int:
        return self.local.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.local.count_tokens(text)

    def embed_query(self, text: str) -> Vectors:
        return self.local.embed_query(text)

    def verify(self) -> None:
        """Refuse a server whose vectors are not the local model's (EmbedderMismatchError)."""
        with self._lock:
            if self._checked:
                return
            remote = self._request(list(PROBES))
            local = self.local.embed_documents(list(PROBES))
            if remote.shape != local.shape:
                raise EmbedderMismatchError(
                    f"the embedding server at {self.url} returns {remote.shape[1]}-d vectors; "
                    f"the local embedder {self.model_id!r} makes {local.shape[1]}-d ones. Serve "
                    "the same model on both, or leave HEARTH_EMBED_URL unset."
                )
            cosines = np.sum(remote * local, axis=1)
            if float(cosines.min()) < MIN_PROBE_COSINE:
                raise EmbedderMismatchError(
                    f"the embedding server at {self.url} does not run the local embedder "
                    f"{self.model_id!r} (probe agreement {float(cosines.min()):.3f} < "
                    f"{MIN_PROBE_COSINE}); queries would not find what it embeds. Serve the "
                    "same model on both, or leave HEARTH_EMBED_URL unset."
                )
            log.info("embedding server %s agrees with %s (min cosine %.4f)", self.url,
                     self.model_id, float(cosines.min()))  # fmt: skip
            self._checked = True

    # -- the remote part ----------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.verify()
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        batches = [
            self._request(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(batches).astype(np.float32, copy=False)

    def _request(self, texts: list[str]) -> Vectors:
        try:
            response = self._client.post(
                f"{self.url}/embeddings",
                json={"model": self.model, "input": texts, "encoding_format": "float"},
            )
        except httpx.TimeoutException:
            raise UpstreamError(f"the embedding server at {self.url} timed out", 504) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"cannot reach the embedding server at {self.url} ({type(exc).__name__})", 503
            ) from None
        if response.status_code != 200:
            raise UpstreamError(
                f"the embedding server at {self.url} answered HTTP {response.status_code}: "
                f"{_error_message(response)}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError):
            raise UpstreamError(
                f"the embedding server at {self.url} sent an unreadable answer"
            ) from None
        if matrix.ndim != 2 or matrix.shape[0] != len(texts) or not np.isfinite(matrix).all():
            raise UpstreamError(
                f"the embedding server at {self.url} sent {matrix.shape[0]} vectors "
                f"for {len(texts)} texts"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-12)  # unit length, as the store expects

    def close(self) -> None:
        self._client.close()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or response.text)[:200]
    except (ValueError, AttributeError):
        return response.text[:200]
