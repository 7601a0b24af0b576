"""Row 24, soak: mixed traffic at the measured capacity for N minutes against `hearth serve`.

Starts `hearth serve` (the real model) on a loopback port with a data folder ingested from
corpus/ (made first if missing) and an API key, measures the capacity of the traffic mix with
a short closed-loop ramp (1, 2, 3 callers), then sends the mix open-loop at that rate for
`--minutes`: POST /api/query (streamed and not), /api/search, /v1/chat/completions (streamed
and not), GET /api/conversations and /healthz. The server's RSS (its process tree) is sampled
every few seconds. Prints per-minute figures and three verdicts, and never fails:

- RSS flat: the last minute's median RSS within ±10 % of the first minute's;
- 0 errors other than 503 (a full queue is an allowed answer at capacity);
- p95 TTFT (first streamed token, client side) of the last third vs the first third.

    nice -n 10 python bench/soak.py [--minutes 10] [--data-dir DIR] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
HEARTH = str(Path(sys.executable).with_name("hearth"))
# (kind, weight): the mix. LLM-bound kinds dominate, as in a chat deployment.
MIX = [
    ("query_stream", 30),
    ("query", 15),
    ("chat_stream", 10),
    ("chat", 10),
    ("search", 15),
    ("conversations", 10),
    ("healthz", 10),
]


@dataclass
class Result:
    kind: str
    started: float  # seconds since the soak began
    status: int  # 0: no HTTP status (connection error, timeout)
    seconds: float
    ttft: float | None = None
    note: str = ""  # the client error of a status 0; "abstained" for an answer without the LLM


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(data_dir: Path) -> str:
    """Ingest corpus/ into `data_dir` if it holds no store; return a new API key (public)."""
    if not (data_dir / "hearth.sqlite3").is_file():
        print(f"ingesting corpus/ into {data_dir} ...", file=sys.stderr)
        subprocess.run(
            [HEARTH, "ingest", str(ROOT / "corpus"), "--data-dir", str(data_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    made = subprocess.run(
        [
            HEARTH,
            "keys",
            "create",
            "--user",
            "soak",
            "--groups",
            "public",
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return made.stdout.strip().splitlines()[0]


def questions() -> list[str]:
    lines = (ROOT / "corpus" / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


class Traffic:
    """Sends one request of a kind and times it (time to first token for streamed answers)."""

    def __init__(self, url: str, key: str, max_tokens: int, asked: list[str]) -> None:
        self.url = url
        self.max_tokens = max_tokens
        self.asked = asked
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(300.0, connect=5.0),  # a full queue on a busy CPU waits > 120 s
            limits=httpx.Limits(max_connections=64),
        )
        self.origin = 0.0

    def send(self, kind: str, rng: random.Random) -> Result:
        question = rng.choice(self.asked)
        started = time.perf_counter()
        ttft: float | None = None
        status = 0
        abstained = False
        note = ""
        try:
            if kind in ("query_stream", "chat_stream"):
                path, body = self._answer_request(kind, question, stream=True)
                with self.client.stream("POST", path, json=body) as response:
                    status = response.status_code
                    done = False
                    for line in response.iter_lines():
                        if ttft is None and _is_token(kind, line):
                            ttft = time.perf_counter() - started
                        if kind == "query_stream" and line.startswith("event: error"):
                            status = 599  # an error event inside a 200 stream
                        if done and line.startswith("data: "):
                            abstained = json.loads(line[6:]).get("abstained")
                        done = line.startswith("event: done")
            elif kind in ("query", "chat"):
                path, body = self._answer_request(kind, question, stream=False)
                status = self.client.post(path, json=body).status_code
            elif kind == "search":
                status = self.client.post("/api/search", json={"query": question}).status_code
            elif kind == "conversations":
                status = self.client.get("/api/conversations").status_code
            else:
                status = self.client.get("/healthz").status_code
        except httpx.HTTPError as exc:
            status, note = 0, type(exc).__name__
        seconds = time.perf_counter() - started
        if abstained:  # answered without the model: no decode, so not a TTFT sample
            ttft, note = None, "abstained"
        return Result(kind, started - self.origin, status, seconds, ttft, note)

    def _answer_request(self, kind: str, question: str, stream: bool) -> tuple[str, dict[str, Any]]:
        if kind.startswith("query"):
            return "/api/query", {
                "question": question,
                "stream": stream,
                "max_tokens": self.max_tokens,
            }
        return "/v1/chat/completions", {
            "model": "hearth",
            "messages": [{"role": "user", "content": question}],
            "stream": stream,
            "max_tokens": self.max_tokens,
        }


def _is_token(kind: str, line: str) -> bool:
    if kind == "query_stream":
        return line.startswith("event: token")
    return line.startswith("data: ") and '"content"' in line and '"content":""' not in line


class RssSampler(threading.Thread):
    """The server process tree's RSS every `every` seconds: (seconds since start, bytes)."""

    def __init__(self, pid: int, origin: float, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.origin = origin
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                return
            self.samples.append((time.perf_counter() - self.origin, rss))
            self.done.wait(self.every)


def pick(rng: random.Random) -> str:
    kinds, weights = zip(*MIX, strict=True)
    return rng.choices(kinds, weights)[0]


def ramp(traffic: Traffic, seconds: float) -> tuple[float, int]:
    """Closed-loop throughput of the mix at 1, 2 and 3 callers; (best requests/s, callers)."""
    best = (0.0, 1)
    for callers in (1, 2, 3):
        traffic.origin = time.perf_counter()
        deadline = traffic.origin + seconds
        results: list[Result] = []

        def loop(seed: int, deadline: float = deadline, results: list[Result] = results) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                results.append(traffic.send(pick(rng), rng))

        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(loop, range(callers)))
        ok = sum(r.status == 200 for r in results)
        rate = ok / seconds
        refused = sum(r.status == 503 for r in results)
        print(
            f"ramp: {callers} caller(s): {ok} ok, {refused} 503 in {seconds:.0f} s"
            f" = {rate:.2f} ok requests/s",
            file=sys.stderr,
        )
        if rate > best[0] * 1.05:
            best = (rate, callers)
    return best


