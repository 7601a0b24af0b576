"""A quoted answer for when the model's own answer states nothing the sources support, or
gives no figure where the question asks for one.

The bundled 135M model often writes a sentence no passage states ("The most expensive bike I
can lease is a 2022 BMW 3 Series"), restates the question, or describes the passages instead
of answering. Attribution finds no support for any of it, so showing it, even flagged, asks
the reader to trust text nobody can check. The sentence retrieval found closest to the question
is checkable by construction, and on corpus/ it holds the asked fact more often than the
model's answers do (docs/EVALUATION.md, "Quoted answers"). Hearth then shows that sentence,
quoted and cited, and says why. A cited answer can answer nothing too ("The Lisbon office is
located in a renovated warehouse near the river [2]" for its address): when the question asks
for a figure and the answer gives none, a close sentence that gives one replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from app.attribution import Attribution, cite, without_markers
from app.figures import (
    answers_figure,
    asks_for_figure,
    asks_for_share,
    asks_when_it_happened,
    counted_thing,
    counted_word,
    counts,
    dates_it,
    names_counted,
    numbers_in,
    other_counts,
)
from app.negation import denied_by_citations, denied_figures, denied_premise, denies
from app.qualifiers import (
    Qualifier,
    Rows,
    asked_qualifiers,
    asked_years,
    in_context,
    of_other_years,
)
from app.snippets import card_text
from index.protocols import Embedder
from index.search import ScoredSentence
from index.sentences import is_question, sentences
from index.terms import adds_nothing
from index.types import Passage

QUOTED_NOTE = (
    "The model's own answer was not supported by the sources, so this quotes the closest "
    "sentence they hold."
)
FIGURELESS_NOTE = (
    "The model's own answer gave no figure, date or number for a question that asks for one, "
    "so this quotes a close sentence of the sources that does."
)
DECLINED_NOTE = (
    "The model's own answer was that it did not know, yet the sources scored as likely to hold "
    "one, so this quotes the closest sentence they hold."
)
OTHER_ROW_NOTE = (
    "The model's own answer came from a source sentence that does not name what the question "
    "asks about, so this quotes the closest sentence that does."
)
NEGATED_NOTE = (
    "The model's own answer states what its source denies or excludes, so this quotes the "
    "closest sentence the sources hold."
)
CONTRADICTED_NOTE = (
    "The model's own answer denies a number its source states, so this quotes the closest "
    "sentence the sources hold."
)
UNCOUNTED_NOTE = (
    "The model's own answer gave a number for something other than what the question counts, "
    "so this quotes a close sentence of the sources that counts it."
)
QUOTE_NOTES = (
    QUOTED_NOTE,
    FIGURELESS_NOTE,
    DECLINED_NOTE,
    OTHER_ROW_NOTE,
    NEGATED_NOTE,
    CONTRADICTED_NOTE,
    UNCOUNTED_NOTE,
)
# Why an answer is a quote, as a code clients can branch on (the note's wording may change)
QUOTE_REASON_CODES = {
    QUOTED_NOTE: "unsupported",
    FIGURELESS_NOTE: "no_figure",
    DECLINED_NOTE: "model_declined",
    OTHER_ROW_NOTE: "other_row",
    NEGATED_NOTE: "negated",
    CONTRADICTED_NOTE: "contradicted",
    UNCOUNTED_NOTE: "other_count",
}
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
QUOTE_CHARS = 400  # a table flattened into one "sentence" is cut, not quoted whole
_WORD = re.compile(r"\w")
_LINK = re.compile(r"(?:https?://|www\.)\S+|\b\S+ dot (?:io|com|org|net|ru|ua)\S*", re.IGNORECASE)
# "This page is for people in the finance group who process supplier invoices.": a sentence
# about the document itself, close to any question on its subject, answers none of them
_ABOUT_ITSELF = re.compile(
    r"\W*(?:this|the\s+present)\s+(?:page|document|guide|section|article|note|faq)\b"
    r"(?!\s*(?:,|'s|’s))",
    re.IGNORECASE,
)
# Whether two words name one thing ("workers", "employees"): the embedder's judgement
Alike = Callable[[str, str], bool]
# MiniLM cosines of two bare words, measured: employees/workers 0.82, soldiers/troops 0.88,
# cars/vehicles 0.86, employees/staff 0.71; laptops/trucks 0.43, employees/offices 0.59,
# employees/customers 0.57, laptops/computers 0.64 (a laptop is one, but the count may not be)
SAME_THING_COSINE = 0.70
FIGURE_RANK = 3  # a sentence with a figure is preferred from among the closest this many
FIGURE_MARGIN = 0.25  # … and only if its closeness is this near the closest one's
# For "how many X", a sentence whose number counts X ("from 92 to 140 open desks"), and for
# "what percentage", one that gives a share, is worth looking further for, among this many
COUNT_RANK = 12
COUNT_MARGIN = 0.5  # … if its closeness is this near the closest one's ("Room 12 laptops …")


def embedder_alike(embedder: Embedder) -> Alike:
    """Two words name one thing when the embedder puts them this close (SAME_THING_COSINE)."""

    def alike(one: str, other: str) -> bool:
        vectors = embedder.embed_documents([one, other])
        return float(np.dot(vectors[0], vectors[1])) >= SAME_THING_COSINE

    return alike


def reader_note(note: str) -> str:
    """A note to the reader as Hearth appends it to an answer (`without_notes` in
    app.reader_notes strips it)."""
    return f"\n\n({note})"


def quote_reason(
    attribution: Attribution,
    question: str = "",
    passages: Sequence[Passage] = (),
    rows: Rows | None = None,
    whole: Sequence[Passage] = (),
    alike: Alike | None = None,
) -> tuple[str | None, list[str]]:
    """Why the model's answer gives way to a quote (the note that says so, or None), and for
    NEGATED_NOTE the terms it states that its sources deny, which `quote` needs (`denied`).

    An answer with text and no citation: nothing in it is backed by a source (unsupported, a
    restated question, or talk about the passages). Nor does a cited answer that gives no
    figure, date or number when the `question` asks for one: "The internal phone extension is
    available around the clock [1]" answers nothing. Nor does the model's "I don't know" where
    the evidence passed the abstention threshold (the only way an answer reaches the model):
    on corpus/ and SQuAD it said so for 5 of 471 answerable questions that passed and for none
    of 112 unanswerable ones (docs/EVALUATION.md, "The model's own I don't know"): the
    calibrated abstention is the evidence's. Nor does a cited answer whose cited sentences do
    not name the office, level or tier the question singles out where the `passages` name it
    (app/qualifiers.py): "From the fourth day [1]" for Lisbon, cited by Berlin's row. An
    answer attribution could not check at all is left as it is, flagged. Nor does a cited
    answer that states a name, number or term its cited passages (read `whole`, as retrieved)
    mention only to deny or exclude it (app/negation.py): "Monday [1]" from "every Tuesday …,
    so that nobody starts or ends a shift on a weekend or a Monday morning", nor one that
    denies a number they state ("You can't get 27 days [1]" from "… receive 27 working days").
    Nor does a cited answer to "how many X" that counts something else and whose text and
    cited sentences never name X (app/figures.py): "A total of 3 trucks were used for 15 hours
    [1]" for how many laptops were delivered."""
    if not attribution.checked or not attribution.text:
        return None, []
    if attribution.model_abstained:
        return DECLINED_NOTE, []
    if not attribution.citations:
        return QUOTED_NOTE, []
    if asks_for_figure(question) and not answers_figure(
        without_markers(attribution.text), question
    ):
        return FIGURELESS_NOTE, []
    if _counts_something_else(attribution, question, alike):
        return UNCOUNTED_NOTE, []
    denied = denied_by_citations(attribution.text, passages, question, whole) if passages else []
    if denied:
        return NEGATED_NOTE, denied
    if passages and denied_figures(attribution.text, passages, question, whole):
        return CONTRADICTED_NOTE, []
    asked, by_marker = asked_qualifiers(question), dict(enumerate(passages, start=1))
    if not asked:
        return None, []
    rows = rows or Rows.of_passages(passages)
    cited = [(c.span, by_marker[c.marker]) for c in attribution.citations if c.marker in by_marker]
    spans = [_in_context(span, passage) for span, passage in cited]
    from_other_rows = bool(spans) and all(rows.names_another(span, asked) for span in spans)
    if from_other_rows or _figures_from_other_rows(
        attribution.text, question, [passage for _, passage in cited], rows, asked
    ):
        return OTHER_ROW_NOTE, []
    return None, []


