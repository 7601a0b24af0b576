"""Sizing figures for deploy/OPERATIONS.md, measured: RAM and tokens/s of one `hearth serve`.

    nice -n 10 .venv/bin/python deploy/sizing.py [--data-dir DIR] [--questions 8]

1. `hearth ingest corpus/` into a temporary data folder (unless --data-dir holds a store):
   wall time and peak RSS of the ingest process.
2. `hearth serve` on a free loopback port, exactly as deployed (uvicorn in the process, the
   bundled GGUF and MiniLM): time until /readyz answers 200, then RSS when idle.
3. Answerable questions from corpus/questions.jsonl, one at a time, streamed through
   /api/query: client-side time to first token, token events (one per generated piece, about
   one per model token) and decode tokens/s; RSS sampled every 50 ms while answering.
4. The same questions from 2 and from 4 clients at once: aggregate tokens/s of the replica
   (the engine has one worker, so it queues; this is the replica's ceiling), 503s counted.
With --remote, the compose/Kubernetes topology instead: `python -m llama_cpp.server` (same GGUF,
2 threads) on another loopback port and Hearth pointed at it with HEARTH_LLM_URL; both RSS are
reported (Hearth's then holds no model).
5. Baseline in the same run, paired: after each of Hearth's answers, bare llama-cpp-python (same
   GGUF, 2 threads, loaded in this driver process) decodes as many tokens after a short prompt.
   On a shared machine the absolute rates move with the load; the paired ratio barely does.

Reports medians and the median paired ratio Hearth/bare. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HEARTH = str(Path(sys.executable).with_name("hearth"))


def gguf() -> Path:
    from app.engines import bundled_gguf_path

    return Path(bundled_gguf_path())


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `url` until it answers 200; exit if the process dies first."""
    while True:
        if process.poll() is not None:
            sys.exit(f"{process.args!r} exited before it was ready")
        try:
            if httpx.get(url, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (or its peak, VmHWM) in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found for pid {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ingest(data_dir: Path) -> tuple[float, float]:
    """Ingest corpus/ (wall seconds, peak RSS MiB of the ingest process)."""
    started = time.perf_counter()
    subprocess.run(
        [HEARTH, "ingest", str(ROOT / "corpus"), "--data-dir", str(data_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - started, peak_kib / 1024


def ask(url: str, question: str, max_tokens: int) -> dict[str, float]:
    """Stream one answer; client-side TTFT, token events and decode rate."""
    body = {"question": question, "stream": True, "max_tokens": max_tokens}
    started = time.perf_counter()
    first = last = None
    tokens = 0
    status = 200
    with httpx.stream(
        "POST", f"{url}/api/query", json=body, timeout=httpx.Timeout(10, read=600), trust_env=False
    ) as response:
        status = response.status_code
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                last = time.perf_counter()
                first = first or last
                tokens += 1
    end = time.perf_counter()
    result = {"status": status, "tokens": tokens, "total_s": end - started}
    if first is not None and last is not None and tokens > 1:
        result["ttft_s"] = first - started
        result["decode_tps"] = (tokens - 1) / (last - first)
    return result


class Bare:
    """The baseline: bare llama-cpp-python decoding after a short prompt (tokens/s), in
    Hearth's own thread layout (deploy/OPERATIONS.md, "CPU threads")."""

    def __init__(self) -> None:
        from app.engines import wait_without_spinning

        wait_without_spinning()  # as Hearth does, before llama.cpp loads
        import llama_cpp

        self.llm = llama_cpp.Llama(
            str(gguf()), n_ctx=2048, n_threads=1, n_threads_batch=2, verbose=False, seed=0
        )

    def decode_tps(self, tokens: int) -> float:
        self.llm.reset()
        prompt = "<|im_start|>user\nWrite about the sea.<|im_end|>\n<|im_start|>assistant\n"
        started, count = 0.0, 0
        for _ in self.llm.create_completion(
            prompt, max_tokens=tokens, temperature=0.0, stream=True
        ):
            count += 1
            if count == 1:
                started = time.perf_counter()
        return (count - 1) / (time.perf_counter() - started)


class Sampler(threading.Thread):
    """Samples a process's RSS every 50 ms while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.samples.append(rss_mb(self.pid))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--clients", type=int, nargs="*", default=[2])
    parser.add_argument("--remote", action="store_true", help="inference on llama_cpp.server")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    env.pop("HEARTH_DATABASE_URL", None)
    env.pop("HEARTH_LLM_URL", None)
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        if not (data_dir / "hearth.sqlite3").is_file():
            seconds, peak = ingest(data_dir)
            print(f"ingest corpus/: {seconds:.1f} s, peak RSS {peak:.0f} MiB")

        questions = [
            row["question"]
            for row in map(json.loads, (ROOT / "corpus" / "questions.jsonl").open())
            if row["answerable"] and not row.get("groups")
        ][: args.questions]
        llm = None
        if args.remote:
            llm_port = free_port()
            llm = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf()),
                 "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(llm_port),
                 "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "2",
                 "--interrupt_requests", "false"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            env["HEARTH_LLM_URL"] = f"http://127.0.0.1:{llm_port}/v1"
            env["HEARTH_LLM_MODEL"] = "smollm2"
            env["HEARTH_LLM_LICENSE"] = "apache-2.0"
            env["HEARTH_CONTEXT_SIZE"] = "4096"
            wait_ready(f"http://127.0.0.1:{llm_port}/v1/models", llm)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        server = subprocess.Popen(
            [
                HEARTH,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "serve.log").open("wb"),
        )
        try:
            while True:
                if server.poll() is not None:
                    log = (Path(tmp) / "serve.log").read_text(errors="replace")
                    sys.exit(f"hearth serve exited before it was ready:\n{log[-3000:]}")
                try:
                    if httpx.get(f"{url}/readyz", trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            print(f"hearth serve: ready after {time.perf_counter() - started:.1f} s")
            info = httpx.get(f"{url}/api/info", trust_env=False).json()
            print(f"model {info.get('model')}, embedder {info.get('embedder')}")
            time.sleep(2)
            print(f"idle RSS: {rss_mb(server.pid):.0f} MiB")
            if llm is not None:
                print(f"llama_cpp.server idle RSS: {rss_mb(llm.pid):.0f} MiB")

            sampler = Sampler(server.pid)
            sampler.start()
            ask(url, questions[0], 8)  # warm-up: first-call imports, system-turn KV cache
            bare = Bare()
            single, ratios, bare_rates = [], [], []
            for question in questions:
                single.append(ask(url, question, args.max_tokens))
                if "decode_tps" in single[-1]:
                    bare_rates.append(bare.decode_tps(max(32, int(single[-1]["tokens"]))))
                    ratios.append(single[-1]["decode_tps"] / bare_rates[-1])
            sampler.stop.set()
            sampler.join()
            del bare
            answered = [r for r in single if "decode_tps" in r]
            print(f"one client, {len(answered)}/{len(single)} questions answered by the model:")
            print(
                f"  TTFT median {median([r['ttft_s'] for r in answered]):.2f} s, "
                f"tokens median {median([r['tokens'] for r in answered]):.0f}, "
                f"decode median {median([r['decode_tps'] for r in answered]):.1f} tok/s"
            )
            print(
                f"  RSS while answering: median {median(sampler.samples):.0f} MiB, "
                f"max {max(sampler.samples):.0f} MiB, peak (VmHWM) "
                f"{rss_mb(server.pid, 'VmHWM'):.0f} MiB"
            )
            print(
                f"  baseline, bare llama-cpp-python decode (paired): median "
                f"{median(bare_rates):.1f} tok/s; Hearth/bare median ratio {median(ratios):.2f}"
            )

            for clients in args.clients:
                batch = questions[: max(clients, min(len(questions), 2 * clients))]
                began = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    results = list(pool.map(lambda q: ask(url, q, args.max_tokens), batch))
                wall = time.perf_counter() - began
                tokens = sum(r["tokens"] for r in results)
                refused = sum(1 for r in results if r["status"] == 503)
                print(
                    f"{clients} clients: {len(batch)} questions in {wall:.1f} s, "
                    f"aggregate {tokens / wall:.1f} tok/s, "
                    f"median total {median([r['total_s'] for r in results]):.1f} s "
                    f"per answer, 503s {refused}"
                )
            print(f"peak RSS (VmHWM) of hearth serve: {rss_mb(server.pid, 'VmHWM'):.0f} MiB")
            if llm is not None:
                print(f"peak RSS (VmHWM) of llama_cpp.server: {rss_mb(llm.pid, 'VmHWM'):.0f} MiB")
        finally:
            server.terminate()
            server.wait(30)
            if llm is not None:
                llm.terminate()
                llm.wait(30)


if __name__ == "__main__":
    main()
