"""Markdown files to `Document`s: front matter (`title:`, `groups:`), headings, tables, code.

Rendered to HTML like unstructured's `partition_md` does (tables + fenced code, so markup in
code blocks stays text), then cleaned and partitioned like an HTML page (html_files.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from index.errors import HearthError, ParseError
from index.types import Document, parse_groups
from ingest import strict_yaml
from ingest.parsers.base import ParseOptions
from ingest.parsers.elements import _blocks, _document
from ingest.parsers.html_files import _clean_html, _partition_html_text
from ingest.parsers.text import build_sections, clean_line, prettify_stem, read_text_file
from ingest.parsers.unstructured_runtime import _reason

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)
_TOML_FRONT_MATTER = re.compile(r"\A\+\+\+[ \t]*\n(.*?)^\+\+\+[ \t]*$\n?", re.S | re.M)
_NAMES_GROUPS = re.compile(r"^\s*groups?\s*:", re.IGNORECASE | re.MULTILINE)
_LEADING_BLANKS = re.compile(r"\A\ufeff?(?:[ \t]*\n)*")
_EMOJI_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_MD_LIST_ITEM = re.compile(r"^ {0,3}(?:[*+-]|\d{1,3}[.)])[ \t]+\S")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)\s]*\)")
_MD_IMAGE_LINK = re.compile(r"\[\s*\]\([^)\s]*\)")  # what is left of [![badge](img)](link)


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body) of a Markdown file; ParseError if the front matter is bad.
    YAML between `---` lines (blank lines before it allowed: with them, it was read as text
    and the file was public) or TOML between `+++` lines (Hugo's)."""
    start = _LEADING_BLANKS.match(text)
    head = text[start.end() if start else 0 :]
    if re.match(r"\+\+\+[ \t]*\n", head):
        return _toml_front_matter(path, head)
    if not re.match(r"---[ \t]*\n", head):
        return {}, text
    after_blank_lines = head != text.removeprefix("\ufeff")
    found = _yaml_front_matter(path, head, lenient=after_blank_lines)
    return found if found is not None else ({}, text)


def _yaml_front_matter(
    path: Path, head: str, lenient: bool = False
) -> tuple[dict[str, Any], str] | None:
    """The YAML block at the start of `head`; `lenient` (after blank lines, where `---` may be
    a rule around ordinary text such as "**Note:** …"): None when it has no closing line, is
    not a mapping, or does not parse and names no groups. A block that names groups and has an
    error is refused either way: taken for text, its file was public."""
    match = _FRONT_MATTER.match(head)
    if match is None and lenient:
        return None
    if match is None:
        raise ParseError(f"{path.name}: malformed front matter: no closing '---' line")
    if lenient and not _NAMES_GROUPS.search(match.group(1)):
        try:
            data = strict_yaml.load(match.group(1))
        except yaml.YAMLError:
            return None
        return (data, head[match.end() :]) if isinstance(data, dict) else None
    try:
        data = strict_yaml.load(match.group(1))
    except strict_yaml.DuplicateKeyError as exc:
        raise ParseError(f"{path.name}: malformed front matter: sets {exc.key!r} twice") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ParseError(f"{path.name}: malformed front matter: {problem}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        if lenient:
            return None
        raise ParseError(f"{path.name}: malformed front matter: expected 'key: value' lines")
    return data, head[match.end() :]


def _toml_front_matter(path: Path, head: str) -> tuple[dict[str, Any], str]:
    match = _TOML_FRONT_MATTER.match(head)
    if match is None:
        raise ParseError(f"{path.name}: malformed front matter: no closing '+++' line")
    try:
        return tomllib.loads(match.group(1)), head[match.end() :]
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"{path.name}: malformed TOML front matter: {exc}") from None


def _front_matter_groups(
    path: Path, meta: dict[str, Any], default: frozenset[str]
) -> frozenset[str]:
    """`groups:` from front matter (list or comma string), else the operator's default."""
    key = _groups_key(path, meta)
    if key is None:
        return default
    value = meta[key]
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


def _groups_key(path: Path, meta: dict[str, Any]) -> str | None:
    """The front-matter key that sets the groups: `groups` in any case, or `group`. A near miss
    (`gruops:`) is refused rather than ignored: ignored, it left the file public."""
    keys = [k for k in meta if isinstance(k, str) and k.strip().casefold() in ("groups", "group")]
    if len(keys) > 1:
        raise ParseError(f"{path.name}: front matter sets the groups twice ({', '.join(keys)})")
    if keys:
        return keys[0]
    for key in meta:
        if isinstance(key, str) and get_close_matches(key.casefold(), ["groups"], cutoff=0.81):
            raise ParseError(
                f"{path.name}: front matter key {key!r} is not 'groups' (write groups: [hr]); "
                "the file is left out rather than made public"
            )
    return None


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
