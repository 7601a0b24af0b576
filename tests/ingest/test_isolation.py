"""The parser child: files parsed ahead in submission order, deadlines, failures, warm start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import HashEmbedder

from index.errors import ParseError
from index.store import SQLiteStore
from ingest.isolation import IsolatedParser
from ingest.parsers.base import ParseOptions
from ingest.pipeline import ISOLATED_SUFFIXES, IngestOptions, Ingestor
from ingest.sources import suffixes_under

ROOT = Path(__file__).resolve().parents[2]


def markdown(folder: Path, name: str, title: str) -> Path:
    path = folder / name
    path.write_text(f"# {title}\n\n{title} is described here in a sentence or two.\n")
    return path


def test_files_queued_ahead_come_back_in_order_and_a_stuck_child_costs_only_its_file(tmp_path):
    """A child that does not answer (a FIFO nobody writes: its open never returns; its own
    timer is set long here, like a child stuck in C code) is killed by the parent at the
    deadline; the file fails with its own name and the files queued behind it go to a fresh
    child."""
    first = markdown(tmp_path, "first.md", "Bicycles")
    stuck = tmp_path / "stuck.md"
    os.mkfifo(stuck)
    after = [markdown(tmp_path, f"after-{n}.md", title) for n, title in enumerate(("Ferry", "Tea"))]
    with IsolatedParser(timeout_s=120) as parser:
        assert parser.parse(first, "first.md", ParseOptions()).title == "Bicycles"
        for path in (stuck, *after):
            parser.submit(path, path.name, ParseOptions())
        assert parser.pending == 3
        child = parser._process.pid
        parser.timeout_s = 1  # the parent's deadline now comes first
        with pytest.raises(ParseError, match=r"stuck\.md: parsing took longer than 1 s"):
            parser.result()
        parser.timeout_s = 120  # the fresh child loads its libraries again
        assert [parser.result().title for _ in after] == ["Ferry", "Tea"]
        assert parser._process.pid != child and parser.pending == 0
        with pytest.raises(RuntimeError):
            parser.result()


def test_the_child_enforces_a_deadline_while_the_parent_is_busy(tmp_path):
    """The deadline runs from when the child begins a file, not from when the parent comes
    for the result: a stuck file is given up in the child, which lives on for the next."""
    stuck = tmp_path / "stuck.md"
    os.mkfifo(stuck)
    after = markdown(tmp_path, "after.md", "Ferry")
    with IsolatedParser(timeout_s=1) as parser:
        parser.start(warm=[".md"])
        child = parser._process.pid
        parser.submit(stuck, "stuck.md", ParseOptions())
        parser.submit(after, "after.md", ParseOptions())
        # The parent is busy elsewhere (no result() call): the child reports on its own.
        assert parser._conn.poll(60)
        with pytest.raises(ParseError, match=r"stuck\.md: parsing took longer than 1 s"):
            parser.result()
        assert parser.result().title == "Ferry"
        assert parser._process.pid == child  # the child itself gave up, and went on


def test_a_child_that_died_between_files_costs_no_file_and_raises_nothing(tmp_path):
    """A child killed while the parent was busy (a crash, Ctrl-C reaching the process group)
    is noticed when the next file is sent: a fresh child parses the queued files."""
    first = markdown(tmp_path, "first.md", "Bicycles")
    later = [markdown(tmp_path, f"later-{n}.md", title) for n, title in enumerate(("Tea", "Ferry"))]
    with IsolatedParser() as parser:
        assert parser.parse(first, "first.md", ParseOptions()).title == "Bicycles"
        parser._process.kill()
        parser._process.join()
        for path in later:
            parser.submit(path, path.name, ParseOptions())
        assert [parser.result().title for _ in later] == ["Tea", "Ferry"]


def test_ctrl_c_is_left_to_the_parent(tmp_path):
    """Ctrl-C reaches the whole process group; the child must not print its own traceback
    (the CLI reports the interrupt and stops the child)."""
    first = markdown(tmp_path, "first.md", "Bicycles")
    with IsolatedParser() as parser:
        parser.parse(first, "first.md", ParseOptions())
        child = parser._process.pid
        os.kill(child, signal.SIGINT)
        assert parser.parse(first, "first.md", ParseOptions()).title == "Bicycles"
        assert parser._process.pid == child


def test_isolated_parser_enforces_its_deadline(tmp_path):
    slow = tmp_path / "slow.md"
    slow.write_text("# Title\n\ntext\n")
    with IsolatedParser(timeout_s=0.001) as parser, pytest.raises(ParseError, match="longer than"):
        parser.parse(slow, "slow.md", ParseOptions())


def test_a_given_parser_serves_every_run_and_stays_up(tmp_path):
    """The CLI starts the child before loading the embedder and hands it to the Ingestor,
    which then neither starts another nor stops it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, title in enumerate(("Bicycles", "Ferry", "Tea")):
        markdown(docs, f"{n}.md", title)
    with IsolatedParser() as parser:
        parser.start(warm=[".md"])
        child = parser._process.pid
        for run in ("one", "two"):
            store = SQLiteStore(tmp_path / run)
            report = Ingestor(store, HashEmbedder(), parser=parser).run([docs], IngestOptions())
            assert report.ok and report.added == 3, report.failed
            store.close()
        assert parser._process.pid == child and parser.pending == 0


