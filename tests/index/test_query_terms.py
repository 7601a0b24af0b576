"""The terms a question is searched and weighed by (`fts_query`): content words only."""

from __future__ import annotations

import pytest

from index.search import fts_query


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        # contraction fragments (m, didn, t, s) would count as the rarest terms of all
        ("I'm in Berlin and didn't use my holiday", '"berlin" OR "use" OR "holiday"'),
        ("What’s Emberline’s revenue?", '"emberline" OR "revenue"'),
        ("Who can't and won't sign?", '"sign"'),
        # single letters that are words of their own stay
        ("T cells and vitamin D", '"t" OR "cells" OR "vitamin" OR "d"'),
        ("O'Brien's report", '"o" OR "brien" OR "report"'),
    ],
)
def test_questions_are_searched_by_their_content_words(question: str, terms: str) -> None:
    assert fts_query(question) == terms


def test_a_question_of_stop_words_only_keeps_them_rather_than_search_nothing() -> None:
    assert fts_query("Don't!") == '"do" OR "not"'
    assert fts_query("?!") == ""
