"""PDF text-layer heuristics: which `fast`-strategy lines are headings, noise or running heads.

`fast` calls every short line without a verb a Title and knows nothing of page furniture, so
these pure functions decide from the text (and page numbers) alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ingest.parsers.text import Block

# PDF text-layer clean-up.
_CID = re.compile(r"\(cid:\d+\)")  # glyphs pdfminer could not map
_HYPHENATION = re.compile(r"(?<=[a-z])- (?=[a-z])")  # "distribu- tion" across a line break
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?[0-9ivxlc]{1,5}(?:\s*(?:of|/)\s*\d{1,5})?\W*$", re.I)
_SECTION_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+\S")
_CHAPTER = re.compile(r"^(?:chapter|part|section|appendix)\b", re.I)
_GENERIC_HEADINGS = frozenset(
    {"abstract", "introduction", "contents", "table of contents", "summary", "overview", "preface"}
)


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
