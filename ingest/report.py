"""What an ingest run did (IngestReport) and the callbacks that show its progress (Progress).

Kept apart from the pipeline so that the CLI, the service's dataset loader and the benchmarks
can read a report and draw progress without the machinery that produces them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ingest.sources import WalkNotes


@dataclass
class IngestReport:
    """What a run did, for the CLI summary and `--json`."""

    added: int = 0
    updated: int = 0
    regrouped: int = 0
    unchanged: int = 0
    removed: int = 0  # how many documents this run removed: pruned, or stored under an inner id
    chunks_reused: int = 0  # of `chunks`, those an updated document kept unchanged: not embedded
    removed_documents: list[str] = field(default_factory=list)  # their ids
    redirects: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    vector_generation: int | None = None
    skipped: Counter[str] = field(default_factory=Counter)  # files of types not read, by suffix
    # ids of stored documents of the folders read whose file is gone, and of the wiki pages
    # the dumps read no longer hold (or that only a deleted older dump held): kept until --prune
    orphaned_documents: list[str] = field(default_factory=list)
    # ids of stored wiki pages the dumps still hold in namespaces this run did not read
    # (`--namespaces`): kept as they were, neither updated nor pruned
    outside_namespaces: list[str] = field(default_factory=list)
    # titles of the wiki pages named here (their ids, "enwiki:655", say nothing)
    titles: dict[str, str] = field(default_factory=dict)
    # (id, file it came from before) for documents now taken from a file in another folder
    # that still exists: a new export of the same corpus, or two folders sharing names
    rehomed: list[tuple[str, str]] = field(default_factory=list)
    prune_skipped: list[str] = field(default_factory=list)  # paths not pruned: files failed
    # files and wiki pages (by id, their titles in `titles`) without text: skipped, not stored
    empty: list[str] = field(default_factory=list)
    # ids of stored documents only some groups could read that this run made public: said
    # aloud, since a run without --groups (or a file ingested alone) may do it by mistake
    made_public: list[str] = field(default_factory=list)
    # folders that could not be listed (lost+found, a folder of another user), with why: what
    # was stored from them is kept, neither updated nor pruned, and the run goes on
    unreadable_folders: list[tuple[Path, str]] = field(default_factory=list)
    # (path, why) of entries not read for safety or because they lead nowhere: broken links,
    # links out of the folder or to folders, FIFOs; taken for absent, as before
    left_out: list[tuple[str, str]] = field(default_factory=list)
    # sidecars above the ingested folders whose rules were applied: said, since they are
    # outside what the run named
    rules_above: list[str] = field(default_factory=list)

    def add_notes(self, notes: WalkNotes) -> None:
        """What a walk (or the sidecar lookup of a single file) passed over or applied."""
        self.skipped.update(notes.skipped)
        self.unreadable_folders.extend(notes.unreadable)
        self.left_out.extend(notes.left_out)
        self.rules_above.extend(r for r in notes.rules_above if r not in self.rules_above)

    @property
    def orphaned(self) -> int:
        return len(self.orphaned_documents)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "regrouped": self.regrouped,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "removed_documents": self.removed_documents,
            "redirects": self.redirects,
            "failed": [{"source": s, "reason": r} for s, r in self.failed],
            "chunks": self.chunks,
            "chunks_reused": self.chunks_reused,
            "seconds": round(self.seconds, 2),
            "vector_generation": self.vector_generation,
            "skipped": dict(sorted(self.skipped.items())),
            "orphaned": self.orphaned,
            "orphaned_documents": self.orphaned_documents,
            "outside_namespaces": self.outside_namespaces,
            "titles": self.titles,
            "rehomed": [{"id": i, "previous_source": s} for i, s in self.rehomed],
            "prune_skipped": self.prune_skipped,
            "empty": self.empty,
            "made_public": self.made_public,
            "unreadable_folders": [
                {"folder": str(f), "reason": r} for f, r in self.unreadable_folders
            ],
            "left_out": [{"path": p, "reason": r} for p, r in self.left_out],
            "rules_above": self.rules_above,
        }


class Progress:
    """Callbacks the CLI turns into progress bars; the default does nothing."""

    def sources_found(self, count: int) -> None:
        """`count` more files (or dumps) will be read: a bar's total."""

    def source_started(self, name: str) -> None: ...

    def document_done(self) -> None: ...

    def chunks_embedded(self, count: int) -> None:
        """`count` more chunks embedded; called from the embedding thread."""

    def dump_read(self, done: int, total: int) -> None:
        """`done` of a wiki dump's `total` bytes (as on disk) read: a dump's own bar, since
        how many pages it holds is not known until the end."""