def _counts_something_else(
    attribution: Attribution, question: str, alike: Alike | None = None
) -> bool:
    """Whether an answer to "how many X" neither names X nor its cited sentences do, and it, or
    the cited sentence that holds its number, counts something else: "A total of 3 trucks
    were used [1]", or "200 [1]" cited by "… and 200 laptops" for how many tents. A word
    `alike` says means X is no other thing: "1,200 workers" for how many employees."""
    counted = counted_thing(question)
    if not counted:
        return False
    answer = without_markers(attribution.text)
    spans = [c.span for c in attribution.citations]
    if names_counted(" ".join([answer, *spans]), counted):
        return False
    given = numbers_in(answer)
    others = other_counts(answer, counted)
    for span in spans:
        others += other_counts(span, counted, given)
    word = counted_word(question) or counted
    return any(alike is None or not alike(other, word) for other in dict.fromkeys(others))


def _figures_from_other_rows(
    answer: str, question: str, cited: Sequence[Passage], rows: Rows, asked: Sequence[Qualifier]
) -> bool:
    """Whether a figure the answer gives (and the question does not) stands, in the passages
    it cites, only in other rows: "The daily meal voucher in Paris is 7.50 EUR [1]", where
    7.50 EUR is Berlin's line and the Paris line says there are none."""
    figures = set(_FIGURE.findall(without_markers(answer))) - set(_FIGURE.findall(question))
    if not figures:
        return False
    lines = [_in_context(line, p) for p in cited for line in sentences(p.chunk.text)]
    for figure in figures:
        holding = [line for line in lines if figure in _FIGURE.findall(line)]
        if holding and all(rows.names_another(line, asked) for line in holding):
            return True
    return False


