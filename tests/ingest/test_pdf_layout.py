"""PDF layout repair on `fast` elements: numbered section headings and tables of Title lines."""

from __future__ import annotations

from pathlib import Path

from unstructured.documents.elements import (
    ElementMetadata,
    Footer,
    Header,
    ListItem,
    NarrativeText,
    Title,
)

from ingest.parsers.base import ParseOptions
from ingest.parsers.elements import _blocks
from ingest.parsers.pdf_layout import pdf_structure
from ingest.parsers.unstructured_files import parse_pdf

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def on_page(page: int, *elements):
    for element in elements:
        element.metadata = ElementMetadata(page_number=page)
    return list(elements)


def shape(elements) -> list[tuple[str, str]]:
    return [(e.category, e.text) for e in elements]


def test_numbered_section_headings_become_titles_but_numbered_lists_stay_lists():
    elements = on_page(
        1,
        Title("Travel policy"),
        ListItem("1. Purpose and principles"),
        NarrativeText("Every euro spent on travel is our own money."),
        ListItem("2. Choosing how to travel"),
        ListItem("Rail first, whenever the journey is short."),
        ListItem("3. Steps"),
        ListItem("1. Ask"),
        ListItem("2. Book"),
        ListItem("4. Approval of every trip by the line manager, in writing, before booking."),
    )
    assert shape(pdf_structure(elements)) == [
        ("Title", "Travel policy"),
        ("Title", "1. Purpose and principles"),
        ("NarrativeText", "Every euro spent on travel is our own money."),
        ("Title", "2. Choosing how to travel"),
        ("ListItem", "Rail first, whenever the journey is short."),
        ("ListItem", "3. Steps"),  # next to a numbered item: part of a list
        ("ListItem", "1. Ask"),
        ("ListItem", "2. Book"),
        # a sentence, not a heading
        ("ListItem", "4. Approval of every trip by the line manager, in writing, before booking."),
    ]


def test_a_run_of_title_lines_is_a_table_row_by_row_not_a_cascade_of_headings():
    figures = [Title(t) for t in ("City", "Maximum per night", "Paris", "190 EUR", "Berlin")]
    words = [Title(t) for t in ("Level", "Meaning", "Public", "Anyone", "Internal", "Staff")]
    elements = on_page(
        2,
        Title("4. Accommodation"),
        NarrativeText("The maximum price per night is:"),
        *figures,
        Title("150 EUR"),
        Title("Elsewhere"),
        ListItem(""),  # `fast` leaves an empty element for a blank cell
        NarrativeText("Book the cheapest reasonable option."),
        Title("Outcome"),
        Title("No action"),  # two in a row: a heading and its sub-heading may be
        NarrativeText("Nothing is kept on file."),
        *words,
        NarrativeText("When in doubt, choose the higher level."),
        Title("Level"),
        Title("Kept for"),
        Title("12 months"),  # three in a row holding a number: a table
        Footer("Page 2"),
    )
    assert shape(pdf_structure(elements)) == [
        ("Title", "4. Accommodation"),
        ("NarrativeText", "The maximum price per night is:"),
        (
            "UncategorizedText",
            "City: Maximum per night\nParis: 190 EUR\nBerlin: 150 EUR\nElsewhere",
        ),
        ("NarrativeText", "Book the cheapest reasonable option."),
        ("Title", "Outcome"),
        ("Title", "No action"),
        ("NarrativeText", "Nothing is kept on file."),
        ("UncategorizedText", "Level | Meaning | Public | Anyone | Internal | Staff"),
        ("NarrativeText", "When in doubt, choose the higher level."),
        ("UncategorizedText", "Level | Kept for | 12 months"),
        ("Footer", "Page 2"),
    ]


def test_title_lines_opening_the_document_are_its_cover_and_a_run_stops_at_the_page_end():
    cover = on_page(1, Header("Annual report"), *(Title(t) for t in ("2025", "We care", "A", "B")))
    later = on_page(2, Title("Appendix"), Title("Notes"))
    assert [c for c, _ in shape(pdf_structure([*cover, *later]))] == ["Header"] + ["Title"] * 6


def test_the_corpus_travel_policy_keeps_its_sections_and_its_table_rows():
    path = CORPUS / "policies" / "travel-and-expense-policy.pdf"
    document = parse_pdf(path, "travel.pdf", ParseOptions())
    headings = [s.heading_path for s in document.sections]
    assert ("4. Accommodation",) in headings and ("7. Using your own car",) in headings
    assert not [h for h in headings if h and h[-1].endswith(" EUR")]  # no amount as a heading
    (accommodation,) = [s for s in document.sections if s.heading_path == ("4. Accommodation",)]
    assert "\nBerlin: 150 EUR\n" in accommodation.text and accommodation.page == 2


def test_sentences_of_text_boxes_run_together_are_parted_and_nothing_else_is():
    glued = NarrativeText(
        "Big dreams for growth.Shri Mukesh Ambani spoke. See e.g.The plan, v2.Final."
    )
    (block,) = _blocks(on_page(1, glued), pdf=True)
    assert (
        block.text == "Big dreams for growth. Shri Mukesh Ambani spoke. See e.g.The plan, v2.Final."
    )
    (untouched,) = _blocks([NarrativeText("It grew.Shri")])  # other formats are left alone
    assert untouched.text == "It grew.Shri"


def test_a_line_break_inside_a_compound_the_document_writes_elsewhere_keeps_its_hyphen():
    """multi-column.pdf gave "opendomain" and "dualencoder" (docs/INGEST-QUALITY.md, round 6):
    every "- " between letters was joined, so a search for "open-domain" missed them."""
    elements = on_page(
        1,
        NarrativeText("We train a dual-encoder for open-domain question answering."),
        NarrativeText("The dual- encoder beats BM25 on Open- domain QA; its distribu- tion is"),
    )
    texts = [block.text for block in _blocks(elements, pdf=True)]
    assert texts[1] == "The dual-encoder beats BM25 on Open-domain QA; its distribution is"
