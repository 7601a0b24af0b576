"""Answers that take their fact from what a source excludes or denies.

"Which day does the on-call shift change hands?" answered "Monday [1]" from "The handover
happens every Tuesday at 10:00 Paris time, so that nobody starts or ends a shift on a weekend
or a Monday morning."; "Who merges, the reviewer?" answered "The reviewer merges [1]" from
"The author merges, not the reviewer, once the pipeline in Kiln is green.". Attribution counts
shared words and cannot see that the source says the opposite of the answer about the one word
that matters. Here a word of a cited answer sentence is read in the passages it cites: when
every mention of it there sits in a negated or excluded phrase and the answer states it
plainly, the answer has the source backwards.

Negation is read in a short scope: after a cue ("not", "no", "never", "nobody", "except",
"excluding", "instead of", …) up to the end of the clause (a comma, a semicolon, "but"). A
comparison ends the scope ("never for amounts above 100 EUR" does not deny 100; "nobody may
hold more than two proxies" does not deny two), so does a second cue ("never without your
consent"). Which words are checked:
- names and numbers (`names`: capitalised words, as attribution finds them) anywhere in scope;
- any other content word only right after a contrastive cue ("not your manager", "not the
  reviewer", "except the meeting room"), where the source names it to exclude it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from app.attribution import likely_names, split_markers, weighted_terms
from app.figures import asks_for_figure
from index.sentences import sentence_spans, sentences
from index.terms import STOP_WORDS, stem
from index.types import Passage

_WORD = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_][\w'’-]*")
# a clause ends the scope of a negation
_BOUNDARY = re.compile(r"[,;:.!?()\[\]|—–]|\s-\s|\bbut\b|\bwhich\b|\bwho\b", re.IGNORECASE)
_CUES = frozenset(
    "not no never nobody none neither nor without except excluding cannot can't don't doesn't "
    "didn't isn't aren't won't mustn't shouldn't".split()
)
# cues that name what they exclude right after them ("not your manager", "except Sundays")
_CONTRASTIVE = frozenset("not except excluding".split())
_TWO_WORD_CUES = {("instead", "of"), ("rather", "than"), ("other", "than"), ("apart", "from")}
# "no more than 20%", "not only", "no matter", "not until": a limit or an emphasis, no denial
_VOIDING = frozenset(
    "more less fewer later earlier longer shorter only matter until before after later "
    "least sooner higher lower bigger smaller".split()
)
# a comparison in scope: what follows is a limit, not what is denied
_COMPARISON = frozenset(
    "above below over under more less fewer than until before after within beyond exceed "
    "exceeds longer shorter higher lower by confused".split()
)
# a new clause without a comma: "do not use it for password resets you can do yourself in the
# Password manager" denies the resets, not the Password manager; "no consensus as to whether
# Brahui is a recent language" denies a consensus, not Brahui
_CLAUSE_START = frozenset(
    "you we they where when that which who whose so whether if unless because although though"
    .split()
)  # fmt: skip
# "if not taken by", "members or not", "unless": a condition, no denial
_CONDITION = frozenset("if or whether unless".split())
_COORDINATION = frozenset("and or nor".split())
# words that may stand between a contrastive cue and what it excludes
_FILLER = frozenset(
    "the a an your their his her its our my to on in for from at by with of".split()
)


def _words(text: str) -> list[tuple[str, bool]]:
    """Each word casefolded, and whether it was capitalised."""
    return [(m.group().casefold().replace("’", "'"), m.group()[0].isupper())
            for m in _WORD.finditer(text)]  # fmt: skip


def _clauses(text: str) -> list[list[tuple[str, bool]]]:
    return [w for w in (_words(part) for part in _BOUNDARY.split(text)) if w]


def _key(word: str) -> str:
    return word if word[:1].isdigit() else stem(word)


def negated_terms(text: str) -> tuple[set[str], set[str], set[str]]:
    """(terms in a negated scope, terms right after a contrastive cue, terms outside any
    negated scope) of `text`, each stemmed as attribution stems them."""
    negated: set[str] = set()
    excluded: set[str] = set()
    plain: set[str] = set()
    listing = False  # the items under "All employees, except:" are what it excludes
    for sentence in sentences(text):
        listing = listing and sentence[:1].islower()
        for clause in _clauses(sentence):
            _read_clause(clause, listing, negated, excluded, plain)
        if _LIST_CUE.search(sentence):
            listing = True
    return negated, excluded, plain


_LIST_CUE = re.compile(r"\b(?:except|excluding|but\s+not)\s*:\s*$", re.IGNORECASE)


def _read_clause(
    clause: list[tuple[str, bool]],
    listed: bool,
    negated: set[str],
    excluded: set[str],
    plain: set[str],
) -> None:
    scope = contrastive = listed
    fillers = 0  # function words since a contrastive cue
    seen: set[str] = set()  # this clause's plain words so far
    for i, (word, capital) in enumerate(clause):
        nxt = clause[i + 1][0] if i + 1 < len(clause) else ""
        before = clause[i - 1][0] if i else ""
        pair = (word, nxt)
        if word in _CUES or pair in _TWO_WORD_CUES:
            if scope and before in _COORDINATION:  # "no objective and no on-call"
                continue
            if scope or nxt in _VOIDING or before in _CONDITION:
                scope = contrastive = False  # a second cue, "no more than", "if not"
                continue
            if word == "none":  # "Lisbon has none yet": the names before it have none
                for earlier, was_capital in clause[:i]:
                    if was_capital and _key(earlier) in seen:
                        negated.add(_key(earlier))
                        seen.discard(_key(earlier))
            scope = True
            contrastive = word in _CONTRASTIVE or pair in _TWO_WORD_CUES
            fillers = -1 if pair in _TWO_WORD_CUES else 0
            continue
        if fillers < 0:  # the "of" of "instead of"
            fillers = 0
            continue
        if scope and (word in _COMPARISON or word in _CLAUSE_START):
            scope = contrastive = False
            continue
        key = _key(word)
        if not scope:
            seen.add(key)
            continue
        negated.add(key)
        if contrastive:
            if word in _FILLER and fillers < 2:
                fillers += 1
                continue
            # "not the reviewer", "not your manager", "except Sundays"; not a verb
            # ("not reimbursed": the predicate's polarity, read elsewhere)
            if word not in STOP_WORDS and (fillers or capital):
                excluded.add(key)
            contrastive = False
    plain |= seen


def denied(
    answer_sentence: str,
    cited_texts: Sequence[str],
    names: Iterable[str],
    asked: Iterable[str] = (),
) -> list[str]:
    """The words of `answer_sentence` it states plainly that every passage it cites mentions
    only in a negated scope (names and numbers) or right after a contrastive cue (any word).

    A word of the question (`asked`, stemmed) counts only when the answer sentence denies
    nothing itself: "The Lisbon office does not accept personal parcels" carries the source's
    negation in other words, "Yes, the handover is on Monday" does not."""
    names, asked = set(names), set(asked)
    negated_in_answer, _, stated = negated_terms(answer_sentence)
    stated = {t for t in stated if t not in STOP_WORDS and len(t) > 1}
    if negated_in_answer or _DENIES.search(answer_sentence):
        stated -= asked
    negated: set[str] = set()
    excluded: set[str] = set()
    plain: set[str] = set()
    for text in cited_texts:
        n, e, p = negated_terms(text)
        negated |= n
        excluded |= e
        plain |= p
    return [
        term for term in sorted(stated - plain)
        if term in excluded or (term in negated and (term in names or term[:1].isdigit()))
    ]  # fmt: skip


_ASKS_NEGATED = re.compile(
    r"\b(?:not|no|never|none|nobody|without|except|excluding|cannot)\b|n't\b", re.IGNORECASE
)
_DENIES = re.compile(r"^\W*no\b|\b(?:not|never|none|nobody|cannot)\b|n't\b", re.IGNORECASE)


def denied_by_citations(
    answer: str, passages: Sequence[Passage], question: str = "", whole: Sequence[Passage] = ()
) -> list[str]:
    """The words of a cited `answer` (with Hearth's [n] markers, passages numbered from 1) that
    the passages its sentences cite mention only to deny or exclude them (`denied`). A cited
    passage is read whole when `whole` (the retrieved passages, before the prompt condensed
    them) holds its chunk: the line "All employees, except:" may not be among the sentences
    the model was shown, and what the chunk states plainly elsewhere is not denied. A
    question that asks about a negation ("Which office has no showers?") is answered by what
    the source denies ("Lisbon has none yet"): nothing is checked."""
    if _ASKS_NEGATED.search(question):
        return []  # "Which office has no showers?": its answer is what the source denies
    found: list[str] = []
    for sentence, cited in _cited_sentences(answer, passages, whole):
        names = likely_names(sentence).union(*map(likely_names, cited))
        asked = weighted_terms(question, names)[0]
        found.extend(t for t in denied(sentence, cited, names, asked) if t not in found)
    return found


def denied_figures(
    answer: str, passages: Sequence[Passage], question: str = "", whole: Sequence[Passage] = ()
) -> list[str]:
    """The numbers a cited `answer` denies that every passage its sentence cites states
    plainly and never denies: "You can't get 27 days of annual leave in Paris [1]" from
    "Employees in the Paris office receive 27 working days of annual leave per year". A cited
    passage is read whole when `whole` holds its chunk, as `denied_by_citations` reads it: a
    denial the prompt left out ("Part-time staff do not get 27 days") leaves the answer be.
    Only a question asking for a figure is checked, and not one that asks about a negation
    ("How many offices have no showers?"): there a denied number may well be the answer."""
    if not asks_for_figure(question) or _ASKS_NEGATED.search(question):
        return []
    found: list[str] = []
    for sentence, cited in _cited_sentences(answer, passages, whole):
        numbers = sorted(t for t in negated_terms(sentence)[0] if t[:1].isdigit())
        readings = [negated_terms(text) for text in cited] if numbers else []
        for term in numbers:
            stated = all(term in plain and term not in negated for negated, _, plain in readings)
            if stated and term not in found:
                found.append(term)
    return found


def _cited_sentences(
    answer: str, passages: Sequence[Passage], whole: Sequence[Passage]
) -> Iterator[tuple[str, list[str]]]:
    """Each sentence of a cited `answer` (markers removed) with the texts of the passages it
    cites (numbered from 1), each read whole when `whole` holds its chunk; uncited sentences
    are skipped."""
    full: dict[int | None, str] = {p.chunk.id: p.chunk.text for p in whole}
    texts = [full.get(p.chunk.id, p.chunk.text) if p.chunk.id is not None else p.chunk.text
             for p in passages]  # fmt: skip
    for start, end in sentence_spans(answer):
        sentence, markers = split_markers(answer[start:end])
        cited = [texts[m - 1] for m in dict.fromkeys(markers) if 1 <= m <= len(texts)]
        if cited:
            yield sentence, cited


def denies(sentence: str, terms: Iterable[str]) -> bool:
    """Whether `sentence` denies or excludes one of `terms` (stemmed): the source sentence
    that says "not Monday" usually says what is true instead ("every Tuesday")."""
    return not set(terms).isdisjoint(negated_terms(sentence)[0])


def denied_premise(question: str) -> frozenset[str]:
    """The content words of a question, for finding a source sentence that denies its premise
    ("The Berlin office has no car park." for the price of a space in it) or that answers a
    question about a negation ("There are no meal vouchers in Paris." for "Which offices do
    not offer meal vouchers?")."""
    return frozenset(_key(w) for w, _ in _words(question) if w not in STOP_WORDS and len(w) > 2)
