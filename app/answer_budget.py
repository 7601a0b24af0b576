"""Text Hearth writes in place of the model's answer, cut to the client's `max_tokens`.

The model's own answer is cut as it is generated: the engines stop at `max_tokens`. A quote
that replaces it (up to 400 characters of a source sentence, with a note saying why) or an
"I don't know" is not generated, so a client asking for 20 tokens got 130. Such a text is cut
here, counted with the model's tokenizer as `usage` counts tokens: kept whole if it fits; else
without Hearth's notes to the reader (the `quoted` and `abstained` fields still say what they
said); else cut after a word with an ellipsis, a quote keeping its closing mark and its [n]
marker, so that it still leads to its source. Citations and sources are not touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

ELLIPSIS = "…"
_QUOTE = re.compile(r"“(?P<span>.*)” (?P<marker>\[\d+\])", re.DOTALL)  # app.quote.quote's text
_WORD_END = re.compile(r"\S+")
_DANGLING = " \t\n.,;:-–—(“\"'"  # not left before the ellipsis (a full stop: it ends there)


def fit(
    text: str, budget: int, count: Callable[[str], int], notes: Sequence[str] = ()
) -> tuple[str, bool]:
    """`text` within `budget` tokens as `count` counts them, and whether it had to be cut.
    `notes`: the suffixes (`app.quote.reader_note` forms) dropped first, all at once."""
    if count(text) <= budget:
        return text, False
    body = _without_notes(text, notes)
    if count(body) <= budget:
        return body, True
    quoted = _QUOTE.fullmatch(body)
    if quoted:
        marker = quoted["marker"]
        cut = _longest(quoted["span"], lambda head: f"“{head}{ELLIPSIS}” {marker}", budget, count)
        if cut is not None:
            return cut, True
    cut = _longest(body, lambda head: head + ELLIPSIS, budget, count, at_least=1)
    return (cut if cut is not None else _characters(body, budget, count)), True


def _without_notes(text: str, notes: Sequence[str]) -> str:
    """`text` without the notes it ends with, in any order."""
    stripped = True
    while stripped:
        stripped = False
        for note in notes:
            if note and text.endswith(note):
                text, stripped = text.removesuffix(note), True
    return text.rstrip()


def _longest(
    text: str,
    shape: Callable[[str], str],
    budget: int,
    count: Callable[[str], int],
    at_least: int = 0,
) -> str | None:
    """`shape` of the most leading words of `text` that keep it within `budget`, at least
    `at_least` of them (None when even that many do not fit). Counts grow with the words
    kept, so a binary search finds them; each candidate is counted itself, so what it returns
    always fits."""
    ends = [0] + [m.end() for m in _WORD_END.finditer(text)]

    def candidate(words: int) -> str:
        return shape(text[: ends[words]].rstrip(_DANGLING))

    low, high, best = at_least, len(ends) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if count(candidate(middle)) <= budget:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return None if best is None else candidate(best)


def _characters(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The longest leading characters of `text` within `budget`: for a budget smaller than
    its first word (one token of a long word)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]