def soak(traffic: Traffic, rate: float, minutes: float, pool_size: int) -> list[Result]:
    """Open loop: requests start at `rate` per second (Poisson arrivals) whatever the backlog."""
    rng = random.Random(42)
    results: list[Result] = []
    traffic.origin = time.perf_counter()
    end = traffic.origin + minutes * 60
    next_at = traffic.origin
    with ThreadPoolExecutor(pool_size) as pool:
        futures = []
        while next_at < end:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            seed = rng.randrange(1 << 30)
            chooser = random.Random(seed)
            futures.append(pool.submit(traffic.send, pick(chooser), chooser))
            next_at += rng.expovariate(rate)
        for future in futures:
            results.append(future.result())
    return results


def pct(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def report(results: list[Result], rss: list[tuple[float, int]], minutes: float) -> None:
    whole = max(1, round(minutes))
    print("\nminute  requests  ok   503  other-errors          p50-TTFT-ms  p95-TTFT-ms  RSS-MB")
    rss_by_minute: dict[int, list[int]] = {}
    for t, value in rss:
        rss_by_minute.setdefault(min(int(t // 60), whole - 1), []).append(value)
    for minute in range(whole):
        batch = [r for r in results if min(int(r.started // 60), whole - 1) == minute]
        statuses = Counter(r.status for r in batch)
        other = {s: n for s, n in statuses.items() if s not in (200, 503)}
        ttfts = [r.ttft for r in batch if r.ttft is not None]
        mem = rss_by_minute.get(minute)
        print(
            f"{minute + 1:>6}  {len(batch):>8}  {statuses[200]:>3}  {statuses[503]:>4}  "
            f"{json.dumps(other):<20}  {ms(pct(ttfts, 50)):>11}  {ms(pct(ttfts, 95)):>11}  "
            f"{statistics.median(mem) / 1e6 if mem else float('nan'):>6.0f}"
        )
    statuses = Counter(r.status for r in results)
    other = {s: n for s, n in statuses.items() if s not in (200, 503)}
    by_kind = Counter(r.kind for r in results)
    notes = Counter(f"{r.kind}: {r.note}" for r in results if r.note)
    print(f"\ntotal {len(results)} requests {dict(by_kind)}; statuses {dict(statuses)}")
    print(f"client errors and abstentions (streamed, no TTFT): {dict(notes)}")
    first, last = rss_by_minute.get(0), rss_by_minute.get(whole - 1)
    if first and last:
        drift = statistics.median(last) / statistics.median(first) - 1
        verdict = "flat" if abs(drift) <= 0.10 else "NOT flat"
        print(
            f"RSS: first minute median {statistics.median(first) / 1e6:.0f} MB, last minute "
            f"{statistics.median(last) / 1e6:.0f} MB ({drift:+.1%}): {verdict} (±10 %)"
        )
    print(f"errors other than 503: {sum(other.values())} {other or ''}".rstrip())
    span = minutes * 60 / 3
    early = [r.ttft for r in results if r.ttft is not None and r.started < span]
    late = [r.ttft for r in results if r.ttft is not None and r.started >= 2 * span]
    p_early, p_late = pct(early, 95), pct(late, 95)
    if p_early and p_late:
        ratio = p_late / p_early
        verdict = "stable" if ratio <= 1.25 else "NOT stable"
        print(
            f"p95 TTFT: first third {ms(p_early)} ms ({len(early)} streams), last third "
            f"{ms(p_late)} ms ({len(late)} streams), ratio {ratio:.2f}: {verdict} (≤ 1.25)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-soak-data"
    )
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length per request")
    parser.add_argument("--ramp-seconds", type=float, default=30.0, help="per ramp step")
    parser.add_argument("--pool", type=int, default=12, help="client threads in the soak")
    args = parser.parse_args()
    key = prepare(args.data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HEARTH_RATE_LIMIT_PER_MINUTE": "0"}
    log = open(args.data_dir / "soak-serve.log", "w")  # noqa: SIM115 (lives as long as the server)
    server = subprocess.Popen(
        [
            HEARTH,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(args.data_dir),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                print(f"the server exited with {server.returncode}; see {log.name}")
                return
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("the server did not become ready in 300 s")
                return
            time.sleep(1)
        traffic = Traffic(url, key, args.max_tokens, questions())
        traffic.send("query", random.Random(0))  # warm-up: model and embedder loaded
        rate, callers = ramp(traffic, args.ramp_seconds)
        print(
            f"capacity: {rate:.2f} ok requests/s of the mix (best at {callers} caller(s));"
            f" soaking {args.minutes:g} min at that rate, open loop",
            file=sys.stderr,
        )
        sampler = RssSampler(server.pid, time.perf_counter())
        sampler.start()
        results = soak(traffic, rate, args.minutes, args.pool)
        sampler.done.set()
        sampler.join()
        print(
            f"soak: {args.minutes:g} min, mix {dict(MIX)}, rate {rate:.2f}/s, max_tokens "
            f"{args.max_tokens}, server pid {server.pid}"
        )
        report(results, sampler.samples, args.minutes)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


if __name__ == "__main__":
    main()
