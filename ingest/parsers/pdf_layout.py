"""PDF text-layer heuristics: which `fast`-strategy lines are headings, noise or running heads.

`fast` calls every short line without a verb a Title and knows nothing of page furniture, so
these pure functions decide from the text (and page numbers) alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ingest.parsers.text import Block, clean_line

# PDF text-layer clean-up.
_CID = re.compile(r"\(cid:\d+\)")  # glyphs pdfminer could not map
_HYPHENATION = re.compile(r"\b([A-Za-z]*[a-z])- ([a-z]+)")  # "distribu- tion" across a line break
_COMPOUND = re.compile(r"\b([a-z]+)-([a-z]+)\b")  # "open-domain" within a line
# Text boxes of a designed page run together: "…for growth.Shri Mukesh Ambani…"
_GLUED_SENTENCE = re.compile(r"(?<=[a-z][a-z][.!?])(?=[A-Z][a-z])")
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?[0-9ivxlc]{1,5}(?:\s*(?:of|/)\s*\d{1,5})?\W*$", re.I)
_SECTION_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+\S")
_CHAPTER = re.compile(r"^(?:chapter|part|section|appendix)\b", re.I)
_GENERIC_HEADINGS = frozenset(
    {"abstract", "introduction", "contents", "table of contents", "summary", "overview", "preface"}
)


def compounds(texts: Sequence[str]) -> frozenset[str]:
    """Hyphenated words a document writes within a line ("open-domain"): a line break inside
    one of them keeps its hyphen."""
    return frozenset(
        f"{m.group(1)}-{m.group(2)}" for text in texts for m in _COMPOUND.finditer(text.lower())
    )


def dehyphenate(text: str, kept: frozenset[str]) -> str:
    """Join words broken at a line end ("distribu- tion" -> "distribution"), keeping the
    hyphen of a compound the document writes elsewhere: "open- domain" had become
    "opendomain", which no search for "open-domain" found."""

    def join(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        compound = f"{first}-{second}"
        return compound if compound.lower() in kept else first + second

    return _HYPHENATION.sub(join, text)


def _pdf_heading_depth(text: str) -> int | None:
    """The depth of a PDF `Title` element that looks like a real heading, else None.

    `fast` calls every short line without a verb a Title (and a blank spaCy pipeline finds no
    verbs), so author lists, formula fragments and URLs come back as Titles too. Numbered
    headings nest by their numbering ("3.1 Overview" under "3 Method").
    """
    numbered = _SECTION_NUMBER.match(text)
    first_letter = next((c for c in text if c.isalpha()), "")
    if (
        not 3 <= len(text) <= 80
        or len(text.split()) > 12
        or sum(c.isalpha() for c in text) < 0.6 * len(text.replace(" ", ""))
        or not first_letter.isupper()
        or not (text[0].isalpha() or numbered)
        or text.endswith((".", ",", ";", ":"))
        or any(marker in text.lower() for marker in ("@", "http", "www."))
        or re.search(r"[a-z]\d{2,}", text) is not None  # "Governance218": glued TOC entries
    ):
        return None
    return numbered.group(1).count(".") if numbered else 0


def _pdf_noise(text: str) -> bool:
    """Page numbers, stray symbols, and text set vertically one letter at a time (margins)."""
    tokens = text.split()
    return (
        not any(c.isalnum() for c in text)
        or bool(_PAGE_NUMBER.match(text))
        or (len(tokens) >= 2 and max(len(t) for t in tokens) <= 2)
    )


def _running_lines(elements: Sequence[Any]) -> set[str]:
    """Short lines found on at least 3 pages and a third of all pages: running heads/feet."""
    pages: dict[str, set[int]] = {}
    for element in elements:
        key = " ".join((element.text or "").split()).casefold()
        if key and len(key) <= 100 and element.category != "Table":
            pages.setdefault(key, set()).add(element.metadata.page_number or 0)
    n_pages = max((e.metadata.page_number or 0 for e in elements), default=0)
    return {k for k, p in pages.items() if len(p) >= 3 and len(p) >= n_pages / 3}


def _nest_under_numbered(blocks: list[Block]) -> list[Block]:
    """In a PDF with numbered headings, an unnumbered one ("Results", or a table cell taken for
    a heading) nests under the last numbered heading instead of replacing it."""
    numbered = [_SECTION_NUMBER.match(b.text) is not None for b in blocks]
    if sum(n for n, b in zip(numbered, blocks, strict=True) if b.depth is not None) < 2:
        return blocks
    last: int | None = None
    result = []
    for block, is_numbered in zip(blocks, numbered, strict=True):
        if block.depth is not None and is_numbered:
            last = block.depth
        elif block.depth is not None and last is not None:
            block = replace(block, depth=last + 1)
        result.append(block)
    return result


def _is_section_heading(elements: Sequence[Any], index: int) -> bool:
    """A numbered list item that is really a section heading ("4. Accommodation"): title-like
    and not part of a numbered list (neither neighbour is a numbered list item)."""

    def numbered_item(i: int) -> bool:
        element = elements[i] if 0 <= i < len(elements) else None
        return (
            element is not None
            and element.category == "ListItem"
            and _SECTION_NUMBER.match(element.text) is not None
        )

    return (
        numbered_item(index)
        and _pdf_heading_depth(clean_line(elements[index].text)) is not None
        and not numbered_item(index - 1)
        and not numbered_item(index + 1)
    )


_FURNITURE = frozenset({"Header", "Footer", "PageNumber", "PageBreak"})


def _is_table(cells: Sequence[str]) -> bool:
    """Consecutive Title lines on one page that read as table cells, not as headings: real
    headings are followed by text, so four in a row (three if one holds a digit) is a table."""
    filled = [c for c in cells if c]
    return len(filled) >= 4 or (len(filled) == 3 and any(ch.isdigit() for ch in "".join(filled)))


def _table_text(cells: Sequence[str]) -> str:
    """Table cells as text. A two-column table of labels and figures (after its header row:
    "Paris", "190 EUR", "Berlin", "150 EUR") reads one "label: figure" line per row, which
    keeps each figure with its label for the reader and the model; anything else is one line
    of cells joined by " | " (the column count is unknown)."""
    values = cells[3::2]
    if (
        len(cells) >= 4
        and len(cells) % 2 == 0
        and all(not v or any(ch.isdigit() for ch in v) for v in values)
        and 2 * sum(bool(v) for v in values) >= len(values)
    ):
        rows = zip(cells[::2], cells[1::2], strict=True)
        return "\n".join(f"{label}: {value}" if value else label for label, value in rows)
    return " | ".join(c for c in cells if c)


def _blank(element: Any) -> bool:
    return not (element.text or "").strip()


def _in_run(element: Any, page: int | None) -> bool:
    """Whether `element` continues a run of Title lines: another Title on the page, or an
    empty element (`fast` leaves one where a table cell is blank)."""
    if element.metadata.page_number != page or element.category in _FURNITURE:
        return False
    return element.category == "Title" or _blank(element)


def pdf_structure(elements: Sequence[Any]) -> list[Any]:
    """The `fast` elements with two layout facts restored.

    `fast` returns numbered section headings as list items ("4. Accommodation"): they become
    Titles. It returns a table as a run of short Title lines ("City", "Maximum per night",
    "Paris", "190 EUR", ...), which would each become a heading ("45 EUR" heading the next
    section): such a run becomes body text (`_table_text`). A run that opens the document is
    its cover, not a table.
    """
    from unstructured.documents.elements import Text, Title

    result: list[Any] = []
    opening = True  # nothing but page furniture so far
    index = 0
    while index < len(elements):
        element = elements[index]
        if element.category == "Title":
            end = index + 1
            while end < len(elements) and _in_run(elements[end], element.metadata.page_number):
                end += 1
            run = elements[index:end]
            cells = [clean_line(e.text or "") for e in run]
            if not opening and _is_table(cells):
                result.append(Text(text=_table_text(cells), metadata=element.metadata))
            else:
                result.extend(run)
            index, opening = end, False
            continue
        if _is_section_heading(elements, index):
            element = Title(text=element.text, metadata=element.metadata)
        result.append(element)
        opening = opening and (element.category in _FURNITURE or _blank(element))
        index += 1
    return result
