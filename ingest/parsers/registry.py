"""Which parser reads which file: one table from file suffix to parser function.

The pipeline asks `parser_for(path)` for every file it walks; `None` means "not a file this
registry handles" (unknown types are skipped, MediaWiki XML dumps go to the wiki parser). Importing
this module is cheap: the unstructured-based parsers import unstructured only when first called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from index.types import Document
from ingest.parsers.base import ParseOptions
from ingest.parsers.docx_files import parse_docx
from ingest.parsers.html_files import parse_html
from ingest.parsers.markdown_files import parse_markdown
from ingest.parsers.pdf_files import parse_pdf
from ingest.parsers.text import parse_text
from ingest.parsers.unstructured_runtime import load_partitioner

FileParser = Callable[[Path, str, ParseOptions], Document]
"""(path, doc_id, options) -> Document; raises `index.errors.ParseError` on unreadable input."""

_PARSERS: dict[str, FileParser] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".txt": parse_text,
    ".text": parse_text,
}

# The unstructured partitioner each parser calls (Markdown is rendered to HTML first).
_PARTITIONERS = {
    ".md": "html",
    ".markdown": "html",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

UNSTRUCTURED_SUFFIXES: frozenset[str] = frozenset(_PARTITIONERS)
"""Suffixes whose parsers go through unstructured (and zip and PDF readers)."""

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)
"""Lower-case suffixes (with the dot) that `parser_for` has a parser for."""

# Handled by the MediaWiki dump parser, never by a file parser (checked on the full name, since
# Path("x.xml.gz").suffix is only ".gz").
_WIKI_DUMP_SUFFIXES = (".xml", ".xml.bz2", ".xml.gz")


def parser_for(path: Path) -> FileParser | None:
    """The parser for `path` by its suffix (case-insensitive), or None if there is none."""
    name = path.name.lower()
    if name.endswith(_WIKI_DUMP_SUFFIXES):
        return None
    return _PARSERS.get(Path(name).suffix)


def load_parsers(suffixes: Iterable[str]) -> None:
    """Import the libraries the parsers of these suffixes need, so that the first file of each
    kind does not wait for them (a parser process warms up while the embedder loads)."""
    for module in dict.fromkeys(_PARTITIONERS[s] for s in suffixes if s in _PARTITIONERS):
        load_partitioner(module)
