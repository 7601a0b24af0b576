"""What every parser shares: the options it is given and what it yields.

A file parser turns one file into one `Document`; the MediaWiki parser streams a dump into many
`Document`s and `Redirect`s. Parsers never touch the store and never decide document ids of other
sources; the pipeline owns hashing, diffing and writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from index.types import PUBLIC_GROUP

# The largest real Wikipedia articles hold about 1 MB of wikitext; a page far beyond that is a
# broken or hostile export whose rendering would take minutes and gigabytes.
DEFAULT_WIKI_MAX_PAGE_MB = 20.0
DEFAULT_WIKI_MAX_PAGE_BYTES = int(DEFAULT_WIKI_MAX_PAGE_MB * 2**20)


@dataclass(frozen=True)
class ParseOptions:
    """Per-source choices made by the operator (CLI flags, sidecar file).

    `groups`: who may read what this source yields, unless the source itself says otherwise
    (Markdown front matter `groups:`). `base_url`: overrides the wiki's own site base.
    `namespaces`: wiki namespace numbers to ingest (main only by default).
    `namespace_groups`: wiki namespace number -> groups for pages in it.
    `wiki_max_page_bytes`: a wiki page with more wikitext (UTF-8) is skipped and reported.
    """

    groups: frozenset[str] = frozenset({PUBLIC_GROUP})
    base_url: str | None = None
    namespaces: frozenset[int] = frozenset({0})
    namespace_groups: Mapping[int, frozenset[str]] = field(default_factory=dict)
    wiki_max_page_bytes: int = DEFAULT_WIKI_MAX_PAGE_BYTES


@dataclass(frozen=True)
class OutsideNamespaces:
    """A page of a namespace the run did not ask for (`--namespaces`): not read, yet still in
    the wiki, so a page stored from it before is not taken for deleted, unless its title
    changed (moved to another namespace, as to "User:", it must not keep answering)."""

    id: str
    title: str


@dataclass(frozen=True)
class Redirect:
    """A wiki redirect: `alias` is another title for the page titled `target` in wiki `site`.
    `groups` may read the redirect page and `target_groups` its target (pages take their
    namespace's groups): an alias becomes a searchable word of its target, so it is kept only
    where everyone who reads the target may read the redirect."""

    site: str
    alias: str
    target: str
    groups: frozenset[str] = frozenset({PUBLIC_GROUP})
    target_groups: frozenset[str] = frozenset({PUBLIC_GROUP})

    @property
    def shown_to_its_readers_only(self) -> bool:
        """Whether every reader of the target may read the redirect page too."""
        return PUBLIC_GROUP in self.groups or self.target_groups <= self.groups
