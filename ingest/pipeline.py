"""The ingest run: walk -> parse -> diff by hash -> chunk -> embed -> write, then publish vectors.

Every document is written in its own transaction, so a run killed at any point leaves whole
documents or none, and re-running finishes the job. A failing file or a dump cut short is
reported and the rest carries on. Unchanged documents are never re-embedded; a document whose
only change is its groups gets new ACL rows without re-embedding; a source file whose bytes and
options match its recorded fingerprint is not even parsed again.

This module drives the run; the steps live apart, one job each: planning.py (fingerprint checks,
the parser child fed ahead), dumps.py (what is particular to wiki dumps), ownership.py (which
file an id belongs to), embedding.py (batches embedded on a worker thread, written in order),
fingerprint.py, cleaning.py and report.py (IngestReport, Progress).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from index.errors import EmptyDocumentError, HearthError
from index.protocols import Embedder, Store
from index.types import PUBLIC_GROUP, Document
from ingest.chunker import ChunkBudget, chunk_document
from ingest.cleaning import clean_document, strip_invisible
from ingest.dumps import WikiDumps
from ingest.embedding import EmbeddingBatches
from ingest.fingerprint import content_hash
from ingest.isolation import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, IsolatedParser
from ingest.ownership import Owners
from ingest.parsers.base import DEFAULT_WIKI_MAX_PAGE_MB, ParseOptions
from ingest.parsers.registry import SUPPORTED_SUFFIXES, parser_for
from ingest.planning import (
    ISOLATED_SUFFIXES,
    PARSE_AHEAD_FILES,
    Planned,
    Planner,
    drawn_ahead,
)
from ingest.report import IngestReport, Progress
from ingest.sources import (
    SidecarError,
    Sidecars,
    WalkNotes,
    is_safe_file,
    is_wiki_dump,
    walk,
)

__all__ = [
    "ISOLATED_SUFFIXES",
    "IngestOptions",
    "IngestReport",
    "Ingestor",
    "Progress",
    "clean_document",
    "strip_invisible",
]

log = logging.getLogger(__name__)


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


def _skip_empty(relative: str, report: IngestReport) -> bool:
    """An empty file is listed, not failed. A blank one (whitespace only) is taken for absent: a
    copy stored from it before is orphaned, then removed by --prune, as if the file were gone."""
    report.empty.append(relative)
    return True


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
        self._batches = EmbeddingBatches(store, embedder, self.progress)
        self._isolated = IsolatedParser()
        # what a run's options decide, made anew by each run
        self._planner = Planner(store, embedder.model_id, self._isolated)
        self._owners = Owners(store, self._batches)
        self._dumps = WikiDumps(store, self.progress, self._owners, self._batches)

    def run(self, paths: Iterable[Path], options: IngestOptions) -> IngestReport:
        """Ingest every path (folders, files, wiki dumps); never raises for a bad source."""
        started = time.perf_counter()
        report = IngestReport()
        self.store.check_embedder(self.embedder.model_id, self.embedder.dim)
        self._isolated = self._given_parser or IsolatedParser(
            options.parser_memory_mb, options.parser_timeout_s
        )
        self._planner = Planner(
            self.store,
            self.embedder.model_id,
            self._isolated,
            isolate=options.isolate_parsers,
            reparse=options.reparse,
        )
        self._owners = Owners(self.store, self._batches, replace=options.replace)
        self._dumps = WikiDumps(
            self.store, self.progress, self._owners, self._batches, prune=options.prune
        )
        seen_in_run: set[str] = set()
        budget = ChunkBudget(
            max_tokens=self.embedder.max_tokens,
            target_tokens=min(options.target_tokens, self.embedder.max_tokens),
            overlap_tokens=options.overlap_tokens,
        )
        self._batches.start()
        finished = False
        try:
            for path in _distinct(paths):
                seen: set[str] = set()
                complete = self._ingest_path(Path(path), options, budget, report, seen)
                self._batches.flush(report, wait=True)
                seen_in_run |= seen
                if not complete:  # a file that failed is not a deleted one: remove nothing
                    if options.prune:
                        report.prune_skipped.append(str(path))
                    continue
                stored = self.store.document_state(str(Path(path).resolve()))
                self._gone([d for d in stored if d not in seen], options, report)
            # a later path of the run (another part of a split export) may hold them
            left = [d for d in dict.fromkeys(self._dumps.left) if d not in seen_in_run]  # listed
            # at the run's first dump: some may have gone with a folder's prune since
            self._gone([d for d in left if self.store.document_state_of(d)], options, report)
            finished = True
        finally:  # a given parser stays up, unless an interrupted run left files queued
            self._batches.stop()  # an interrupted batch is dropped: its documents stay unwritten
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
        in_unreadable = self._owners.in_unreadable
        gone = [d for d in document_ids if d not in said and not in_unreadable(d, report)]
        if gone:
            report.titles.update(self._dumps.titles_of(gone))  # read before --prune deletes them
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
        planned = self._planner.plan(path, path.name, parse, budget, path, ExitStack())
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
        planned = (
            self._planner.plan_source(
                source, _parse_options(options, source.groups), budget, report
            )
            for source in found
        )
        complete = True
        for item in drawn_ahead(planned, PARSE_AHEAD_FILES):
            complete &= item is not None and self._finish(item, budget, report, seen)
        return complete

    def _finish(
        self, planned: Planned, budget: ChunkBudget, report: IngestReport, seen: set[str]
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
                    self._dumps.unchanged_dump(planned.known[1], source)
                return True
            if planned.is_dump:
                return self._dumps.ingest(
                    path,
                    relative,
                    planned.options,
                    report,
                    seen,
                    source,
                    planned.fingerprint,
                    lambda page: self._consider(page, budget, report),
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
            clash = self._owners.clash(document.id, source, report)
            if clash is not None:
                report.failed.append((relative, clash))
                return False
            if not self._consider(replace(document, source=source), budget, report):
                return _skip_empty(relative, report)  # no text once cleaned: as just above
            self._batches.source_done(source, planned.fingerprint, 1)
            return True

    def _consider(self, document: Document, budget: ChunkBudget, report: IngestReport) -> bool:
        """Skip, regroup or queue one parsed document for embedding; False, storing nothing, if
        no text is left once it is cleaned: a document without chunks answers nothing."""
        self.progress.document_done()
        document = clean_document(document)
        if not document.sections:
            return False
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
            return True
        chunks = chunk_document(document, budget, self.embedder.count_tokens)
        self._batches.add(document, chunks, None if stored is None else stored[1], report)
        return True
