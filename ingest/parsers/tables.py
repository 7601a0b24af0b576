"""Tables as lines of text that can be read one at a time.

A table becomes one "cell | cell" line per row, and a chunk, a prompt or a quote often holds a
row without the header above it: "E3 | 52,000 - 64,000 | 55,000 - 67,000 | 38,000 - 48,000"
does not say which range is Berlin's, and the bundled model answered with Lisbon's. When the
first row is a header (the markup says so; for DOCX, whose tables reach us unmarked, when it
names the columns of a table of figures), every later row carries its column names instead:
"Band: E3 | Paris (EUR): 52,000 - 64,000 | Berlin (EUR): 55,000 - 67,000 | Lisbon (EUR):
38,000 - 48,000", and the header line goes unless some row could not be labelled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.sentences import TABLE_CELLS

# A cell that is a figure: it starts with a digit, after at most a sign, a currency or a bracket
# ("36,000 - 42,000", "+5%", "−4%", "€12", "(3)", "10:00").
_FIGURE_CELL = re.compile(r"^[\s+\-−–~≈<>≤≥(€$£]{0,3}\d")
MAX_NAME_CHARS = 60  # a longer header cell is a note, not a column name
MAX_LABELLED_COLUMNS = 12  # wider tables would repeat their header many times over per row
MIN_GUESSED_COLUMNS = 3  # two unmarked columns are as often key | value records


def table_lines(rows: Sequence[Sequence[str]], header: bool | None = False) -> list[str]:
    """Each row as one line; rows after a header row labelled with its column names.

    `header`: whether the markup says the first row is a header (`<th>`, `!` in wikitext), or
    None where the format cannot say (DOCX): then `looks_like_header` decides. Rows of another
    width than the header (merged cells) stay unlabelled, and then the header line stays too.
    """
    cleaned = [[cell.strip() for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    first, body = cleaned[0], cleaned[1:]
    names = [cell.rstrip(":").strip() for cell in first]
    if header is None:
        header = len(first) >= MIN_GUESSED_COLUMNS and looks_like_header(first, body)
    if not (header and body and _usable_names(names)):
        return [_line(row) for row in cleaned]
    labelled = [
        _line([f"{name}: {cell}" for name, cell in zip(names, row, strict=True) if cell])
        if len(row) == len(names)
        else None
        for row in body
    ]
    kept_header = [_line(first)] if None in labelled else []
    return kept_header + [
        line if line is not None else _line(row) for line, row in zip(labelled, body, strict=True)
    ]


def looks_like_header(first: Sequence[str], body: Sequence[Sequence[str]]) -> bool:
    """A first row of short names, none a figure, over a column that is mostly figures: the
    shape of a table of figures. A table of words alone is left as it is: "Contact | Marta"
    over "Email | marta@…" is two records, and labelling them would say "Contact: Email"."""
    if not body or not _usable_names(first) or any(_FIGURE_CELL.match(cell) for cell in first):
        return False
    rows = [row for row in body if len(row) == len(first)]
    return any(
        sum(bool(_FIGURE_CELL.match(row[column])) for row in rows) * 2 >= len(rows) > 0
        for column in range(len(first))
    )


def _usable_names(names: Sequence[str]) -> bool:
    """Column names worth repeating on every row: two to MAX_LABELLED_COLUMNS of them, none
    empty or long."""
    return 2 <= len(names) <= MAX_LABELLED_COLUMNS and all(
        name and len(name) <= MAX_NAME_CHARS for name in names
    )


def _line(cells: Sequence[str]) -> str:
    """Cells joined by " | ", without the empty cells at either end (they read as debris)."""
    start, end = 0, len(cells)
    while start < end and not cells[start]:
        start += 1
    while end > start and not cells[end - 1]:
        end -= 1
    return TABLE_CELLS.join(cells[start:end])
