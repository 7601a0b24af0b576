"""A quoted answer for when the model's own answer states nothing the sources support.

The bundled 135M model often writes a sentence no passage states ("The most expensive bike I
can lease is a 2022 BMW 3 Series"), restates the question, or describes the passages instead
of answering. Attribution finds no support for any of it, so showing it, even flagged, asks
the reader to trust text nobody can check. The sentence retrieval found closest to the question
is checkable by construction, and on corpus/ it holds the asked fact more often than the
model's answers do (docs/EVALUATION.md, "Quoted answers"). Hearth then shows that sentence,
quoted and cited, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.attribution import Attribution, asks, cite, without_markers
from index.search import ScoredSentence
from index.types import Passage

QUOTED_NOTE = (
    "The model's own answer was not supported by the sources, so this quotes the closest "
    "sentence they hold."
)
FIGURELESS_NOTE = (
    "The model's own answer gave no figure, date or number for a question that asks for one, "
    "so this quotes the closest sentence the sources hold."
)
QUOTE_CHARS = 400  # a table flattened into one "sentence" is cut, not quoted whole
_WORD = re.compile(r"\w")
# A figure, a date or a number: "1,500 EUR", "in September", "every two weeks", "monthly".
_FIGURE = re.compile(
    r"\d|\b(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"|(?i:\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|hundred|thousand|million|billion|dozen|half|daily|weekly|monthly|yearly"
    r"|annually|quarterly)\b)"
)
# "How big is the referral bonus?", "By when do I use the days?", "What's the address?": the
# answer is a figure, a date or a number, which a sentence restating the topic lacks.
_WANTS_FIGURE = re.compile(
    r"\bhow\s+(?:many|much|long|soon|big|large|old|often|far|quickly|fast|early|late)\b"
    r"|\bup\s+to\s+what\b|\bwhat\s+number\b"
    r"|\b(?:what|which)(?:'s|\s+is|\s+are)\s+the\s+(?:most|least)\s+(?:I|you|we|they|one)\b"
    r"|\b(?:what|which)(?:'s|\s+is|\s+are)?(?:\s+the|\s+our|\s+my)?\s+(?:\w+\s+)?"
    r"(?:percentage|share|size|number|amount|price|cost|rate|limit|budget|deadline|date|time"
    r"|year|day|month|target|maximum|minimum|extension|salary|address|phone)s?\b",
    re.IGNORECASE,
)
# "When" opens the question (or a sentence of it) or ends it: "What is formed when …" asks for
# a thing, and so does "When B cells begin to replicate, what do their offspring become?".
_WHEN = re.compile(
    r"(?:^|[.!?,;:]\s*)(?:(?:and|so|but|by|since|until)\s+)?when\b|\bwhen\s*\?\s*$", re.IGNORECASE
)
_CLAUSE_THEN_ASKS = re.compile(r",\s*(?:what|who|whom|whose|which|where|why|how)\b", re.IGNORECASE)
FIGURE_RANK = 3  # a sentence with a figure is preferred from among the closest this many
FIGURE_MARGIN = 0.25  # … and only if its cosine is this close to the closest one's


def reader_note(note: str) -> str:
    """A note to the reader as Hearth appends it to an answer (rag.without_notes strips it)."""
    return f"\n\n({note})"


def quote_reason(attribution: Attribution, question: str = "") -> str | None:
    """Why the model's answer gives way to a quote (the note that says so), or None.

    An answer with text, no citation, and no "I don't know" from the model: nothing in it is
    backed by a source (unsupported, a restated question, or talk about the passages). Nor
    does a cited answer that gives no figure, date or number when the `question` asks for one:
    "The internal phone extension is available around the clock [1]" answers nothing. An
    answer attribution could not check at all is left as it is, flagged."""
    if not attribution.checked or not attribution.text or attribution.model_abstained:
        return None
    if not attribution.citations:
        return QUOTED_NOTE
    if wants_figure(question) and not holds_figure(without_markers(attribution.text)):
        return FIGURELESS_NOTE
    return None


def wants_figure(question: str) -> bool:
    if _WANTS_FIGURE.search(question):
        return True
    return bool(_WHEN.search(question)) and not _CLAUSE_THEN_ASKS.search(question)


def holds_figure(text: str) -> bool:
    return bool(_FIGURE.search(text))


def quote(
    passages: Sequence[Passage],
    sentences: Sequence[ScoredSentence],
    visible: int | None = None,
    corrections: Sequence[str] = (),
    question: str = "",
    note: str = QUOTED_NOTE,
) -> Attribution | None:
    """The sentence closest to the question among those the reader can see in the shown
    passages of the best-ranked document, quoted with its [n] marker; None when there is none.
    `visible`: how many characters of a passage its source card shows (all when None).
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
    before it.
    A sentence that is itself a question never answers one (an FAQ's "Q: What is the Wi-Fi?"
    sits closest to a question about Wi-Fi): it is quoted only when nothing else is left.
    When the `question` asks for a figure ("how big", "when", "what's the address"), a sentence
    of the closest few that holds one beats one that only names the topic: "1,500 EUR gross for
    each referred person" over "If you refer several people, you get a bonus for each hire."
    """
    if not passages:
        return None
    top = passages[0].document.id
    shown = {p.chunk.id: (n, p.chunk.text[:visible]) for n, p in enumerate(passages, start=1)
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
            not asks(s.text),
            s.text.strip() in corrections,
            s.cosine,
            s.relevance,
            -shown[s.chunk_id][0],
        ),
        reverse=True,
    )
    best = ranked[0]
    if wants_figure(question) and best.text.strip() not in corrections:
        best = next((s for s in ranked[:FIGURE_RANK] if _holds_figure(s, best)), best)
    marker = shown[best.chunk_id][0]
    span = " ".join(without_markers(best.text).split())  # list markers: never in a sentence
    citation = cite(marker, passages[marker - 1], span, QUOTE_CHARS)
    text = f"“{citation.span}” [{marker}]{reader_note(note)}"
    return Attribution(text, [citation], [], False, False)


def _holds_figure(sentence: ScoredSentence, closest: ScoredSentence) -> bool:
    return (
        holds_figure(without_markers(sentence.text))
        and not asks(sentence.text)
        and sentence.cosine >= closest.cosine - FIGURE_MARGIN
    )
