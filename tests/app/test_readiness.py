"""/readyz with a remote inference server (HEARTH_LLM_URL): not ready, with the reason, while
the server cannot answer; checked with a short timeout and remembered briefly; /healthz never
asks it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.remote_engine import READY_TIMEOUT, OpenAICompatChatModel


class _Models(BaseHTTPRequestHandler):
    """GET /v1/models as the test sets it: "ok", "error" (HTTP 503) or "slow" (3 s); POST
    /v1/chat/completions streams "tick " until the client goes (at most 10 s)."""

    mode = "ok"
    asked = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).asked += 1
        if self.mode == "slow":
            time.sleep(3)
        status = 503 if self.mode == "error" else 200
        body = b'{"data": [{"id": "remote-model"}]}'
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the probe gave up first

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        chunk = b'data: {"choices": [{"delta": {"content": "tick "}, "finish_reason": null}]}\n\n'
        try:
            for _ in range(200):
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the engine closed the stream


@pytest.fixture
def server() -> Iterator[type[_Models]]:
    _Models.mode, _Models.asked = "ok", 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Models.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"  # type: ignore[attr-defined]
    yield _Models
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def model(server) -> Iterator[OpenAICompatChatModel]:
    """The app's model (tests/app/conftest.py builds the services around it): the remote one."""
    engine = OpenAICompatChatModel(server.url, model="remote-model", timeout=30)
    yield engine
    engine.close()


def unused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_ready_while_the_inference_server_answers_and_not_once_it_fails(client, model, server):
    assert client.get("/readyz").json() == {"status": "ready"}
    server.mode = "error"
    model.ready_ttl = 0  # no remembered answer: every probe asks
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "inference server unavailable",
        "reason": "the inference server answered HTTP 503 for /models",
    }
    assert client.get("/healthz").status_code == 200  # alive: nothing to restart
    server.mode = "ok"
    assert client.get("/readyz").status_code == 200


def test_an_unreachable_server_is_named_without_its_address(client, services):
    url = unused_url()
    services.model = OpenAICompatChatModel(url, model="m")
    try:
        response = client.get("/readyz")
    finally:
        services.model.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "inference server unavailable"
    assert body["reason"] == "the inference server cannot be reached (ConnectError)"
    assert url.split("//")[1].split("/")[0] not in response.text  # no host:port to anyone
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_busy_server_is_up_and_the_probe_does_not_wait_for_it(client, server):
    """llama_cpp.server answers /models only after the completion it runs (20 s measured):
    a server that took the connection counts as up, after READY_TIMEOUT at most."""
    server.mode = "slow"
    started = time.monotonic()
    assert client.get("/readyz").json() == {"status": "ready"}
    waited = time.monotonic() - started
    assert READY_TIMEOUT <= waited < READY_TIMEOUT + 3  # not the 30 s HEARTH_LLM_TIMEOUT
    started = time.monotonic()
    assert client.get("/readyz").status_code == 200  # within the 5 s: the answer remembered
    assert time.monotonic() - started < 0.5
    assert server.asked == 1


def test_no_probe_while_an_answer_streams_from_the_server(client, server, model):
    model.ready_ttl = 0
    stream = model.stream([{"role": "user", "content": "Tell a long story."}], max_tokens=50)
    try:
        assert next(stream) == "tick "
        server.mode = "error"  # not asked while the stream shows it up
        assert client.get("/readyz").status_code == 200
        assert server.asked == 0
    finally:
        stream.close()
    assert client.get("/readyz").status_code == 503
    assert server.asked == 1


def test_probes_within_the_ttl_ask_the_server_once(client, server, model):
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert server.asked == 1
    model.ready_ttl = 0
    client.get("/readyz")
    assert server.asked == 2


def test_probes_that_arrive_together_share_one_question(model, server):
    server.mode = "slow"
    answers: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: answers.append(model.readiness_problem())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == [None] * 4  # busy, not down
    assert server.asked == 1
