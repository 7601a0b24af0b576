"""Plain-text files, and the text and section building every file parser shares.

`parse_text` turns a `.txt` file into one `Document`: a single section, or one section per
Markdown-style `#` heading when the file has them. The helpers are used by the unstructured-based
parsers too, so every format comes out the same way: `clean_text` (NFC, no control characters
except newline and tab, at most one blank line in a row, ligatures spelled out, common
UTF-8-read-as-Latin-1 mojibake such as "â€™" repaired) and `build_sections` (a flat run of
heading and text `Block`s -> title + nested heading-path `Section`s).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.errors import EmptyDocumentError, ParseError
from index.types import Document, Section
from ingest.parsers.base import ParseOptions

MAX_NON_ASCII_LETTERS = 0.3  # of a text's letters, for it to read as Windows-1252
# Control characters except \t and \n (\r is turned into \n first); C1 controls too.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# A UTF-8 lead byte read as Latin-1/cp1252, then as many continuation "bytes" as it needs
# (U+0080-U+00BF in Latin-1, or the cp1252 characters that stand in for 0x80-0x9F).
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_CONT = f"[\u0080-\u00bf{_CP1252_HIGH}]"
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00df]{_CONT}|[\u00e0-\u00ef]{_CONT}{{2}}|[\u00f0-\u00f4]{_CONT}{{3}}"
)
# Typographic ligatures (ﬁ, ﬂ, ...) as PDFs often extract them: spelled out, so "unified" matches.
_LIGATURES = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_MAX_TITLE = 80
# Whole lines of web-page chrome that text copied or printed from a wiki page carries along
# (MediaWiki's Vector skin: "Toggle the table of contents", the "Retrieved from" footer).
_PAGE_CHROME = re.compile(
    r"^[ \t]*(?:toggle (?:the )?(?:table of contents|limited content width|navigation|"
    r"sidebar|menu)|jump to (?:navigation|search|content)|skip to (?:main )?content|"
    r"move to sidebar|hide|edit links|from wikipedia, the free encyclopedia|"
    r"retrieved from \S+|this page was last edited on .{0,80})[ \t]*$\n?",
    re.I | re.M,
)


def _byte_of(char: str) -> int | None:
    """The single byte that `char` stands for in cp1252 (else Latin-1), or None."""
    try:
        return char.encode("cp1252")[0]
    except UnicodeEncodeError:
        return ord(char) if ord(char) < 256 else None


def _unmojibake(match: re.Match[str]) -> str:
    raw = [_byte_of(c) for c in match.group(0)]
    if None in raw:
        return match.group(0)
    data = bytes(b for b in raw if b is not None)
    try:
        fixed = data.decode("utf-8")
    except UnicodeDecodeError:
        return match.group(0)
    # Only a single, complete character counts as a repair; anything else is left alone.
    return fixed if len(fixed) == 1 else match.group(0)


def repair_mojibake(text: str) -> str:
    """Repair text that was UTF-8, decoded as Latin-1/cp1252 and encoded again ("â€™" -> "’").

    Uses `ftfy` when it is installed; otherwise a cheap, conservative regex that only rewrites a
    sequence when it decodes to exactly one UTF-8 character.
    """
    ftfy = _ftfy()
    if ftfy is None:
        return _MOJIBAKE.sub(_unmojibake, text)
    return str(ftfy.fix_text(text, normalization="NFC"))


@functools.cache
def _ftfy() -> Any:
    """The `ftfy` module, or None; looked up once, since a failed import is not cached by Python
    and searching sys.path again for every text block cost a third of parsing a folder."""
    try:
        import ftfy
    except ImportError:
        return None
    return ftfy


def clean_text(text: str) -> str:
    """Normalise extracted text: mojibake repaired, NFC, ligatures spelled out, no control
    characters, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = repair_mojibake(text)  # before stripping C1 controls: mojibake is made of them
    text = _CONTROL.sub("", text).translate(_LIGATURES)
    text = unicodedata.normalize("NFC", text)  # last: removals can leave composable pairs
    text = text.replace("\u00a0", " ")
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


def clean_line(text: str) -> str:
    """`clean_text` for a one-line value (a title or heading): whitespace collapsed to spaces."""
    return " ".join(clean_text(text).split())


