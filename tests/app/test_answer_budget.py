"""Hearth's own text (a quote, an "I don't know") cut to a client's max_tokens."""

from __future__ import annotations

import math

import pytest
from fakes import ScriptedChatModel
from hypothesis import given
from hypothesis import strategies as st

from app.answer_budget import fit
from app.quote import QUOTED_NOTE, reader_note

COUNTERS = {
    "scripted": ScriptedChatModel().count_tokens,  # words + newlines + 1
    "remote": lambda text: math.ceil(len(text) / 3),  # the remote engine's estimate
}
QUOTE = "“Employees in the Paris office get 27 days of annual leave each year.” [1]"
NOTE = reader_note(QUOTED_NOTE)
count = COUNTERS["scripted"]


def test_a_text_that_fits_is_kept_whole():
    assert fit(QUOTE + NOTE, 200, count, [NOTE]) == (QUOTE + NOTE, False)


def test_the_notes_go_first():
    assert count(QUOTE) < count(QUOTE + NOTE)
    assert fit(QUOTE + NOTE, count(QUOTE), count, [NOTE]) == (QUOTE, True)


def test_a_quote_is_cut_at_a_word_and_keeps_its_marker():
    text, cut = fit(QUOTE + NOTE, 8, count, [NOTE])
    assert cut and text == "“Employees in the Paris office get…” [1]" and count(text) == 8
    assert fit(QUOTE, 2, count) == ("“…” [1]", True)  # no word fits: still cited


def test_other_text_is_cut_at_a_word():
    dont_know = "I don't know. Nothing in the documents you can read answers this."
    assert fit(dont_know, 5, count) == ("I don't know…", True)
    assert fit("Employees, in Paris", 2, count) == ("Employees…", True)  # no comma before it


def test_below_one_word_the_characters_that_fit():
    def characters(text: str) -> int:
        return len(text)

    assert fit("Supercalifragilistic", 4, characters) == ("Supe", True)


@pytest.mark.parametrize("counter", sorted(COUNTERS))
@given(
    words=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40),
    budget=st.integers(min_value=1, max_value=60),
    quoted=st.booleans(),
    noted=st.booleans(),
)
def test_whatever_the_text_it_never_exceeds_the_budget(counter, words, budget, quoted, noted):
    tokens = COUNTERS[counter]
    body = " ".join(words)
    text = (f"“{body}” [2]" if quoted else body) + (NOTE if noted else "")
    result, cut = fit(text, budget, tokens, [NOTE])
    if tokens("") <= budget:  # the fake counts one token for nothing at all
        assert tokens(result) <= budget
    assert cut == (result != text)
    assert not cut or tokens(text) > budget
    if cut and quoted and tokens("“…” [2]") <= budget:
        assert result.endswith("” [2]")  # the citation stays
