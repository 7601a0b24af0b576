"""What the hardening tests share: an app with the fakes (real SQLite store, hash embedder,
scripted model), uvicorn on 127.0.0.1 in a thread, and guards that record what a run touched
(files opened, sockets connected) through `sys.addaudithook`.

Audit hooks cannot be removed once added, so one hook is installed per process and recorders
are switched on and off around the code under test.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fakes import HashEmbedder, ScriptedChatModel

from app.deps import Services
from app.main import build_services, create_app
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Chunk, Document, Section

# (document id, title, heading path, text, groups). Canaries are strings no caller can type
# from the public documents' words.
DOCS = [
    ("leave", "Annual leave", ("Paris",), "Employees in the Paris office get 27 days of annual leave each year.", {"public"}),
    ("leave", "Annual leave", ("Berlin",), "Employees in the Berlin office get 30 days of annual leave each year.", {"public"}),
    ("canteen", "Canteen", (), "The canteen opens at 11:30 and serves lunch until 14:00 on weekdays.", {"public"}),
    ("bikes", "Bike scheme", (), "The bike scheme refunds half of a new bicycle up to 400 euros.", {"public"}),
    ("salaries", "Salary bands", (), "Band C salary ranges from 52000 to 61000 euros. CANARY-HR-7731", {"hr"}),
    ("budget", "Budget thresholds", (), "Spending above 5000 euros needs CFO approval. CANARY-FIN-2294", {"finance"}),
    ("merger", "Project Heron", (), "Project Heron merger talks start in May. CANARY-BOARD-5120", {"board"}),
]  # fmt: skip
CANARIES = {"hr": "CANARY-HR-7731", "finance": "CANARY-FIN-2294", "board": "CANARY-BOARD-5120"}
RESTRICTED_DOCS = {"salaries", "budget", "merger"}


def fill(store: SQLiteStore, embedder: Any, docs: list[tuple[Any, ...]] = DOCS) -> None:
    """Write the documents (one per id, a section per row) and publish the vectors."""
    store.check_embedder(embedder.model_id, embedder.dim)
    by_doc: dict[str, list[tuple[Any, ...]]] = {}
    for row in docs:
        by_doc.setdefault(row[0], []).append(row)
    for doc_id, rows in by_doc.items():
        title, groups = rows[0][1], frozenset(rows[0][4])
        sections = tuple(Section(r[2], r[3], anchor=r[2][-1] if r[2] else None) for r in rows)
        document = Document(
            id=doc_id,
            source=f"/corpus/{doc_id}.md",
            title=title,
            kind="markdown",
            sections=sections,
            groups=groups,
            url=f"https://intranet.example/{doc_id}",
            content_hash=doc_id,
        )
        chunks = [
            Chunk(doc_id, s.text, s.heading_path, i, 20, anchor=s.anchor)
            for i, s in enumerate(sections)
        ]
        texts = [f"{title} > {' > '.join(c.heading_path)}\n{c.text}" for c in chunks]
        store.write_document(document, chunks, embedder.embed_documents(texts))
    store.publish_vectors()


def make_services(
    data_dir: Path,
    model: Any | None = None,
    docs: list[tuple[Any, ...]] = DOCS,
    vector_kind: str = "exact",
    **overrides: Any,
) -> tuple[Services, Settings]:
    settings = Settings(data_dir=data_dir, **overrides)
    embedder = HashEmbedder()
    store = SQLiteStore(settings.data_dir, vector_kind=vector_kind)
    fill(store, embedder, docs)
    services = build_services(settings, store, embedder, model or ScriptedChatModel())
    return services, settings


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config.setdefault("log_level", "warning")
        config.setdefault("timeout_graceful_shutdown", 1)
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@contextlib.contextmanager
def serving(services: Services, settings: Settings, **config: Any) -> Iterator[ServerThread]:
    server = ServerThread(create_app(settings, services=services), **config).start()
    try:
        yield server
    finally:
        server.stop()


# -- audit: what a piece of code opened and connected to -------------------------------------


@dataclass
class Recorder:
    """Events seen while active: file opens (path, mode/flags) and socket calls (event, args)."""

    opens: list[tuple[str, str]] = field(default_factory=list)
    sockets: list[tuple[str, str]] = field(default_factory=list)

    def opened_paths(self) -> list[Path]:
        return [Path(p) for p, _ in self.opens]


_active: list[Recorder] = []
_installed = False
_guard = threading.local()


def _describe(value: Any) -> str:
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def opened_path(path: str, flags: Any) -> str:
    """Where an open of `path` really leads: links resolved, except a last component opened
    with O_NOFOLLOW (the open fails on a link there rather than follow it)."""
    if isinstance(flags, int) and flags & os.O_NOFOLLOW:
        head, tail = os.path.split(os.path.abspath(path))
        return os.path.join(os.path.realpath(head), tail)
    return os.path.realpath(path)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active or getattr(_guard, "busy", False):
        return
    if event not in ("open", "os.open", "socket.connect", "socket.getaddrinfo", "socket.sendto"):
        return
    _guard.busy = True
    try:
        if event in ("open", "os.open"):
            target = args[0]
            if isinstance(target, int):  # open(fd): not a path
                return
            mode = _describe(args[1]) if len(args) > 1 else ""
            path = opened_path(_describe(target), args[2] if len(args) > 2 else None)
            for recorder in list(_active):
                recorder.opens.append((path, mode))
        else:
            detail = repr(args[1:]) if event != "socket.getaddrinfo" else repr(args[:2])
            for recorder in list(_active):
                recorder.sockets.append((event, detail))
    finally:
        _guard.busy = False


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    """Record file opens and socket calls made by this process (any thread) meanwhile."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    recorder = Recorder()
    _active.append(recorder)
    try:
        yield recorder
    finally:
        _active.remove(recorder)


def is_loopback(address: str) -> bool:
    return address in ("127.0.0.1", "::1", "localhost") or address.startswith("127.")


class NoEgress:
    """A socket guard: any connect to a non-loopback address raises and is recorded."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self._original = socket.socket.connect

    def __enter__(self) -> NoEgress:
        original, refused = self._original, self.refused

        def connect(sock: socket.socket, address: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else address
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(str(host)):
                refused.append(str(address))
                raise ConnectionRefusedError(f"egress refused by the test: {address}")
            return original(sock, address)

        socket.socket.connect = connect  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect = self._original  # type: ignore[method-assign]


def settled_rss_mb() -> float:
    """This process's resident set size once garbage is collected and glibc has handed its free
    pages back: what is still held, not what the allocator keeps for later (20 threads' arenas
    alone moved a 900 MB test process by 80 MB between two identical rounds)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the plain figure
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mb()


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MB (from /proc)."""
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class StrictScriptedModel(ScriptedChatModel):
    """The scripted model counting the generations that actually started (`decodes`): its
    `stream` refuses what the real engines refuse before anything is queued."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decodes = 0

    def stream(self, messages, *, max_tokens, temperature=0.0, cancel=None, seed=None):
        stream = super().stream(
            messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel, seed=seed
        )
        self.decodes += 1
        return stream
