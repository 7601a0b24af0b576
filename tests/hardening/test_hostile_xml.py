"""Row 19, hostile XML through the ingest: billion laughs, external entities (file:// out of
the tree, http:// to a listener on 127.0.0.1, parameter entities, an external DTD), XInclude,
10^5-deep element nesting, 10^5-deep wikitext nesting, a 50 MB page, invalid UTF-8, a dump cut mid-page
(a cut bz2 stream is tests/ingest/test_mediawiki.py's).

Each dump is ingested in a child process (ingest_child.py) under a memory limit and a
deadline, so a blow-up costs the child, not the test runner. Pass: each dump is refused or
ingested within the bounds; the complete pages are kept; no socket is opened and no file
outside the dump's folder, the data folder and Python's own files is opened (an audit hook in
the child records every open and connect); nothing a hostile entity pointed at reaches the
store; the listener on 127.0.0.1 sees no connection.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.store import SQLiteStore

pytestmark = pytest.mark.hardening

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHILD = HERE / "ingest_child.py"
DEADLINE_S = 45.0  # generous; a dump of this size ingests in a few seconds
MEMORY_MB = 1536
SECRET = "TOPSECRET-OUTSIDE-8841"
# + the editable install's package metadata (the pipeline reads its own version from it)
CODE_DIRS = [REPO / d for d in ("app", "index", "ingest", "tests", "hearth_kb.egg-info")]


def page(i: int, text: str, title: str | None = None) -> str:
    return (
        f"<page><title>{title or f'Page {i}'}</title><ns>0</ns><id>{i}</id><revision>"
        f"<id>{i}0</id><timestamp>2026-01-02T03:04:05Z</timestamp><text>{text}</text>"
        "</revision></page>"
    )


def dump(*pages: str, head: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{head}'
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/">'
        "<siteinfo><sitename>Hostile</sitename><dbname>hostile</dbname></siteinfo>"
        + "".join(pages)
        + "</mediawiki>"
    )


BEFORE, AFTER = page(1, "Leave before the trouble."), page(3, "Leave after the trouble.")


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections (an external entity's target)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def hostile_dumps(outside: Path, port: int) -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, file name)."""
    secret = outside.as_uri()
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    cases = {
        "billion laughs": dump(page(2, "&l9;"), head=f'<!DOCTYPE mediawiki [<!ENTITY l0 "lol">{laughs}]>'),
        "external entity file": dump(BEFORE, page(2, "&s;"), AFTER,
                                     head=f'<!DOCTYPE mediawiki [<!ENTITY s SYSTEM "{secret}">]>'),
        "external entity http": dump(BEFORE, page(2, "&s;"), AFTER,
                                     head=f'<!DOCTYPE mediawiki [<!ENTITY s SYSTEM "http://127.0.0.1:{port}/x">]>'),
        "parameter entity": dump(BEFORE, page(2, "x"), AFTER,
                                 head=f'<!DOCTYPE mediawiki [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>'),
        "external dtd": dump(BEFORE, page(2, "x"), AFTER,
                             head=f'<!DOCTYPE mediawiki SYSTEM "http://127.0.0.1:{port}/d.dtd">'),
        "xinclude": dump(BEFORE, page(2, f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret}" parse="text"/>'), AFTER),
        "xml nesting 1e5": dump(BEFORE, page(2, "Deep.").replace("<text>", "<x>" * 100_000 + "</x>" * 100_000 + "<text>"), AFTER),
        "wikitext templates 1e5": dump(BEFORE, page(2, "{{" * 100_000 + "x" + "}}" * 100_000), AFTER),
        "wikitext tags 1e5": dump(BEFORE, page(2, "&lt;div&gt;" * 100_000 + "x" + "&lt;/div&gt;" * 100_000), AFTER),
    }  # fmt: skip
    out = {name: (xml.encode(), "dump.xml") for name, xml in cases.items()}
    valid = dump(BEFORE, page(2, "Leave in the middle."), AFTER).encode()
    cut_at = valid.index(b"Leave in the middle")
    out["invalid utf-8"] = (
        valid.replace(b"Leave in the middle", b"Leave \xff\xfe\xc3 middle"),
        "dump.xml",
    )
    out["cut mid-page"] = (valid[:cut_at], "dump.xml")
    return out


def fifty_mb_page() -> bytes:
    body = "== Section ==\n[[Link|label]] ''italic'' {{template}} policy text. " * (
        50 * 2**20 // 64
    )
    return dump(BEFORE, page(2, body), AFTER).encode()


def ingest_in_child(tree: Path, data: Path, tmp: Path) -> dict:
    out = tmp / f"report-{time.monotonic_ns()}.json"

    def limits() -> None:
        limit = MEMORY_MB * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD), str(out), str(data), "0", str(tree)],
            cwd=REPO,
            preexec_fn=limits,
            capture_output=True,
            timeout=DEADLINE_S,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"killed after {DEADLINE_S:g} s (no bound on the work)"}
    if done.returncode != 0 or not out.exists():
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return {"outcome": f"child died (exit {done.returncode}): {tail}"}
    result = json.loads(out.read_text())
    result["outcome"] = "ok"
    result["wall"] = time.perf_counter() - started
    return result