def _by_chunk(passages: Sequence[Passage]) -> dict[int | None, Passage]:
    return {p.chunk.id: p for p in passages}


def _in_context(sentence: str, passage: Passage) -> str:
    """The sentence under its document's title and headings: on the "Lisbon office" page,
    "Address: Rua das Gaivotas 31" is Lisbon's."""
    return in_context(sentence, (passage.document.title, *passage.chunk.heading_path))


def quote(
    passages: Sequence[Passage],
    sentences: Sequence[ScoredSentence],
    visible: int | None = None,
    corrections: Sequence[str] = (),
    question: str = "",
    note: str = QUOTED_NOTE,
    rows: Rows | None = None,
    denied: Sequence[str] = (),
) -> Attribution | None:
    """The sentence closest to the question among those the reader can see in the shown
    passages of the best-ranked document, quoted with its [n] marker and `note`; None when there
    is none (or, for FIGURELESS_NOTE, when none of the closest gives a figure: it would answer
    no better than the model did).
    `visible`: how many characters of a passage its source card shows (all when None; which
    ones: `app.snippets.card_text`).
    `corrections` (Attribution.corrections) come first: where the model's answer stated a
    number or name that a sentence on the same topic contradicts ("48 %" clicked the link,
    where "Clicked the link: 9 %" says otherwise), that sentence is what the sources say on it.

    Only the first document's passages compete: fused retrieval ranks the right document first
    far more often than one sentence's cosine picks it (on corpus/, the closest sentence of
    any shown passage cited a wrong document for 3 of 22 quotes, all of whose right document
    was ranked first). Only sentences still in the visible part of a passage's (condensed)
    text compete, so the quote is in the source card it cites; a sentence that is only a
    citation marker ("[12]") has nothing to quote. Closeness is to the question itself first,
    then to the conversation: "and in Berlin?" wants the Berlin sentence, not the Paris one
    before it; it counts the question's rarer words a sentence shares besides its cosine
    (`ScoredSentence.closeness`).
    A sentence that is mostly web addresses (a list of endnotes) comes last of all.
    A sentence that is itself a question never answers one (an FAQ's "Q: What is the Wi-Fi?"
    sits closest to a question about Wi-Fi): it is quoted only when nothing else is left; the
    sentences after it answer it (`index.search.answering`). Nor does one about the document
    itself ("This page is for people in the finance group who process supplier invoices."): it
    comes after the others.
    When the `question` asks for a figure ("how big", "when", "what's the address"), a sentence
    of the closest few that holds one beats one that only names the topic: "1,500 EUR gross for
    each referred person" over "If you refer several people, you get a bonus for each hire."
    After an answer that stated what its source denies (`denied`, NEGATED_NOTE), a sentence
    denying it comes first: "… every Tuesday …, so that nobody starts … on a Monday morning"
    says what is true instead. After an answer that counted something else (UNCOUNTED_NOTE),
    only a sentence with a figure that names what the question counts is quoted; None if none.
    """
    if not passages:
        return None
    top = passages[0].document.id
    shown = {p.chunk.id: (n, card_text(p, sentences, visible))
             for n, p in enumerate(passages, start=1)
             if p.chunk.id is not None and p.document.id == top}  # fmt: skip
    candidates = [
        s for s in sentences
        if s.chunk_id in shown and s.text in shown[s.chunk_id][1]
        and _WORD.search(without_markers(s.text))
    ]  # fmt: skip
    if not candidates:
        return None
    # Another row's sentence (Berlin's for a Paris question, P3's for P2) comes after the
    # others; after an answer from another row, the row asked about comes first.
    this_row = {id(s): True for s in candidates}
    named = {id(s): True for s in candidates}
    asked, by_chunk = asked_qualifiers(question), _by_chunk(passages)
    if asked:
        rows = rows or Rows.of_passages(passages)
        # the row asked about first: after an answer from another row, a sentence naming it;
        # else one naming what the sources list as rows (Lisbon beside Paris), not a topic
        singled_out = rows.discussed(asked)
        if note != OTHER_ROW_NOTE:
            singled_out = tuple(q for q in singled_out if rows.has_siblings(q))
        for s in candidates:
            text = _in_context(s.text, by_chunk[s.chunk_id])
            this_row[id(s)] = not rows.names_another(text, asked)
            named[id(s)] = all(q.named_in(text) for q in singled_out)
    ranked = sorted(
        candidates,
        key=lambda s: (
            not _mostly_links(s.text),
            not is_question(s.text),
            this_row[id(s)] and named[id(s)],
            bool(denied) and denies(s.text, denied),
            s.text.strip() in corrections,
            not _ABOUT_ITSELF.match(s.text),
            not adds_nothing(without_markers(s.text), question),  # a line naming the subject
            s.closeness,
            s.pertinence,
            s.own_closeness,  # among the sentences answering one FAQ question
            -shown[s.chunk_id][0],
        ),
        reverse=True,
    )
    best = ranked[0]
    counted = counted_thing(question)
    if asks_for_figure(question) and best.text.strip() not in corrections:
        share = asks_for_share(question)
        precise = (
            s for s in ranked[:COUNT_RANK]
            if (counts(without_markers(s.text), counted) if counted else share)
            and _gives_figure(s, best, question, COUNT_MARGIN) and this_row[id(s)]
            and named[id(s)] >= named[id(best)]
        )  # fmt: skip
        best = next(precise, None) or next(
            (s for s in ranked[:FIGURE_RANK]
             if _gives_figure(s, best, question) and this_row[id(s)]
             and named[id(s)] >= named[id(best)]),
            best,
        )  # fmt: skip
    if note == UNCOUNTED_NOTE:
        # only a sentence that counts what was asked: "… and 200 laptops delivered …"
        counting = [
            s for s in ranked
            if names_counted(s.text, counted or "")
            and answers_figure(without_markers(s.text), question, moments=False)
            and this_row[id(s)]
        ]  # fmt: skip
        if not counting:
            return None  # the best-ranked source counts no such thing (rag abstains)
        best = counting[0]
    # a count is wanted after a count of something else, and a sentence counting what was
    # asked answers it: "Overall there were no significant effects of …" denies no premise of
    # "how many women need treating", it only shares the question's words. (After an answer
    # that gave no figure the denial still comes first: "The Berlin office has no car park."
    # then stands for how many parking spaces it has.)
    answered = bool(counted) and counts(without_markers(best.text), counted or "")
    premise = frozenset() if note == UNCOUNTED_NOTE or answered else denied_premise(question)
    if premise and best.text.strip() not in corrections and not denies(best.text, premise):
        # "How much is a parking space in the Berlin office car park?": "The Berlin office has
        # no car park." among the closest few answers it better than any figure
        best = next(
            (s for s in ranked[:FIGURE_RANK]
             if denies(s.text, premise) and this_row[id(s)] and named[id(s)] >= named[id(best)]),
            best,
        )  # fmt: skip
    span = " ".join(without_markers(best.text).split())  # list markers: never in a sentence
    if note == FIGURELESS_NOTE and not answers_figure(span, question, moments=False):
        return None
    if note == OTHER_ROW_NOTE and not (named[id(best)] and this_row[id(best)]):
        return None  # no sentence of it names what was asked: it would answer no better
    marker = shown[best.chunk_id][0]
    citation = cite(marker, passages[marker - 1], span, QUOTE_CHARS)
    text = f"“{citation.span}” [{marker}]{reader_note(note)}"
    return Attribution(text, [citation], [], False, False)


