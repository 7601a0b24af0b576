"""Planning a source file before it is read: blank, unchanged since its recorded fingerprint,
or handed to the parser child ahead of time.

Files are planned a few ahead of the one being embedded and written, so the parser child
works on the second core meanwhile; a file whose bytes and options match its fingerprint is
never parsed again.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from index.protocols import Store
from ingest.chunker import ChunkBudget
from ingest.fingerprint import source_fingerprint
from ingest.isolation import IsolatedParser
from ingest.parsers.base import ParseOptions
from ingest.parsers.registry import UNSTRUCTURED_SUFFIXES, FileParser, parser_for
from ingest.report import IngestReport
from ingest.sources import SourceFile, UnsafeSourceError, is_wiki_dump, verified_path

# Files checked and handed to the parser child ahead of the one being embedded and written.
PARSE_AHEAD_FILES = 8
# Formats whose parsers (unstructured, zip and PDF readers) run in a child process with limits;
# plain text and wiki dumps are parsed here, streamed and bounded.
ISOLATED_SUFFIXES = UNSTRUCTURED_SUFFIXES
BLANK_PROBE_BYTES = 4096  # a larger file is never taken for blank, so the check stays cheap


@dataclass
class Planned:
    """A source file checked against its recorded fingerprint, maybe queued for the child."""

    path: Path  # what is read
    relative: str
    options: ParseOptions
    origin: Path  # what the documents say they come from
    context: ExitStack  # keeps the verified descriptor open until the file is finished
    is_dump: bool
    parser: FileParser | None  # None for a dump (streamed here) or an unsupported file
    isolated: bool = False  # parsed by the child (queued there unless unchanged)
    fingerprint: str | None = None
    unreadable: str | None = None
    known: tuple[str, list[str]] | None = None  # recorded fingerprint and document ids
    empty: bool = False  # no bytes but whitespace: nothing to store, nothing wrong

    @property
    def unchanged(self) -> bool:
        return self.known is not None and self.known[0] == self.fingerprint


class Planner:
    """Plans one run's files: `isolate` sends the isolated formats to `parser` (the child),
    `reparse` ignores recorded fingerprints."""

    def __init__(
        self,
        store: Store,
        embedder_id: str,
        parser: IsolatedParser,
        isolate: bool = True,
        reparse: bool = False,
    ) -> None:
        self.store = store
        self._embedder_id = embedder_id
        self._isolated = parser
        self._isolate = isolate
        self._reparse = reparse

    def plan_source(
        self, source: SourceFile, options: ParseOptions, budget: ChunkBudget, report: IngestReport
    ) -> Planned | None:
        """Plan one walked file; None (and reported) if it changed into something unsafe."""
        context = ExitStack()
        try:  # read exactly the file the walk checked, whatever its name points to now
            local = context.enter_context(verified_path(source))
        except UnsafeSourceError as exc:
            report.failed.append((source.relative, exc.message))
            return None
        try:
            return self.plan(local, source.relative, options, budget, source.path, context)
        except BaseException:
            context.close()
            raise

    def plan(
        self,
        path: Path,
        relative: str,
        options: ParseOptions,
        budget: ChunkBudget,
        origin: Path,
        context: ExitStack,
    ) -> Planned:
        """Check `path` (what is read) as the file `origin` (what the documents say they come
        from: `path` may be a private link to the verified file) against its recorded
        fingerprint, and hand it to the parser child unless it is unchanged."""
        is_dump = is_wiki_dump(path)
        parser = None if is_dump else parser_for(path)
        planned = Planned(path, relative, options, origin, context, is_dump, parser)
        if not is_dump and parser is None:
            return planned  # not a supported file: skipped
        if not is_dump and is_blank(path):
            planned.empty = True
            return planned
        planned.isolated = (
            parser is not None and self._isolate and path.suffix.lower() in ISOLATED_SUFFIXES
        )
        try:
            planned.fingerprint = source_fingerprint(
                path, relative, options, budget, self._embedder_id
            )
        except OSError as exc:
            planned.unreadable = f"cannot read: {exc.strerror or exc}"
            return planned
        if not self._reparse:
            planned.known = self.store.source_fingerprint(str(origin.resolve()))
        if planned.isolated and not planned.unchanged:
            self._isolated.submit(path, relative, options)
        return planned


def is_blank(path: Path) -> bool:
    """Whether a file holds nothing but whitespace: a placeholder, not a broken document (a
    file that cannot be read is left to the fingerprint, which reports why)."""
    try:
        if path.stat().st_size > BLANK_PROBE_BYTES:
            return False
        return not path.read_bytes().removeprefix(b"\xef\xbb\xbf").strip()
    except OSError:
        return False


def drawn_ahead(planned: Iterator[Planned | None], depth: int) -> Iterator[Planned | None]:
    """`planned`, drawn `depth` items ahead of the one yielded (drawing plans a file and hands
    it to the parser child); the files still ahead are released if the caller stops early."""
    window: deque[Planned | None] = deque(itertools.islice(planned, depth))
    try:
        for item in planned:
            window.append(item)
            yield window.popleft()
        while window:
            yield window.popleft()
    finally:
        for item in window:
            if item is not None:
                item.context.close()
