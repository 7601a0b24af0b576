"""Run one ingest in this (child) process and report what it touched, as JSON.

    python ingest_child.py OUT.json DATA_DIR ISOLATE PATH...

Used by the hostile-input tests so that a page that blows up memory or time costs a child
(killed by the parent's limits), never the test runner. An audit hook records, from the moment
the ingest starts, every file this process opens and every socket call it makes; the report
carries them with the ingest report and the elapsed time.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]  # tests/ (fakes), the repo

from fakes import HashEmbedder  # noqa: E402

from index.store import SQLiteStore  # noqa: E402
from ingest.pipeline import IngestOptions, Ingestor  # noqa: E402

EVENTS = (
    "open",
    "os.open",
    "socket.connect",
    "socket.getaddrinfo",
    "socket.sendto",
    "urllib.Request",
)


def opened_path(path: str, flags: object) -> str:
    """Where an open leads: links resolved, except a last component opened with O_NOFOLLOW
    (as in hardkit.opened_path; not imported, to keep this child's start light)."""
    if isinstance(flags, int) and flags & os.O_NOFOLLOW:
        head, tail = os.path.split(os.path.abspath(path))
        return os.path.join(os.path.realpath(head), tail)
    return os.path.realpath(path)


def main() -> None:
    out, data_dir, isolate, *paths = sys.argv[1:]
    opens: list[str] = []
    sockets: list[str] = []
    active = [False]

    def hook(event: str, args: tuple) -> None:
        if not active[0] or event not in EVENTS:
            return
        if event in ("open", "os.open"):
            if not isinstance(args[0], int):
                opens.append(opened_path(os.fsdecode(args[0]), args[2]))
        else:
            sockets.append(f"{event} {args!r}"[:300])

    tempfile.gettempdir()  # its one-time probe file in /tmp is not the ingest's doing
    sys.addaudithook(hook)
    store = SQLiteStore(Path(data_dir), vector_kind="exact")
    embedder = HashEmbedder()
    started = time.perf_counter()
    active[0] = True
    try:
        report = Ingestor(store, embedder).run(
            [Path(p) for p in paths], IngestOptions(isolate_parsers=isolate == "1")
        )
    finally:
        active[0] = False
    elapsed = time.perf_counter() - started
    store.close()
    Path(out).write_text(
        json.dumps(
            {
                "report": report.as_dict(),
                "seconds": elapsed,
                "opens": sorted(set(opens)),
                "sockets": sockets,
            }
        )
    )


if __name__ == "__main__":
    main()
