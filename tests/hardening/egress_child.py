"""Ingest a folder with isolated parsers, then serve the app on 127.0.0.1 and ask it a few
questions over HTTP: the whole life of a Hearth, in one process tree, for the egress test.

    python egress_child.py DATA_DIR CORPUS_DIR

Outbound connections are recorded from outside: by the audit hook that the test's
sitecustomize.py installs in this process and in every Python child (the parser process is
spawned and inherits PYTHONPATH), and by strace when it is available.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import httpx  # noqa: E402
from fakes import HashEmbedder, ScriptedChatModel  # noqa: E402
from hardkit import ServerThread  # noqa: E402

from app.main import build_services, create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from index.store import SQLiteStore  # noqa: E402
from ingest.pipeline import IngestOptions, Ingestor  # noqa: E402

QUESTIONS = [
    "How many days of annual leave do employees get?",
    "What is the expense policy for travel?",
    "Who approves spending above the budget threshold?",
]


def main() -> None:
    data_dir, corpus = Path(sys.argv[1]), Path(sys.argv[2])
    embedder = HashEmbedder()
    store = SQLiteStore(data_dir)
    report = Ingestor(store, embedder).run([corpus], IngestOptions(isolate_parsers=True))
    print(f"ingest: {report.added} added, {len(report.failed)} failed", flush=True)
    settings = Settings(data_dir=data_dir)
    services = build_services(settings, store, embedder, ScriptedChatModel())
    server = ServerThread(create_app(settings, services=services)).start()
    statuses = []
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            for question in QUESTIONS:
                statuses.append(client.post("/api/query", json={"question": question}).status_code)
                statuses.append(client.post("/api/search", json={"query": question}).status_code)
                body = {"messages": [{"role": "user", "content": question}], "stream": True}
                statuses.append(client.post("/v1/chat/completions", json=body).status_code)
            for path in ("/", "/static/app.js", "/api/info", "/v1/models", "/metrics"):
                statuses.append(client.get(path).status_code)
    finally:
        server.stop()
        store.close()
    print(f"served: {statuses}", flush=True)
    if report.added == 0 or any(s != 200 for s in statuses):
        sys.exit(3)


if __name__ == "__main__":
    main()
