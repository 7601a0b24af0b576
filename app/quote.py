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
from collections.abc import Sequence

from app.attribution import Attribution, cite, without_markers
from app.figures import answers_figure, asks_for_figure, gives_figure
from app.snippets import card_text
from index.search import ScoredSentence
from index.sentences import is_question
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
QUOTE_NOTES = (QUOTED_NOTE, FIGURELESS_NOTE, DECLINED_NOTE)
# Why an answer is a quote, as a code clients can branch on (the note's wording may change)
QUOTE_REASON_CODES = {
    QUOTED_NOTE: "unsupported",
    FIGURELESS_NOTE: "no_figure",
    DECLINED_NOTE: "model_declined",
}
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
FIGURE_RANK = 3  # a sentence with a figure is preferred from among the closest this many
FIGURE_MARGIN = 0.25  # … and only if its closeness is this near the closest one's


def reader_note(note: str) -> str:
    """A note to the reader as Hearth appends it to an answer (rag.without_notes strips it)."""
    return f"\n\n({note})"


def quote_reason(attribution: Attribution, question: str = "") -> str | None:
    """Why the model's answer gives way to a quote (the note that says so), or None.

    An answer with text and no citation: nothing in it is backed by a source (unsupported, a
    restated question, or talk about the passages). Nor does a cited answer that gives no
    figure, date or number when the `question` asks for one: "The internal phone extension is
    available around the clock [1]" answers nothing. Nor does the model's "I don't know" where
    the evidence passed the abstention threshold (the only way an answer reaches the model):
    on corpus/ and SQuAD it said so for 5 of 471 answerable questions that passed and for none
    of 112 unanswerable ones (docs/EVALUATION.md, "The model's own I don't know"): the
    calibrated abstention is the evidence's. An answer attribution could not check at all is
    left as it is, flagged."""
    if not attribution.checked or not attribution.text:
        return None
    if attribution.model_abstained:
        return DECLINED_NOTE
    if not attribution.citations:
        return QUOTED_NOTE
    if asks_for_figure(question) and not answers_figure(
        without_markers(attribution.text), question
    ):
        return FIGURELESS_NOTE
    return None


def quote(
    passages: Sequence[Passage],
    sentences: Sequence[ScoredSentence],
    visible: int | None = None,
    corrections: Sequence[str] = (),
    question: str = "",
    note: str = QUOTED_NOTE,
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
    ranked = sorted(
        candidates,
        key=lambda s: (
            not _mostly_links(s.text),
            not is_question(s.text),
            s.text.strip() in corrections,
            not _ABOUT_ITSELF.match(s.text),
            s.closeness,
            s.pertinence,
            s.own_closeness,  # among the sentences answering one FAQ question
            -shown[s.chunk_id][0],
        ),
        reverse=True,
    )
    best = ranked[0]
    if asks_for_figure(question) and best.text.strip() not in corrections:
        best = next((s for s in ranked[:FIGURE_RANK] if _gives_figure(s, best)), best)
    span = " ".join(without_markers(best.text).split())  # list markers: never in a sentence
    if note == FIGURELESS_NOTE and not gives_figure(span):
        return None
    marker = shown[best.chunk_id][0]
    citation = cite(marker, passages[marker - 1], span, QUOTE_CHARS)
    text = f"“{citation.span}” [{marker}]{reader_note(note)}"
    return Attribution(text, [citation], [], False, False)


def _mostly_links(text: str) -> bool:
    """A sentence that is mostly web addresses (an endnote list: "https://t.me/…;
    https://meduza dot io/…") says nothing a reader asked: it is quoted only when nothing
    else is left."""
    linked = sum(len(m.group()) for m in _LINK.finditer(text))
    return linked * 2 >= len(text.strip()) > 0


def _gives_figure(sentence: ScoredSentence, closest: ScoredSentence) -> bool:
    return (
        gives_figure(without_markers(sentence.text))
        and not is_question(sentence.text)
        and sentence.closeness >= closest.closeness - FIGURE_MARGIN
    )
