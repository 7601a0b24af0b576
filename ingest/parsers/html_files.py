"""HTML pages to `Document`s without their navigation, banners, footers, sidebars and scripts.

The page is cleaned with lxml first (boilerplate tags, ARIA roles and classes dropped; the
`<figure>`/`<details>` unstructured would drop whole are unwrapped), then partitioned by
unstructured. Markdown goes through the same clean-up after rendering (markdown_files.py).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from index.errors import ParseError
from index.types import Document
from ingest.parsers.base import ParseOptions
from ingest.parsers.elements import _blocks, _document
from ingest.parsers.text import (
    build_sections,
    clean_line,
    decode_unicode,
    prettify_stem,
)
from ingest.parsers.unstructured_runtime import _partition

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


def _decode_html(data: bytes, name: str) -> str:
    """HTML bytes as text: by BOM, else <meta charset>, else UTF-8 (bad bytes replaced);
    binary data is refused."""
    decoded = decode_unicode(data, name)
    if decoded is not None:
        return decoded
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
        or _hidden_by_style(attrs.get("style", ""))
    )


# Inline styles that hide text from a reader while leaving it in the markup: the classic way to
# plant instructions for a model in a page (hardening row 5).
_HIDING_STYLE = re.compile(
    r"(?:^|;)(?:display:none|visibility:hidden|opacity:0(?:\.0+)?(?:;|$)"
    r"|font-size:0(?:\.0+)?(?:px|pt|em|rem|%)?(?:;|$))"
)
_STYLE_COLOR = re.compile(r"(?:^|;)(background(?:-color)?|color):([^;!]+)")


def _hidden_by_style(style: str) -> bool:
    """Whether an inline style hides its text: display/visibility/opacity/zero font size, or
    the same colour for text and background (white on white)."""
    compact = style.replace(" ", "").lower()
    if _HIDING_STYLE.search(compact):
        return True
    colours = dict(_STYLE_COLOR.findall(compact))
    background = colours.get("background-color") or colours.get("background")
    return background is not None and colours.get("color") == background


@functools.cache
def _deep_html_parser() -> Any:
    """lxml's HTML parser without libxml2's limit of 256 levels of nesting: a generated page
    nested deeper lost its text and was reported as an empty file."""
    from lxml import html

    return html.HTMLParser(huge_tree=True)


def _clean_html(markup: str) -> tuple[str, str | None]:
    """(HTML without navigation, banners, footers, sidebars, scripts, forms; its <title>)."""
    from lxml import etree, html

    markup = _XML_DECLARATION.sub("", markup)
    if not markup.strip():
        return "", None
    try:
        root = html.document_fromstring(markup, parser=_deep_html_parser())
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
    _flatten_deep(root)
    return etree.tostring(root, encoding="unicode", method="html"), page_title or None


MAX_HTML_DEPTH = 128
_CONTAINERS = frozenset({"div", "span", "section", "article", "font", "center"})


def _flatten_deep(root: Any) -> None:
    """Unwrap plain containers nested deeper than MAX_HTML_DEPTH, keeping their content:
    unstructured's parser stops at 256 levels, and a page nested deeper came out empty."""
    from lxml import etree

    depth, deep = 0, []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if event == "start" and depth > MAX_HTML_DEPTH and element.tag in _CONTAINERS:
            deep.append(element)
    for element in deep:
        element.drop_tag()


def _partition_html_text(path: Path, kind: str, markup: str) -> list[Any]:
    """unstructured elements of an HTML string (already cleaned)."""
    if not markup:
        return []
    return _partition(path, kind, "html", text=markup, languages=["eng"])


def parse_html(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """An HTML page without its navigation, header, footer, sidebars, scripts and forms.

    Title: the page's only `<h1>` when `<title>` contains it (so "Leave | ACME Intranet" gives
    "Leave"), else `<title>`, else the first heading, else the file name.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path.name}: cannot read file ({exc.strerror or 'I/O error'})") from None
    cleaned, page_title = _clean_html(_decode_html(data, path.name))
    blocks = _blocks(_partition_html_text(path, "HTML", cleaned))
    h1s = [b for b in blocks if b.depth == 0]
    explicit = page_title
    if len(h1s) == 1 and (not page_title or h1s[0].text.casefold() in page_title.casefold()):
        explicit = h1s[0].text
    title, sections = build_sections(blocks, explicit, prettify_stem(path))
    return _document(path, doc_id, "html", title, sections, options.groups)
