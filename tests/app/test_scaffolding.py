"""The model's copies of the prompt's layout are taken out of its answer before it is checked."""

from __future__ import annotations

import pytest

from app.prompt import user_turn, without_scaffolding

ECHOED = [
    pytest.param(
        "To answer the question, I will provide a passage that contains the answer.\n\n"
        "Passage: \nPasswords must be at least 16 characters long [1].\n\n"
        "Question: How long should passwords be?",
        "Passwords must be at least 16 characters long [1].",
        id="preamble, label line and restated question",
    ),
    pytest.param("Answer: Paris staff get 27 days [1].", "Paris staff get 27 days [1].",
                 id="answer label"),
    pytest.param(
        "Passage [1] (Leave policy): Paris staff get 27 days.\n---\n"
        "Using the passages above, answer: How many days?",
        "Paris staff get 27 days.",
        id="passage label, fence and the closing instruction",
    ),
    pytest.param(
        "Andorra gets about 300 days per year of sunshine [1].\n#### 300 [1]",
        "Andorra gets about 300 days per year of sunshine [1].",
        id="a worked-answer marker",
    ),
]  # fmt: skip


@pytest.mark.parametrize("draft, cleaned", ECHOED)
def test_what_the_model_copied_of_the_prompt_is_taken_out(draft: str, cleaned: str) -> None:
    assert without_scaffolding(draft) == cleaned


@pytest.mark.parametrize(
    "answer",
    [
        "Question time is on Monday: bring your notes.",
        "The answer is 27 days. To answer the question, I would add that they carry over.",
        "Sources: the leave policy [1].",
        "Paris staff get 27 days.\n\nBerlin staff get 30 days.",
    ],
)
def test_an_answer_without_echo_is_left_as_it_is(answer: str) -> None:
    assert without_scaffolding(answer) == answer


def test_the_prompts_own_closing_line_is_recognised() -> None:
    closing = user_turn("How many days?", []).splitlines()[-1]
    assert without_scaffolding(f"Paris staff get 27 days.\n{closing}") == "Paris staff get 27 days."


def test_an_echoing_answer_is_shown_without_the_echo_and_cited(client, model) -> None:
    model.answer = (
        "To answer the question, I will provide a passage that contains the answer.\n\n"
        "Passage:\nEmployees in the Paris office get 27 days of annual leave each year.\n\n"
        "Question: How many days of annual leave in Paris?"
    )
    body = client.post("/api/query", json={"question": "annual leave in Paris"}).json()
    assert body["answer"] == (
        "Employees in the Paris office get 27 days of annual leave each year [1]."
    )
    assert body["citations"] and not body["quoted"] and not body["uncited"]


def test_usage_counts_all_the_model_wrote_echo_included(client, model) -> None:
    model.answer = (
        "Question: How many days of annual leave in Paris?\n"
        "Employees in the Paris office get 27 days of annual leave each year."
    )
    body = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "annual leave in Paris"}]},
    ).json()
    assert "Question:" not in body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] == model.count_tokens(model.answer)


def test_a_repeated_sentence_or_phrase_is_said_once() -> None:
    """The bundled model looped "You can book flights at least 14 days before departure [1]."
    until max_tokens, and that passed as a cited answer twenty times over."""
    looped = "You can book flights at least 14 days before departure [1]. " * 20
    assert without_scaffolding(looped) == (
        "You can book flights at least 14 days before departure [1]."
    )
    assert without_scaffolding("About 45% paid to paid to paid to paid to members [1].") == (
        "About 45% paid to members [1]."
    )
    kept = "Line one [1].\n\n- item a\n- item b\nIt is very very good."
    assert without_scaffolding(kept) == kept  # nothing repeated three times: left as it is
    for figures in (
        "Use the DNS server 1.1.1.1 [1].", "The MAC is 00:00:00:00:00:00 [1].",
        "Blocked: 0.0.0.0/8 and 10.10.10.10 [1].", "| Paris | 0 | 0 | 0 | 0 |",
    ):  # fmt: skip
        assert without_scaffolding(figures) == figures
    assert without_scaffolding("Up to 400 euros, up to 400 euros, up to 400 euros, up to") == (
        "Up to 400 euros, up to"
    )  # a loop with figures in it, and one at the very end
    assert without_scaffolding("Members get paid to paid to paid to") == "Members get paid to"
    twice = "Paris office:\n- Remote work allowed [1].\n\nOslo office:\n- Remote work allowed [1]."
    assert without_scaffolding(twice) == twice  # the same fact under two headings stays
