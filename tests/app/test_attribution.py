"""Citation attribution: markers go where a passage supports a sentence, and nowhere else."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence

import numpy as np
import pytest
from fakes import HashEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.attribution import Attribution, _attribute, attribute
from index.protocols import Vectors
from index.types import Chunk, Passage, StoredDocument

PARIS = "Employees based in the Paris office are entitled to 27 days of paid annual leave per year."
BERLIN = "Staff in the Berlin office receive 30 days of annual leave. Unused days expire in March."
CAFETERIA = "The cafeteria opens at 11:30 and serves lunch until 14:00. A meal costs 4.50 euros."


def passage(
    number: int,
    text: str,
    title: str = "Leave policy",
    heading: tuple[str, ...] = ("Leave",),
    anchor: str | None = None,
) -> Passage:
    document = StoredDocument(
        id=f"doc-{number}",
        source="wiki",
        title=title,
        kind="wiki",
        groups=frozenset({"public"}),
        url=f"https://wiki.example/{title.replace(' ', '_')}",
        modified=None,
        revision=None,
        content_hash="",
        n_chunks=1,
    )
    chunk = Chunk(f"doc-{number}", text, heading, 0, len(text.split()), anchor=anchor, id=number)
    return Passage(chunk, document, 1.0, number)


def leave_passages() -> list[Passage]:
    return [
        passage(1, PARIS, heading=("Leave", "Paris"), anchor="Paris"),
        passage(2, BERLIN, heading=("Leave", "Berlin"), anchor="Berlin"),
        passage(3, CAFETERIA, title="Cafeteria", heading=()),
    ]


def markers(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+)\]", text)]


def test_supported_paraphrase_gets_its_marker_before_the_final_period() -> None:
    result = attribute("Paris staff get 27 days of annual leave.", leave_passages()[:1])
    assert result.text == "Paris staff get 27 days of annual leave [1]."
    assert not result.uncited and not result.unsupported and not result.model_abstained
    [citation] = result.citations
    assert citation.marker == 1 and citation.document_id == "doc-1"
    assert citation.url == "https://wiki.example/Leave_policy#Paris"
    assert citation.heading == "Leave > Paris" and citation.title == "Leave policy"
    assert citation.span == PARIS


def test_the_passage_holding_the_fact_is_chosen_among_several() -> None:
    result = attribute("In Berlin, employees receive 30 days of annual leave.", leave_passages())
    assert markers(result.text) == [2]
    assert [c.marker for c in result.citations] == [2]
    assert result.citations[0].span == "Staff in the Berlin office receive 30 days of annual leave."


def test_a_wrong_number_is_unsupported_and_the_answer_uncited() -> None:
    answer = "Paris staff get 30 days of annual leave."
    result = attribute(answer, leave_passages()[:1])
    assert result.unsupported == [answer] and result.uncited
    assert result.citations == [] and markers(result.text) == []


def test_a_number_from_one_passage_and_a_name_from_another_are_not_combined() -> None:
    for answer in [
        "Paris staff get 30 days of annual leave.",
        "Staff in Paris and Berlin get 30 days of annual leave.",
        "Paris staff get 30 days and Berlin staff get 27 days.",
    ]:
        result = attribute(answer, leave_passages(), HashEmbedder())
        assert result.uncited and markers(result.text) == [], answer


def test_a_sentence_of_the_questions_words_and_an_invented_detail_is_unsupported() -> None:
    """Judged by what it adds to the question: the question's words are in the passage because
    retrieval found it by them."""
    faq = passage(1, 'The guest Wi-Fi network in the Lisbon office is called "Emberline-Guest".')
    question = "What's the name of the guest Wi-Fi network in the Lisbon office?"
    invented = "The guest Wi-Fi network of the Lisbon office has a name on its website."
    assert attribute(invented, [faq]).citations  # the whole sentence's words: 7 of 9 there
    result = attribute(invented, [faq], question=question)
    assert result.uncited and result.unsupported == [invented]
    right = 'The guest Wi-Fi network of the Lisbon office is called "Emberline-Guest".'
    assert markers(attribute(right, [faq], question=question).text) == [1]


def test_a_name_found_in_no_passage_is_unsupported() -> None:
    result = attribute(
        "Staff in the Lyon office receive 30 days of annual leave.", leave_passages()
    )
    assert result.uncited and markers(result.text) == []


def test_invalid_markers_are_dropped_and_odd_forms_made_canonical() -> None:
    passages = leave_passages()
    result = attribute("Paris staff get 27 days of annual leave [0][9][12a].", passages)
    assert result.text == "Paris staff get 27 days of annual leave [1]."
    result = attribute("Berlin staff get 30 days [Passage 2]. Lunch ends at 14:00【3】.", passages)
    assert result.text == "Berlin staff get 30 days [2]. Lunch ends at 14:00 [3]."
    result = attribute("Unused days expire in March [Source 2, 9].", passages)
    assert result.text == "Unused days expire in March [2]."


def test_a_model_marker_on_a_passage_that_does_not_support_is_corrected() -> None:
    result = attribute("Berlin staff get 30 days of annual leave [1].", leave_passages())
    assert result.text == "Berlin staff get 30 days of annual leave [2]."
    assert [c.marker for c in result.citations] == [2]


def test_a_supporting_model_marker_is_kept_and_not_duplicated() -> None:
    result = attribute("Lunch is served until 14:00 [3][3] [3].", leave_passages())
    assert result.text == "Lunch is served until 14:00 [3]."


def test_two_sentences_supported_by_two_passages() -> None:
    answer = "Paris staff get 27 days of annual leave. In Berlin it is 30 days of leave."
    result = attribute(answer, leave_passages())
    assert result.text == (
        "Paris staff get 27 days of annual leave [1]. In Berlin it is 30 days of leave [2]."
    )
    assert [c.marker for c in result.citations] == [1, 2]


def test_one_sentence_needing_two_passages_cites_both() -> None:
    answer = "Paris staff get 27 days and Berlin staff get 30 days."
    result = attribute(answer, leave_passages())
    assert result.text == "Paris staff get 27 days and Berlin staff get 30 days [1][2]."
    result = attribute("Paris gets 27 days of leave, while Berlin gets 30.", leave_passages())
    assert result.text == "Paris gets 27 days of leave, while Berlin gets 30 [1][2]."


def test_a_second_passage_is_cited_only_when_nearly_as_good() -> None:
    twin = passage(4, PARIS.replace("paid ", ""), title="Paris handbook")
    result = attribute("Paris staff get 27 days of annual leave.", [*leave_passages(), twin])
    assert markers(result.text) == [1, 4]
    result = attribute("Paris staff get 27 days of annual leave.", leave_passages())
    assert markers(result.text) == [1]


def test_filler_is_neither_cited_nor_flagged() -> None:
    answer = "Sure. Paris staff get 27 days of annual leave. I hope this helps!"
    result = attribute(answer, leave_passages())
    assert result.text == "Sure. Paris staff get 27 days of annual leave [1]. I hope this helps!"
    assert result.unsupported == [] and not result.uncited
    result = attribute("Let me know if you have any other questions.", leave_passages())
    assert not result.uncited and result.citations == []


def test_model_abstention_is_detected_and_not_flagged() -> None:
    for answer in [
        "I don't know.",
        "I do not know based on these passages [1].",
        "The passages do not say how much leave staff in Lyon get.",
        "Leave in Lyon is not mentioned in the passages.",
        "There is no information about Lyon in the provided text.",
        "I cannot find the answer in the documents.",
        "I’m not sure.",
    ]:
        result = attribute(answer, leave_passages())
        assert result.model_abstained, answer
        assert not result.uncited and result.unsupported == [] and result.citations == []
    result = attribute("No information is shared with third parties.", leave_passages())
    assert not result.model_abstained


def test_list_items_are_cited_each_and_layout_kept() -> None:
    answer = "Leave:\n- Paris: 27 days of annual leave\n- Berlin: 30 days of annual leave"
    result = attribute(answer, leave_passages())
    assert result.text == (
        "Leave:\n- Paris: 27 days of annual leave [1]\n- Berlin: 30 days of annual leave [2]"
    )


def test_the_embedder_helps_a_paraphrase_but_never_excuses_a_wrong_number() -> None:
    text = "You can carry over at most five days into the next year if your manager agrees."
    passages = [passage(1, text)]
    answer = "You can roll at most five days over into the following period if your boss agrees."
    assert attribute(answer, passages).uncited
    with_embedder = attribute(answer, passages, HashEmbedder(dim=512))
    assert markers(with_embedder.text) == [1] and not with_embedder.uncited
    wrong = attribute("Paris staff get 35 days of annual leave.", leave_passages(), HashEmbedder())
    assert wrong.uncited


class BrokenEmbedder(HashEmbedder):
    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("model crashed")


class NaNEmbedder(HashEmbedder):
    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return np.full((len(texts), self.dim), np.nan, dtype=np.float32)


def test_a_failing_embedder_falls_back_to_lexical_support() -> None:
    for embedder in (BrokenEmbedder(), NaNEmbedder()):
        result = attribute("Paris staff get 27 days of annual leave.", leave_passages(), embedder)
        assert result.text == "Paris staff get 27 days of annual leave [1]."


def test_no_passages_and_empty_answers() -> None:
    assert attribute("", leave_passages()) == Attribution("", [], [], False, False)
    assert attribute("[1] [2]", leave_passages()).text == ""
    result = attribute("Paris staff get 27 days of annual leave [1].", [])
    assert result.text == "Paris staff get 27 days of annual leave." and result.uncited


def check(result: Attribution, n: int) -> None:
    used = markers(result.text)
    assert all(1 <= m <= n for m in used)
    assert sorted(set(used)) == [c.marker for c in result.citations]
    assert result.uncited == bool(result.unsupported)


FRAGMENTS = st.sampled_from(
    [
        "Paris staff get 27 days of annual leave",
        "Berlin gets 30 days",
        "lunch ends at 14:00",
        "I don't know",
        "e.g.",
        "4.5",
        " ",
        "\n- ",
        ". ",
        "! ",
        "[1]",
        "[2]",
        "[0]",
        "[99]",
        "[12a]",
        "[Passage 3]",
        "【2】",
        "[1-3]",
        "[",
        "]",
        "[[1]]",
        "【",
        "٣",
        "Ünïcödé",
        "999999999999",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answer=st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=40).map("".join)),
    n=st.integers(min_value=0, max_value=3),
    with_embedder=st.booleans(),
)
def test_never_raises_and_every_marker_has_a_citation(
    answer: str, n: int, with_embedder: bool
) -> None:
    passages = leave_passages()[:n]
    embedder = HashEmbedder() if with_embedder else None
    check(_attribute(answer, passages, embedder), n)  # unguarded: a bug fails here
    check(attribute(answer, passages, embedder), n)


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(st.text(max_size=200), min_size=1, max_size=4), answer=st.text())
def test_arbitrary_passage_text_never_breaks_attribution(texts: list[str], answer: str) -> None:
    passages = [passage(i, text, title=text[:20]) for i, text in enumerate(texts, start=1)]
    check(_attribute(answer, passages, HashEmbedder(), question=answer[:60]), len(passages))


def test_huge_and_pathological_inputs_stay_fast() -> None:
    for answer in ["x" * 100_000, " " * 100_000 + "[", "1" * 100_000 + "a", "." * 100_000,
                   "[" + " " * 100_000, "a. " * 30_000, "[5[1]]" * 1000]:  # fmt: skip
        started = time.perf_counter()
        check(attribute(answer, leave_passages()), 3)
        assert time.perf_counter() - started < 2.0


def test_a_200_word_answer_is_attributed_in_under_20_ms() -> None:
    sentences = [
        "Paris staff get 27 days of annual leave per year.",
        "Staff in Berlin receive 30 days of annual leave, e.g. for holidays.",
        "Unused days expire in March.",
        "The cafeteria opens at 11:30 and lunch costs 4.50 euros.",
        "I hope this helps!",
    ]
    answer = " ".join(sentences * 5)
    assert 180 <= len(answer.split()) <= 260
    passages = [*leave_passages(), passage(4, "Remote work is allowed two days a week.")]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        attribute(answer, passages)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.020


CITIES = ["Paris", "Berlin", "Madrid", "Lisbon", "Oslo", "Vienna", "Prague", "Dublin"]
TOPICS = [("annual leave", "days"), ("parental leave", "weeks"), ("sick leave", "days")]
PASSAGE_TEMPLATES = [
    "Employees in the {city} office are entitled to {n} {unit} of {topic} per year.",
    "{Topic} for staff based in {city}: {n} {unit}, granted at the start of the year.",
    "The {city} site grants {n} {unit} of {topic} to every permanent employee.",
]
ANSWER_TEMPLATES = [
    "In {city}, staff get {n} {unit} of {topic}.",
    "Staff at the {city} office receive {n} {unit} of {topic} each year.",
    "The {topic} allowance in {city} is {n} {unit}.",
    "{city} employees are entitled to {n} {unit} of {topic}.",
]


def test_citation_precision_on_templated_question_passage_answer_pairs() -> None:
    rng = random.Random(7)
    cited = correct = answered = 0
    for case in range(20):
        here, other, third = rng.sample(CITIES, 3)
        (topic, unit), (topic2, unit2) = rng.sample(TOPICS, 2)
        n = rng.randint(3, 40)
        facts = [  # the fact, then distractors with the same topic and number, the same city
            (here, topic, unit, n),
            (other, topic, unit, n),
            (here, topic2, unit2, rng.randint(3, 40)),
            (third, *rng.choice(TOPICS), rng.randint(3, 40)),
        ]
        texts = [
            rng.choice(PASSAGE_TEMPLATES).format(city=c, topic=t, Topic=t.capitalize(), unit=u, n=n)
            for c, t, u, n in facts
        ]
        order = list(range(4))
        rng.shuffle(order)
        passages = [passage(i + 1, texts[k], title="Leave") for i, k in enumerate(order)]
        answer = ANSWER_TEMPLATES[case % 4].format(city=here, topic=topic, unit=unit, n=n)
        result = attribute(answer, passages)
        check(result, 4)
        target = order.index(0) + 1
        used = markers(result.text)
        answered += bool(used)
        cited += len(used)
        correct += used.count(target)
    assert cited and correct / cited >= 0.95
    assert answered >= 18


def test_a_sentence_that_restates_the_question_gets_no_marker() -> None:
    question = "How many days of annual leave do staff in the Paris office get?"
    answer = "Staff in the Paris office get annual leave days [1]. They get 27 days [1]."
    result = attribute(answer, leave_passages(), question=question)
    assert result.text == "Staff in the Paris office get annual leave days. They get 27 days [1]."
    assert not result.uncited and [c.marker for c in result.citations] == [1]
    # without the question the echo is a claim like any other, and the passage backs its words
    assert markers(attribute(answer, leave_passages()).text) == [1, 1]


def test_a_yes_or_no_restatement_is_reported_unsupported() -> None:
    question = "Do Paris staff get annual leave?"
    for answer in ["Yes, Paris staff get annual leave.", "Paris staff do not get annual leave."]:
        result = attribute(answer, leave_passages(), question=question)
        assert markers(result.text) == [] and result.citations == []
        assert result.unsupported == [answer] and result.uncited, answer


def test_a_sentence_about_the_passages_gets_no_marker_but_one_from_them_does() -> None:
    answer = (
        "The passage provides information about annual leave in Paris [1]. "
        "The passage states that Paris staff get 27 days of annual leave."
    )
    result = attribute(answer, leave_passages())
    assert result.text == (
        "The passage provides information about annual leave in Paris. "
        "The passage states that Paris staff get 27 days of annual leave [1]."
    )
    assert not result.uncited and [c.marker for c in result.citations] == [1]


@pytest.mark.parametrize(
    "verdict",
    [
        "The passage about employees in Berlin getting 30 days of annual leave is incorrect.",
        "The passage is referring to the 30 days of annual leave in the Berlin office.",
        "The passage on staff receiving 30 days of annual leave is not applicable to the "
        "passage on unused days that expire in March.",
    ],
)
def test_a_verdict_on_the_passages_gets_no_marker(verdict: str) -> None:
    result = attribute(f"{verdict} [2]", leave_passages(),
                       question="How many days of annual leave in Berlin?")  # fmt: skip
    assert result.text == verdict and result.citations == []


LEASE = (
    "The lease of the Lisbon office has been extended until 2031.\n"
    "- Lisbon will take over the ground floor of the same building in early 2027."
)
THRESHOLDS = (
    "Up to 2,000 EUR | Team lead | None\n"
    "2,001 to 15,000 EUR | Department head | Two quotes above 10,000 EUR\n"
    "In her absence, the deputy controller may approve up to 40,000 EUR."
)
# (passage, question, an answer the passage contradicts, the sentence on its topic, a right one)
CONTRADICTED = [
    pytest.param(
        LEASE, "Until which year has the Lisbon office lease been extended?",
        "The Lisbon office lease was extended until 2027.",
        "The lease of the Lisbon office has been extended until 2031.",
        "The Lisbon office lease was extended until 2031.",
        id="a number copied from the next line",
    ),
    pytest.param(
        "Robert Guiscard was made count of Apulia after his victories in the south. "
        "Later the Normans fought the Byzantine emperor Alexius I Comnenus in the Balkans.",
        "What was the name of the count of Apulia?",
        "The count of Apulia was Alexius I Comnenus.",
        "Robert Guiscard was made count of Apulia after his victories in the south.",
        "The count of Apulia was Robert Guiscard.",
        id="a name from the next sentence",
    ),
    pytest.param(
        THRESHOLDS, "Up to what amount can a department head approve a purchase?",
        "A maximum of 40,000 EUR.",
        "2,001 to 15,000 EUR | Department head | Two quotes above 10,000 EUR",
        "A department head approves up to 15,000 EUR.",
        id="the question names the topic of a short answer",
    ),
    pytest.param(
        "For SEV1, the status page is updated at least every 30 minutes until resolution. "
        "For SEV1 and SEV2, the client's account lead is told within 1 hour.",
        "During a SEV1, how often do we post an update on the status page?",
        "The answer is: 1 hour.",
        "For SEV1, the status page is updated at least every 30 minutes until resolution.",
        "The answer is: every 30 minutes.",
        id="too few words of its own: the question's count as much",
    ),
    pytest.param(
        "He reformed the government with the help of his newly appointed grand chancellor "
        "Baiju. Later they placed Yesün Temür on the throne.",
        "Who did Gegeen appoint as grand chancellor?",
        "The answer is: Yesün Temür.",
        "He reformed the government with the help of his newly appointed grand chancellor "
        "Baiju.",
        "The answer is: Baiju.",
        id="a sentence that only names someone is a claim",
    ),
    pytest.param(
        "The Warsaw Uprising Museum and the Katyń Museum preserve the memory of the crime. "
        "The Warsaw Fotoplastikon shows stereoscopic photographs of the old town.",
        "What museum preserves the memory of the crime?",
        "The Warsaw Fotoplastikon.",
        "The Warsaw Uprising Museum and the Katyń Museum preserve the memory of the crime.",
        "The Katyń Museum.",
        id="one shared name is no agreement",
    ),
    pytest.param(
        "There were 20,000 bottles of water, 10,000 blankets, and 200 laptops delivered to "
        "the shelters. The first convoy left on 3 March.",
        "How many bottles of water were delivered?",
        "The answer is 200.",
        "There were 20,000 bottles of water, 10,000 blankets, and 200 laptops delivered to "
        "the shelters.",
        "The answer is 20,000 bottles.",
        id="a listing sentence's number of another item",
    ),
    pytest.param(
        'Q: What is the Wi-Fi?\nA: Emberline laptops connect automatically to "Emberline-Staff". '
        'Visitors use "Emberline-Guest". The guest password changes on the first Monday of every '
        "month and is written on the board behind reception.",
        "What is the guest Wi-Fi password?",
        'The guest Wi-Fi password is "Emberline-Guest".',
        "The guest password changes on the first Monday of every month and is written on the "
        "board behind reception.",
        "The guest Wi-Fi password changes on the first Monday of every month.",
        id="a quoted name (the network's) given for another thing (its password)",
    ),
]  # fmt: skip


@pytest.mark.parametrize("text, question, wrong, on_topic, right", CONTRADICTED)
def test_a_number_or_name_the_sentence_on_its_topic_states_otherwise_is_not_cited(
    text: str, question: str, wrong: str, on_topic: str, right: str
) -> None:
    contradicted = attribute(wrong, [passage(1, text)], HashEmbedder(), question=question)
    assert contradicted.unsupported == [wrong] and contradicted.uncited
    assert markers(contradicted.text) == [] and contradicted.citations == []
    assert contradicted.corrections == (on_topic,)
    agreed = attribute(right, [passage(1, text)], HashEmbedder(), question=question)
    assert markers(agreed.text) == [1] and agreed.corrections == ()


def test_what_the_neighbouring_sentence_states_is_still_cited() -> None:
    question = "Until which year has the Lisbon office lease been extended?"
    floor = attribute("Lisbon takes over the ground floor of the building in 2027.",
                      [passage(1, LEASE)], question=question)  # fmt: skip
    assert markers(floor.text) == [1]
    # without the question nothing singles the department head's row out: the number is found
    assert markers(attribute("A maximum of 40,000 EUR.", [passage(1, THRESHOLDS)]).text) == [1]


def test_one_of_several_numbers_on_the_topic_is_no_contradiction() -> None:
    text = "Year-end freeze: from 18 December to 4 January inclusive, only fixes are deployed."
    for answer in ["The year-end freeze starts on 18 December.", "The freeze ends on 4 January."]:
        result = attribute(answer, [passage(1, text)], question="When is the year-end freeze?")
        assert markers(result.text) == [1] and result.corrections == (), answer


def test_a_question_in_the_answer_gets_no_marker_unless_it_states_something_new() -> None:
    question = "How many days of annual leave do staff in Paris get?"
    answer = "How many days do Paris staff get [1]? Paris staff get 27 days of annual leave."
    result = attribute(answer, leave_passages(), question=question)
    assert result.text == (
        "How many days do Paris staff get? Paris staff get 27 days of annual leave [1]."
    )
    only_a_question = attribute('The question is "How many days do Paris staff get [1]?"',
                                leave_passages(), question=question)  # fmt: skip
    assert result.unsupported == [] and only_a_question.citations == []
    assert not only_a_question.unsupported  # a question states nothing to flag either
    tag = attribute("Paris staff get 35 days, right?", leave_passages(), question=question)
    assert tag.unsupported == ["Paris staff get 35 days, right?"] and tag.uncited


def test_a_year_in_a_lead_in_does_not_contradict_an_amount() -> None:
    text = "Leave entitlement by years of service (from 2024):\n- 5 to 10 years: 27 days"
    result = attribute("Staff with 5 to 10 years of service get 27 days of leave.",
                       [passage(1, text)], question="How much leave after 5 years of service?")  # fmt: skip
    assert markers(result.text) == [1] and result.corrections == ()


def test_a_contradicted_clause_of_a_compound_sentence_is_not_cited() -> None:
    answer = (
        "The Lisbon office lease was extended until 2027 and the lease of the office "
        "was approved by the board."
    )
    result = attribute(answer, [passage(1, LEASE + "\nThe board approved the lease in March.")],
                       question="Until which year has the Lisbon office lease been extended?")  # fmt: skip
    assert markers(result.text) == [] and result.uncited


def test_a_bare_name_is_a_claim_only_when_the_question_asks_for_one() -> None:
    courtesy = "Paris staff get 27 days of annual leave. Hope this helps, Maria!"
    result = attribute(courtesy, leave_passages(), question="How much leave do Paris staff get?")
    assert markers(result.text) == [1] and not result.uncited
    named = attribute("It is Maria.", leave_passages(), question="Who approves leave?")
    assert named.unsupported == ["It is Maria."]


def test_shared_names_do_not_carry_what_the_passage_never_says() -> None:
    text = "Travel policy. Applies to all staff of Juniper Logistics. Book flights 14 days ahead."
    invented = ("All staff of Juniper Logistics adhere to the highest standards of "
                "professionalism and ethics.")  # fmt: skip
    result = attribute(invented, [passage(1, text, title="Travel policy")],
                       question="Summarise the travel policy.")  # fmt: skip
    assert result.citations == [] and result.unsupported == [invented]
    said = attribute("All staff of Juniper Logistics book flights 14 days ahead.",
                     [passage(1, text, title="Travel policy")],
                     question="Summarise the travel policy.")  # fmt: skip
    assert markers(said.text) == [1]


@pytest.mark.parametrize(
    ("text", "question", "answer"),
    [
        (
            "The data protection officer is Hélène Marchal, based in Paris. Questions about "
            "the data retention policy go to Marc Dupont in legal.",
            "Who is the data protection officer?",
            "The data protection officer for the data policy is Marc Dupont.",
        ),
        (
            "Brahui is written in the Arabic script since the second half of the 20th "
            "century. In Pakistan the Nastaliq style is used in writing. Some scholars "
            "proposed a Latin script for writing Brahui.",
            "What script is Brahui written in?",
            "Brahui is written in the Latin script.",
        ),
    ],
)
def test_a_name_from_a_sentence_on_a_neighbouring_topic_is_not_cited(text, question, answer):
    """An exemption tried in session 23 (a name another on-topic sentence states is no
    contradiction) cited these: a review's probes; it was withdrawn."""
    result = attribute(answer, [passage(1, text)], question=question)
    assert result.citations == [] and result.corrections