def allowed(path: str, roots: list[Path]) -> bool:
    if path.startswith(("/proc/self/", "/dev/urandom", "/dev/null")):
        return True
    return any(Path(path).is_relative_to(root) for root in roots)


def check(result: dict, name: str, tree: Path, data: Path, outside: Path, listener: Listener):
    problems = []
    if result["outcome"] != "ok":
        return [result["outcome"]]
    roots = [tree, data, Path(sys.prefix), Path(sys.base_prefix), *CODE_DIRS]
    stray = [p for p in result["opens"] if not allowed(p, roots)]
    if stray:
        problems.append(f"opened outside the tree: {stray[:5]}")
    if any(Path(p) == outside for p in result["opens"]):
        problems.append("opened the file an entity pointed at")
    if result["sockets"]:
        problems.append(f"socket calls: {result['sockets'][:3]}")
    if listener.connections:
        problems.append(f"{listener.connections} connections to the listener")
    store = SQLiteStore(data)
    try:
        titles = {r[0] for r in store.execute("SELECT title FROM documents")}
        texts = " ".join(str(r[0]) for r in store.execute("SELECT text FROM chunks"))
    finally:
        store.close()
    if SECRET in texts or "lollol" in texts:
        problems.append("entity content reached the store")
    refused = bool(result["report"]["failed"])
    if name in (
        "billion laughs",
        "external entity file",
        "external entity http",
        "parameter entity",
        "external dtd",
    ):
        if not refused or titles:
            problems.append(f"a DTD was not refused outright (pages {sorted(titles)})")
    elif name.startswith(("cut", "invalid")):
        if titles != {"Page 1"} or not refused:
            problems.append(f"complete pages not kept / cut not reported: {sorted(titles)}")
    elif not {"Page 1", "Page 3"} <= titles:
        problems.append(f"the pages around the hostile one were lost: {sorted(titles)}")
    return problems


@pytest.fixture
def listener():
    running = Listener()
    yield running
    running.stop()


@pytest.fixture
def outside(tmp_path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


CASE_NAMES = list(hostile_dumps(Path("/x"), 1))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_dump_is_refused_or_ingested_within_bounds(tmp_path, listener, outside, name):
    content, filename = hostile_dumps(outside, listener.port)[name]
    tree, data = tmp_path / "tree", tmp_path / "data"
    tree.mkdir()
    (tree / filename).write_bytes(content)
    result = ingest_in_child(tree, data, tmp_path)
    print(
        f"{name}: {result['outcome']}, {result.get('seconds', 0):.2f} s,"
        f" failed={result.get('report', {}).get('failed')},"
        f" {len(result.get('opens', []))} files opened"
    )
    assert check(result, name, tree, data, outside, listener) == []


@pytest.mark.timeout(120)
def test_a_50_mb_page_is_refused_or_ingested_within_bounds(tmp_path, listener, outside):
    tree, data = tmp_path / "tree", tmp_path / "data"
    tree.mkdir()
    (tree / "big.xml").write_bytes(fifty_mb_page())
    result = ingest_in_child(tree, data, tmp_path)
    print(
        f"50 MB page: {result['outcome']}, {result.get('seconds', 0):.1f} s,"
        f" report={result.get('report')}"
    )
    assert check(result, "50 MB page", tree, data, outside, listener) == []
    os.sync()
