"""One sentence splitter for retrieval, prompts, quotes and attribution.

Retrieval scores each sentence of a passage, the prompt keeps the closest ones, a quote shows one
and attribution checks an answer sentence by sentence: all four must cut a text the same way,
and none may cut "Mr. Tyme", "St. John's Cathedral" or "e.g. 15" in two (the plain
"after . ! ? and a space" rule cut 130 of the SQuAD subset's 3,800 passage sentences so).
"""

from __future__ import annotations

import re

# A citation marker: [2], [1, 3], [doc 2], (source 4), full-width brackets too. It stays with
# the sentence it ends: "... 27 days. [1]" is one sentence.
_OPEN, _CLOSE = r"[\[［【〔]", r"[\]］】〕]"
_NUMS = r"\d+[a-z]?(?:\s*(?:,|;|-|–|and)\s*#?\d+[a-z]?)*"
_KEYWORD = r"(?:passages?|sources?|docs?|documents?|refs?|references?|citations?)"
MARKER_PATTERN = (
    rf"{_OPEN}\s*(?:{_KEYWORD}\s*)?(?:#\s*)?(?P<a>{_NUMS})\s*{_CLOSE}"
    rf"|\({_KEYWORD}\s*(?:#\s*)?(?P<b>{_NUMS})\)"
)
_END = re.compile(
    rf"(?:[.!?…]+|[。！？])[\"'”’)」』）]*(?:\s*(?:{MARKER_PATTERN}))*", re.IGNORECASE
)
_BULLET = re.compile(r"[ \t]*(?:[-*•+–]|#{1,6}|\d{1,3}[.)]|[a-z][.)])[ \t]+")
_LINE = re.compile(r"[^\n\r]+")
_OPENING_QUOTES = "\"“‘«'"
TABLE_CELLS = " | "  # how ingest joins a table row's cells (ingest/parsers/tables.py)
# A labelled cell as ingest writes one under a header row: "Amount (excl. VAT): 2,001 to 15,000"
_LABELLED_CELL = re.compile(r"\s*(?:[^:|\n]|:(?!\s)){1,60}:\s")  # "Time (hh:mm): 10:30" too
_LINE_ENDS = (".", "!", "?", "…", ":", ";", "。", "！", "？")
_PREV = re.compile(r"[\w.]+$")
_ABBREV = frozenset(
    "mr mrs ms dr prof sr jr st vs approx inc ltd co corp dept no fig cf al excl incl".split()
)


def _lines(text: str) -> list[tuple[int, int]]:
    """Line spans, a hard-wrapped line joined to the one it continues: a line that does not end
    a sentence, followed by one that starts in lower case or with an opening quote and is no
    list item ("the desk booking tool is used on Mondays / and Thursdays", 'Visitors use /
    "Emberline-Guest".' in a wrapped text file). A capital may start a heading's paragraph. A
    table row ("year: 2021 | count: 7", cells joined by " | ") is a line of its own."""
    lines: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start, stop = line.span()
        body = line.group().lstrip()
        previous = text[lines[-1][0] : lines[-1][1]] if lines else ""
        if (
            lines
            and body
            and (body[0].islower() or body[0] in _OPENING_QUOTES)
            and not _BULLET.match(line.group())
            and TABLE_CELLS not in body
            and TABLE_CELLS not in previous
            and not previous.rstrip().endswith(_LINE_ENDS)
        ):
            lines[-1] = (lines[-1][0], stop)
        else:
            lines.append((start, stop))
    return lines


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans: lines (list bullets skipped, wrapped lines joined) cut after . ! ? unless
    an abbreviation, a decimal or a lower-case continuation says otherwise; trailing markers
    stay attached. A labelled table row is never cut."""
    spans: list[tuple[int, int]] = []
    for pos, stop in _lines(text):
        bullet = _BULLET.match(text, pos, stop)
        pos = bullet.end() if bullet else pos
        if is_table_row(text[pos:stop]):  # a labelled row is one statement, whatever its cells
            spans.append((pos, stop))  # hold ("Amount (excl. VAT): Up to 2,000 EUR | …")
        else:
            spans.extend(_cut(text, pos, stop))
    pieces = ((start, text[start:end]) for start, end in spans)
    trimmed = [(s + len(t) - len(t.lstrip()), s + len(t.rstrip())) for s, t in pieces]
    return [(start, end) for start, end in trimmed if start < end]


def _cut(text: str, pos: int, stop: int) -> list[tuple[int, int]]:
    """One line's sentences."""
    spans: list[tuple[int, int]] = []
    for m in _END.finditer(text, pos, stop):
        cut = m.end()
        if cut < stop and not text[cut].isspace() and m.group()[0] not in "。！？":
            continue
        rest = text[cut : min(stop, cut + 8)].lstrip()
        if rest and rest[0].islower():
            continue
        prev = _PREV.search(text, max(pos, m.start() - 24), m.start())
        word = prev.group().casefold() if prev else ""
        if m.group()[0] == "." and (
            (word in _ABBREV and (word != "no" or rest[:1].isdigit()))  # "No. 13", not "No."
            or (len(word) == 1 and word.isalpha())
            or ("." in word and word.replace(".", "").isalpha())
        ):
            continue
        spans.append((pos, cut))
        pos = cut
    spans.append((pos, stop))
    return spans


def is_table_row(line: str) -> bool:
    """Whether a line is a labelled table row as ingest writes it: cells joined by " | ", each
    "name: value". Prose that holds a bar ("the language {xx | x is any binary string}", "run
    `ps aux | grep hearth`. Then …") has cells without a name; so do the rows of a table
    without a header, which are cut as prose."""
    cells = line.split(TABLE_CELLS)
    return len(cells) > 1 and all(_LABELLED_CELL.match(cell) for cell in cells)


def sentences(text: str) -> list[str]:
    """The sentences of a text, as `sentence_spans` cuts it."""
    return [text[start:end] for start, end in sentence_spans(text)]


def is_question(text: str) -> bool:
    """Whether a sentence is a question (its closing quotes and brackets aside)."""
    return text.rstrip().rstrip("\"'”’)*_").endswith(("?", "？"))
