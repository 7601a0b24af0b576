"""Table rows that can be read alone: labelled with their column names under a header row."""

from __future__ import annotations

from pathlib import Path

from ingest.parsers.tables import looks_like_header, table_lines

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
    assert table_lines(BANDS, header=False) == [
        "Band | Paris (EUR) | Berlin (EUR)",
        "E1 | 36,000 - 42,000 | 38,000 - 44,000",
        "E3 | 52,000 - 64,000 | 55,000 - 67,000",
    ]


def test_when_the_markup_does_not_say_a_table_of_figures_gets_its_header() -> None:
    assert table_lines(BANDS)[0].startswith("Band: E1 | Paris (EUR): 36,000")
    revenue = [
        ["Office", "Q1 2026 (M EUR)", "Change"],
        ["Paris", "5.9", "+5%"],
        ["Total", "11.8", "−2%"],
    ]
    assert looks_like_header(revenue[0], revenue[1:])
    assert table_lines(revenue)[1] == "Office: Total | Q1 2026 (M EUR): 11.8 | Change: −2%"


def test_a_table_of_words_or_one_headed_by_a_figure_is_left_as_it_is() -> None:
    records = [["Contact", "Marta"], ["Email", "marta@example.org"], ["Room", "Douro"]]
    assert table_lines(records) == ["Contact | Marta", "Email | marta@example.org", "Room | Douro"]
    figures = [["Phone", "4357"], ["Fax", "4358"]]
    assert not looks_like_header(figures[0], figures[1:])
    assert table_lines(figures) == ["Phone | 4357", "Fax | 4358"]


def test_empty_cells_and_merged_rows() -> None:
    rows = [
        ["Date", "Holiday", "Paris", "Berlin"],
        ["1 May", "Labour Day", "closed", ""],  # an empty cell is left out, not labelled
        ["Note: offices close at noon the day before"],  # a merged row of one cell
        ["", "", "", ""],
    ]
    assert table_lines(rows, header=True) == [
        "Date: 1 May | Holiday: Labour Day | Paris: closed",
        "Note: offices close at noon the day before",
    ]


def test_a_header_with_an_empty_cell_or_nothing_under_it_labels_nothing() -> None:
    assert table_lines([["Office", ""], ["Paris", "27"]], header=True) == ["Office", "Paris | 27"]
    assert table_lines([["Office", "Days"]], header=True) == ["Office | Days"]
    assert table_lines([["Days:", "Office"], ["27", "Paris"]], header=True) == [
        "Days: 27 | Office: Paris"
    ]
    assert table_lines([]) == []


def test_a_docx_table_of_figures_is_read_row_by_row_with_its_header(tmp_path: Path) -> None:
    import docx

    from ingest.parsers.base import ParseOptions
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
