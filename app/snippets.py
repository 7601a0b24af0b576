"""What a source card shows of a passage: at most SNIPPET_CHARS, holding its closest sentence.

The card showed a passage's first 400 characters, so the sentence an answer came from was often
cut off ("…the reimbursement limit per night is:" without the table row; "Where is the Lisbon
office?" with the opening hours shown and the location sentence not), and a quote, which must
be on the card it cites, could only pick from what happened to come first. The window now
starts at the passage's sentence closest to the question when that sentence lies past the
first SNIPPET_CHARS, and ends at a word; an ellipsis marks each cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from index.search import ScoredSentence
from index.types import Passage

SNIPPET_CHARS = 400
ELLIPSIS = "…"


def card_text(
    passage: Passage, sentences: Sequence[ScoredSentence], limit: int | None = SNIPPET_CHARS
) -> str:
    """The passage's text as its source card shows it (all of it when `limit` is None)."""
    text = passage.chunk.text
    if limit is None or len(text) <= limit:
        return text
    own = [s for s in sentences if s.chunk_id == passage.chunk.id and s.text and s.text in text]
    closest = max(own, key=lambda s: s.closeness, default=None)
    start = 0
    if closest is not None:
        at = text.find(closest.text)
        if at + len(closest.text) > limit:  # past what the first `limit` characters show
            start = min(at, len(text) - limit)
            while 0 < start < at and not text[start - 1].isspace():  # begin at a word
                start += 1
    end = start + limit
    if end < len(text):
        space = text.rfind(" ", start + limit // 2, end + 1)  # end at a word, if there is one
        end = space if space > 0 else end
    shown = text[start:end].strip()
    return (ELLIPSIS if start else "") + shown + (ELLIPSIS if end < len(text) else "")


def source_view(
    number: int, passage: Passage, sentences: Sequence[ScoredSentence] = ()
) -> dict[str, Any]:
    """What a client sees of a passage: enough to check it (the part around its sentence
    closest to the question, as its card shows it), with a deep link."""
    document = passage.document
    return {
        "n": number,
        "document_id": document.id,
        "title": document.title,
        "kind": document.kind,
        "url": passage.url,
        "heading": " > ".join(passage.chunk.heading_path),
        "page": passage.chunk.page,
        "snippet": card_text(passage, sentences),
        "score": round(passage.score, 4),
        "modified": document.modified.isoformat() if document.modified else None,
        "revision": document.revision,
    }
