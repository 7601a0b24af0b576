"""Real fakes: small, deterministic implementations of the protocols for fast tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from app.engines import check_generation_request, validate_messages
from index.protocols import Vectors

_WORD = re.compile(r"\w+")
# The address in-process test clients connect from (TEST-NET-1), trusted as a proxy where a
# test says so.
PEER = ("192.0.2.10", 50000)


class HashEmbedder:
    """Bag-of-words vectors from hashed, lower-cased words: texts sharing words are close.

    Counts a token per word plus two special tokens, like a BERT-style model would.
    """

    def __init__(
        self, dim: int = 64, max_tokens: int = 64, model_id: str = "hash-embedder"
    ) -> None:
        self._dim = dim
        self._max_tokens = max_tokens
        self._model_id = model_id
        self.embedded: list[str] = []

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
        return len(_WORD.findall(text)) + 2

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self._dim, dtype=np.float32)
        for word in _WORD.findall(text.casefold()):
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vector[bucket % self._dim] += 1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0] = 1.0
            norm = 1.0
        return vector / norm

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> Vectors:
        return self._vector(text)


class ScriptedStream:
    """A scripted answer's pieces; like the engines' streams, says whether `max_tokens` cut it
    and, once exhausted or closed, leaves the model's queue (`on_end`, called once)."""

    def __init__(self, pieces, truncated: bool, on_end=None) -> None:
        self._pieces = pieces
        self.truncated = truncated
        self._on_end = on_end

    def __iter__(self):
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)
        except StopIteration:
            self._end()
            raise

    def close(self) -> None:
        self._pieces.close()
        self._end()

    def _end(self) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()


class ScriptedChatModel:
    """A chat model that streams a scripted answer word by word and records every prompt (and
    the seed it came with).

    `answer` may be a string or a callable(messages) -> str. `delay` (seconds per token) lets
    tests stop a long answer midway; `cancel` is honoured between tokens like the real engine.
    Its `stream` refuses what the real engines refuse, at call time (the ChatModel contract,
    tests/app/test_chat_model_contract.py), so a prompt that would not fit fails here too.
    """

    def __init__(
        self,
        answer: object = "Employees in Paris get 27 days of annual leave.",
        *,
        context_size: int = 2048,
        delay: float = 0.0,
        model_id: str = "scripted-model",
        license: str | None = "apache-2.0",
    ) -> None:
        self.answer = answer
        self.context_size = context_size
        self.delay = delay
        self.model_id = model_id
        self.license = license
        self.prompts: list[list[dict[str, str]]] = []
        self.seeds: list[int | None] = []  # each stream's seed, as asked
        self.tokens_streamed = 0
        self.cancelled = 0
        self.closed = False

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text)) + text.count("\n") + 1

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages) + 2

    queue_depth = 0  # streams started and not yet exhausted or closed, as the engines count

    def check_admission(self, pending: int = 0) -> None:
        """Never busy: tests that want a full queue override this."""

    def close(self) -> None:
        self.closed = True

    def stream(self, messages, *, max_tokens, temperature=0.0, cancel=None, seed=None):
        validate_messages(messages)
        check_generation_request(
            self.prompt_tokens(messages), max_tokens, temperature, self.context_size, seed
        )
        self.prompts.append([dict(m) for m in messages])
        self.seeds.append(seed)
        text = self.answer(messages) if callable(self.answer) else str(self.answer)
        pieces = re.findall(r"\S+\s*", text)
        self.queue_depth += 1

        def leave() -> None:
            self.queue_depth -= 1

        return ScriptedStream(
            self._pieces(pieces[:max_tokens], cancel), len(pieces) > max_tokens, leave
        )

    def _pieces(self, pieces, cancel):
        import time

        for piece in pieces:
            if cancel is not None and cancel.is_set():
                self.cancelled += 1
                return
            if self.delay:
                time.sleep(self.delay)
            self.tokens_streamed += 1
            yield piece
