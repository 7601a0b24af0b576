"""The remote engine against llama-cpp-python's own OpenAI-compatible server and tiny fakes.

The real server (a subprocess on the bundled GGUF) is `integration`; the failure modes (refused
connection, HTTP 500, a slow server, a broken stream) use small http.server threads.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.engines import ChatModel, bundled_gguf_path
from app.remote_engine import OpenAICompatChatModel
from index.errors import (
    ContextOverflowError,
    InvalidRequestError,
    ModelBusyError,
    UpstreamError,
)

CAPITAL = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the real llama.cpp server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on the bundled GGUF; yields its /v1 base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(bundled_gguf_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
        "--n_threads_batch",
        "2",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not come up within 60 s")
            time.sleep(0.25)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.integration
def test_streams_an_answer_from_the_real_server(llama_server):
    engine = OpenAICompatChatModel(llama_server, context_size=2048)
    try:
        assert isinstance(engine, ChatModel)
        assert engine.model_id.endswith(".gguf")  # the server's first (only) model id
        pieces = list(engine.stream(CAPITAL, max_tokens=40))
        assert len(pieces) >= 3 and all(pieces)
        streamed = "".join(pieces)
        # the same request without streaming gives the same greedy answer
        reply = httpx.post(
            f"{llama_server}/chat/completions",
            json={"messages": CAPITAL, "max_tokens": 40, "temperature": 0.0, "stream": False},
            timeout=60,
        )
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == streamed
    finally:
        engine.close()


@pytest.mark.integration
def test_the_real_server_samples_the_same_answer_for_the_same_seed(llama_server):
    engine = OpenAICompatChatModel(llama_server, context_size=2048)

    def sample(seed: int) -> str:
        return "".join(engine.stream(STORY, max_tokens=20, temperature=0.9, seed=seed))

    try:
        samples = {seed: sample(seed) for seed in (1, 2, 3)}
        assert len(set(samples.values())) > 1  # the seed reaches the sampler
        assert all(sample(seed) == text for seed, text in samples.items())
    finally:
        engine.close()


@pytest.mark.integration
def test_cancel_closes_the_upstream_stream(llama_server):
    engine = OpenAICompatChatModel(llama_server, context_size=2048, queue_size=1)
    try:
        cancel = threading.Event()
        pieces = engine.stream(STORY, max_tokens=1500, cancel=cancel)
        assert next(pieces)
        cancel.set()
        assert list(pieces) == []
        # the slot is free again, and the server is not busy finishing 1,500 tokens for nobody
        started = time.monotonic()
        assert "".join(engine.stream(CAPITAL, max_tokens=8))
        print(f"\nnext request after a cancel took {time.monotonic() - started:.2f} s")
        pieces = engine.stream(STORY, max_tokens=1500)
        assert next(pieces)
        pieces.close()  # type: ignore[attr-defined]
        assert "".join(engine.stream(CAPITAL, max_tokens=8))
    finally:
        engine.close()


# -- failure modes, with tiny local servers ------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Behaviour chosen by the first path segment: /<mode>/chat/completions."""

    disconnected = threading.Event()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path.strip("/").split("/")[0] == "nov1":  # a server whose API is under /v1
            self._send(404, "text/plain", "not found")
            return
        if self.path.strip("/").split("/")[0] == "nokey":
            self._send(401, "application/json", '{"error": "invalid api key"}')
            return
        self._send(200, "application/json", json.dumps({"data": [{"id": "fake-model"}]}))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        request = json.loads(self.rfile.read(length))
        mode = self.path.strip("/").split("/")[0]
        if mode == "error500":
            self._send(500, "text/plain", "secret upstream stack trace")
        elif mode == "slow":
            time.sleep(3)
            self._send(200, "application/json", "{}")
        elif mode == "json":
            body = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}
            self._send(200, "application/json", json.dumps(body))
        elif mode == "json-length":
            choice = {"message": {"content": "Paris is"}, "finish_reason": "length"}
            self._send(200, "application/json", json.dumps({"choices": [choice]}))
        elif mode == "length":
            chunks = [
                {"choices": [{"delta": {"content": "Once upon"}, "finish_reason": None}]},
                {"choices": [{"delta": {}, "finish_reason": "length"}]},
            ]
            events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            self._send(200, "text/event-stream", events)
        elif mode == "malformed":
            self._send(200, "text/event-stream", 'data: {"choices": [{"delta": \n\n')
        elif mode == "forever":
            self._stream_forever(request)
        else:
            chunks = [
                {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
                {"choices": [{"delta": {"content": "Hello"}, "finish_reason": None}]},
                {"choices": [{"delta": {"content": " world"}, "finish_reason": None}]},
                {"choices": [{"delta": {}, "finish_reason": "stop"}]},
            ]
            events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            self._send(200, "text/event-stream", events)

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream_forever(self, request: dict) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"delta": {"content": "tick "}, "finish_reason": None}]}
        try:
            for _ in range(400):  # at most 20 s
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            type(self).disconnected.set()


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_parses_a_server_sent_event_stream(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/ok")
    assert engine.model_id == "fake-model"
    assert list(engine.stream(CAPITAL, max_tokens=8)) == ["Hello", " world"]


def test_accepts_a_non_streamed_json_answer(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/json", model="m")
    assert list(engine.stream(CAPITAL, max_tokens=8)) == ["Paris."]


@pytest.mark.parametrize(("mode", "truncated"), [("ok", False), ("length", True),
                                                 ("json", False), ("json-length", True)])  # fmt: skip
def test_the_servers_finish_reason_length_marks_the_stream_truncated(fake_server, mode, truncated):
    engine = OpenAICompatChatModel(f"{fake_server}/{mode}", model="m")
    stream = engine.stream(CAPITAL, max_tokens=2)
    assert "".join(stream)
    assert stream.truncated is truncated


def test_a_url_that_cannot_answer_is_named_at_start(fake_server, monkeypatch, caplog):
    assert OpenAICompatChatModel(f"{fake_server}/ok").problem() is None
    nothing = OpenAICompatChatModel(f"http://127.0.0.1:{free_port()}/v1", timeout=5).problem()
    assert nothing and "cannot be reached" in nothing
    no_v1 = OpenAICompatChatModel(f"{fake_server}/nov1").problem()
    assert no_v1 == (
        "the inference server answered HTTP 404 for /models: an OpenAI-compatible URL usually "
        "ends in /v1"
    )
    refused = OpenAICompatChatModel(f"{fake_server}/nokey").problem()
    assert refused and "refused the API key" in refused and "HEARTH_LLM_API_KEY" in refused
    from app.main import load_model
    from app.settings import Settings

    url = f"http://127.0.0.1:{free_port()}/v1"
    with caplog.at_level("WARNING"):
        model = load_model(Settings(llm_url=url))  # not fatal: the server may start later
    assert f"the inference server at {url} cannot answer now" in caplog.text
    model.close()


def test_nothing_listening_is_503():
    engine = OpenAICompatChatModel(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    assert engine.model_id == "unknown-remote-model"
    with pytest.raises(UpstreamError) as err:
        engine.stream(CAPITAL, max_tokens=8)  # raised at call time, not at the first piece
    assert err.value.status == 503
    named = OpenAICompatChatModel(f"http://127.0.0.1:{free_port()}/v1", model="m", timeout=5)
    with pytest.raises(UpstreamError) as err:
        named.stream(CAPITAL, max_tokens=8)
    assert err.value.status == 503


def test_upstream_http_error_is_502_without_its_body(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/error500", model="m")
    with pytest.raises(UpstreamError) as err:
        engine.stream(CAPITAL, max_tokens=8)
    assert err.value.status == 502
    assert "500" in err.value.message and "secret" not in err.value.message


def test_slow_upstream_is_504(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/slow", model="m", timeout=0.5)
    with pytest.raises(UpstreamError) as err:
        engine.stream(CAPITAL, max_tokens=8)
    assert err.value.status == 504


def test_malformed_stream_is_502(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/malformed", model="m", queue_size=1)
    for _ in range(2):  # the failed request gave its slot back: no ModelBusyError the second time
        pieces = engine.stream(CAPITAL, max_tokens=8)
        with pytest.raises(UpstreamError) as err:
            list(pieces)
        assert err.value.status == 502


def test_closing_the_iterator_closes_the_connection_and_frees_the_slot(fake_server):
    _Handler.disconnected.clear()
    engine = OpenAICompatChatModel(f"{fake_server}/forever", model="m", queue_size=1)
    pieces = engine.stream(CAPITAL, max_tokens=8)
    assert next(pieces) == "tick "
    with pytest.raises(ModelBusyError):  # one slot, in use
        engine.stream(CAPITAL, max_tokens=8)
    pieces.close()  # type: ignore[attr-defined]
    assert _Handler.disconnected.wait(timeout=3)  # the upstream saw the disconnect
    engine.stream(CAPITAL, max_tokens=8).close()  # type: ignore[attr-defined]  # slot free


def test_cancel_event_stops_the_stream(fake_server):
    engine = OpenAICompatChatModel(f"{fake_server}/forever", model="m", queue_size=1)
    cancel = threading.Event()
    pieces = engine.stream(CAPITAL, max_tokens=8, cancel=cancel)
    assert next(pieces) == "tick "
    cancel.set()
    assert list(pieces) == []
    engine.stream(CAPITAL, max_tokens=8).close()  # type: ignore[attr-defined]


def test_requests_are_validated_before_any_network_call():
    engine = OpenAICompatChatModel(f"http://127.0.0.1:{free_port()}/v1", context_size=100)
    with pytest.raises(InvalidRequestError):
        engine.stream(CAPITAL, max_tokens=0)
    with pytest.raises(InvalidRequestError):
        engine.stream([{"role": "robot", "content": "x"}], max_tokens=5)
    with pytest.raises(ContextOverflowError) as err:
        engine.stream([{"role": "user", "content": "x" * 300}], max_tokens=5)
    assert "100" in err.value.message
    assert engine.count_tokens("x" * 10) == 4  # ceil(10 / 3)
    assert engine.prompt_tokens([{"role": "user", "content": "x" * 9}]) == 3 + 4 + 3


def test_api_key_is_sent_as_a_bearer_token_and_a_seed_only_when_given():
    seen: list[str | None] = []
    seeds: list[object] = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            seen.append(self.headers.get("authorization"))
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            seeds.append(body.get("seed", "absent"))
            body = b'data: {"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        engine = OpenAICompatChatModel(base, api_key="k-123", model="m")
        assert list(engine.stream(CAPITAL, max_tokens=4)) == ["ok"]
        assert seen == ["Bearer k-123"]
        assert list(engine.stream(CAPITAL, max_tokens=4, temperature=0.8, seed=1234)) == ["ok"]
        assert seeds == ["absent", 1234]  # no seed: the server's own choice, as before
    finally:
        server.shutdown()
        server.server_close()
