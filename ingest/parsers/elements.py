"""unstructured elements -> heading and text `Block`s, shared by every unstructured format.

`Title` elements become headings, nested by `metadata.category_depth` (HTML/Markdown: h-level -
1; DOCX: "Heading N" - 1); tables become "cell | cell" rows, labelled with the column names
under a header row (`tables.py`); page furniture (headers,
footers, page numbers, images) and DOCX table-of-contents entries are left out. PDFs go through
the heuristics of `pdf_layout` first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.errors import EmptyDocumentError, ParseError
from index.types import Document, Section
from ingest.parsers.pdf_layout import (
    _CID,
    _GLUED_SENTENCE,
    _nest_under_numbered,
    _pdf_heading_depth,
    _pdf_noise,
    _running_lines,
    compounds,
    dehyphenate,
)
from ingest.parsers.tables import table_lines
from ingest.parsers.text import Block, clean_line, clean_text, file_modified

# Element categories that are never document text.
_SKIPPED = frozenset({"Header", "Footer", "PageNumber", "PageBreak", "Image", "Picture", "Figure"})


def _document(
    path: Path,
    doc_id: str,
    kind: str,
    title: str,
    sections: Sequence[Section],
    groups: frozenset[str],
) -> Document:
    if not sections:  # a PDF without text is a scan, which needs OCR: that one is a failure
        error = ParseError if kind == "pdf" else EmptyDocumentError
        raise error(f"{path.name}: no text found in this {kind} file")
    return Document(
        id=doc_id,
        source=str(path),
        title=title,
        kind=kind,
        sections=tuple(sections),
        groups=groups,
        modified=file_modified(path),
        url=None,
        content_hash="",
    )


def _table_text(element: Any, *, guess_header: bool = False) -> str:
    """A table as readable rows, "cell | cell" per line (labelled with the column names under a
    header row, `table_lines`), rebuilt from its HTML when available."""
    from lxml import etree, html

    markup = getattr(element.metadata, "text_as_html", None)
    if markup:
        try:
            root = html.fragment_fromstring(markup, create_parent="div")
        except (etree.ParserError, ValueError):
            root = None
        if root is not None:
            cells = [[c for c in row if c.tag in ("td", "th")] for row in root.iter("tr")]
            texts = [[" ".join(c.text_content().split()) for c in row] for row in cells]
            headed = [
                all(c.tag == "th" for c in row)
                for row, text in zip(cells, texts, strict=True)
                if any(text)
            ]
            rows = [text for text in texts if any(text)]
            if rows:
                # Drop spacer columns (empty in every full-width row) and, in rows with merged
                # cells, empty cells: layout tables are full of both.
                width = max(len(row) for row in rows)
                full = [row for row in rows if len(row) == width]
                keep = [i for i in range(width) if any(row[i] for row in full)]
                rows = [
                    [row[i] for i in keep] if len(row) == width else [c for c in row if c]
                    for row in rows
                ]
                # DOCX tables reach us without <th>: there the header is guessed (`table_lines`)
                header = True if headed[0] else (None if guess_header else False)
                return clean_text("\n".join(table_lines(rows, header)))
    return clean_text(element.text or "")


def _blocks(elements: Sequence[Any], *, docx: bool = False, pdf: bool = False) -> list[Block]:
    """unstructured elements as Blocks: Title -> heading at `category_depth`, the rest body text."""
    running = _running_lines(elements) if pdf else set()
    kept = compounds([element.text or "" for element in elements]) if pdf else frozenset()
    blocks: list[Block] = []
    for element in elements:
        category = element.category
        style = (getattr(element.metadata, "style_name", None) or "") if docx else ""
        if category in _SKIPPED or style.lower().startswith("toc"):
            continue  # page furniture; DOCX table-of-contents entries
        raw = element.text or ""
        page = element.metadata.page_number if pdf else None
        if pdf:
            if " ".join(raw.split()).casefold() in running:
                continue
            raw = _CID.sub("", raw)
        text = clean_text(raw)
        if pdf:
            text = _GLUED_SENTENCE.sub(" ", dehyphenate(text, kept))
        if pdf and _pdf_noise(text):
            continue
        if category == "Title" and style != "Subtitle":
            line = clean_line(text)
            depth = _pdf_heading_depth(line) if pdf else (element.metadata.category_depth or 0)
            if depth is not None:
                blocks.append(Block(line, depth=depth, page=page))
                continue
        if category == "Table":
            text = _table_text(element, guess_header=docx)
        elif category == "ListItem":
            text = text.lstrip("•·▪◦‣⁃-*– ")
            numbered = re.match(r"\(?[0-9a-zA-Z]{1,3}[.)]\s", text)
            text = text if numbered or not text else f"- {text}"
        blocks.append(Block(text, page=page, is_list=category == "ListItem"))
    blocks = [b for b in blocks if b.text.strip("- ")]
    return _nest_under_numbered(blocks) if pdf else blocks
