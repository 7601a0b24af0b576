"""What the browser tests and bench/page.py share: the app on 127.0.0.1 with the fakes (real
SQLite store, hash embedder, scripted model) served by uvicorn in a thread, and page helpers."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fakes import HashEmbedder, ScriptedChatModel

from app.deps import Services
from app.main import build_services, create_app
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Chunk, Document, Section

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
SESSION_KEY = "hearth.session"

# (document id, title, heading path, text, groups, url)
DOCS = [
    ("leave", "Annual leave", ("Paris",), "Employees in the Paris office get 27 days of annual leave each year.", {"public"}, "https://intranet.example/leave"),
    ("leave", "Annual leave", ("Berlin",), "Employees in the Berlin office get 30 days of annual leave each year.", {"public"}, "https://intranet.example/leave"),
    ("canteen", "Canteen", (), "The canteen opens at 11:30 and serves lunch until 14:00 on weekdays.", {"public"}, "https://intranet.example/canteen"),
    ("bikes", "Bike scheme", (), "The bike scheme refunds half of a new bicycle up to 400 euros.", {"public"}, None),
    ("salaries", "Salary bands", (), "Band C salary ranges from 52000 to 61000 euros. CANARY-HR-7731", {"hr"}, None),
]  # fmt: skip


def fill(store: SQLiteStore, embedder: Any, docs: list[tuple[Any, ...]]) -> None:
    """Write the documents (one per id, a section per row) and publish the vectors."""
    store.check_embedder(embedder.model_id, embedder.dim)
    by_doc: dict[str, list[tuple[Any, ...]]] = {}
    for row in docs:
        by_doc.setdefault(row[0], []).append(row)
    for doc_id, rows in by_doc.items():
        _, title, _, _, groups, url = rows[0]
        sections = tuple(Section(r[2], r[3], anchor=r[2][-1] if r[2] else None) for r in rows)
        document = Document(
            id=doc_id, source=f"/corpus/{doc_id}.md", title=title, kind="markdown",
            sections=sections, groups=frozenset(groups), url=url, content_hash=doc_id,
            modified=datetime(2024, 3, 14, tzinfo=UTC), revision="r7",
        )  # fmt: skip
        chunks = [
            Chunk(doc_id, s.text, s.heading_path, i, 20, anchor=s.anchor)
            for i, s in enumerate(sections)
        ]
        texts = [f"{title} > {' > '.join(c.heading_path)}\n{c.text}" for c in chunks]
        store.write_document(document, chunks, embedder.embed_documents(texts))
    store.publish_vectors()


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@dataclass
class Hearth:
    """A running app and what the tests inspect behind it."""

    url: str
    services: Services
    model: Any
    settings: Settings
    server: ServerThread

    def stop(self) -> None:
        self.server.stop()
        self.services.store.close()


def serve(services: Services, settings: Settings) -> ServerThread:
    """Serve an app built around ready services (fakes or real models)."""
    server = ServerThread(create_app(settings, services=services))
    server.start()
    return server


def start_fake_hearth(
    data_dir: Path,
    answer: object = "Employees in Paris get 27 days of annual leave.",
    *,
    delay: float = 0.0,
    docs: list[tuple[Any, ...]] | None = None,
    **overrides: Any,
) -> Hearth:
    """An app with a real store in `data_dir`, the hash embedder and a scripted model."""
    settings = Settings(data_dir=data_dir, **overrides)
    embedder = HashEmbedder()
    store = SQLiteStore(settings.data_dir, vector_kind="exact")
    fill(store, embedder, DOCS if docs is None else docs)
    model = ScriptedChatModel(answer, delay=delay)
    services = build_services(settings, store, embedder, model)
    server = serve(services, settings)
    return Hearth(server.url, services, model, settings, server)


@dataclass
class Watch:
    """What a page did that a safe page must not: dialogs, off-machine requests, CSP errors."""

    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    html_responses: list[tuple[str, str | None]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)


def is_local(url: str) -> bool:
    """A request that stays on this machine (the test server, or data the page itself holds)."""
    return url.startswith(("http://127.0.0.1:", "data:", "blob:http://127.0.0.1:"))


def owner_of(page: Any) -> str:
    """The conversation owner the server derives from this browser's anonymous session id."""
    session = page.evaluate(f"localStorage.getItem('{SESSION_KEY}')")
    assert isinstance(session, str) and len(session) >= 16
    return "anonymous:" + hashlib.sha256(session.encode()).hexdigest()[:24]


def ask(page: Any, question: str, *, wait: bool = True, timeout: float = 30_000) -> Any:
    """Type a question, press Enter and (by default) wait until the answer is finished."""
    count = page.locator(".message-assistant").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator(".message-assistant").nth(count)
    answer.wait_for()
    if wait:
        answer.locator(".answer-meta").wait_for(state="attached", timeout=timeout)
        page.wait_for_selector("#ask:not([hidden])", timeout=timeout)
    return answer


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot under tests/e2e/artifacts/ (git-ignored) for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
