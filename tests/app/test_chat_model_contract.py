"""The ChatModel contract, run against every engine and the fake the fast tests lean on.

The scripted fake (tests/fakes.py) stands in for the model in most tests, so it must refuse and
stop exactly as the engines do: a fake that accepted `max_tokens=0` or a prompt longer than the
context would let a prompt-budget bug pass every fast test. The remote engine runs against a
small OpenAI-compatible server that streams the same scripted answers; the local llama.cpp
engine runs the bundled model (`integration`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakes import ScriptedChatModel

from app.engines import ChatModel, ChatStream
from index.errors import ContextOverflowError, InvalidRequestError

CONTEXT = 512
CAPITAL = [{"role": "user", "content": "Reply with the single word: Paris"}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


def scripted_answer(messages: list[dict[str, str]]) -> str:
    """A short answer, or a story long enough to be stopped midway."""
    if "story" in messages[-1]["content"]:
        return " ".join(f"word{i}" for i in range(300))
    return "Paris."


class _OpenAIFake(BaseHTTPRequestHandler):
    """/v1/models and a streamed /v1/chat/completions of `scripted_answer`, cut at max_tokens."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._send(json.dumps({"data": [{"id": "scripted-remote"}]}).encode(), "application/json")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        pieces = re.findall(r"\S+\s*", scripted_answer(request["messages"]))
        cut = len(pieces) > request["max_tokens"]
        chunks = [{"delta": {"content": p}, "finish_reason": None} for p in pieces]
        chunks = chunks[: request["max_tokens"]]
        chunks.append({"delta": {}, "finish_reason": "length" if cut else "stop"})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps({'choices': [chunk]})}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.005)
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            pass  # the engine closed the stream

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIFake)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(
    scope="module",
    params=["scripted", "remote", pytest.param("llama", marks=pytest.mark.integration)],
)
def engine(request: pytest.FixtureRequest) -> Iterator[ChatModel]:
    model: ChatModel
    if request.param == "scripted":
        model = ScriptedChatModel(scripted_answer, context_size=CONTEXT, delay=0.005)
    elif request.param == "remote":
        from app.remote_engine import OpenAICompatChatModel

        model = OpenAICompatChatModel(request.getfixturevalue("openai_fake"), context_size=CONTEXT)
    else:
        from app.engines import LlamaCppChatModel, bundled_gguf_path

        model = LlamaCppChatModel(bundled_gguf_path(), n_ctx=CONTEXT, queue_size=4)
    yield model
    model.close()


def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_describes_itself(engine):
    assert isinstance(engine, ChatModel)
    assert isinstance(engine.model_id, str) and engine.model_id
    assert engine.context_size == CONTEXT
    assert engine.license is None or engine.license == engine.license.lower()
    assert engine.queue_depth == 0
    engine.check_admission()  # idle: admitted


def test_counts_tokens_so_that_more_text_is_more_tokens(engine):
    text = "The Paris office opens at nine."
    assert 0 < engine.count_tokens(text) < engine.count_tokens(text * 10)
    assert engine.prompt_tokens([{"role": "user", "content": text}]) > engine.count_tokens(text)


@pytest.mark.parametrize(
    ("messages", "options"),
    [
        (CAPITAL, {"max_tokens": 0}),
        (CAPITAL, {"max_tokens": -3}),
        (CAPITAL, {"max_tokens": True}),
        (CAPITAL, {"max_tokens": 5, "temperature": -1}),
        (CAPITAL, {"max_tokens": 5, "temperature": float("nan")}),
        ([], {"max_tokens": 5}),
        ([{"role": "tool", "content": "x"}], {"max_tokens": 5}),
        ([{"role": "user", "content": None}], {"max_tokens": 5}),
        (CAPITAL, {"max_tokens": 5, "seed": -1}),
        (CAPITAL, {"max_tokens": 5, "seed": 2**31}),
        (CAPITAL, {"max_tokens": 5, "seed": True}),
    ],
    ids=["zero", "negative", "bool", "cold", "nan", "no-messages", "role", "content",
         "seed-negative", "seed-too-big", "seed-bool"],
)  # fmt: skip
def test_refuses_an_invalid_request_at_call_time(engine, messages, options):
    with pytest.raises(InvalidRequestError):
        engine.stream(messages, **options)
    assert engine.queue_depth == 0


def test_refuses_a_prompt_that_cannot_fit_with_its_answer(engine):
    with pytest.raises(ContextOverflowError):
        engine.stream([{"role": "user", "content": "word " * (2 * CONTEXT)}], max_tokens=5)
    prompt = engine.prompt_tokens(CAPITAL)
    with pytest.raises(ContextOverflowError) as err:
        engine.stream(CAPITAL, max_tokens=CONTEXT - prompt + 1)
    assert str(CONTEXT) in err.value.message
    assert engine.queue_depth == 0


def test_takes_a_seed(engine):
    stream = engine.stream(CAPITAL, max_tokens=20, temperature=0.9, seed=2**31 - 1)
    assert "".join(stream)
    assert eventually(lambda: engine.queue_depth == 0)


def test_streams_text_and_says_whether_max_tokens_cut_it(engine):
    whole: ChatStream = engine.stream(CAPITAL, max_tokens=60)
    pieces = list(whole)
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert not whole.truncated
    cut = engine.stream(STORY, max_tokens=3)
    assert 1 <= len(list(cut)) <= 3 and cut.truncated
    assert eventually(lambda: engine.queue_depth == 0)


@pytest.mark.parametrize("how", ["close", "cancel"])
def test_stops_midway_when_closed_or_cancelled(engine, how):
    cancel = threading.Event()
    stream = engine.stream(STORY, max_tokens=200, cancel=cancel)
    assert next(stream)
    assert engine.queue_depth == 1  # counted while it runs, by every engine
    if how == "close":
        stream.close()
    else:
        cancel.set()
    assert len(list(stream)) <= 1  # at most a piece already on its way
    assert eventually(lambda: engine.queue_depth == 0)
    assert list(engine.stream(CAPITAL, max_tokens=20))  # and the engine still answers
