"""Which file a stored document belongs to: one file keeps one id, and one id one file.

Ids are paths relative to the folder named on the command line (or wiki page ids), so the
same document can be reached from two roots, two folders or two dumps. Without these checks
the copies took each document back and forth, or one stored a copy outside its folder's rules.
"""

from __future__ import annotations

from pathlib import Path

from index.protocols import Store
from index.types import PUBLIC_GROUP, StoredDocument
from ingest.embedding import EmbeddingBatches
from ingest.report import IngestReport


class Owners:
    """The stored documents' sources, as one run sees them; `replace` is the run's --replace."""

    def __init__(self, store: Store, batches: EmbeddingBatches, replace: bool = False) -> None:
        self.store = store
        self._batches = batches  # written out before documents a file replaces are deleted
        self._replace = replace

    def stored(self, document_id: str) -> StoredDocument | None:
        """The stored document, whatever its groups."""
        state = self.store.document_state_of(document_id)
        return (
            None
            if state is None
            else self.store.get_document(document_id, state[1] | {PUBLIC_GROUP})
        )

    def stored_from(self, document_id: str, source: str) -> bool:
        stored = self.stored(document_id)
        return stored is not None and stored.source == source

    def in_unreadable(self, document_id: str, report: IngestReport) -> bool:
        """Whether the document was stored from a folder this run could not list."""
        if not report.unreadable_folders:
            return False
        stored = self.stored(document_id)
        return stored is not None and any(
            Path(stored.source).is_relative_to(folder) for folder, _ in report.unreadable_folders
        )

    def held_elsewhere(self, document_id: str, source: str, report: IngestReport) -> str | None:
        """The other file, still there, that the document is stored from, unless --replace
        takes it (reported as rehomed): two copies of a folder or of a dump took each
        document back and forth, every run "updating" them all."""
        stored = self.stored(document_id)
        if stored is None or stored.source == source or not Path(stored.source).exists():
            return None
        if not self._replace:
            return stored.source
        report.rehomed.append((document_id, stored.source))
        return None

    def clash(self, document_id: str, source: str, report: IngestReport) -> str | None:
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
            if self.stored_from(outer, source):
                return (
                    f"already indexed as {outer!r} from a folder around it, with that folder's "
                    "groups; ingest that folder instead"
                )
        inner = ["/".join(id_parts[i:]) for i in range(1, len(id_parts))]
        stale = [candidate for candidate in inner if self.stored_from(candidate, source)]
        if stale:  # ingested alone or from an inner folder before: this id replaces those
            self._batches.flush(report, wait=True)
            report.removed += self.store.delete_documents(stale)
            report.removed_documents.extend(stale)
        owner = self.held_elsewhere(document_id, source, report)
        if owner is not None:
            return (
                f"already indexed from {owner}, a file at the same path in another "
                "folder, which still exists: ingest a folder holding both so that each "
                "keeps its own path, or use --replace to take this copy instead (a new "
                "export of the same documents)"
            )
        return None
