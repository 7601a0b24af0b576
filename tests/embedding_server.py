"""A real OpenAI-compatible `/v1/embeddings` server on loopback for the remote embedder's tests.

FastAPI + uvicorn in a thread, serving vectors from any Embedder (the hash fake, or the bundled
MiniLM in integration tests). It records what it was asked, and can be told to fail, stall or
answer with someone else's vectors. Not a mock: the client speaks real HTTP to it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class EmbeddingRequest(BaseModel):
    model: str = ""
    input: str | list[str]
    encoding_format: str = "float"


class EmbeddingServer:
    """`with EmbeddingServer(embedder) as server:` then use `server.url` (ends in /v1)."""

    def __init__(self, embedder: Any, *, model: str = "served-model") -> None:
        self.embedder = embedder
        self.model = model
        self.requests: list[list[str]] = []
        self.fail_with: int | None = None  # answer this HTTP status instead
        self.stall: float = 0.0  # seconds to wait before answering
        self.permute = False  # answer with the vector's dimensions shuffled (another model)
        app = FastAPI()

        @app.post("/v1/embeddings")
        def embeddings(body: EmbeddingRequest) -> Any:
            texts = [body.input] if isinstance(body.input, str) else body.input
            self.requests.append(texts)
            if self.stall:
                time.sleep(self.stall)
            if self.fail_with is not None:
                error = {"error": {"message": "the model is overloaded", "type": "server_error"}}
                return JSONResponse(error, status_code=self.fail_with)
            vectors = np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)
            if self.permute:
                vectors = vectors[:, np.random.default_rng(0).permutation(vectors.shape[1])]
            return {
                "object": "list",
                "model": self.model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": v.tolist()}
                    for i, v in reversed(list(enumerate(vectors)))  # order by index, not position
                ],
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            }

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def texts_served(self) -> int:
        return sum(len(r) for r in self.requests)

    def __enter__(self) -> EmbeddingServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the embedding server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
