"""Row 10, oversized input, against uvicorn on 127.0.0.1 (the real HTTP stack, not the
in-process client, which would buffer whole bodies): a 100 MB body declared by Content-Length
and streamed chunked, 10^5-deep JSON, a huge `messages` array on /v1, a 1 MB header — each
20 at once. Every answer must be a 4xx (413 or 422, or 400 for unparseable JSON and, as
OpenAI answers, for any invalid body under /v1), never 5xx; the process's memory growth is reported and bounded.

The client is a raw socket that stops sending as soon as the server has answered, the way a
real client learns its upload was refused.
"""

from __future__ import annotations

import json
import select
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hardkit import make_services, rss_mb, serving, settled_rss_mb

pytestmark = pytest.mark.hardening

PARALLEL = 20
ROUNDS = 2
MB = 1 << 20
BODY_MB = 100
PIECE = b"x" * MB
FRAMED_PIECE = f"{MB:x}\r\n".encode() + PIECE + b"\r\n"  # one chunk of chunked encoding


def _status(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def raw_request(port: int, head: bytes, body: object = b"", timeout: float = 30) -> dict:
    """Send `head` then `body` (bytes, or an iterable of bytes); stop when the server answers.

    Returns the status (0 if the connection was dropped without an answer), the elapsed
    seconds until the status line arrived, and how many body bytes were sent.
    """
    started = time.perf_counter()
    sent, response = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        pieces = [body] if isinstance(body, bytes) else body
        try:
            sock.sendall(head)
            for piece in pieces:  # type: ignore[union-attr]
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n" not in response:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                response += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return {
        "status": _status(response),
        "seconds": time.perf_counter() - started,
        "sent": sent,
        "line": response.split(b"\r\n", 1)[0].decode("latin-1"),
    }


def post_head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def declared(port: int) -> dict:
    body = (PIECE for _ in range(BODY_MB))
    return raw_request(port, post_head("/api/query", f"Content-Length: {BODY_MB * MB}\r\n"), body)


def chunked(port: int) -> dict:
    def body():
        first = b'{"question": "'
        yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
        for _ in range(BODY_MB):
            yield FRAMED_PIECE
        yield b"0\r\n\r\n"

    return raw_request(port, post_head("/api/query", "Transfer-Encoding: chunked\r\n"), body())


def lying_length(port: int) -> dict:
    """Content-Length says 100 bytes; 100 MB follow (the rest is not a valid next request)."""
    body = (PIECE for _ in range(BODY_MB))
    return raw_request(port, post_head("/api/search", "Content-Length: 100\r\n"), body)


def deep_json(port: int, route: str, body: bytes) -> dict:
    return raw_request(port, post_head(route, f"Content-Length: {len(body)}\r\n"), body)


def huge_header(port: int) -> dict:
    head = post_head("/api/search", f"X-Junk: {'a' * MB}\r\nContent-Length: 2\r\n")
    return raw_request(port, head, b"{}")


DEPTH = 100_000
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
DEEP_INSIDE = (
    b'{"question": "annual leave", "exclude_document_ids": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
)
MANY_MESSAGES = json.dumps(  # just under the 1 MB body limit: 25,000 one-letter messages
    {"messages": [{"role": "user", "content": "a"}] * 25_000}
).encode()
LONG_MESSAGES = json.dumps(  # 200 long messages: over the body limit
    {"messages": [{"role": "user", "content": "leave " * 3000}] * 200}
).encode()

SCENARIOS = {
    "100 MB, Content-Length": (declared, {413}),
    "100 MB, chunked": (chunked, {413}),
    "100 MB, lying Content-Length": (lying_length, {400, 413, 422}),
    "1e5-deep array": (lambda p: deep_json(p, "/api/query", DEEP_ARRAY), {400, 413, 422}),
    "1e5-deep object": (lambda p: deep_json(p, "/api/search", DEEP_OBJECT), {400, 413, 422}),
    "1e5-deep field": (lambda p: deep_json(p, "/api/query", DEEP_INSIDE), {400, 413, 422}),
    "/v1 25k messages": (lambda p: deep_json(p, "/v1/chat/completions", MANY_MESSAGES), {400, 413}),
    "/v1 200 long messages": (lambda p: deep_json(p, "/v1/chat/completions", LONG_MESSAGES), {413}),
    "1 MB header": (huge_header, {400, 413, 431}),
}


@pytest.mark.timeout(240)
def test_oversized_requests_are_refused_fast_20_at_a_time(tmp_path):
    services, settings = make_services(tmp_path / "data")
    figures, failures = [], []
    with serving(services, settings) as server:
        baseline = raw_request(
            server.port,
            post_head("/api/search", "Content-Length: 21\r\n"),
            b'{"query": "canteen"}\n',
        )
        assert baseline["status"] == 200, baseline
        rss = [settled_rss_mb()]
        peak = rss[0]
        with ThreadPoolExecutor(PARALLEL) as pool:
            for round_ in range(ROUNDS):
                for name, (attack, allowed) in SCENARIOS.items():
                    results = list(pool.map(attack, [server.port] * PARALLEL))
                    peak = max(peak, rss_mb())
                    statuses = sorted({r["status"] for r in results})
                    seconds = [r["seconds"] for r in results]
                    sent = max(r["sent"] for r in results) / MB
                    figures.append(
                        f"round {round_ + 1}, {name}: {statuses} median"
                        f" {statistics.median(seconds) * 1000:.0f} ms max"
                        f" {max(seconds) * 1000:.0f} ms, sent <= {sent:.1f} MB"
                    )
                    if not set(statuses) <= allowed:
                        failures.append((name, [r["line"] for r in results][:3]))
                    if max(seconds) > 10:  # generous: "fast" is long before an upload ends
                        failures.append((name, f"slow: {max(seconds):.1f} s"))
                rss.append(settled_rss_mb())
        healthy = raw_request(
            server.port,
            post_head("/api/search", "Content-Length: 21\r\n"),
            b'{"query": "canteen"}\n',
        )
    services.store.close()
    print("\n".join(figures))
    print("RSS before and after each round (MB):", [round(r) for r in rss], f"peak {peak:.0f}")
    assert failures == []
    assert healthy["status"] == 200
    # Bounded: the first round pays for buffers and allocator arenas; repeating it must not
    # grow the process much further.
    assert rss[-1] - rss[0] < 400, rss
    assert rss[-1] - rss[1] < 64, rss
