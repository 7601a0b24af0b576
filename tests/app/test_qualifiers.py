"""Which office, level or tier a question singles out, and which source rows are another's."""

from __future__ import annotations

import pytest

from app.qualifiers import Rows, asked_qualifiers


def keys(question: str) -> list[str]:
    return [q.key for q in asked_qualifiers(question)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much is the daily meal voucher in Paris?", ["paris"]),
        ("How quickly must a SEV2 page be acknowledged?", ["sev 2"]),
        ("What's the first response time for a P2 ticket at the IT help desk?", ["p 2"]),
        ("How many approvals does a change to a Tier 1 service need?", ["tier 1"]),
        ("Is the IT help desk open on Bastille Day?", ["bastille day"]),
        ("How much does the company pay per km in EUR?", []),  # a unit, not a row
        ("How many days of leave do I get in 2026?", ["2026"]),  # among other years
    ],
)
def test_the_names_and_codes_a_question_singles_out(question, expected):
    assert keys(question) == expected


MEALS = (
    "- Paris: the subsidised staff canteen La Forge. There are no meal vouchers in Paris.\n"
    "- Berlin: a digital meal voucher of 7.50 EUR for every day worked in the office.\n"
    "- Lisbon: a meal allowance card credited with 10.20 EUR per working day."
)
LISBON_PAGE = (
    "Address: Rua das Gaivotas 31, 1200-202 Lisboa\nOpened: 2019\n"
    "The Lisbon office is the youngest; staff in Paris and Berlin visit it often."
)


def test_rows_headed_by_names_are_siblings_and_another_rows_line_is_told_apart():
    paris = asked_qualifiers("How much is the meal voucher in Paris?")
    rows = Rows.of([MEALS], [("Meals",)])
    assert rows.siblings["paris"] == {"berlin", "lisbon"}
    assert rows.names_another("- Berlin: a digital meal voucher of 7.50 EUR", paris)
    assert not rows.names_another("There are no meal vouchers in Paris.", paris)
    assert not rows.names_another("Vouchers are loaded monthly.", paris)  # names no row


def test_a_list_in_a_sentence_or_section_headings_make_siblings_too():
    listed = Rows.of(["There are five in Paris, four in Berlin and three in Lisbon."], [()])
    assert listed.siblings["lisbon"] >= {"berlin"}
    sections = Rows.of(["27 days.", "30 days."], [("Leave", "Paris"), ("Leave", "Berlin")])
    assert sections.names_another("Leave Berlin 30 days.", asked_qualifiers("Leave in Paris?"))


def test_a_pages_fields_are_not_rows_and_a_name_nothing_lists_never_decides():
    """ "Address:" and "Opened:" head fields, not rows: the address line is not another row's
    for a question about the Lisbon office (it lost the address to a sentence naming Lisbon)."""
    rows = Rows.of([LISBON_PAGE], [("Lisbon office",)])
    lisbon = asked_qualifiers("What's the address of the Lisbon office?")
    assert not rows.names_another("Address: Rua das Gaivotas 31, 1200-202 Lisboa", lisbon)
    keyring = asked_qualifiers("How long must my Keyring master password be?")
    assert not rows.names_another("It must be at least 16 characters (Emberline's rule).", keyring)


def test_a_code_with_other_digits_is_another_row():
    sev2 = asked_qualifiers("How quickly must a SEV2 page be acknowledged?")
    rows = Rows.of(["Severity: SEV1 | 15 minutes\nSeverity: SEV2 | 30 minutes"], [()])
    assert rows.names_another("Severity: SEV1 | 15 minutes", sev2)
    assert not rows.names_another("Severity: SEV2 | 30 minutes", sev2)
    assert not rows.names_another("Severity: SEV-2 | 30 minutes", sev2)


def test_a_comparison_keeps_the_rows_it_names():
    """ "Paris and Berlin?": the Paris row names one of them, so it is not another row's."""
    both = asked_qualifiers("How many leave days do staff in Paris and Berlin get?")
    rows = Rows.of(["Office: Paris | 27 days\nOffice: Berlin | 30 days\nOffice: Lisbon | 25"], [()])
    assert not rows.names_another("Office: Paris | 27 days", both)
    assert rows.names_another("Office: Lisbon | 25", both)


def test_sections_are_siblings_only_under_one_parent_of_one_document():
    """Every passage's last heading was a sibling of every other: "Lisbon" (Offices) and
    "Wi-Fi" (IT), so the Wi-Fi answer for Lisbon was taken for another row's."""
    rows = Rows.of(
        ["The Lisbon office is at Rua das Gaivotas 31.", "Guests use Emberline-Guest."],
        [("Offices", "Lisbon"), ("IT", "Guest Wifi")],
        ["wiki:6", "wiki:10"],
    )
    lisbon = asked_qualifiers("Where do I find the guest password in the Lisbon office?")
    assert not rows.names_another("Guest Wifi Guests use Emberline-Guest.", lisbon)
    same = Rows.of(["27 days.", "30 days."], [("Leave", "Paris"), ("Leave", "Berlin")], ["a", "a"])
    assert same.siblings["paris"] == {"berlin"}


def test_hostile_texts_are_read_in_linear_time():
    """A list gap of underscores took 20 s in a backtracking pattern, 20,000 leading spaces
    14 s: any chunk an editor can write reaches every answer that retrieves it."""
    texts = ["Offices: Paris, " + "x_" * 5000 + "=1 Berlin", " " * 20000 + "Paris: x"]
    rows = Rows.of(texts, [(), ()])
    assert "berlin" not in rows.siblings.get("paris", ())  # too far apart to be one list


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("How many people had glaucoma in 2013?", ["2013"]),
        ("What was the revenue in Q1 2026?", ["2026"]),
        ("Who won the 2022 World Cup?", ["2022"]),
        # a span is no row, and numbers that are not years (a review's cases)
        ("How many remote days are allowed since 2019?", []),
        ("What changed between 2019 and 2021?", ["2021"]),
        ("Is the office ISO 20000 certified?", []),
        ("Is an allowance of 1900 EUR enough?", []),
        ("Does a 2048 MB quota apply?", []),
        ("What happened in the 1990s?", []),
        ("What is the 2019.5 release?", []),
    ],
)
def test_a_year_singles_out_its_row(question, years):
    assert [q.key for q in asked_qualifiers(question) if q.year] == years
