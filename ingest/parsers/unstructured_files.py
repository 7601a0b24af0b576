"""Markdown, HTML, PDF and DOCX files to `Document`s, through unstructured's partitioners.

unstructured turns a file into a flat list of elements (Title, NarrativeText, ListItem, Table,
...). Here `Title` elements become headings, nested by `metadata.category_depth` (HTML/Markdown:
h-level - 1; DOCX: "Heading N" - 1), and the elements between two headings become one `Section`
under the current heading path. PDFs get one section per page run (`page=N`, anchor "page=N") so
every chunk can deep-link to its page.

unstructured is slow to import and, out of the box, not offline-safe: it pings a telemetry
server and downloads a spaCy model on first use. `_prepare_unstructured` fixes both, once, before
the first partition call; nothing happens at import time of this module.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from index.errors import ConfigurationError, HearthError, ParseError
from index.types import Document, Section, parse_groups
from ingest.parsers.base import ParseOptions
from ingest.parsers.text import (
    Block,
    build_sections,
    clean_line,
    clean_text,
    file_modified,
    prettify_stem,
    read_text_file,
)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)
_EMOJI_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_MD_LIST_ITEM = re.compile(r"^ {0,3}(?:[*+-]|\d{1,3}[.)])[ \t]+\S")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)\s]*\)")
_MD_IMAGE_LINK = re.compile(r"\[\s*\]\([^)\s]*\)")  # what is left of [![badge](img)](link)
# Element categories that are never document text.
_SKIPPED = frozenset({"Header", "Footer", "PageNumber", "PageBreak", "Image", "Picture", "Figure"})
# HTML boilerplate: tags, ARIA roles and class names dropped before partitioning.
_PAGE_CHROME_TAGS = frozenset({"nav", "aside", "footer", "form", "button", "iframe"})
_BOILERPLATE_TAGS = _PAGE_CHROME_TAGS | {"script", "style", "noscript", "template"}
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_HIDDEN_CLASSES = frozenset({"sr-only", "visually-hidden", "screen-reader-text"})
_BOILERPLATE_CLASSES = _HIDDEN_CLASSES | {"element-invisible", "skip-link", "breadcrumb"}
# unstructured drops <figure> and <details> whole (tables in WordPress figures, FAQ answers).
_UNWRAP = {"figure": "div", "figcaption": "p", "details": "div", "summary": "p"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
# PDF text-layer clean-up.
_CID = re.compile(r"\(cid:\d+\)")  # glyphs pdfminer could not map
_HYPHENATION = re.compile(r"(?<=[a-z])- (?=[a-z])")  # "distribu- tion" across a line break
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?[0-9ivxlc]{1,5}(?:\s*(?:of|/)\s*\d{1,5})?\W*$", re.I)
_SECTION_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+\S")
_CHAPTER = re.compile(r"^(?:chapter|part|section|appendix)\b", re.I)
_GENERIC_HEADINGS = frozenset(
    {"abstract", "introduction", "contents", "table of contents", "summary", "overview", "preface"}
)


@functools.cache
def _prepare_unstructured() -> None:
    """Make unstructured offline-safe; runs once, before the first partition call.

    Telemetry is switched off by environment (unstructured reads it on every call). unstructured
    hard-codes spaCy's en_core_web_sm and downloads it on first use; offline that makes DOCX/HTML
    raise and PDFs return 0 elements silently. A blank English pipeline with a sentencizer is all
    its heuristics need, installed through the private hook `unstructured.nlp.tokenize._get_nlp`.
    If that hook disappears in a new unstructured, fail loudly rather than go online.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "1")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    import spacy
    from unstructured.nlp import tokenize

    if not callable(getattr(tokenize, "_get_nlp", None)):
        raise ConfigurationError(
            "unstructured.nlp.tokenize._get_nlp is gone: this unstructured version needs a new "
            "offline spaCy fix (see ingest/parsers/unstructured_files.py)"
        )
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    tokenize._get_nlp = lambda: nlp  # type: ignore[assignment]