def prettify_stem(path: Path) -> str:
    """A readable title from a file name: "annual-leave_policy.pdf" -> "Annual leave policy"."""
    words = re.sub(r"[-_.\s]+", " ", path.stem).strip()
    if not words:
        return path.name
    return words[0].upper() + words[1:]


def file_modified(path: Path) -> datetime:
    """The file's modification time as an aware UTC datetime."""
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


# Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)
# Bytes text never holds but binary data is full of: C0 controls but tab, newlines, form feed
# and escape (ANSI colours in logs).
_BINARY_BYTES = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27}))
BINARY_PROBE_BYTES = 8192
MAX_CONTROL_SHARE = 0.05


def decode_unicode(data: bytes, name: str) -> str | None:
    """The bytes decoded by their byte-order mark (dropped), or as UTF-16 when every other byte
    is NUL (Western text saved without a BOM); None for other text, which the caller decodes
    its own way; ParseError for binary data. Notepad and PowerShell save UTF-16 with a BOM,
    which read as UTF-8 became "ÿþD\x00i\x00e"."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    head = data[:BINARY_PROBE_BYTES]
    even, odd = head[0::2], head[1::2]
    if len(head) >= 8:
        for nuls, letters, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
            if nuls.count(0) >= 0.9 * len(nuls) and letters.count(0) <= 0.1 * len(letters):
                return data.decode(codec, errors="replace")
    _refuse_binary(data, name)
    return None


def _refuse_binary(data: bytes, name: str) -> None:
    """ParseError for bytes that are not text (read without a byte-order mark): a random or
    compiled file renamed .md was stored as hundreds of chunks of replacement characters."""
    head = data[:BINARY_PROBE_BYTES]
    controls = len(head) - len(head.translate(None, _BINARY_BYTES))
    if controls > 1 and controls > MAX_CONTROL_SHARE * len(head):
        raise ParseError(
            f"{name}: not text: {controls / len(head):.0%} of its first bytes are control "
            "characters (binary data, or UTF-16 without a byte-order mark)"
        )


def read_text_file(path: Path) -> str:
    """The file decoded by its byte-order mark (or as the UTF-16 it is), else as UTF-8, else in
    the legacy encoding it is in; binary data is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path.name}: cannot read file ({exc.strerror or 'I/O error'})") from None
    decoded = decode_unicode(data, path.name)
    if decoded is not None:
        return decoded
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_legacy(data)


def decode_legacy(data: bytes) -> str:
    """Bytes that are not UTF-8, decoded as what they most likely are.

    Decoded as UTF-8 with replacement, a Windows-1252 note lost every accent ("R\ufffdsum\ufffd des
    cong\ufffds"). Most such files are Windows-1252 (Western European), and it is taken when it
    reads as such: few of the letters are non-ASCII (French or German text has a few percent;
    Cyrillic bytes read as 1252 are all "Îòïóñê"). Otherwise charset-normalizer guesses (it
    misreads short Western text, hence the rule first); without a guess, UTF-8 with U+FFFD."""
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:  # one of the five bytes cp1252 leaves undefined
        western = None
    if western is not None:
        letters = [c for c in western if c.isalpha()]
        foreign = sum(not c.isascii() for c in letters)
        if letters and foreign <= MAX_NON_ASCII_LETTERS * len(letters):
            return western
    from charset_normalizer import from_bytes  # only for the rare file that needs it

    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Block:
    """One piece of extracted text, in reading order: a heading (`depth` set) or body text.

    `depth` 0 is a top-level heading; `page` is the 1-based page for paged formats; list items
    are joined to their neighbours by a single newline instead of a blank line.
    """

    text: str
    depth: int | None = None
    page: int | None = None
    is_list: bool = False


def _title_and_dropped(
    blocks: Sequence[Block], explicit: str | None, fallback: str, from_heading: bool
) -> tuple[str, int | None]:
    """The document title, and the index of the heading block that *is* the title (if any).

    An explicit title (front matter, <title>, "Title" style, PDF metadata) wins; the first
    heading is dropped from the heading paths when it merely repeats it. Otherwise (if
    `from_heading`) the first heading is the title when no later heading is as shallow (one h1
    over h2s); a document with several top-level headings is named after its file instead of
    its first chapter.
    """
    heads = [(i, b.depth) for i, b in enumerate(blocks) if b.depth is not None]
    if explicit:
        if heads and blocks[heads[0][0]].text.casefold() == explicit.casefold():
            return explicit, heads[0][0]
        return explicit, None
    if from_heading and heads and all(depth > heads[0][1] for _, depth in heads[1:]):
        return blocks[heads[0][0]].text, heads[0][0]
    return fallback, None


