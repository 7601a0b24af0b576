"""The words of a question: what it is searched by (BM25), weighed by (the evidence's term
coverage) and matched against the sentences retrieved for it.

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

MAX_QUERY_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
# English contractions and possessives: "didn't", "I'm", "what's", "Emberline's". Split at the
# apostrophe they leave fragments (didn, t, m, s) that hold no meaning yet, being rare or
# absent in documents, count as the question's rarest terms in the evidence's coverage.
_NEGATION = re.compile(r"(?:\b(ca)|\b(wo)|\b(sha)|(?<=\w))n['’]t\b", re.IGNORECASE)
_CLITIC = re.compile(r"(?<=\w)['’](?:s|m|re|ve|ll|d)\b", re.IGNORECASE)
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')  # an FTS5 phrase: in double quotes, its own doubled


def quoted_phrase(text: str) -> str:
    """`text` as one full-text phrase (FTS5's syntax): no operator or column filter inside."""
    return '"' + text.replace('"', '""') + '"'


def quoted_phrases(match: str) -> list[str]:
    """The phrases of an OR-expression of quoted phrases (search.fts_query), unquoted."""
    return [phrase.replace('""', '"') for phrase in _QUOTED.findall(match)]


STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "get",
        "got",
        "tell",
        "please",
    ]
)


def _negation(match: re.Match[str]) -> str:
    """didn't -> did not; can't, won't, shan't -> can not, will not, shall not."""
    can, will, shall = match.groups()
    return " can not" if can else " will not" if will else " shall not" if shall else " not"


def query_terms(text: str) -> list[str]:
    """The words free text is searched and weighed by: lower case, once each, stop words
    removed (unless nothing else is left), contractions and possessives undone."""
    text = _CLITIC.sub("", _NEGATION.sub(_negation, text))
    words = [w for w in _WORD.findall(text.casefold()) if w.strip("_")]
    content = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(content))[:MAX_QUERY_TERMS]


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
    hold weighs nothing. Terms none of them holds do not count either: they cannot tell one
    text from another, and would only shrink every share (a misspelt or absent word)."""
    wanted = {stem(term.casefold()) for term in terms}
    held = [{stem(word) for word in _WORD.findall(text.casefold())} & wanted for text in texts]
    found = set().union(*held)
    weights = {
        term: math.log((len(texts) + 1) / (1 + sum(term in words for words in held)))
        for term in found
    }
    total = sum(weights.values())
    if total <= 0:
        return [0.0] * len(texts)
    return [sum(weights[term] for term in words) / total for words in held]


# "And outside the EU?", "What about Berlin?", "How much is it for interns?": a follow-up that
# leans on the question before it, by a cue that continues it or a word that points back; or
# one too short to stand alone ("By when?", "why the rush?", "Which office did best?").
_CONTINUES = re.compile(
    r"^\W*(?:and|or|but|also|what about|how about|what if|same for|is that|does that|what of)\b",
    re.IGNORECASE,
)
_POINTS_BACK = re.compile(r"\b(?:it|that|this|those|these|they|them|there|then)\b", re.IGNORECASE)
ELLIPTICAL_TERMS = 3
SHORT_TERMS = 2


def is_elliptical(question: str) -> bool:
    """Whether `question` reads as the continuation of the one before it: at most
    SHORT_TERMS search terms of its own, or at most ELLIPTICAL_TERMS with a cue that continues
    it or a word that points back (thanks and greetings never get this far: app.smalltalk)."""
    own = content_terms(question)
    if len(own) > ELLIPTICAL_TERMS:
        return False
    return len(own) <= SHORT_TERMS or bool(
        _CONTINUES.search(question) or _POINTS_BACK.search(question)
    )


def content_terms(question: str) -> list[str]:
    """The question's search terms that are not stop words (none for "By when?")."""
    return [term for term in query_terms(question) if term not in STOP_WORDS]


_DENIALS = frozenset({"no", "not", "never", "none", "nobody", "nothing", "neither", "nor"})


def _denials(text: str) -> frozenset[str]:
    return _DENIALS & set(_WORD.findall(_NEGATION.sub(_negation, text).casefold()))


# "Is the office closed on Monday?": asks yes or no, so its answer may repeat it word for word
_YES_NO = re.compile(
    r"(?:^|[.!?]\s+)\W*(?:(?:and|so|but|or)\s+)?(?:is|are|am|was|were|do|does|did|can|could|may"
    r"|might|will|would|shall|should|must|has|have|had|isn't|aren't|wasn't|weren't|don't"
    r"|doesn't|didn't|can't|couldn't|won't|wouldn't|shouldn't|hasn't|haven't)\b",
    re.IGNORECASE,
)


def adds_nothing(line: str, question: str) -> bool:
    """Whether a line cannot answer a who/what/when question: it only repeats its words (an
    infobox's "Iwan Roberts" for when he was born). Not for a yes/no question, whose answer
    may ("The office is closed on Monday."), nor a table's header row, which names columns."""
    return "|" not in line and not _YES_NO.search(question) and not adds_to(line, question)


def adds_to(text: str, question: str) -> bool:
    """Whether `text` holds a content word the question does not (stemmed), or a denial it
    does not: a heading or infobox line that only names the subject ("Iwan Roberts" for when
    he was born) says nothing, however close it is to the question; "There are no meal
    vouchers in Paris." says what matters."""
    asked = {stem(term) for term in content_terms(question)}
    new_words = any(stem(term) not in asked for term in content_terms(text))
    return new_words or bool(_denials(text) - _denials(question))


def mentions_any(terms: Sequence[str], texts: Sequence[str]) -> bool:
    """Whether any of `texts` holds one of `terms` (stemmed), or there are no terms."""
    if not terms:
        return True
    wanted = {stem(term) for term in terms}
    return any(wanted & {stem(word) for word in _WORD.findall(text.casefold())} for text in texts)