def _reason(exc: BaseException, path: Path) -> str:
    """A one-line, path-free description of `exc` for a user-facing error message."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    message = message.replace(str(path), path.name).replace(str(path.parent), "")
    message = re.sub(r"(?<![\w:/])(?:/[^/\s'\"]+){2,}", "<path>", message)[:160]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _partition(path: Path, kind: str, module: str, **kwargs: Any) -> list[Any]:
    """`unstructured.partition.<module>.partition_<module>(**kwargs)`; errors become ParseError.

    The import happens only after `_prepare_unstructured`: importing unstructured itself sends
    a telemetry ping unless DO_NOT_TRACK is already set.
    """
    _prepare_unstructured()
    try:
        partition_module = importlib.import_module(f"unstructured.partition.{module}")
        return list(getattr(partition_module, f"partition_{module}")(**kwargs))
    except HearthError:
        raise
    except Exception as exc:
        raise ParseError(
            f"{path.name}: cannot parse this {kind} file ({_reason(exc, path)})"
        ) from exc


def _document(
    path: Path,
    doc_id: str,
    kind: str,
    title: str,
    sections: Sequence[Section],
    groups: frozenset[str],
) -> Document:
    if not sections:
        raise ParseError(f"{path.name}: no text found in this {kind} file")
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


def _table_text(element: Any) -> str:
    """A table as readable rows, "cell | cell" per line, rebuilt from its HTML when available."""
    from lxml import etree, html

    markup = getattr(element.metadata, "text_as_html", None)
    if markup:
        try:
            root = html.fragment_fromstring(markup, create_parent="div")
        except (etree.ParserError, ValueError):
            root = None
        if root is not None:
            rows = [
                [" ".join(c.text_content().split()) for c in row if c.tag in ("td", "th")]
                for row in root.iter("tr")
            ]
            rows = [row for row in rows if any(row)]
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
                return clean_text("\n".join(" | ".join(row).rstrip(" |") for row in rows))
    return clean_text(element.text or "")


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


def _blocks(elements: Sequence[Any], *, docx: bool = False, pdf: bool = False) -> list[Block]:
    """unstructured elements as Blocks: Title -> heading at `category_depth`, the rest body text."""
    running = _running_lines(elements) if pdf else set()
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
        text = _HYPHENATION.sub("", clean_text(raw)) if pdf else clean_text(raw)
        if pdf and _pdf_noise(text):
            continue
        if category == "Title" and style != "Subtitle":
            line = clean_line(text)
            depth = _pdf_heading_depth(line) if pdf else (element.metadata.category_depth or 0)
            if depth is not None:
                blocks.append(Block(line, depth=depth, page=page))
                continue
        if category == "Table":
            text = _table_text(element)
        elif category == "ListItem":
            text = text.lstrip("•·▪◦‣⁃-*– ")
            numbered = re.match(r"\(?[0-9a-zA-Z]{1,3}[.)]\s", text)
            text = text if numbered or not text else f"- {text}"
        blocks.append(Block(text, page=page, is_list=category == "ListItem"))
    blocks = [b for b in blocks if b.text.strip("- ")]
    return _nest_under_numbered(blocks) if pdf else blocks


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


def _decode_html(data: bytes) -> str:
    """HTML bytes as text: by BOM, else <meta charset>, else UTF-8 (bad bytes replaced)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    match = _META_CHARSET.search(data[:4096])
    if match:
        try:
            return data.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")


def _is_boilerplate(element: Any) -> bool:
    """Navigation, site banner/footer, sidebars, scripts, forms, hidden and skip-link elements."""
    tag = element.tag
    if tag in _BOILERPLATE_TAGS:
        return True
    if tag == "header" and not any(a.tag in ("article", "main") for a in element.iterancestors()):
        return True  # the site banner; an article's own <header> (with its h1) stays
    attrs = element.attrib
    if element.find(".//main") is not None or element.find(".//article") is not None:
        return False  # never lose the content itself to a role or class on a wrapper
    classes = set(attrs.get("class", "").split())
    return bool(
        attrs.get("role", "").strip().lower() in _BOILERPLATE_ROLES
        or classes & _BOILERPLATE_CLASSES
        or "hidden" in attrs
        or attrs.get("aria-hidden", "").strip().lower() == "true"
        or "display:none" in attrs.get("style", "").replace(" ", "").lower()
    )


def _clean_html(markup: str) -> tuple[str, str | None]:
    """(HTML without navigation, banners, footers, sidebars, scripts, forms; its <title>)."""
    from lxml import etree, html

    markup = _XML_DECLARATION.sub("", markup)
    if not markup.strip():
        return "", None
    try:
        root = html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return "", None
    title_element = root.find(".//title")
    page_title = clean_line(title_element.text_content()) if title_element is not None else ""
    doomed = [
        e
        for e in root.iter()
        if isinstance(e.tag, str) and e.tag not in ("html", "body", "main") and _is_boilerplate(e)
    ]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()
    for element in root.iter(*_UNWRAP):
        element.tag = _UNWRAP[element.tag]
    if root.find(".//main") is None:
        # unstructured starts at <main>; many CMSs mark the content area with a role instead.
        for element in root.iterfind(".//*[@role='main']"):
            element.tag = "main"
            break
    return etree.tostring(root, encoding="unicode", method="html"), page_title or None


def _partition_html_text(path: Path, kind: str, markup: str) -> list[Any]:
    """unstructured elements of an HTML string (already cleaned)."""
    if not markup:
        return []
    return _partition(path, kind, "html", text=markup, languages=["eng"])


