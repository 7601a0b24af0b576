"""Word (.docx) files to `Document`s: heading styles nest the sections; "Title" names it."""

from __future__ import annotations

from pathlib import Path

from index.types import Document
from ingest.parsers.base import ParseOptions
from ingest.parsers.elements import _blocks, _document
from ingest.parsers.text import build_sections, clean_line, prettify_stem
from ingest.parsers.unstructured_runtime import _partition


def parse_docx(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """A Word file: heading styles nest the sections; the "Title" style names the document.

    Page headers/footers and table-of-contents entries are left out; tables become "a | b" rows.
    """
    elements = _partition(path, "DOCX", "docx", filename=str(path))
    explicit = next(
        (clean_line(e.text or "") for e in elements if e.metadata.style_name == "Title"), None
    )
    title, sections = build_sections(_blocks(elements, docx=True), explicit, prettify_stem(path))
    return _document(path, doc_id, "docx", title, sections, options.groups)
