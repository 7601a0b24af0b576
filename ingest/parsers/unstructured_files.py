"""Markdown, HTML, PDF and DOCX files to `Document`s, through unstructured's partitioners.

The registry's entry point; the work is split by job: `unstructured_runtime` (offline-safe
import and partition call), `elements` (elements -> heading/text blocks), `pdf_layout` (PDF
heading/noise heuristics) and one module per format (`markdown_files`, `html_files`,
`docx_files`, `pdf_files`). Nothing is imported from unstructured until a file is parsed.
"""

from __future__ import annotations

from ingest.parsers.docx_files import parse_docx
from ingest.parsers.html_files import parse_html
from ingest.parsers.markdown_files import parse_markdown
from ingest.parsers.pdf_files import parse_pdf
from ingest.parsers.unstructured_runtime import _prepare_unstructured

__all__ = ["_prepare_unstructured", "parse_docx", "parse_html", "parse_markdown", "parse_pdf"]
