"""Word (.docx) files to `Document`s: heading styles nest the sections; "Title" names it.

Runs a reader cannot see (hidden, white on white, tiny) are dropped first (docx_hidden.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from index.errors import HearthError, ParseError
from index.types import Document
from ingest.parsers.base import ParseOptions
from ingest.parsers.docx_hidden import without_hidden_runs
from ingest.parsers.docx_notes import note_sections
from ingest.parsers.elements import _blocks, _document
from ingest.parsers.text import build_sections, clean_line, prettify_stem
from ingest.parsers.unstructured_runtime import _partition, _reason

log = logging.getLogger(__name__)


def parse_docx(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """A Word file: heading styles nest the sections; the "Title" style names the document.

    Page headers/footers, table-of-contents entries and text hidden from readers are left out;
    tables become "a | b" rows ("Band: E3 | Berlin (EUR): 55,000 - 67,000" under a header).
    This runs inside the isolated parser child, so the memory and time limits that stop zip
    bombs cover the hidden-text pass too.
    """
    try:
        visible = without_hidden_runs(path)
    except HearthError:
        raise
    except Exception as exc:
        raise ParseError(
            f"{path.name}: cannot parse this DOCX file ({_reason(exc, path)})"
        ) from exc
    source = {"filename": str(path)} if visible is None else {"file": visible}
    # languages=[""]: no language detection (langdetect was a third of a DOCX's parse, for
    # metadata Hearth never reads)
    elements = _partition(path, "DOCX", "docx", languages=[""], **source)
    explicit = next(
        (clean_line(e.text or "") for e in elements if e.metadata.style_name == "Title"), None
    )
    title, sections = build_sections(_blocks(elements, docx=True), explicit, prettify_stem(path))
    try:
        notes = note_sections(path)
    except Exception as exc:  # a broken notes part must not cost the body
        log.warning("%s: footnotes left out (%s)", path.name, _reason(exc, path))
        notes = []
    return _document(path, doc_id, "docx", title, [*sections, *notes], options.groups)