# -- Markdown -------------------------------------------------------------------------------------


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body) of a Markdown file; ParseError if the front matter is bad."""
    if not re.match(r"---[ \t]*\n", text):
        return {}, text
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ParseError(f"{path.name}: malformed front matter: no closing '---' line")
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ParseError(f"{path.name}: malformed front matter: {problem}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParseError(f"{path.name}: malformed front matter: expected 'key: value' lines")
    return data, text[match.end() :]


def _front_matter_groups(
    path: Path, meta: dict[str, Any], default: frozenset[str]
) -> frozenset[str]:
    """`groups:` from front matter (list or comma string), else the operator's default."""
    if "groups" not in meta:
        return default
    value = meta["groups"]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items: str | list[str] = value
    elif isinstance(value, str):
        items = value
    else:
        raise ParseError(f"{path.name}: front matter 'groups' must be a list or a comma string")
    try:
        groups = parse_groups(items)
    except HearthError as exc:
        raise ParseError(f"{path.name}: front matter 'groups': {exc.message}") from None
    if not groups:
        # Fail closed: an operator who wrote `groups:` meant to restrict this file.
        raise ParseError(f"{path.name}: front matter 'groups' is empty")
    return groups


def _loosen_lists(body: str) -> str:
    """A blank line before a list that directly follows a paragraph line (outside code fences).

    GitHub renders such a list; Python-Markdown would run it into the paragraph ("text: * a * b").
    """
    lines: list[str] = []
    in_fence = False
    for line in body.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        previous = lines[-1] if lines else ""
        if (
            not in_fence
            and _MD_LIST_ITEM.match(line)
            and previous.strip()
            and not previous[:1].isspace()
            and not _MD_LIST_ITEM.match(previous)
            and not previous.lstrip().startswith(("```", "~~~", "|", "#", ">"))
        ):
            lines.append("")
        lines.append(line)
    return "\n".join(lines)


def parse_markdown(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """A Markdown file. Front matter may set `title:` and `groups:` (overriding options.groups).

    Converted to HTML like unstructured's `partition_md` does (tables + fenced code, so markup in
    code blocks stays text), then through the same clean-up as HTML files, so raw `<details>` or
    `<figure>` blocks in the Markdown are kept instead of dropped.
    """
    import markdown

    # Newlines first: a CRLF file's front matter (and its `groups:`) must not be missed.
    text = read_text_file(path).replace("\r\n", "\n").replace("\r", "\n")
    meta, body = _front_matter(path, text)
    groups = _front_matter_groups(path, meta, options.groups)
    title_value = meta.get("title")
    if isinstance(title_value, dict | list):
        raise ParseError(f"{path.name}: front matter 'title' must be text")
    try:
        html = markdown.markdown(_loosen_lists(body), extensions=["tables", "fenced_code"])
    except Exception as exc:
        raise ParseError(
            f"{path.name}: cannot parse this Markdown file ({_reason(exc, path)})"
        ) from exc
    elements = _partition_html_text(path, "Markdown", _clean_html(html)[0])
    for element in elements:
        if element.category != "CodeSnippet":  # badge images left as text inside raw HTML
            element.text = _MD_IMAGE_LINK.sub("", _MD_IMAGE.sub("", element.text or ""))
    blocks = [
        b if b.depth is None else replace(b, text=clean_line(_EMOJI_SHORTCODE.sub("", b.text)))
        for b in _blocks(elements)
    ]
    explicit = clean_line(str(title_value)) if title_value is not None else None
    title, sections = build_sections(blocks, explicit, prettify_stem(path))
    return _document(path, doc_id, "markdown", title, sections, groups)


# -- HTML -----------------------------------------------------------------------------------------


def parse_html(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """An HTML page without its navigation, header, footer, sidebars, scripts and forms.

    Title: the page's only `<h1>` when `<title>` contains it (so "Leave | ACME Intranet" gives
    "Leave"), else `<title>`, else the first heading, else the file name.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path.name}: cannot read file ({exc.strerror or 'I/O error'})") from None
    cleaned, page_title = _clean_html(_decode_html(data))
    blocks = _blocks(_partition_html_text(path, "HTML", cleaned))
    h1s = [b for b in blocks if b.depth == 0]
    explicit = page_title
    if len(h1s) == 1 and (not page_title or h1s[0].text.casefold() in page_title.casefold()):
        explicit = h1s[0].text
    title, sections = build_sections(blocks, explicit, prettify_stem(path))
    return _document(path, doc_id, "html", title, sections, options.groups)


# -- DOCX -----------------------------------------------------------------------------------------


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


# -- PDF ------------------------------------------------------------------------------------------


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
        raise ParseError(f"{path.name}: no extractable text (scanned PDF?)")
    blocks = _blocks(elements, pdf=True)
    explicit = _pdf_metadata_title(path) or _pdf_title_heading(blocks)
    title, sections = build_sections(
        blocks, explicit, prettify_stem(path), paged=True, title_from_heading=False
    )
    if not sections:
        raise ParseError(f"{path.name}: no extractable text (scanned PDF?)")
    return _document(path, doc_id, "pdf", title, sections, options.groups)
