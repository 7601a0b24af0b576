"""The ingest run: walk -> parse -> diff by hash -> chunk -> embed -> write, then publish vectors.

Every document is written in its own transaction, so a run killed at any point leaves whole
documents or none, and re-running finishes the job. A failing file or a dump cut short is
reported and the rest carries on. Unchanged documents are never re-embedded; a document whose
only change is its groups gets new ACL rows without re-embedding; a source file whose bytes and
options match its recorded fingerprint is not even parsed again. A batch's chunks are embedded on
a worker thread while the next batch is parsed and chunked (the embedder releases the GIL); its
documents are written here once the vectors are in, so the writes keep their order.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index.errors import EmptyDocumentError, HearthError, NotAWikiExportError
from index.protocols import Embedder, Store, Vectors
from index.types import PUBLIC_GROUP, Chunk, Document, StoredDocument
from ingest.chunker import ChunkBudget, chunk_document, embedding_text
from ingest.cleaning import clean_document, strip_invisible
from ingest.fingerprint import content_hash, source_fingerprint
from ingest.isolation import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, IsolatedParser
from ingest.parsers.base import (
    DEFAULT_WIKI_MAX_PAGE_MB,
    OutsideNamespaces,
    ParseOptions,
    Redirect,
)
from ingest.parsers.mediawiki import parse_dump
from ingest.parsers.registry import (
    SUPPORTED_SUFFIXES,
    UNSTRUCTURED_SUFFIXES,
    FileParser,
    parser_for,
)
from ingest.report import IngestReport, Progress
from ingest.sources import (
    SidecarError,
    Sidecars,
    SourceFile,
    UnsafeSourceError,
    WalkNotes,
    is_safe_file,
    is_wiki_dump,
    verified_path,
    walk,
)

__all__ = ["IngestReport", "Progress", "clean_document", "strip_invisible"]

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 64  # documents are buffered until this many chunks, for efficient batches
EMBED_PROGRESS_SLICE = 256  # the most chunks embedded between two steps of the progress bar
# Files checked and handed to the parser child ahead of the one being embedded and written.
PARSE_AHEAD_FILES = 8
# Formats whose parsers (unstructured, zip and PDF readers) run in a child process with limits;
# plain text and wiki dumps are parsed here, streamed and bounded.
ISOLATED_SUFFIXES = UNSTRUCTURED_SUFFIXES
BLANK_PROBE_BYTES = 4096  # a larger file is never taken for blank, so the check stays cheap


@dataclass(frozen=True)
class IngestOptions:
    """Choices for one run; `groups` is the default for everything the run reads."""

    groups: frozenset[str] = frozenset({PUBLIC_GROUP})
    base_url: str | None = None
    namespaces: frozenset[int] = frozenset({0})
    namespace_groups: dict[int, frozenset[str]] = field(default_factory=dict)
    prune: bool = False
    target_tokens: int = 200
    overlap_tokens: int = 32
    isolate_parsers: bool = True  # off only where a file set is known to be benign (tests)
    reparse: bool = False  # ignore recorded source fingerprints (after a parser upgrade, say)
    # take a file whose id a file of another folder, still there, holds (a new export of the
    # same corpus); without it such a file is refused: two folders sharing names overwrote
    # each other's documents
    replace: bool = False
    parser_memory_mb: int = DEFAULT_MEMORY_MB
    parser_timeout_s: float = DEFAULT_TIMEOUT_S
    wiki_max_page_mb: float = DEFAULT_WIKI_MAX_PAGE_MB


def _replaced_by(old_dump: str, dump: str) -> bool:
    """Whether `old_dump` (of the same wiki) is an older export `dump` replaces: one deleted
    from its folder, or from a sibling folder, as dated folders under one dumps folder
    (`dumps/2026-01/`, `dumps/2026-12/`) are; only the same folder counted before, so the
    pages a wiki deleted stayed answerable forever. Not when a file of the old dump's name
    lives on in a sibling folder other than as `dump` itself: a renamed folder, or another
    part of a split export the run did not read. A deleted dump anywhere else (a mount not
    there now) is none of its business. (An old dump still there is another copy of the
    wiki: its pages are refused or, with --replace, taken over one by one.)"""
    old, new = Path(old_dump), Path(dump)
    if old_dump == dump or old.exists():
        return False
    if old.parent == new.parent:
        return True
    parent = old.parent.parent
    if parent != new.parent.parent or parent == old.parent:
        return False
    try:
        folders = [entry for entry in parent.iterdir() if entry.is_dir()]
    except OSError:
        return False
    return not any((folder / old.name).exists() and folder / old.name != new for folder in folders)


def _changed(report: IngestReport) -> bool:
    """Whether the run wrote anything the vectors must follow."""
    return bool(report.added or report.updated or report.removed or report.regrouped)


def _distinct(paths: Iterable[Path]) -> list[Path]:
    """The paths, each place once (`docs docs/` read it twice: "added 5, unchanged 5")."""
    places: dict[Path, Path] = {}
    for path in map(Path, paths):
        places.setdefault(path.resolve(), path)
    return list(places.values())


def _parse_options(options: IngestOptions, groups: frozenset[str]) -> ParseOptions:
    """What the parsers are told about one source of this run, read with `groups`."""
    return ParseOptions(
        groups,
        options.base_url,
        options.namespaces,
        options.namespace_groups,
        int(options.wiki_max_page_mb * 2**20),
    )


@dataclass
class _Planned:
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


def _skip_empty(relative: str, report: IngestReport) -> bool:
    """An empty file is listed, not failed. A blank one (whitespace only) is taken for absent: a
    copy stored from it before is orphaned, then removed by --prune, as if the file were gone."""
    report.empty.append(relative)
    return True


def _is_blank(path: Path) -> bool:
    """Whether a file holds nothing but whitespace: a placeholder, not a broken document (a
    file that cannot be read is left to the fingerprint, which reports why)."""
    try:
        if path.stat().st_size > BLANK_PROBE_BYTES:
            return False
        return not path.read_bytes().removeprefix(b"\xef\xbb\xbf").strip()
    except OSError:
        return False


def _drawn_ahead(planned: Iterator[_Planned | None], depth: int) -> Iterator[_Planned | None]:
    """`planned`, drawn `depth` items ahead of the one yielded (drawing plans a file and hands
    it to the parser child); the files still ahead are released if the caller stops early."""
    window: deque[_Planned | None] = deque(itertools.islice(planned, depth))
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


class Ingestor:
    """Runs ingests into one store with one embedder."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        progress: Progress | None = None,
        parser: IsolatedParser | None = None,
    ) -> None:
        """`parser`: a parser child the caller started (and closes), e.g. early so that it loads
        its libraries while the embedder loads; by default each run starts its own with the
        run's `parser_memory_mb` and `parser_timeout_s`."""
        self.store = store
        self.embedder = embedder
        self.progress = progress or Progress()
        self._given_parser = parser
        self._pending: list[tuple[Document, list[Chunk], bool]] = []
        # Vectors of the stored versions of the pending documents, by embedding text: the
        # chunks an update leaves as they were keep theirs instead of being embedded again.
        self._reusable: dict[str, np.ndarray] = {}
        # Sources parsed completely whose documents may still be pending: their fingerprints
        # are recorded only once those documents are written.
        self._pending_sources: list[tuple[str, str, int]] = []
        # pages of a wiki stored from an older dump of its folder that is gone (for the run)
        self._left: list[str] = []
        self._wiki_documents: list[StoredDocument] | None = None  # read once a run
        self._wiki_ids: dict[str, str] | None = None
        self._prune = False
        # The batch being embedded on a worker thread while the next one is parsed and chunked
        # (onnxruntime and torch release the GIL); written by this thread once its vectors are in.
        self._embedding: _Embedding | None = None
        self._isolated = IsolatedParser()
        self._isolate = True
        self._reparse = False
        self._replace = False

    def run(self, paths: Iterable[Path], options: IngestOptions) -> IngestReport:
        """Ingest every path (folders, files, wiki dumps); never raises for a bad source."""
        started = time.perf_counter()
        report = IngestReport()
        self.store.check_embedder(self.embedder.model_id, self.embedder.dim)
        self._isolated = self._given_parser or IsolatedParser(
            options.parser_memory_mb, options.parser_timeout_s
        )
        self._isolate = options.isolate_parsers
        self._reparse = options.reparse
        self._replace = options.replace
        self._prune = options.prune
        self._left, self._wiki_documents, self._wiki_ids = [], None, None
        seen_in_run: set[str] = set()
        budget = ChunkBudget(
            max_tokens=self.embedder.max_tokens,
            target_tokens=min(options.target_tokens, self.embedder.max_tokens),
            overlap_tokens=options.overlap_tokens,
        )
        self._embedder_thread = ThreadPoolExecutor(1, thread_name_prefix="hearth-embed")
        finished = False
        try:
            for path in _distinct(paths):
                seen: set[str] = set()
                complete = self._ingest_path(Path(path), options, budget, report, seen)
                self._flush(report, wait=True)
                seen_in_run |= seen
                if not complete:  # a file that failed is not a deleted one: remove nothing
                    if options.prune:
                        report.prune_skipped.append(str(path))
                    continue
                stored = self.store.document_state(str(Path(path).resolve()))
                self._gone([d for d in stored if d not in seen], options, report)
            # a later path of the run (another part of a split export) may hold them
            left = [d for d in dict.fromkeys(self._left) if d not in seen_in_run]  # listed at
            # the run's first dump: some may have gone with a folder's prune since
            self._gone([d for d in left if self.store.document_state_of(d)], options, report)
            finished = True
        finally:  # a given parser stays up, unless an interrupted run left files queued
            self._embedding = None  # an interrupted batch is dropped: its documents stay unwritten
            self._embedder_thread.shutdown(wait=True)
            if self._isolated is not self._given_parser or self._isolated.pending:
                self._isolated.close()
            if not finished and _changed(report):
                self._publish_what_was_written()
        changed = _changed(report)
        manifest = self.store.manifest()
        if changed or manifest.get("vector_count") is None:
            report.vector_generation = self.store.publish_vectors()
        else:
            self.store.open_vectors()  # repairs a damaged or stale file, else a cheap check
            report.vector_generation = int(self.store.manifest().get("vector_generation", -1))
        report.seconds = time.perf_counter() - started
        self.store.set_manifest(
            last_ingest=datetime.now(UTC).isoformat(timespec="seconds"),
            last_report=json.dumps(report.as_dict()),
        )
        return report

    def _gone(self, document_ids: list[str], options: IngestOptions, report: IngestReport) -> None:
        """Documents whose source no longer holds them: orphaned, or removed by --prune."""
        said = {*report.removed_documents, *report.orphaned_documents}
        gone = [d for d in document_ids if d not in said and not self._in_unreadable(d, report)]
        if gone:
            report.titles.update(self._page_titles(gone))  # read before --prune deletes them
        if options.prune:
            report.removed += self.store.delete_documents(gone)
            report.removed_documents.extend(gone)
        else:
            report.orphaned_documents.extend(gone)

    def _publish_what_was_written(self) -> None:
        """An interrupted run's written documents are searched by meaning at once: a running
        `hearth serve` would otherwise search the old vectors (missing the updated documents)
        until its restart or the next ingest."""
        try:
            self.store.publish_vectors()
        except HearthError as exc:  # the next open rebuilds them
            log.error("could not publish the vectors of the documents written: %s", exc.message)

    def _ingest_path(
        self,
        path: Path,
        options: IngestOptions,
        budget: ChunkBudget,
        report: IngestReport,
        seen: set[str],
    ) -> bool:
        """Ingest one command-line path; returns False if it could not be read completely."""
        if not path.exists():
            why = "a link to nothing" if path.is_symlink() else "no such file or folder"
            report.failed.append((str(path), why))
            return False
        if path.is_dir():
            return self._ingest_folder(path, options, budget, report, seen)
        if not is_safe_file(path, path.resolve().parent):
            report.failed.append((str(path), "not a regular file"))
            return False
        if not is_wiki_dump(path) and parser_for(path) is None:
            readable = ", ".join(sorted(SUPPORTED_SUFFIXES))
            report.failed.append((str(path), f"not a type Hearth reads ({readable}, wiki dumps)"))
            return False
        notes = WalkNotes()
        try:
            real = path.resolve()
            groups = Sidecars.above(real.parent, notes, check_own=True).groups_for(
                real, options.groups
            )
        except SidecarError as exc:
            report.failed.append((str(path), exc.message))
            return False
        report.add_notes(notes)
        parse = _parse_options(options, groups)
        self.progress.sources_found(1)
        planned = self._plan(path, path.name, parse, budget, path, ExitStack())
        return self._finish(planned, budget, report, seen)

    def _ingest_folder(
        self,
        path: Path,
        options: IngestOptions,
        budget: ChunkBudget,
        report: IngestReport,
        seen: set[str],
    ) -> bool:
        """Ingest a folder's files in walk order, the parser child running ahead of the
        embedding: files are planned (and handed to the child) PARSE_AHEAD_FILES ahead of the
        one being finished, so parsing and embedding share the two cores."""
        notes = WalkNotes()
        found = list(walk(path, options.groups, SUPPORTED_SUFFIXES, notes))
        report.add_notes(notes)
        self.progress.sources_found(len(found))
        planned = (self._plan_source(source, options, budget, report) for source in found)
        complete = True
        for item in _drawn_ahead(planned, PARSE_AHEAD_FILES):
            complete &= item is not None and self._finish(item, budget, report, seen)
        return complete

    def _plan_source(
        self, source: SourceFile, options: IngestOptions, budget: ChunkBudget, report: IngestReport
    ) -> _Planned | None:
        """Plan one walked file; None (and reported) if it changed into something unsafe."""
        parse = _parse_options(options, source.groups)
        context = ExitStack()
        try:  # read exactly the file the walk checked, whatever its name points to now
            local = context.enter_context(verified_path(source))
        except UnsafeSourceError as exc:
            report.failed.append((source.relative, exc.message))
            return None
        try:
            return self._plan(local, source.relative, parse, budget, source.path, context)
        except BaseException:
            context.close()
            raise

    def _plan(
        self,
        path: Path,
        relative: str,
        options: ParseOptions,
        budget: ChunkBudget,
        origin: Path,
        context: ExitStack,
    ) -> _Planned:
        """Check `path` (what is read) as the file `origin` (what the documents say they come
        from: `path` may be a private link to the verified file) against its recorded
        fingerprint, and hand it to the parser child unless it is unchanged."""
        is_dump = is_wiki_dump(path)
        parser = None if is_dump else parser_for(path)
        planned = _Planned(path, relative, options, origin, context, is_dump, parser)
        if not is_dump and parser is None:
            return planned  # not a supported file: skipped
        if not is_dump and _is_blank(path):
            planned.empty = True
            return planned
        planned.isolated = (
            parser is not None and self._isolate and path.suffix.lower() in ISOLATED_SUFFIXES
        )
        try:
            planned.fingerprint = source_fingerprint(
                path, relative, options, budget, self.embedder.model_id
            )
        except OSError as exc:
            planned.unreadable = f"cannot read: {exc.strerror or exc}"
            return planned
        if not self._reparse:
            planned.known = self.store.source_fingerprint(str(origin.resolve()))
        if planned.isolated and not planned.unchanged:
            self._isolated.submit(path, relative, options)
        return planned

    def _finish(
        self, planned: _Planned, budget: ChunkBudget, report: IngestReport, seen: set[str]
    ) -> bool:
        """Parse (or collect from the child), diff, chunk and queue one planned file."""
        with planned.context:
            self.progress.source_started(planned.relative)
            path, relative, parser = planned.path, planned.relative, planned.parser
            if not planned.is_dump and parser is None:
                return True
            if planned.empty:  # blank: not added to `seen`
                return _skip_empty(relative, report)
            if not planned.is_dump:
                seen.add(relative)
            if planned.unreadable is not None:
                report.failed.append((relative, planned.unreadable))
                return False
            assert planned.fingerprint is not None
            source = str(planned.origin.resolve())
            if planned.known is not None and planned.unchanged:
                seen.update(planned.known[1])
                report.unchanged += len(planned.known[1])
                for _ in planned.known[1]:
                    self.progress.document_done()
                if planned.is_dump:
                    sites = {page_id.partition(":")[0] for page_id in planned.known[1]}
                    self._left.extend(self._pages_of_gone_dumps(sites, source))
                return True
            if planned.is_dump:
                return self._ingest_dump(
                    path,
                    relative,
                    planned.options,
                    budget,
                    report,
                    seen,
                    source,
                    planned.fingerprint,
                )
            assert parser is not None
            try:
                if planned.isolated:
                    document = self._isolated.result()
                else:
                    document = parser(path, relative, planned.options)
            except EmptyDocumentError:  # a parser that reads nothing may be wrong: a copy
                return _skip_empty(relative, report)  # stored before stays (its id is seen)
            except HearthError as exc:
                report.failed.append((relative, exc.message))
                return False
            except Exception as exc:  # a parser bug must not stop the batch
                log.exception("parser crashed on %s", relative)
                report.failed.append((relative, f"unexpected {type(exc).__name__} while parsing"))
                return False
            clash = self._clash(document.id, source, report)
            if clash is not None:
                report.failed.append((relative, clash))
                return False
            self._consider(replace(document, source=source), budget, report)
            self._pending_sources.append((source, planned.fingerprint, 1))
            return True

    def _clash(self, document_id: str, source: str, report: IngestReport) -> str | None:
        """Why this file may not be stored as `document_id`, or None; a file keeps one id.

        Ids are paths relative to the folder named on the command line, so one file reached
        from two roots gets two ids, and two files at the same relative path in two roots get
        one. Taken silently, the first stores a second copy outside its folder's rules (a
        finance-only note, ingested alone, became public): the id from the outer root wins, an
        inner copy is refused, and an outer ingest replaces the copies an inner one left. The
        second is how a new export of a corpus into a new folder replaces the old one, and
        also how two folders sharing file names would overwrite each other: while the earlier
        file still exists it is refused, unless `IngestOptions.replace` says to take it (and
        it is reported, `IngestReport.rehomed`). Only ids the file could have are looked up
        (suffixes of its path), each by id."""
        id_parts = document_id.split("/")
        path_parts = Path(source).parts[1:]
        for depth in range(len(id_parts) + 1, min(len(path_parts), len(id_parts) + 8) + 1):
            outer = "/".join(path_parts[-depth:])
            if self._stored_from(outer, source):
                return (
                    f"already indexed as {outer!r} from a folder around it, with that folder's "
                    "groups; ingest that folder instead"
                )
        inner = ["/".join(id_parts[i:]) for i in range(1, len(id_parts))]
        stale = [candidate for candidate in inner if self._stored_from(candidate, source)]
        if stale:  # ingested alone or from an inner folder before: this id replaces those
            self._flush(report, wait=True)
            report.removed += self.store.delete_documents(stale)
            report.removed_documents.extend(stale)
        owner = self._held_elsewhere(document_id, source, report)
        if owner is not None:
            return (
                f"already indexed from {owner}, a file at the same path in another "
                "folder, which still exists: ingest a folder holding both so that each "
                "keeps its own path, or use --replace to take this copy instead (a new "
                "export of the same documents)"
            )
        return None

    def _in_unreadable(self, document_id: str, report: IngestReport) -> bool:
        """Whether the document was stored from a folder this run could not list."""
        if not report.unreadable_folders:
            return False
        stored = self._stored(document_id)
        return stored is not None and any(
            Path(stored.source).is_relative_to(folder) for folder, _ in report.unreadable_folders
        )

    def _stored(self, document_id: str) -> StoredDocument | None:
        state = self.store.document_state_of(document_id)
        return (
            None
            if state is None
            else self.store.get_document(document_id, state[1] | {PUBLIC_GROUP})
        )

    def _stored_from(self, document_id: str, source: str) -> bool:
        stored = self._stored(document_id)
        return stored is not None and stored.source == source

    def _ingest_dump(
        self,
        path: Path,
        relative: str,
        options: ParseOptions,
        budget: ChunkBudget,
        report: IngestReport,
        seen: set[str],
        source: str,
        fingerprint: str,
    ) -> bool:
        redirects: list[Redirect] = []
        sites: set[str] = set()
        held_elsewhere: dict[str, str] = {}  # page id -> the other dump it is stored from
        pages, complete = 0, False
        try:
            for item in parse_dump(path, options, self.progress.dump_read):
                if isinstance(item, Redirect):
                    redirects.append(item)
                    continue
                if isinstance(item, OutsideNamespaces):
                    if self._stored_wiki_pages().get(item.id) == item.title:  # kept, said
                        seen.add(item.id)
                        report.outside_namespaces.append(item.id)
                        report.titles.update(self._page_titles([item.id]))
                    continue
                seen.add(item.id)
                other = self._held_elsewhere(item.id, source, report)
                if other is not None:  # left as it is; the rest of the dump is still read
                    held_elsewhere[item.id] = other
                    continue
                sites.add(item.id.partition(":")[0])
                pages += 1
                self._consider(replace(item, source=source), budget, report)
            complete = not held_elsewhere
            if complete:
                self._left.extend(self._pages_of_gone_dumps(sites, source))
        except NotAWikiExportError as exc:
            if not self.store.document_state(source):  # a sitemap.xml or pom.xml: not ours
                report.skipped[".xml (not a wiki export)"] += 1
                return True
            report.failed.append((relative, exc.message))  # an error page saved over a dump
            return False
        except HearthError as exc:
            report.failed.append((relative, exc.message))
            return False
        finally:
            self._flush(report, wait=True)
            if not held_elsewhere:  # a copy's redirects are its original's to record
                self._store_redirects(source, sites, redirects, complete, report)
        if held_elsewhere:
            others = ", ".join(sorted(set(held_elsewhere.values())))
            report.failed.append((relative, (
                f"{len(held_elsewhere)} of its pages are already indexed from {others}, another "
                "dump that still exists; they were left as they are: ingest one of the dumps, or "
                "use --replace to take this one instead (a new export of the same wiki)"
            )))  # fmt: skip
            return False
        self._pending_sources.append((source, fingerprint, pages))
        self._flush(report, wait=True)
        return True

    def _held_elsewhere(self, document_id: str, source: str, report: IngestReport) -> str | None:
        """The other file, still there, that the document is stored from, unless --replace
        takes it (reported as rehomed): two copies of a folder or of a dump took each
        document back and forth, every run "updating" them all."""
        stored = self._stored(document_id)
        if stored is None or stored.source == source or not Path(stored.source).exists():
            return None
        if not self._replace:
            return stored.source
        report.rehomed.append((document_id, stored.source))
        return None

    def _wiki_pages(self) -> list[StoredDocument]:
        if self._wiki_documents is None:
            self._wiki_documents = [d for d in self.store.list_documents() if d.kind == "wiki"]
        return self._wiki_documents

    def _page_titles(self, document_ids: Iterable[str]) -> dict[str, str]:
        """The titles of the wiki pages among `document_ids`: a report naming "enwiki:655"
        told an admin nothing."""
        titles = self._stored_wiki_pages()
        return {i: titles[i] for i in document_ids if i in titles}

    def _stored_wiki_pages(self) -> dict[str, str]:
        """Id -> title of every stored wiki page (read once a run)."""
        if self._wiki_ids is None:
            self._wiki_ids = {d.id: d.title for d in self._wiki_pages()}
        return self._wiki_ids

    def _pages_of_gone_dumps(self, sites: set[str], source: str) -> list[str]:
        """Pages of the dump's wikis stored from another dump it replaces (`_replaced_by`):
        what the newer export lacks is orphaned (pruned by --prune) rather than kept
        forever."""
        pages = [d for d in self._wiki_pages() if d.id.partition(":")[0] in sites]
        replaced = {old: _replaced_by(old, source) for old in {d.source for d in pages}}
        return [d.id for d in pages if replaced[d.source]]

    def _store_redirects(
        self,
        source: str,
        sites: set[str],
        redirects: list[Redirect],
        complete: bool,
        report: IngestReport,
    ) -> None:
        """Record the dump's redirects as aliases; a dump read whole also drops those it no
        longer holds, or no longer shows to its target's readers, or that a dump since
        deleted recorded (a newer export under a new name replaces the old one)."""
        # a redirect some reader of its target may not read would make its title a word of it
        kept = [r for r in redirects if r.shown_to_its_readers_only]
        by_site: dict[str, list[tuple[str, str]]] = {site: [] for site in sites}
        for redirect in kept:
            by_site.setdefault(redirect.site, []).append((redirect.alias, redirect.target))
        for site, pairs in by_site.items():
            self.store.set_aliases(
                site, source, pairs, complete=complete,
                gone=lambda other: self._prune and _replaced_by(other, source),
            )  # fmt: skip
        report.redirects += len(kept)

    def _consider(self, document: Document, budget: ChunkBudget, report: IngestReport) -> None:
        """Skip, regroup or queue one parsed document for embedding."""
        self.progress.document_done()
        document = clean_document(document)
        document = replace(
            document, content_hash=content_hash(document, budget, self.embedder.model_id)
        )
        stored = self.store.document_state_of(document.id)
        # A document with no text has no chunks, so no ACL rows its groups are read from: it
        # was reported "made public" and regrouped (a new vector generation) on every run.
        had_groups = stored[1] if stored is not None else frozenset()
        if had_groups and PUBLIC_GROUP not in had_groups and PUBLIC_GROUP in document.groups:
            report.made_public.append(document.id)
        if stored is not None and stored[0] == document.content_hash:
            if had_groups and had_groups != document.groups:
                self.store.set_groups(document.id, document.groups)
                report.regrouped += 1
            else:
                report.unchanged += 1
            return
        chunks = chunk_document(document, budget, self.embedder.count_tokens)
        if stored is not None:
            self._reusable.update(self._stored_vectors(document.id, stored[1]))
        self._pending.append((document, chunks, stored is None))
        if sum(len(c) for _, c, _ in self._pending) >= EMBED_BATCH_CHUNKS:
            self._flush(report)

    def _flush(self, report: IngestReport, wait: bool = False) -> None:
        """Hand the buffered documents to the embedding thread, after writing the batch it
        finished before; with `wait`, also write this one before returning. The fingerprints
        of the sources those documents complete are recorded only after their writes."""
        pending, self._pending = self._pending, []
        sources, self._pending_sources = self._pending_sources, []
        self._write_embedded(report)
        texts = [
            embedding_text(doc.title, chunk.heading_path, chunk.text)
            for doc, chunks, _ in pending
            for chunk in chunks
        ]
        reusable, self._reusable = self._reusable, {}
        kept = {i: reusable[text] for i, text in enumerate(texts) if text in reusable}
        vectors = self._embedder_thread.submit(self._embed, texts, kept) if texts else None
        self._embedding = _Embedding(pending, sources, vectors, len(kept))
        if wait:
            self._write_embedded(report)

    def _stored_vectors(self, document_id: str, groups: frozenset[str]) -> dict[str, np.ndarray]:
        """The stored version's vectors by embedding text: editing one paragraph of a long
        document re-embedded all of it (83 chunks, 27 s, for one changed word)."""
        passages = self.store.document_chunks(document_id, groups | {PUBLIC_GROUP})
        vectors = self.store.embeddings([p.chunk.id for p in passages if p.chunk.id is not None])
        if not passages or len(vectors) != len(passages):  # a chunk without its vector: none
            return {}
        return {
            embedding_text(p.document.title, p.chunk.heading_path, p.chunk.text): vector
            for p, vector in zip(passages, vectors, strict=True)
        }

    def _embed(self, texts: list[str], kept: dict[int, np.ndarray]) -> np.ndarray:
        """The texts' vectors, those in `kept` (by position) taken as they are, the others
        embedded a slice at a time so that progress shows as it goes: a large file is one
        batch of thousands of chunks, and the bar stood at 0 for minutes."""
        if kept:
            self.progress.chunks_embedded(len(kept))
        todo = [i for i in range(len(texts)) if i not in kept]
        vectors = np.empty((len(texts), self.embedder.dim), np.float32)
        for index, vector in kept.items():
            vectors[index] = vector
        for start in range(0, len(todo), EMBED_PROGRESS_SLICE):
            part = todo[start : start + EMBED_PROGRESS_SLICE]
            vectors[part] = self.embedder.embed_documents([texts[i] for i in part])
            self.progress.chunks_embedded(len(part))
        return vectors

    def _write_embedded(self, report: IngestReport) -> None:
        """Write the batch handed to the embedding thread (waiting for its vectors), each
        document in its own transaction, then record the sources it completed."""
        batch, self._embedding = self._embedding, None
        if batch is None:
            return
        vectors = (
            batch.vectors.result()
            if batch.vectors is not None
            else np.empty((0, self.embedder.dim), np.float32)  # documents without chunks
        )
        report.chunks_reused += batch.reused
        offset = 0
        for document, chunks, is_new in batch.documents:
            self.store.write_document(document, chunks, vectors[offset : offset + len(chunks)])
            offset += len(chunks)
            report.chunks += len(chunks)
            if is_new:
                report.added += 1
            else:
                report.updated += 1
        for source, fingerprint, documents in batch.sources:
            self.store.record_source(source, fingerprint, documents)


@dataclass
class _Embedding:
    """A batch of documents whose chunks are being embedded, and the sources it completes."""

    documents: list[tuple[Document, list[Chunk], bool]]
    sources: list[tuple[str, str, int]]
    vectors: Future[Vectors] | None  # None when the documents have no chunks
    reused: int = 0  # of the chunks, those whose stored vector was kept
