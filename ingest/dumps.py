"""What is particular to MediaWiki dumps: one file holding a wiki's pages and redirects.

A dump is streamed page by page into the run's pipeline. What sets it apart from a folder of
files: pages outside the namespaces read are kept as they were, a page stored from another
dump that still exists is left alone, redirects become title aliases, and a newer export
replaces an older one that is gone (its pages the newer lacks are orphaned, then pruned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from index.errors import HearthError, NotAWikiExportError
from index.protocols import Store
from index.types import Document, StoredDocument
from ingest.embedding import EmbeddingBatches
from ingest.ownership import Owners
from ingest.parsers.base import OutsideNamespaces, ParseOptions, Redirect
from ingest.parsers.mediawiki import parse_dump
from ingest.report import IngestReport, Progress


def replaced_by(old_dump: str, dump: str) -> bool:
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


class WikiDumps:
    """One run's reading of wiki dumps, and what it knows of the stored wiki pages (read once
    a run: a dump of thousands of pages looked each up)."""

    def __init__(
        self,
        store: Store,
        progress: Progress,
        owners: Owners,
        batches: EmbeddingBatches,
        prune: bool = False,
    ) -> None:
        self.store = store
        self.progress = progress
        self._owners = owners
        self._batches = batches
        self._prune = prune
        # pages of a wiki stored from an older dump of its folder that is gone (for the run)
        self.left: list[str] = []
        self._wiki_documents: list[StoredDocument] | None = None
        self._wiki_ids: dict[str, str] | None = None

    def ingest(
        self,
        path: Path,
        relative: str,
        options: ParseOptions,
        report: IngestReport,
        seen: set[str],
        source: str,
        fingerprint: str,
        consider: Callable[[Document], bool],
    ) -> bool:
        """Stream the dump's pages to `consider` (False: the page has no text) and record its
        redirects; returns False if it could not be read completely (nothing of it is then
        taken for deleted)."""
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
                        report.titles.update(self.titles_of([item.id]))
                    continue
                other = self._owners.held_elsewhere(item.id, source, report)
                if other is not None:  # left as it is; the rest of the dump is still read
                    seen.add(item.id)
                    held_elsewhere[item.id] = other
                    continue
                sites.add(item.id.partition(":")[0])
                if not consider(replace(item, source=source)):
                    # no text, as a blank file: listed, not stored, and taken for absent (not
                    # seen), so a copy stored before is orphaned, then removed by --prune
                    report.empty.append(item.id)
                    report.titles[item.id] = item.title
                    continue
                seen.add(item.id)
                pages += 1
            complete = not held_elsewhere
            if complete:
                self.left.extend(self._pages_of_gone_dumps(sites, source))
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
            self._batches.flush(report, wait=True)
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
        self._batches.source_done(source, fingerprint, pages)
        self._batches.flush(report, wait=True)
        return True

    def unchanged_dump(self, page_ids: Iterable[str], source: str) -> None:
        """A dump not read again (its fingerprint matched) still replaces the dumps of its
        wikis that are gone."""
        sites = {page_id.partition(":")[0] for page_id in page_ids}
        self.left.extend(self._pages_of_gone_dumps(sites, source))

    def titles_of(self, document_ids: Iterable[str]) -> dict[str, str]:
        """The titles of the wiki pages among `document_ids`: a report naming "enwiki:655"
        told an admin nothing."""
        titles = self._stored_wiki_pages()
        return {i: titles[i] for i in document_ids if i in titles}

    def _wiki_pages(self) -> list[StoredDocument]:
        if self._wiki_documents is None:
            self._wiki_documents = [d for d in self.store.list_documents() if d.kind == "wiki"]
        return self._wiki_documents

    def _stored_wiki_pages(self) -> dict[str, str]:
        """Id -> title of every stored wiki page (read once a run)."""
        if self._wiki_ids is None:
            self._wiki_ids = {d.id: d.title for d in self._wiki_pages()}
        return self._wiki_ids

    def _pages_of_gone_dumps(self, sites: set[str], source: str) -> list[str]:
        """Pages of the dump's wikis stored from another dump it replaces (`replaced_by`):
        what the newer export lacks is orphaned (pruned by --prune) rather than kept
        forever."""
        pages = [d for d in self._wiki_pages() if d.id.partition(":")[0] in sites]
        replaced = {old: replaced_by(old, source) for old in {d.source for d in pages}}
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
                gone=lambda other: self._prune and replaced_by(other, source),
            )  # fmt: skip
        report.redirects += len(kept)
