"""What Hearth adds to an answer's text for its reader, and takes off again.

Notes ("Some statements in this answer are not supported…") and, for OpenAI-compatible
clients, a list of the sources the [n] markers lead to, are appended to an answer; a client
sends the answer back in its conversation history, where the model must see neither (a small
model shown them would write them itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.quote import QUOTE_NOTES, reader_note

UNCITED_NOTE = "Some statements in this answer are not supported by the sources shown."
# A short follow-up ("And outside the EU?") borrows the evidence of the question before it
# only when what it found holds one of its own words (index.search.hybrid_search), else an
# unrelated one would be answered. Its own words may miss the passage that answers it ("60
# euros elsewhere"): the reader is told how to ask.
FOLLOW_UP_NOTE = (
    "A short follow-up may not carry enough of the question before it; asking it as a whole "
    "question may find the answer."
)
# Hearth's notes as they end an answer: the first thing left out of a text cut to max_tokens
READER_NOTES = tuple(map(reader_note, (*QUOTE_NOTES, UNCITED_NOTE, FOLLOW_UP_NOTE)))


SOURCES_LEAD = "\n\nSources:\n"


def sources_footer(citations: Sequence[dict[str, Any]]) -> str:
    """What an answer's [n] markers lead to, as lines under its text: OpenAI-compatible chat
    clients show the text alone, so bare markers pointed nowhere ("" when nothing is cited)."""
    lines: dict[int, str] = {}
    for citation in sorted(citations, key=lambda c: c["marker"]):
        where = " > ".join(filter(None, [citation["title"], citation["heading"]]))
        link = f" ({citation['url']})" if citation.get("url") else ""
        lines.setdefault(citation["marker"], f"[{citation['marker']}] {where}{link}")
    return SOURCES_LEAD + "\n".join(lines.values()) if lines else ""


def without_sources_footer(answer: str) -> str:
    """`answer` without the `sources_footer` a /v1 client sends back in its history."""
    head, lead, tail = answer.rpartition(SOURCES_LEAD)
    if lead and all(line.startswith("[") for line in tail.strip().splitlines()):
        return head
    return answer


def without_notes(answer: str) -> str:
    """A past answer as the model sees it in the conversation: without Hearth's notes to the
    reader (a small model shown them would write them itself), without the list of sources a
    /v1 client sends back, and a quoted answer as the quote alone (a streamed one, as /v1
    clients send it back, also holds the draft it replaced)."""
    answer = without_sources_footer(answer.rstrip()).rstrip()
    for note in map(reader_note, QUOTE_NOTES):
        if answer.endswith(note):
            return answer.removesuffix(note).rsplit("\n\n", 1)[-1]
    return answer.replace(reader_note(UNCITED_NOTE), "").replace(reader_note(FOLLOW_UP_NOTE), "")