def _is_empty_heading(blocks: Sequence[Block], index: int) -> bool:
    """A heading with neither text nor sub-headings after it (e.g. a signature a PDF called a
    heading); it is kept as text rather than lost."""
    depth = blocks[index].depth
    if depth is None:
        return False
    following = blocks[index + 1] if index + 1 < len(blocks) else None
    return following is None or (following.depth is not None and following.depth <= depth)


def build_sections(
    blocks: Sequence[Block],
    explicit_title: str | None,
    fallback_title: str,
    *,
    paged: bool = False,
    title_from_heading: bool = True,
) -> tuple[str, list[Section]]:
    """(title, sections): consecutive body blocks grouped under the current heading path.

    Headings nest by depth (a heading closes every open heading at its depth or deeper). With
    `paged`, a new section also starts at each page change and carries `page` and the anchor
    "page=N".
    """
    title_text = (explicit_title or "").casefold()
    blocks = [
        replace(block, depth=None)
        if _is_empty_heading(blocks, i) and block.text.casefold() != title_text
        else block
        for i, block in enumerate(blocks)
    ]
    title, dropped = _title_and_dropped(blocks, explicit_title, fallback_title, title_from_heading)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    parts: list[str] = []
    page: int | None = None
    previous_list = False

    def flush() -> None:
        text = clean_text("".join(parts))
        if text:
            sections.append(
                Section(
                    heading_path=tuple(heading for _, heading in stack),
                    text=text,
                    anchor=f"page={page}" if paged and page is not None else None,
                    page=page if paged else None,
                )
            )
        parts.clear()

    for index, block in enumerate(blocks):
        if paged and block.page != page:
            flush()
            page = block.page
        if block.depth is not None:
            flush()
            while stack and stack[-1][0] >= block.depth:
                stack.pop()
            if index != dropped and block.text:
                stack.append((block.depth, block.text))
            continue
        if block.text:
            parts.append(("\n" if block.is_list and previous_list else "\n\n") + block.text)
            previous_list = block.is_list
    flush()
    return title, sections


def _text_blocks(text: str) -> list[Block]:
    """Blocks of a plain-text file: Markdown-style `#` headings (outside fenced code) and text."""
    blocks: list[Block] = []
    buffer: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        blocks.append(Block("\n".join(buffer)))
        buffer.clear()
        blocks.append(Block(clean_line(match.group(2)), depth=len(match.group(1)) - 1))
    blocks.append(Block("\n".join(buffer)))
    return blocks


def parse_text(path: Path, doc_id: str, options: ParseOptions) -> Document:
    """A plain-text file as one Document.

    Lines that are only web-page chrome ("Toggle the table of contents", 'Retrieved from
    "https://..."') are dropped. Title: the first non-empty line when it is short (< 80
    characters), else the prettified file name. One section with an empty heading path, unless
    the file uses Markdown-style `#` headings, in which case it is split at them.
    """
    raw = read_text_file(path)
    text = clean_text(_PAGE_CHROME.sub("", clean_text(raw)))
    if not text and raw.strip() and not _CONTROL.sub("", raw).strip():
        # NULs and other controls alone, as a crash can leave a file: damaged, not empty
        raise ParseError(f"{path.name}: holds only control characters")
    if not text:
        raise EmptyDocumentError(f"{path.name}: the file is empty")
    first_line = text.split("\n", 1)[0].strip()
    title = clean_line(first_line.lstrip("#")) if len(first_line) < _MAX_TITLE else ""
    title, sections = build_sections(_text_blocks(text), title or prettify_stem(path), "")
    return Document(
        id=doc_id,
        source=str(path),
        title=title,
        kind="text",
        sections=tuple(sections),
        groups=options.groups,
        modified=file_modified(path),
        url=None,
        content_hash="",
    )
