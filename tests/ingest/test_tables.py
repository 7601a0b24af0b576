"""Table rows that can be read alone: labelled with their column names under a header row."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_mediawiki import one_doc

from ingest.parsers.base import ParseOptions
from ingest.parsers.tables import MAX_LABELLED_COLUMNS, looks_like_header, table_lines

BANDS = [
    ["Band", "Paris (EUR)", "Berlin (EUR)"],
    ["E1", "36,000 - 42,000", "38,000 - 44,000"],
    ["E3", "52,000 - 64,000", "55,000 - 67,000"],
]


def test_rows_under_a_marked_header_carry_its_column_names() -> None:
    assert table_lines(BANDS, header=True) == [
        "Band: E1 | Paris (EUR): 36,000 - 42,000 | Berlin (EUR): 38,000 - 44,000",
        "Band: E3 | Paris (EUR): 52,000 - 64,000 | Berlin (EUR): 55,000 - 67,000",
    ]


def test_without_a_header_rows_stay_cells_joined() -> None:
    assert table_lines(BANDS) == [
        "Band | Paris (EUR) | Berlin (EUR)",
        "E1 | 36,000 - 42,000 | 38,000 - 44,000",
        "E3 | 52,000 - 64,000 | 55,000 - 67,000",
    ]


def test_where_the_format_cannot_say_a_table_of_figures_gets_its_header() -> None:
    assert table_lines(BANDS, header=None)[0].startswith("Band: E1 | Paris (EUR): 36,000")
    revenue = [
        ["Office", "Q1 2026 (M EUR)", "Change"],
        ["Paris", "5.9", "+5%"],
        ["Total", "11.8", "−2%"],
    ]
    assert looks_like_header(revenue[0], revenue[1:])
    assert (
        table_lines(revenue, header=None)[1]
        == "Office: Total | Q1 2026 (M EUR): 11.8 | Change: −2%"
    )


@pytest.mark.parametrize(
    "rows",
    [
        [["Contact", "Marta", "Paris"], ["Email", "marta@example.org", "Lisbon"]],  # words only
        [["Phone", "4357", "IT"], ["Fax", "4358", "HR"]],  # the first row holds a figure
        [["Contact", "Marta Silva"], ["Extension", "4357"]],  # two columns: key | value records
        [["Monday", "Closed"], ["Tuesday", "9:00-17:00"], ["Wednesday", "9:00-17:00"]],
    ],
)
def test_a_guess_leaves_records_and_tables_of_words_as_they_are(rows: list[list[str]]) -> None:
    assert table_lines(rows, header=None) == [" | ".join(row) for row in rows]


def test_empty_cells_are_left_out_and_a_merged_row_keeps_the_header_line() -> None:
    rows = [
        ["Date", "Holiday", "Paris", "Berlin"],
        ["1 May", "Labour Day", "closed", ""],  # an empty cell is left out, not labelled
        ["Note: offices close at noon the day before"],  # a merged row of one cell
        ["", "", "", ""],
    ]
    assert table_lines(rows, header=True) == [
        "Date | Holiday | Paris | Berlin",  # kept: the merged row cannot carry the names
        "Date: 1 May | Holiday: Labour Day | Paris: closed",
        "Note: offices close at noon the day before",
    ]


@pytest.mark.parametrize(
    "first",
    [
        ["Office", ""],  # an empty name
        ["::", "Days"],  # nothing left of a name
        ["Office", "x" * 61],  # a note, not a name
        [f"c{i}" for i in range(MAX_LABELLED_COLUMNS + 1)],  # too wide to repeat on every row
        ["Office"],  # one column
    ],
)
def test_names_not_worth_repeating_label_nothing(first: list[str]) -> None:
    rows = [first, ["Paris"] + ["27"] * (len(first) - 1)]
    assert table_lines(rows, header=True) == [" | ".join(c for c in row if c) for row in rows]


def test_a_header_alone_and_an_empty_table() -> None:
    assert table_lines([["Office", "Days"]], header=True) == ["Office | Days"]
    assert table_lines([["Days:", "Office"], ["27", "Paris"]], header=True) == [
        "Days: 27 | Office: Paris"
    ]
    assert table_lines([]) == []


def test_a_docx_table_of_figures_is_read_row_by_row_with_its_header(tmp_path: Path) -> None:
    import docx

    from ingest.parsers.docx_files import parse_docx

    document = docx.Document()
    document.add_paragraph("Salary bands for 2026.")
    table = document.add_table(rows=len(BANDS), cols=len(BANDS[0]))
    for r, row in enumerate(BANDS):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.save(str(tmp_path / "bands.docx"))
    doc = parse_docx(tmp_path / "bands.docx", "bands.docx", ParseOptions())
    assert "Band: E3 | Paris (EUR): 52,000 - 64,000 | Berlin (EUR): 55,000 - 67,000" in doc.text
    assert "Band | Paris (EUR)" not in doc.text


def test_html_and_wikitext_label_only_under_a_marked_header(tmp_path: Path) -> None:
    from ingest.parsers.unstructured_files import parse_html

    page = tmp_path / "card.html"
    page.write_text(
        "<html><body><p>Contact card.</p><table>"
        "<tr><th>Office</th><td>Paris</td><td>Lisbon</td></tr>"  # header cells down a column
        "<tr><th>Days</th><td>27</td><td>25</td></tr>"
        "<tr><th>Carry-over</th><td>5</td><td>5</td></tr></table></body></html>"
    )
    assert (
        "Office | Paris | Lisbon\nDays | 27 | 25" in parse_html(page, "card", ParseOptions()).text
    )
    unmarked = "{|\n| Office || Days || Carry-over\n|-\n| Paris || 27 || 5\n|}"
    assert "Office | Days | Carry-over\nParis | 27 | 5" in one_doc(tmp_path, unmarked).text
    marked = "{|\n! Office !! Days !! Carry-over\n|-\n| Paris || 27 || 5\n|}"
    assert "Office: Paris | Days: 27 | Carry-over: 5" in one_doc(tmp_path, marked).text
