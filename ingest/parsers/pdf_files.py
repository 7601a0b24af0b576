"""PDF files to `Document`s: the text layer (`fast`, no OCR), one section per page run."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from index.errors import ParseError
from index.types import Document
from ingest.parsers.base import ParseOptions
from ingest.parsers.elements import _blocks, _document
from ingest.parsers.pdf_layout import _CHAPTER, _GENERIC_HEADINGS, _SECTION_NUMBER, pdf_structure
from ingest.parsers.text import Block, build_sections, clean_line, prettify_stem
from ingest.parsers.unstructured_runtime import _partition


def _pdf_title_heading(blocks: Sequence[Block]) -> str | None:
    """A heading at the top of page 1 (before any long paragraph) that is not a section name."""
    for block in blocks:
        if block.page not in (None, 1) or (block.depth is None and len(block.text) > 100):
            return None
        if block.depth is not None:
            generic = block.text.casefold() in _GENERIC_HEADINGS or _SECTION_NUMBER.match(
                block.text
            )
            return None if generic or _CHAPTER.match(block.text) else block.text
    return None


def _pdf_metadata_title(path: Path) -> str | None:
    """The PDF's /Title metadata, unless it is missing or an obvious placeholder."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            raw = pdf.docinfo.get("/Title")
            value = clean_line(str(raw)) if raw is not None else ""
    except Exception:
        return None
    lowered = value.casefold()
    if (
        re.sub(r"[\W_]+", "", lowered) == re.sub(r"[\W_]+", "", path.stem.casefold())
        or sum(c.isalpha() for c in value) < 3
        or lowered in {"untitled", "title", "document", "slide 1"}
        or lowered.startswith("microsoft word")
        or lowered.endswith((".pdf", ".doc", ".docx", ".tex", ".dvi", ".ps"))
    ):
        return None
    return value


def _why_no_text(path: Path) -> str:
    """Why a PDF gave no text: a damaged file or one that is no PDF (a "scanned PDF?" guess
    sent people looking for OCR) or pages without a text layer."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
    except Exception as exc:  # pikepdf.PdfError, or anything a broken file makes it raise
        said = str(exc).replace(f"{path}: ", "").replace(str(path), path.name)  # no full paths
        reason = " ".join(said.split())[:120] or type(exc).__name__
        return f"not a readable PDF (damaged, or another kind of file): {reason}"
    if pages == 0:
        return "the PDF has no pages"
    return f"no extractable text on its {pages} page(s): scanned without a text layer? OCR it"


def parse_pdf(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """A PDF's text layer (`fast` strategy, no OCR): one section per page run, anchor "page=N".

    `fast` finds headings only heuristically, so only Title elements that look like headings are
    used; running headers, page numbers and margin junk are dropped. A PDF without a text layer
    raises ParseError instead of becoming an empty document.
    """
    if importlib.util.find_spec("pikepdf") is None:
        # Without pikepdf unstructured returns 0 elements for every PDF and says nothing.
        raise ParseError(
            f"{path.name}: PDF support is not installed (the pikepdf package is missing)"
        )
    elements = _partition(
        path, "PDF", "pdf", filename=str(path), strategy="fast", languages=["eng"]
    )
    if not elements:
        raise ParseError(f"{path.name}: {_why_no_text(path)}")
    blocks = _blocks(pdf_structure(elements), pdf=True)
    explicit = _pdf_metadata_title(path) or _pdf_title_heading(blocks)
    title, sections = build_sections(
        blocks, explicit, prettify_stem(path), paged=True, title_from_heading=False
    )
    if not sections:
        raise ParseError(f"{path.name}: no extractable text (scanned PDF?)")
    return _document(path, doc_id, "pdf", title, sections, options.groups)
