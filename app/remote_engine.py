"""The remote engine: a `ChatModel` backed by an OpenAI-compatible server (llama.cpp, vLLM).

Used when inference scales separately from the service (HEARTH_LLM_URL). It streams
`POST {base_url}/chat/completions` over server-sent events. Failures become `UpstreamError`
with a status the HTTP layer can pass on: 503 when the server cannot be reached, 504 when it is
too slow, 502 when it answers badly; messages carry at most a status line, never the upstream
body. Closing the returned iterator (or setting `cancel`) closes the HTTP response, which is
how an OpenAI-compatible server learns to stop generating.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from app.engines import ChatStream, Message, check_generation_request, validate_messages
from index.errors import ModelBusyError, UpstreamError

logger = logging.getLogger(__name__)

_MESSAGE_OVERHEAD = 4  # role markers and separators per turn, rounded up
_PROMPT_OVERHEAD = 3  # the generation prompt
_MAX_JSON_BODY = 8 << 20
_MODELS_TIMEOUT = 5.0  # GET /models backs `model_id`, which must not hang a health check
# /readyz asks GET /models with this timeout, below the probes' own (3 s in deploy/k8s, 5 s in
# compose and the image's HEALTHCHECK), and reuses the answer this long: probes every few
# seconds from several places cost the server one cheap request per replica per interval
READY_TIMEOUT = 2.0
READY_TTL = 5.0
_MALFORMED = "the inference server sent a malformed answer"


def _transport_error(exc: httpx.HTTPError) -> UpstreamError:
    """Map an httpx failure to an UpstreamError with a safe message."""
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError("the inference server cannot be reached", status=503)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("the inference server did not answer in time", status=504)
    return UpstreamError("the connection to the inference server failed", status=502)


def _status_error(status: int) -> UpstreamError:
    """An upstream HTTP error: 429/503 stay "unavailable", everything else is a bad gateway."""
    code = 503 if status in (429, 503) else 502
    return UpstreamError(f"the inference server answered HTTP {status}", status=code)


class OpenAICompatChatModel:
    """A chat model on a remote OpenAI-compatible server.

    `count_tokens` is an estimate, not the server's tokenizer: ceil(len(text) / 3), which
    over-counts text in Latin script (about 4 characters a token) so that prompts sized with it
    fit; it can under-count CJK text or dense code, where the server's 400 then comes back as
    a 502. `license` is whatever the operator declares; a remote GGUF cannot be read.
    At most `queue_size` requests are in flight; one more is refused with ModelBusyError.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        context_size: int = 4096,
        license: str | None = None,
        queue_size: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context_size = context_size
        self.license = license
        self._model = model
        self._timeout = timeout
        self._queue_size = queue_size
        self._in_flight = 0
        self.ready_ttl = READY_TTL
        self._ready_lock = threading.Lock()  # one readiness check at a time; others reuse it
        self._ready_at: float | None = None
        self._ready_problem: str | None = None
        # re-entrant: a stream dropped without close() releases its slot from __del__, which
        # the cycle collector may run on a thread that already holds the lock
        self._lock = threading.RLock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # trust_env=False: no proxy from the environment; the only peer is the configured URL.
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=queue_size + 2),
            trust_env=False,
        )

    def problem(self, timeout: float = _MODELS_TIMEOUT, *, busy_is_up: bool = False) -> str | None:
        """Why the server cannot answer now (None when it lists its models): asked at start,
        so a wrong HEARTH_LLM_URL is named once in the log, not only in every answer's 502,
        and by /readyz (`readiness_problem`). With `busy_is_up`, a server that took the
        connection but not answered within `timeout` counts as up: llama_cpp.server answers
        /models only once the completion it is running ends (measured: 20 s into a long one)."""
        try:
            response = self._client.get(
                f"{self.base_url}/models", timeout=min(self._timeout, timeout)
            )
        except (httpx.ReadTimeout, httpx.PoolTimeout) as exc:
            if busy_is_up:  # connected (or every connection busy with answers): not down
                return None
            return f"{_transport_error(exc).message} ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            return f"{_transport_error(exc).message} ({type(exc).__name__})"
        status = response.status_code
        if status == 404 and not self.base_url.endswith("/v1"):
            return (
                "the inference server answered HTTP 404 for /models: an OpenAI-compatible URL "
                "usually ends in /v1"
            )
        if status in (401, 403):  # no waiting fixes this one
            return (
                f"the inference server refused the API key (HTTP {status} for /models): "
                "check HEARTH_LLM_API_KEY"
            )
        if status >= 400:
            return f"the inference server answered HTTP {status} for /models"
        return None

    def readiness_problem(self) -> str | None:
        """`problem()` as /readyz asks it: within READY_TIMEOUT, a server busy answering
        counting as up, and remembered for `ready_ttl` seconds, so frequent probes neither wait
        long nor each reach the server (a probe that comes while one is asking waits for its
        answer). Not asked while an answer of this replica streams from the server: it is
        evidently up, and the question would only queue behind that answer on
        llama_cpp.server, or cut it off there unless it runs with --interrupt_requests false."""
        with self._ready_lock:
            asked_at = self._ready_at
            if self._in_flight:
                self._ready_problem, self._ready_at = None, time.monotonic()
            elif asked_at is None or time.monotonic() - asked_at >= self.ready_ttl:
                self._ready_problem = self.problem(READY_TIMEOUT, busy_is_up=True)
                self._ready_at = time.monotonic()
            return self._ready_problem

    @property
    def model_id(self) -> str:
        """The configured model name, else the first id the server lists (asked once)."""
        try:
            return self._resolve_model()
        except UpstreamError:
            return "unknown-remote-model"

    def _resolve_model(self) -> str:
        if self._model is None:
            try:
                response = self._client.get(
                    f"{self.base_url}/models", timeout=min(self._timeout, _MODELS_TIMEOUT)
                )
            except httpx.HTTPError as exc:
                raise _transport_error(exc) from None
            if response.status_code >= 400:
                raise _status_error(response.status_code)
            try:
                self._model = str(response.json()["data"][0]["id"])
            except (ValueError, KeyError, IndexError, TypeError):
                raise UpstreamError("the inference server lists no model", status=502) from None
        return self._model

    def count_tokens(self, text: str) -> int:
        """A conservative estimate (ceil(characters / 3)), not the server's tokenizer."""
        return math.ceil(len(text) / 3)

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Estimated tokens of the rendered prompt: contents plus a per-turn overhead."""
        return (
            sum(self.count_tokens(m["content"]) + _MESSAGE_OVERHEAD for m in messages)
            + _PROMPT_OVERHEAD
        )

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> ChatStream:
        """Start a streamed completion; refuses (busy, overflow, unreachable) at call time.
        `seed` is passed on; whether the same seed gives the same answer is the server's
        affair (llama_cpp.server's does; one batching concurrent requests need not)."""
        validate_messages(messages)
        check_generation_request(
            self.prompt_tokens(messages), max_tokens, temperature, self.context_size, seed
        )
        with self._lock:
            self._refuse_if_full()
            self._in_flight += 1
        try:
            body = {
                "model": self._resolve_model(),
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stream": True,
            }
            if seed is not None:  # else the server's own choice, as before
                body["seed"] = seed
            request = self._client.build_request(
                "POST", f"{self.base_url}/chat/completions", json=body
            )
            try:
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise _transport_error(exc) from None
            if response.status_code >= 400:
                response.close()
                raise _status_error(response.status_code)
        except BaseException:
            self._release()
            raise
        return _RemoteStream(response, cancel, self._release)

    @property
    def queue_depth(self) -> int:
        """Requests in flight to the server (it may queue them further on its side)."""
        return self._in_flight

    def check_admission(self, pending: int = 0) -> None:
        """ModelBusyError now if one more request, after `pending` on their way, would be
        refused (see app/admission.py)."""
        with self._lock:
            self._refuse_if_full(pending)

    def _refuse_if_full(self, pending: int = 0) -> None:
        if self._in_flight + pending >= self._queue_size:
            raise ModelBusyError("the inference server is busy; try again shortly", retry_after=2)

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class _RemoteStream(Iterator[str]):
    """Pieces of one remote completion; closing it closes the upstream response."""

    def __init__(
        self,
        response: httpx.Response,
        cancel: threading.Event | None,
        release: Callable[[], None],
    ) -> None:
        self._response = response
        self._cancel = cancel
        self._release = release
        self._finished = False
        self.truncated = False  # the server said finish_reason "length"
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            self._pieces: Iterator[str] = self._json_pieces()
        else:
            self._pieces = self._sse_pieces()

    def __next__(self) -> str:
        if self._finished:
            raise StopIteration
        if self._cancel is not None and self._cancel.is_set():
            self.close()
            raise StopIteration
        try:
            return next(self._pieces)
        except StopIteration:
            self.close()
            raise
        except httpx.HTTPError as exc:
            self.close()
            raise _transport_error(exc) from None
        except BaseException:
            self.close()
            raise

    def _sse_pieces(self) -> Iterator[str]:
        finished = False
        for line in self._response.iter_lines():
            if self._cancel is not None and self._cancel.is_set():
                return
            if not line.startswith("data:"):
                continue  # blank separators, comments (":"), event: / id: fields
            data = line[5:].strip()
            if data == "[DONE]":
                return
            choice = self._first_choice(data)
            if choice is None:
                continue
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                yield content
            finished = finished or bool(choice.get("finish_reason"))
            self.truncated = self.truncated or choice.get("finish_reason") == "length"
        if not finished:
            raise UpstreamError("the inference server ended the stream early", status=502)

    @staticmethod
    def _first_choice(data: str) -> dict[str, Any] | None:
        try:
            event = json.loads(data)
        except ValueError:
            raise UpstreamError(
                "the inference server sent a malformed stream", status=502
            ) from None
        if not isinstance(event, dict) or "error" in event:
            raise UpstreamError("the inference server reported an error", status=502)
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise UpstreamError(_MALFORMED, status=502)
        first = choices[0] if choices else None
        return first if isinstance(first, dict) else None

    def _json_pieces(self) -> Iterator[str]:
        """A server that ignored `stream: true` and answered with one JSON completion."""
        body = b""
        for chunk in self._response.iter_bytes():
            body += chunk
            if len(body) > _MAX_JSON_BODY:
                raise UpstreamError("the inference server's answer is too large", status=502)
        try:
            choice = json.loads(body)["choices"][0]
            content = choice["message"]["content"]
            self.truncated = choice.get("finish_reason") == "length"
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(
                "the inference server sent a malformed answer", status=502
            ) from None
        if isinstance(content, str) and content:
            yield content

    def close(self) -> None:
        """Close the upstream response (the server stops) and free the request slot."""
        if not self._finished:
            self._finished = True
            self._response.close()
            self._release()

    def __del__(self) -> None:
        self.close()
