"""Word matching between a question and the sentences retrieved for it.

Sentence cosines from a small embedder miss what a reader sees at once: for "What percentage
of people clicked the link in the phishing test?", MiniLM put "Reported the email with the
Report phishing button: 48%" (0.68) above "Clicked the link: 9% (36 people)" (0.57). The words
the question shares with only a few of the retrieved sentences ("clicked", "link") say which
sentence is on its topic; the ones every sentence holds ("phishing") say nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


def stem(word: str) -> str:
    """Crude suffix stripping so that leave/leaves/leaving and policy/policies meet."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def term_overlap(terms: Sequence[str], texts: Sequence[str]) -> list[float]:
    """For each text, the share of the question's `terms` it holds (0..1), each term weighted
    by how rare it is among `texts` (log((n + 1) / (1 + texts holding it))): a term all of them
    hold weighs nothing."""
    wanted = {stem(term.casefold()) for term in terms}
    held = [{stem(word) for word in _WORD.findall(text.casefold())} & wanted for text in texts]
    weights = {
        term: math.log((len(texts) + 1) / (1 + sum(term in words for words in held)))
        for term in wanted
    }
    total = sum(weights.values())
    if total <= 0:
        return [0.0] * len(texts)
    return [sum(weights[term] for term in words) / total for words in held]
