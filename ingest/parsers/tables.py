"""Tables as lines of text that can be read one at a time.

A table becomes one "cell | cell" line per row, and a chunk, a prompt or a quote often holds a
row without the header above it: "E3 | 52,000 - 64,000 | 55,000 - 67,000 | 38,000 - 48,000"
does not say which range is Berlin's, and the bundled model answered with Lisbon's. When the
first row is a header (the markup says so, or it names the columns of a table of figures),
every later row carries its column names instead: "Band: E3 | Paris (EUR): 52,000 - 64,000 |
Berlin (EUR): 55,000 - 67,000 | Lisbon (EUR): 38,000 - 48,000", and the header line goes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A cell that is a figure: it starts with a digit, after at most a sign, a currency or a bracket
# ("36,000 - 42,000", "+5%", "−4%", "€12", "(3)", "10:00").
_FIGURE_CELL = re.compile(r"^[\s+\-−–~≈<>≤≥(€$£]{0,3}\d")
_LONGEST_HEADER_CELL = 60


def table_lines(rows: Sequence[Sequence[str]], header: bool | None = None) -> list[str]:
    """Each row as one line; rows after a header row labelled with its column names.

    `header`: whether the first row is a header by the markup (`<th>`, `!` in wikitext);
    None when the markup does not say (DOCX): then it is one only if `looks_like_header`.
    Rows of another width than the header (merged cells) stay unlabelled.
    """
    cleaned = [[cell.strip() for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    first, body = cleaned[0], cleaned[1:]
    usable = bool(body) and all(first) and len(first) >= 2
    if header is None:
        header = looks_like_header(first, body)
    if not (header and usable):
        return [_line(row) for row in cleaned]
    names = [cell.rstrip(":").strip() for cell in first]
    return [
        _line([f"{name}: {cell}" for name, cell in zip(names, row, strict=True) if cell])
        if len(row) == len(names)
        else _line(row)
        for row in body
    ]


def looks_like_header(first: Sequence[str], body: Sequence[Sequence[str]]) -> bool:
    """A first row of short names, none a figure, over a column that is mostly figures: the
    shape of a table of figures. A table of words alone is left as it is: "Contact | Marta"
    over "Email | marta@…" is two records, and labelling them would say "Contact: Email"."""
    if not body or not all(first) or len(first) < 2:
        return False
    if any(_FIGURE_CELL.match(cell) or len(cell) > _LONGEST_HEADER_CELL for cell in first):
        return False
    rows = [row for row in body if len(row) == len(first)]
    return any(
        sum(bool(_FIGURE_CELL.match(row[column])) for row in rows) * 2 >= len(rows) > 0
        for column in range(len(first))
    )


def _line(cells: Sequence[str]) -> str:
    """Cells joined by " | ", without the empty cells at either end (they read as debris)."""
    start, end = 0, len(cells)
    while start < end and not cells[start]:
        start += 1
    while end > start and not cells[end - 1]:
        end -= 1
    return " | ".join(cells[start:end])
