"""A source card shows the part of a passage that holds its sentence closest to the question."""

from __future__ import annotations

from test_quote import passage, sentence

from app.snippets import ELLIPSIS, card_text

FILLER = "Office life has many meetings about planning and budgets. " * 10
LIMIT = "The reimbursement limit per night in Paris is 190 EUR."


def test_a_short_passage_is_shown_whole():
    text = "Paris staff get 27 days. Berlin staff get 30."
    assert card_text(passage(1, text), [sentence(1, "Berlin staff get 30.", 0.9)]) == text


def test_the_closest_sentence_past_the_first_characters_is_on_the_card():
    """The card showed the first 400 characters: the sentence the answer came from was cut."""
    text = FILLER + LIMIT + " Lisbon is cheaper."
    shown = card_text(passage(1, text), [sentence(1, LIMIT, 0.9), sentence(1, FILLER[:57], 0.3)])
    assert LIMIT in shown and shown.startswith(ELLIPSIS) and len(shown) <= 400 + 2
    assert card_text(passage(1, text), [], limit=None) == text


def test_a_card_starts_at_the_text_when_the_closest_sentence_is_near_it():
    text = LIMIT + " " + FILLER
    shown = card_text(passage(1, text), [sentence(1, LIMIT, 0.9)])
    assert shown.startswith(LIMIT) and shown.endswith(ELLIPSIS)
    assert shown[:-1].endswith(("planning", "budgets.", "about", "life", "has", "many", "and"))
    assert " ".join(shown[:-1].split()) in " ".join(text.split())  # whole words only


def test_the_window_ends_inside_the_text_when_the_closest_sentence_ends_it():
    text = FILLER + LIMIT
    shown = card_text(passage(1, text), [sentence(1, LIMIT, 0.9)])
    assert shown.endswith(LIMIT) and shown.startswith(ELLIPSIS)
    assert len(shown) <= 401
