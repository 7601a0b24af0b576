"""app/negation.py: an answer that states what its cited source denies or excludes."""

from __future__ import annotations

import pytest
from test_attribution import passage

from app.attribution import likely_names, weighted_terms
from app.negation import denied, denied_figures, denies, negated_terms

ROTATION = (
    "- Rotations are weekly. The handover happens every Tuesday at 10:00 Paris time, so that "
    "nobody starts or ends a shift on a weekend or a Monday morning.\n"
    "- Each week has a primary and a secondary."
)
MERGING = "The author merges, not the reviewer, once the pipeline in Kiln is green."
REFERRAL = (
    "All employees, except:\n- the hiring manager of the role and the interviewers on that "
    "hiring panel, and\n- the people team.\nBoard members can refer candidates but do not "
    "receive the bonus."
)
SHOWERS = (
    "A bike repair stand with basic tools is available in every office. Showers are available "
    "in Paris (2) and Berlin (1); Lisbon has none yet."
)
PARCELS = (
    "A: Personal parcels are not accepted at the Lisbon office because there is no\n"
    "space to store them. Work deliveries go to reception."
)


def _denied(answer: str, source: str, question: str) -> list[str]:
    names = likely_names(answer) | likely_names(source)
    return denied(answer, [source], names, weighted_terms(question, names)[0])


@pytest.mark.parametrize(
    ("answer", "source", "question", "expected"),
    [
        ("Monday [1].", ROTATION, "Which day does the on-call shift change hands?", ["monday"]),
        ("Yes, the handover is on a Monday.", ROTATION, "Is the handover on a Monday?", ["monday"]),
        ("The reviewer merges the change.", MERGING, "Who merges, the reviewer?", ["reviewer"]),
        ("Yes, the people team receives it.", REFERRAL, "Do board members get it?", ["peopl"]),
        ("The Lisbon office has 2 showers.", SHOWERS, "How many showers in Lisbon?", ["lisbon"]),
        (
            "Yes, the Lisbon office takes them.",
            PARCELS,
            "Parcels at the Lisbon office?",
            ["lisbon"],
        ),
        # the answer carries the source's negation, or states what the source states plainly
        ("No, it is on Tuesday, not Monday.", ROTATION, "Is it on a Monday?", []),
        ("The handover happens every Tuesday.", ROTATION, "Which day?", []),
        ("The Lisbon office does not accept them.", PARCELS, "Parcels at the Lisbon office?", []),
        ("Paris has 2 showers.", SHOWERS, "How many showers in Paris?", []),
        ("Board members do not receive the bonus.", REFERRAL, "Do board members get it?", []),
    ],
)
def test_denied(answer: str, source: str, question: str, expected: list[str]) -> None:
    assert _denied(answer, source, question) == expected


@pytest.mark.parametrize(
    "source",
    [
        # a limit, a deadline or a condition is no denial of its figure
        "Up to 10 unused days may be carried over but they expire if not taken by 31 March.",
        "You may use it at most twice per year, and never for amounts above 100 EUR.",
        "Nobody may hold more than two proxies.",
        "First class is allowed if its fare is no more than 20% above the second-class fare.",
    ],
)
def test_limits_are_not_denials(source: str) -> None:
    negated, _, _ = negated_terms(source)
    assert not {"31", "march", "100", "two", "20"} & negated


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        ("There is no consensus as to whether Brahui is a recent language.", "brahui"),
        ("Travel is not reimbursed if Finance has not approved it.", "financ"),
        ("Do not book the Azulejo room unless the Lisbon team agrees.", "lisbon"),
        ("Nobody moved because Berlin was full.", "berlin"),
    ],
)
def test_a_subordinate_clause_ends_the_denial(source: str, kept: str) -> None:
    """What "whether", "if", "unless" or "because" opens is not what the cue before it denies."""
    negated, _, plain = negated_terms(source)
    assert kept not in negated and kept in plain


def test_a_verb_after_not_is_no_exclusion() -> None:
    # "not reimbursed" negates the predicate; only "not the X" / "not your X" excludes X
    assert negated_terms("Internet costs at home are not reimbursed.")[1] == set()
    assert negated_terms("Your buddy is a colleague, not your manager.")[1] == {"manager"}


def test_the_denying_sentence_is_found() -> None:
    assert denies(ROTATION, ["monday"])
    assert not denies("Nobody is on call more than one week in five.", ["monday"])


def test_a_denied_number_the_source_states_is_found_in_the_whole_chunk() -> None:
    """The prompt shows the model the sentences closest to the question; the chunk they came
    from may deny the number elsewhere, and then the answer's denial may be right."""
    question = "How many days of leave do part-time staff get?"
    whole = passage(1, "Full-time staff get 27 days. Part-time staff do not get 27 days.")
    shown = passage(1, "Full-time staff get 27 days.")
    answer = "Part-time staff do not get 27 days [1]."
    assert denied_figures(answer, [shown], question) == ["27"]
    assert denied_figures(answer, [shown], question, [whole]) == []
    assert denied_figures("You can't get 27 days [1].", [whole], "Do I get leave?") == []
