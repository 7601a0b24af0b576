"""Row 13, disconnects, against uvicorn on 127.0.0.1 with the scripted model streaming slowly:
20 clients (10 on /api/query, 10 on /v1) hang up right after their first token (/v1, which
sends a checked answer whole, a few tokens into the generation) while 5 others stream whole
answers at the same time.

The dropped generations must stop (the model sees `cancel` and stops within a token or two),
the dropped /api/query answers are kept as stopped partial answers, and the 5 other streams
must finish with every token, as if nobody had left.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from fakes import ScriptedChatModel
from hardkit import make_services, serving

pytestmark = pytest.mark.hardening

DROPPED = 20
KEEPERS = 5
WORDS = 60
DELAY = 0.05  # seconds per token: a whole answer takes ~3 s, a drop happens after ~0.05 s
ANSWER = " ".join(f"Paris staff get 27 days of leave, point {i}." for i in range(WORDS // 9 + 1))


def drop_after_first_token(url: str, route: str, index: int, dropped_at: list[float]) -> None:
    if route == "/api/query":
        body = {"question": "annual leave in Paris", "stream": True}
    else:
        body = {"messages": [{"role": "user", "content": "annual leave in Paris"}], "stream": True}
    headers = {"X-Hearth-Session": f"dropper-session-{index:04d}-0123456789"}
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("POST", route, json=body, headers=headers) as response,
    ):
        for line in response.iter_lines():
            if route != "/api/query" and '"role": "assistant"' in line:
                # /v1 sends an answer from the documents once it is checked: hang up while the
                # model is writing it, a few tokens after the opening role chunk
                time.sleep(3 * DELAY)
                dropped_at.append(time.monotonic())
                break
            if line.startswith("event: token"):
                dropped_at.append(time.monotonic())
                break  # leaving the block closes the connection mid-stream


def read_whole_stream(url: str, index: int, results: dict[int, dict]) -> None:
    body = {"question": "annual leave in Paris", "stream": True}
    headers = {"X-Hearth-Session": f"keeper-session-{index:04d}-0123456789"}
    tokens, done = 0, None
    with (
        httpx.Client(base_url=url, timeout=60) as client,
        client.stream("POST", "/api/query", json=body, headers=headers) as response,
    ):
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                tokens += 1
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line[6:])
    results[index] = {"tokens": tokens, "done": done}


@pytest.mark.timeout(120)
def test_dropped_streams_stop_and_the_others_finish(tmp_path):
    model = ScriptedChatModel(ANSWER, delay=DELAY)
    services, settings = make_services(tmp_path / "data", model)
    expected_tokens = len(ANSWER.split())
    dropped_at: list[float] = []
    results: dict[int, dict] = {}
    with serving(services, settings) as server:
        keepers = [
            threading.Thread(target=read_whole_stream, args=(server.url, i, results))
            for i in range(KEEPERS)
        ]
        routes = ["/api/query", "/v1/chat/completions"]
        droppers = [
            threading.Thread(
                target=drop_after_first_token, args=(server.url, routes[i % 2], i, dropped_at)
            )
            for i in range(DROPPED)
        ]
        for thread in keepers + droppers:
            thread.start()
        for thread in droppers:
            thread.join(30)
        # Every dropped generation notices within a token or two.
        deadline = time.monotonic() + 10
        while model.cancelled < DROPPED and time.monotonic() < deadline:
            time.sleep(0.01)
        stopped_after = time.monotonic() - max(dropped_at) if dropped_at else float("nan")
        for thread in keepers:
            thread.join(60)
        time.sleep(0.2)  # the background drain stores the stopped partial answers
        conversations = services.store.execute(
            "SELECT m.details FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.owner LIKE 'anonymous:%' AND m.role = 'assistant'"
        )
    services.store.close()
    dropper_tokens = model.tokens_streamed - KEEPERS * expected_tokens
    stopped = sum(json.loads(d)["stopped"] for (d,) in conversations)
    print(
        f"disconnects: {len(dropped_at)} dropped, {model.cancelled} generations cancelled"
        f" (last one {stopped_after * 1000:.0f} ms after the last drop),"
        f" {dropper_tokens} tokens decoded for dropped clients"
        f" ({dropper_tokens / max(len(dropped_at), 1):.1f} each, a full answer is"
        f" {expected_tokens}); {stopped} partial answers kept as stopped;"
        f" keepers: {sorted(r['tokens'] for r in results.values())} tokens"
    )
    assert len(dropped_at) == DROPPED
    assert model.cancelled == DROPPED
    assert dropper_tokens <= DROPPED * 5  # a token or two each, never the whole answer
    assert stopped == DROPPED // 2  # the /api/query half keeps its stopped partial answer
    assert len(results) == KEEPERS
    for result in results.values():
        assert result["tokens"] == expected_tokens
        assert result["done"] is not None and "27 days" in result["done"]["answer"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("route", ["/api/query", "/v1/chat/completions"])
def test_a_client_that_gives_up_on_a_whole_answer_stops_it(tmp_path, route):
    """A whole (not streamed) answer ran to the end for nobody: an OpenAI client that timed
    out, then retried twice, left three answers generating and filling the queue."""
    model = ScriptedChatModel(ANSWER, delay=DELAY)  # a whole answer takes ~3.5 s
    services, settings = make_services(tmp_path / "data", model)
    if route == "/api/query":
        body: dict = {"question": "annual leave in Paris"}
    else:
        body = {"messages": [{"role": "user", "content": "annual leave in Paris"}]}
    headers = {"X-Hearth-Session": "impatient-session-0123456789"}
    with serving(services, settings) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                server.url + route, json=body, headers=headers, timeout=httpx.Timeout(10, read=0.5)
            )
        deadline = time.monotonic() + 10
        while model.cancelled < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        decoded = model.tokens_streamed
    services.store.close()
    print(f"{route}: {decoded} of {len(ANSWER.split())} tokens decoded for a client gone at 0.5 s")
    assert model.cancelled == 1
    assert decoded < len(ANSWER.split()) // 2