@pytest.mark.timeout(300)
def test_isolated_parser_gives_the_in_process_documents_without_loading_torch():
    """The parser child blocks torch (spaCy's thinc would import it for nothing): every kind
    of file still parses to the very document in-process parsing gives."""
    from ingest.parsers.registry import parser_for

    corpus = ROOT / "corpus"
    files = [
        corpus / "handbook/expenses.md",
        corpus / "intranet/printing.html",
        corpus / "notes/lisbon-office-faq.txt",
        corpus / "finance/budget-approval-thresholds.docx",
        corpus / "policies/travel-and-expense-policy.pdf",
    ]
    with IsolatedParser() as isolated:
        for path in files:
            parse = parser_for(path)
            assert parse is not None
            expected = parse(path, path.name, ParseOptions())
            got = isolated.parse(path, path.name, ParseOptions())
            assert got == expected and got.sections, path.name
        maps = Path(f"/proc/{isolated._process.pid}/maps").read_text()
    assert "libtorch" not in maps  # the child never loaded torch's libraries


def test_warming_loads_exactly_the_partitioners_asked_for():
    script = (
        "import sys; from ingest.parsers.registry import load_parsers; "
        "load_parsers(sys.argv[1:]); "
        "print(sorted(m for m in ('unstructured.partition.pdf', 'unstructured.partition.html', "
        "'unstructured.partition.docx') if m in sys.modules))"
    )

    def loaded(*suffixes: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, *suffixes],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return done.stdout.strip()

    assert loaded(".txt") == "[]"
    assert (
        loaded(".md", ".docx") == "['unstructured.partition.docx', 'unstructured.partition.html']"
    )


def test_suffixes_under_lists_the_kinds_present_in_the_order_met(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.PDF").write_bytes(b"%PDF")
    (tmp_path / "a" / "notes.txt").write_text("t")
    (tmp_path / "b.html").write_text("<p>x</p>")
    assert sorted(suffixes_under([tmp_path], ISOLATED_SUFFIXES)) == [".html", ".pdf"]
    assert suffixes_under([tmp_path / "b.html"], ISOLATED_SUFFIXES) == [".html"]
    assert suffixes_under([tmp_path / "a" / "notes.txt"], ISOLATED_SUFFIXES) == []


def test_suffixes_under_looks_at_a_bounded_number_of_names(tmp_path):
    """A huge folder must not delay the ingest: kinds met past `look_at` names load on use."""
    for n in range(5):
        (tmp_path / f"{n}.txt").write_text("t")
    (tmp_path / "zz.pdf").write_bytes(b"%PDF")
    assert suffixes_under([tmp_path], ISOLATED_SUFFIXES, look_at=100) == [".pdf"]
    assert suffixes_under([tmp_path / "0.txt", tmp_path / "zz.pdf"], ISOLATED_SUFFIXES, 1) == []


def test_library_warnings_about_a_broken_file_stay_out_of_the_terminal(tmp_path, capfd):
    """pypdf printed "invalid pdf header" and "EOF marker not found" between the progress
    bars; the file's failure is reported with its reason instead."""
    broken = tmp_path / "random.pdf"
    broken.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(20_000)))
    with IsolatedParser() as parser, pytest.raises(ParseError):
        parser.parse(broken, broken.name, ParseOptions())
    assert "pdf header" not in capfd.readouterr().err


def test_a_deadline_whose_exception_was_swallowed_still_fails_the_file(tmp_path, monkeypatch):
    """The timer's exception raised inside a callback Python calls itself (importlib's module
    lock, a __del__) is only printed: the file then parsed "in time" (a CI run's failure)."""
    import contextlib
    import time

    from ingest import isolation

    def swallowing(path, relative, options):  # as "Exception ignored in: <function cb…>" did
        with contextlib.suppress(BaseException):
            time.sleep(0.5)
        return "a document"

    previous = signal.signal(signal.SIGALRM, isolation._on_timer)
    try:
        reply = isolation._parse_timed(
            lambda path: swallowing, tmp_path / "slow.md", "slow.md", ParseOptions(), 0.01, 64
        )
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert reply[0] == "error" and "longer than" in str(reply[1])
