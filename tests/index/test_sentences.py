"""The one sentence splitter that retrieval, prompts, quotes and attribution share."""

from __future__ import annotations

from index.sentences import is_question, sentence_spans, sentences


def test_abbreviations_decimals_times_and_list_markers() -> None:
    text = "Use e.g. the portal. A meal costs 4.50 euros at 11:30. Dr. Smith agrees!\n- Item one\n2. Two"
    pieces = [text[start:end] for start, end in sentence_spans(text)]
    assert pieces == [
        "Use e.g. the portal.",
        "A meal costs 4.50 euros at 11:30.",
        "Dr. Smith agrees!",
        "Item one",
        "Two",
    ]
    assert sentences(text) == pieces


def test_names_with_a_full_stop_stay_whole_in_passages() -> None:
    # cut in two by the old "after . ! ? and a space" rule (SQuAD passages)
    text = (
        "Tymnet was not named after Mr. Tyme. The most significant buildings are St. John's "
        "Cathedral and the Infantry Regiments No. 13 barracks."
    )
    assert sentences(text) == [
        "Tymnet was not named after Mr. Tyme.",
        "The most significant buildings are St. John's Cathedral and the Infantry Regiments "
        "No. 13 barracks.",
    ]


def test_citation_markers_stay_with_their_sentence_and_blank_text_has_none() -> None:
    assert sentences("Paris staff get 27 days. [1] Berlin staff get 30 [2].") == [
        "Paris staff get 27 days. [1]",
        "Berlin staff get 30 [2].",
    ]
    assert sentences("  \n\n ") == []


def test_a_hard_wrapped_line_continues_its_sentence() -> None:
    # corpus/notes/all-hands-2026-02-26.txt: list items wrapped and indented
    text = (
        "3. Lisbon lease\n"
        "   - Until then, the desk booking tool is used on Mondays\n"
        "     and Thursdays, the busiest days.\n"
        "   - the profit share is paid in April.\n"
        "Annual leave\n"
        "is 27 days. next year it may change."
    )
    assert sentences(text) == [
        "Lisbon lease",
        "Until then, the desk booking tool is used on Mondays\n     and Thursdays, the busiest days.",
        "the profit share is paid in April.",  # a list item of its own, lower case or not
        "Annual leave\nis 27 days. next year it may change.",
    ]
    assert sentences('Visitors use\n   "Emberline-Guest".\n \nStaff use the other.') == [
        'Visitors use\n   "Emberline-Guest".',
        "Staff use the other.",
    ]
    # a line that ends a sentence is not continued by the next, whatever its case
    assert sentences("Bring your badge.\nvisitors sign in at the desk.") == [
        "Bring your badge.",
        "visitors sign in at the desk.",
    ]


def test_no_is_an_abbreviation_only_before_a_number_and_cjk_brackets_close_a_sentence() -> None:
    assert sentences("A: No. Overtime is paid. See Regiment No. 13 for more.") == [
        "A: No.",
        "Overtime is paid.",
        "See Regiment No. 13 for more.",
    ]
    assert sentences("「東京は晴れ。」大阪は雨。") == ["「東京は晴れ。」", "大阪は雨。"]


def test_a_table_row_is_a_line_of_its_own_even_in_lower_case() -> None:
    """Labelled rows start with the first column's name; a lower-case one is no hard-wrapped
    continuation of the row above."""
    rows = "year: 2020 | count: 5\nyear: 2021 | count: 7\nvisitors | 12"
    assert sentences(rows) == ["year: 2020 | count: 5", "year: 2021 | count: 7", "visitors | 12"]
    assert sentences("Open on Mondays\nand Thursdays.") == ["Open on Mondays\nand Thursdays."]


def test_a_table_row_is_never_cut_and_excl_is_an_abbreviation() -> None:
    row = "Amount (excl. VAT): 2,001 to 15,000 EUR | Who approves: Department head. Or the CFO."
    assert sentences(f"{row}\nAmount (excl. VAT): Up to 2,000 EUR | Who approves: Team lead") == [
        row,
        "Amount (excl. VAT): Up to 2,000 EUR | Who approves: Team lead",
    ]
    assert sentences("Prices are excl. VAT. Invoices incl. VAT follow.") == [
        "Prices are excl. VAT.",
        "Invoices incl. VAT follow.",
    ]


def test_a_bar_inside_prose_is_no_table_row() -> None:
    prose = (
        "A Turing machine can solve many problems when the input is long enough for the model "
        "to run for a while. For instance, the language {xx | x is any binary string} can be "
        "solved in linear time. It is a simple example."
    )
    assert len(sentences(prose)) == 3


def test_prose_with_a_pipe_is_cut_as_prose() -> None:
    assert len(sentences("Use `ps aux | grep hearth` to see if it runs. If not, start it.")) == 2
    assert len(sentences("Run cat log | less. Then press q to quit. Done.")) == 3
    assert len(sentences("Note: run `ps aux | grep x`. Then stop it.")) == 2


def test_a_markdown_emphasised_question_is_a_question() -> None:
    assert is_question("**How do I reset my password?**")
    assert is_question("_Where is the printer?_")
    assert not is_question("**Reset it in the portal.**")


def test_a_label_may_hold_a_colon() -> None:
    row = "Time (hh:mm): 10:30 | Room: B2. Bring your badge. Doors close early."
    assert sentences(row) == [row]
