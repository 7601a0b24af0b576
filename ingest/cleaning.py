"""Cleaning parsed documents before they are hashed, chunked and stored: nothing invisible
hides in a chunk, and a link a client shows is a web link."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from index.types import Document, Section

# Characters that render invisibly or reorder text: stripped so that nothing hides in a chunk.
# Variation selectors are invisible marks (category Mn) that can carry a whole hidden message,
# one byte per selector; they only pick a glyph style, so nothing a reader sees is lost.
_INVISIBLE = frozenset(
    {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180B, 0x180C, 0x180D, 0x180F}
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)


def strip_invisible(text: str) -> str:
    """NFC text without control, format (bidi, zero-width, tag), private or variation characters."""
    kept = "".join(
        ch
        for ch in text
        if ch in "\n\t"
        or (unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs") and ord(ch) not in _INVISIBLE)
    )
    return unicodedata.normalize("NFC", kept)  # after stripping: removals can leave pairs


def clean_document(document: Document) -> Document:
    """The document with every text field cleaned and empty sections dropped."""
    sections = tuple(
        Section(
            tuple(strip_invisible(h) for h in s.heading_path),
            strip_invisible(s.text),
            s.anchor,
            s.page,
        )
        for s in document.sections
    )
    return replace(
        document,
        title=strip_invisible(document.title).strip() or document.id,
        sections=tuple(s for s in sections if s.text.strip()),
        url=document.url if _is_web_link(document.url) else None,
    )


def _is_web_link(url: str | None) -> bool:
    """Whether `url` is an http(s) link: a dump's `<base>` may say `javascript:…`, which API
    clients would show as a link (the page refuses it; others may not)."""
    return url is not None and url.lower().startswith(("https://", "http://"))
