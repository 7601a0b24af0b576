"""Row 12, overload: 50 concurrent requests against a queue of 4 with the real model (SmolLM2
through llama.cpp), served by uvicorn on 127.0.0.1 in a process of its own.

Pass: every request is answered either 200 with an answer (every accepted request completes)
or 503 with `Retry-After` (an integer number of seconds); nothing else, no 5xx but 503; the
queue is empty afterwards and the service still answers. How fast the 503s come is printed
(median and max), not asserted: the timing depends on the machine's load. The clients open
their connections first (a health check each), so the figure is the server's reaction, not
the TCP handshakes of fifty sockets made at once.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hardkit import free_port

pytestmark = [pytest.mark.hardening, pytest.mark.integration]

HERE = Path(__file__).resolve().parent
CALLERS = 50
QUEUE = 4
BODY = {"question": "annual leave in Paris", "max_tokens": 24}


async def call(client: httpx.AsyncClient, index: int, start: asyncio.Event) -> dict:
    headers = {"X-Hearth-Session": f"overload-session-{index:04d}-0123456789"}
    await start.wait()
    began = time.perf_counter()
    try:
        response = await client.post("/api/query", json=BODY, headers=headers)
    except Exception as exc:  # recorded, then asserted on: never swallowed
        return {"status": -1, "seconds": time.perf_counter() - began, "error": repr(exc)}
    return {
        "status": response.status_code,
        "seconds": time.perf_counter() - began,
        "retry_after": response.headers.get("retry-after"),
        "body": response.json(),
    }


async def burst(url: str) -> list[dict]:
    clients = [httpx.AsyncClient(base_url=url, timeout=240) for _ in range(CALLERS)]
    try:
        await asyncio.gather(*(client.get("/healthz") for client in clients))  # connect first
        start = asyncio.Event()
        tasks = [asyncio.create_task(call(c, i, start)) for i, c in enumerate(clients)]
        await asyncio.sleep(0.1)  # every task waits at the start line
        start.set()
        return list(await asyncio.gather(*tasks))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def wait_ready(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited before it was ready"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server was not ready in time")


@pytest.mark.timeout(480)
def test_excess_requests_get_503_at_once_and_accepted_ones_complete(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(HERE / "overload_child.py"), str(tmp_path / "data")]
    server = subprocess.Popen([*command, str(port), str(QUEUE)], env=dict(os.environ))
    try:
        wait_ready(url, server)
        results = asyncio.run(burst(url))
        deadline = time.monotonic() + 120  # the accepted answers finished: the queue drains
        while httpx.get(f"{url}/metrics", timeout=10).text.count("hearth_llm_queue_depth 0.0") == 0:
            assert time.monotonic() < deadline, "the queue did not drain"
            time.sleep(0.2)
        after = httpx.post(f"{url}/api/query", json=BODY, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)

    accepted = [r for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 503]
    others = [r for r in results if r["status"] not in (200, 503)]
    refused_ms = [r["seconds"] * 1000 for r in refused]
    print(
        f"\noverload: {len(accepted)} answered, {len(refused)} refused with 503, "
        f"{len(others)} other; 503 after median {statistics.median(refused_ms or [0]):.0f} ms, "
        f"max {max(refused_ms or [0]):.0f} ms; answers took median "
        f"{statistics.median([r['seconds'] for r in accepted] or [0]):.1f} s"
    )
    assert len(results) == CALLERS
    assert others == []
    assert len(accepted) >= QUEUE  # the queue was used to the full
    assert len(refused) >= CALLERS - 4 * QUEUE  # and most of the burst was refused
    for r in accepted:
        assert r["body"]["answer"].strip() and not r["body"]["abstained"], r["body"]
    for r in refused:
        assert r["body"]["error"]["code"] == "busy"
        assert r["retry_after"] is not None and int(r["retry_after"]) >= 1
    assert after.status_code == 200 and after.json()["answer"].strip()