def says_nothing_asked(quoted: Attribution, question: str) -> bool:
    """Whether a quote answers nothing the question asks, so that Hearth says it does not know
    (the quoted passage still among its sources). Each is read in the quote's context, its
    document's title and heading. Measured on four question sets (docs/EVALUATION.md §4,
    session 24):
    - for when a past event happened ("When did …", "When was …"), it gives no date, time or
      moment (a number alone is none: "held in Room 4", session 25; nor is a schedule, "open
      Monday to Friday, 08:00 to 19:30", session 26) and denies no premise of
      the question: "Organs: EU, WTO and OECD" for when Estonia joined the OECD. (A present
      "when" is as often answered in words: "every other week".)
    - for a year the question asks about as a time ("in 2020"), it names only other years:
      "throughout 2015 and 2016, the rate stayed …" for Estonia's unemployment rate in 2020."""
    if not quoted.citations:
        return False
    citation = quoted.citations[0]
    in_place = in_context(citation.span, (citation.title, citation.heading))
    if asks_when_it_happened(question) and not dates_it(in_place, question):
        return not denies(citation.span, denied_premise(question))
    return of_other_years(in_place, asked_years(question))


def _mostly_links(text: str) -> bool:
    """A sentence that is mostly web addresses (an endnote list: "https://t.me/…;
    https://meduza dot io/…") says nothing a reader asked: it is quoted only when nothing
    else is left."""
    linked = sum(len(m.group()) for m in _LINK.finditer(text))
    return linked * 2 >= len(text.strip()) > 0


def _gives_figure(
    sentence: ScoredSentence,
    closest: ScoredSentence,
    question: str,
    margin: float = FIGURE_MARGIN,
) -> bool:
    """Whether a sentence near the closest (within `margin` of its closeness) gives a figure
    the question does not hold: for "how much was he fined", a fine, not the year of the
    incident (`answers_figure`)."""
    return (
        answers_figure(without_markers(sentence.text), question, moments=False)
        and not is_question(sentence.text)
        and sentence.closeness >= closest.closeness - margin
    )
