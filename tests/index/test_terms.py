"""Word matching between a question and its retrieved sentences (`index/terms.py`)."""

from __future__ import annotations

import math

import pytest

from index.terms import adds_to, is_elliptical, mentions_any, query_terms, stem, term_overlap

RESULTS = [
    "Reported the email with the Report phishing button: 48%",
    "Clicked the link: 9% (36 people)",
    "Phishing simulation - results, January 2026",
]


def test_rare_words_of_the_question_weigh_most() -> None:
    terms = query_terms("What percentage of people clicked the link in the phishing test?")
    overlaps = term_overlap(terms, RESULTS)
    # "clicked", "link" and "people" are in one sentence each; "phishing" in two
    assert overlaps[1] > overlaps[0] and overlaps[1] > overlaps[2]
    assert overlaps[0] == pytest.approx(overlaps[2])
    assert all(0.0 <= overlap <= 1.0 for overlap in overlaps)


def test_a_word_every_sentence_holds_weighs_nothing() -> None:
    assert term_overlap(["phishing"], ["Phishing drill.", "The phishing report."]) == [0.0, 0.0]


def test_the_share_is_of_the_questions_weighted_words() -> None:
    texts = ["Paris staff get 27 days.", "Berlin staff get 30 days.", "Lunch is at noon."]
    share = math.log(4 / 2) / (math.log(4 / 2) + math.log(4 / 3))
    overlaps = term_overlap(["paris", "days"], texts)
    assert overlaps == pytest.approx([1.0, 1 - share, 0.0])


def test_words_meet_across_inflections_and_case() -> None:
    assert term_overlap(["Policies", "leaving"], ["The leave policy.", "Nothing here."]) == [1, 0]
    assert [stem(word) for word in ("leave", "leaves", "leaving", "policy", "policies")] == [
        "leav", "leav", "leav", "policy", "policy",
    ]  # fmt: skip


def test_no_words_no_overlap() -> None:
    assert term_overlap([], ["Anything."]) == [0.0]
    assert term_overlap(["leave"], []) == []


def test_a_word_no_sentence_holds_does_not_shrink_the_others_shares() -> None:
    """Real questions hold words the retrieved sentences lack ("percentage" here); counted,
    they would shrink every share and let the cosine alone decide again."""
    terms = query_terms("What percentage of people clicked the link in the phishing test?")
    assert "percentage" in terms
    without = [term for term in terms if term != "percentage"]
    assert term_overlap(terms, RESULTS) == term_overlap(without, RESULTS)
    assert term_overlap(terms, RESULTS)[1] > 0.8  # "clicked", "link", "people"


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("And in Berlin?", True),
        ("By when?", True),  # no word of its own to stand on
        ("why the rush?", True),
        ("Which office did best?", True),
        ("Does it carry over?", True),
        ("Who won the football world cup?", False),  # a question of its own
        ("How many days of annual leave do employees in Paris get?", False),
    ],
)
def test_which_questions_lean_on_the_one_before(question: str, leans: bool) -> None:
    assert is_elliptical(question) is leans


def test_mentions_any_matches_stems_and_accepts_no_terms() -> None:
    assert mentions_any(["timers", "part"], ["Part-time employees get the full amount."])
    assert not mentions_any(["sabbatical"], ["Sick pay for 60 days."])
    assert mentions_any([], ["anything"])


@pytest.mark.parametrize(
    ("text", "question", "adds"),
    [
        ("Iwan Roberts", "When was Iwan Roberts born?", False),  # a line naming the subject
        ("Iwan Wyn Roberts (born 26 June 1968)", "When was Iwan Roberts born?", True),
        # a denial of the question's own words is the answer (corpus/adversarial.jsonl)
        (
            "There are no meal vouchers in Paris.",
            "How much is the daily meal voucher in Paris?",
            True,
        ),
        ("Unused budget doesn't carry over.", "How much unused budget can I carry over?", True),
        ("There is no parking.", "Is there no parking?", False),
    ],
)
def test_a_line_adds_to_the_question_with_a_word_or_a_denial_it_lacks(text, question, adds):
    assert adds_to(text, question) is adds
