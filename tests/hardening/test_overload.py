"""Row 12, overload: 50 concurrent requests against a queue of 4 with the real model (SmolLM2
through llama.cpp), over uvicorn on 127.0.0.1.

Pass: every request is answered either 200 with an answer (every accepted request completes)
or 503 with `Retry-After` (an integer number of seconds); nothing else, no 5xx but 503; the
queue is empty afterwards and the service still answers. How fast the 503s come is printed
(median and max), not asserted: the timing depends on the machine's load.
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from hardkit import make_services, serving

from app.engines import LlamaCppChatModel, bundled_gguf_path

pytestmark = [pytest.mark.hardening, pytest.mark.integration]

CALLERS = 50
QUEUE = 4
BODY = {"question": "annual leave in Paris", "max_tokens": 24}


def call(url: str, index: int, start: threading.Barrier, out: list[dict]) -> None:
    headers = {"X-Hearth-Session": f"overload-session-{index:04d}-0123456789"}
    client = httpx.Client(base_url=url, timeout=240)  # made before the start: not timed
    start.wait(timeout=30)
    began = time.perf_counter()
    try:
        with client:
            response = client.post("/api/query", json=BODY, headers=headers)
        out.append(
            {
                "status": response.status_code,
                "seconds": time.perf_counter() - began,
                "retry_after": response.headers.get("retry-after"),
                "body": response.json(),
            }
        )
    except Exception as exc:  # recorded, then asserted on: never swallowed
        out.append({"status": -1, "seconds": time.perf_counter() - began, "error": repr(exc)})


@pytest.mark.timeout(480)
def test_excess_requests_get_503_at_once_and_accepted_ones_complete(tmp_path):
    model = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048, queue_size=QUEUE)
    services, settings = make_services(tmp_path / "data", model, queue_size=QUEUE)
    results: list[dict] = []
    try:
        with serving(services, settings, limit_concurrency=200) as server:
            start = threading.Barrier(CALLERS)
            threads = [
                threading.Thread(target=call, args=(server.url, i, start, results))
                for i in range(CALLERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            with httpx.Client(base_url=server.url, timeout=120) as client:
                after = client.post("/api/query", json=BODY)
            depth = model.queue_depth
    finally:
        model.close()
        services.store.close()

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
    assert depth == 0
    assert after.status_code == 200 and after.json()["answer"].strip()
