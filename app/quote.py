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

from app.attribution import Attribution, Citation
from index.search import ScoredSentence
from index.types import Passage

QUOTED_NOTE = (
    "The model's own answer was not supported by the sources, so this quotes the closest "
    "sentence they hold."
)
QUOTE_CHARS = 400  # a table flattened into one "sentence" is cut, not quoted whole
_LIST_MARKER = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")  # "- Berlin employees can lease…"


def needs_quote(attribution: Attribution) -> bool:
    """An answer with text, no citation, and no "I don't know" from the model: nothing in it
    is backed by a source (unsupported, a restated question, or talk about the passages)."""
    return bool(attribution.text) and not attribution.citations and not attribution.model_abstained


def quote(passages: Sequence[Passage], sentences: Sequence[ScoredSentence]) -> Attribution | None:
    """The sentence closest to the question (the conversation, for a follow-up) among the
    shown passages of the best-ranked document, quoted with its [n] marker; None when no
    scored sentence belongs to them.

    Only the first document's passages compete: fused retrieval ranks the right document first
    far more often than one sentence's cosine picks it (on corpus/, the closest sentence of
    any shown passage cited a wrong document for 3 of 22 quotes, all of whose right document
    was ranked first).
    """
    if not passages:
        return None
    top = passages[0].document.id
    number = {p.chunk.id: n for n, p in enumerate(passages, start=1)
              if p.chunk.id is not None and p.document.id == top}  # fmt: skip
    candidates = [s for s in sentences if s.chunk_id in number and s.text.strip()]
    if not candidates:
        return None
    # a question never answers one: an FAQ's "Q: What is the Wi-Fi?" sits closest to a question
    best = max(candidates, key=lambda s: (not _asks(s.text), s.relevance, -number[s.chunk_id]))
    marker = number[best.chunk_id]
    span = _LIST_MARKER.sub("", " ".join(best.text.split()))
    if len(span) > QUOTE_CHARS:
        span = span[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    passage = passages[marker - 1]
    citation = Citation(
        marker,
        passage.document.id,
        passage.document.title,
        passage.url,
        " > ".join(passage.chunk.heading_path),
        span,
    )
    text = f"“{span}” [{marker}]\n\n({QUOTED_NOTE})"
    return Attribution(text, [citation], [], False, False)


def _asks(text: str) -> bool:
    return text.rstrip().rstrip("\"'”’)").endswith("?")
