"""Core value types shared by every layer: what a document, a chunk and a caller are.

Frozen dataclasses, so a value handed from the parser to the store cannot be changed on the way.
Pydantic models exist only at the HTTP edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PUBLIC_GROUP = "public"


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (e.g. ("Leave", "Paris")).

    `anchor` is the deep-link fragment without '#' (wiki section "Annual_leave", PDF "page=3");
    `page` is the 1-based page for paged formats.
    """

    heading_path: tuple[str, ...]
    text: str
    anchor: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """One source document as a parser produced it.

    `id` is stable for a source (wiki page id, path relative to the ingest root) so that a
    second ingest recognises it. `kind` names the format ("wiki", "markdown", "pdf", ...).
    `aliases` are other titles that lead here (wiki redirects).
    """

    id: str
    source: str
    title: str
    kind: str
    sections: tuple[Section, ...]
    groups: frozenset[str] = frozenset({PUBLIC_GROUP})
    url: str | None = None
    modified: datetime | None = None
    revision: str | None = None
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    content_hash: str = ""

    @property
    def text(self) -> str:
        """All section text, joined; what the content hash covers."""
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the embedder's window.

    `anchor` is the deep-link fragment of the section it came from; `position` orders chunks
    within their document.
    """

    document_id: str
    text: str
    heading_path: tuple[str, ...]
    position: int
    n_tokens: int
    anchor: str | None = None
    page: int | None = None
    id: int | None = None  # the store's rowid once written; also the vector id


@dataclass(frozen=True)
class StoredDocument:
    """A document's metadata as the store holds it (without its section text)."""

    id: str
    source: str
    title: str
    kind: str
    groups: frozenset[str]
    url: str | None
    modified: datetime | None
    revision: str | None
    content_hash: str
    n_chunks: int
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the document it belongs to: what search returns and prompts cite."""

    chunk: Chunk
    document: StoredDocument
    score: float
    rank: int

    @property
    def url(self) -> str | None:
        """The deep link: document URL plus the chunk's section or page fragment."""
        base = self.document.url
        if base is None or self.chunk.anchor is None:
            return base
        return f"{base.split('#', 1)[0]}#{self.chunk.anchor}"


# The user names of callers without a key: "proxy:carol" (signed in through a trusted proxy),
# "anonymous" and "anonymous:<session digest>". API keys may not take such names.
PROXY_USER_PREFIX = "proxy:"
ANONYMOUS_USER = "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user name and the groups whose documents they may read."""

    user: str
    groups: frozenset[str] = field(default_factory=lambda: frozenset({PUBLIC_GROUP}))

    @classmethod
    def anonymous(cls, session: str = "") -> Principal:
        """An unauthenticated caller, apart from others by `session` if any: public only."""
        user = f"{ANONYMOUS_USER}:{session}" if session else ANONYMOUS_USER
        return cls(user=user, groups=frozenset({PUBLIC_GROUP}))

    @classmethod
    def from_proxy(cls, user: str, groups: frozenset[str]) -> Principal:
        """A user a trusted proxy signed in."""
        return cls(user=f"{PROXY_USER_PREFIX}{user[:200]}", groups=groups)

    @property
    def via(self) -> str:
        """How the caller was identified: "proxy", "anonymous" or "key"."""
        if self.user.startswith(PROXY_USER_PREFIX):
            return "proxy"
        return "anonymous" if self.user.startswith(ANONYMOUS_USER) else "key"

    @property
    def readable_groups(self) -> frozenset[str]:
        """Groups this caller may read; `public` is readable by everyone."""
        return self.groups | {PUBLIC_GROUP}


_GROUP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.:-")


def normalize_group(name: str) -> str:
    """A group name in canonical form (trimmed, case-folded); raises InvalidGroupError if unusable.

    Both documents and callers go through this, so "HR" and " hr" name the same group and
    names with odd characters are refused instead of silently matching something else.
    """
    from index.errors import InvalidGroupError

    stripped = name.strip()
    # ASCII only, checked before lower-casing: casefold() would turn look-alikes such as
    # "\u212aey" (Kelvin sign) or "\u017fales" (long s) into real group names.
    if not stripped.isascii():
        raise InvalidGroupError(f"invalid group name {name!r}: use letters, digits and _ . : -")
    canonical = stripped.lower()
    if not canonical or len(canonical) > 64 or not set(canonical) <= _GROUP_CHARS:
        raise InvalidGroupError(f"invalid group name {name!r}: use letters, digits and _ . : -")
    return canonical


def parse_groups(value: str | list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """Groups from a comma-separated string or a list, each normalised."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(normalize_group(item) for item in items if item.strip())
