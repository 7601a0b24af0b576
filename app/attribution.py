"""Citation attribution: Hearth vouches for an answer's [n] markers itself.

The bundled small model answers from the passages it is shown but rarely writes citation markers
and sometimes invents facts. So every answer sentence is matched against the passages: markers go
where a passage supports the sentence, markers the model wrote are kept only when that passage
really supports it, and sentences no passage supports are reported (and the answer marked
uncited). Pure, deterministic and fast; it never raises, since it runs on every answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.protocols import Embedder
from index.sentences import MARKER_PATTERN, is_question, sentence_spans
from index.terms import STOP_WORDS, stem
from index.types import Passage

log = logging.getLogger(__name__)

# Support of an answer sentence by a passage is the weighted share of the sentence's content
# words found in the passage (+ title + heading); numbers and names weigh KEY_WEIGHT.
# - SUPPORTED 0.5: a paraphrase keeps most key words (in tests 0.6-1.0) while a sentence about
#   another topic shares a word or two (< 0.4); half is the natural cut between them.
# - KEY_CAP 0.3: a number or name absent from the passage caps support well below SUPPORTED,
#   whatever else matches ("30 days" is not supported by "27 days").
# - NEARLY 0.1: a second passage is cited only if it supports nearly as well as the best.
# - MIN_CONTENT 3: with fewer content words and no number a sentence carries no checkable
#   claim ("Sure.", "I hope this helps!"): it is neither cited nor flagged. "The answer is:
#   Yesün Temür" names someone, a claim when the question asks for a name (_WANTS_NAME).
# With an embedder, support is max(lexical, mean(lexical, best sentence cosine)): a close
# paraphrase with few shared words can pass (MiniLM: 0.56 for a reworded carry-over rule),
# a topical neighbour cannot (0.42-0.47 for a related but unstated claim).
# A sentence no single passage supports may still be cited if every clause of it is ("27 days
# in Paris and 30 in Berlin"); terms are never pooled across passages (see _clauses).
# A number found in the passage must also be the one it states on the claim's topic (see
# _contradicting): "extended until 2027" is not supported by "extended until 2031" because 2027
# occurs in another sentence of the same passage.
# - TOPIC_TERMS 2: the passage sentence that names the topic must share at least two of the
#   claim's and the question's words; with fewer, no sentence is singled out and nothing is
#   contradicted.
# - PREDICATE_TERMS 4, PREDICATE_SHARE 0.25: a sentence with four or more words besides names,
#   numbers and the question's words, of which the passage holds under a quarter, says
#   something the passage does not, whatever names they share: capped at KEY_CAP (the
#   embedder may still lift a true paraphrase).
SUPPORTED = 0.5
KEY_CAP = 0.3
PREDICATE_TERMS = 4
PREDICATE_SHARE = 0.25
KEY_WEIGHT = 2.0
NEARLY = 0.1
MIN_CONTENT = 3
TOPIC_TERMS = 2
SPAN_CHARS = 300


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EXTRA_STOP = _words(
    "according passage passages document documents source sources context also yes sure "
    "however therefore thus well hope help helps glad happy feel free ask anything else let "
    "know question questions answer note don doesn didn isn aren wasn weren won couldn shouldn "
    "wouldn ll ve re"
)
_MARKER = re.compile(MARKER_PATTERN, re.IGNORECASE)
_TOKEN = re.compile(r"(?P<num>\d++(?:[.,:]\d++)*+)(?:st|nd|rd|th)?(?!\w)|(?P<word>\w+)")
_CLAUSE = re.compile(r";|\s(?:and|but|while|whereas|whilst)\s", re.IGNORECASE)
# A capitalised word inside a sentence, quoted or not: 'Visitors use "Emberline-Guest"' names
# the network as much as 'Visitors use Emberline-Guest' does.
_NAME = re.compile(r"(?<=[\w,)])[ \t]+[\"'“‘«]?([^\W\d_]\w*)")
# "The passage provides information about the retirement plan": a sentence about the passages,
# not a claim from them; a marker on it would vouch for nothing.
_ABOUT = re.compile(
    r"^\W*(?:the\s+|this\s+|each\s+)?(?:passages?|documents?|sources?|texts?)\b.{0,60}?\s"
    r"(?:(?:provides?|gives?|offers?|contains?)\s+(?:(?:some|more|additional|further|detailed)\s+)?"
    r"(?:information|details|an?\s+overview)\s+(?:about|on|of|regarding)"
    r"|(?:is|are)\s+about|tells?\s+(?:you\s+)?about)\b"
    # "The passage about employees in Berlin … is incorrect", "The passage is referring to
    # …", "… is not applicable to the passage on …": a verdict on the passages, not from them
    r"|^\W*(?:the\s+|this\s+|that\s+)(?:passages?|documents?|sources?|texts?)\b[^.!?]{0,200}?"
    r"\b(?:is|are|was|were|seems?|appears?)\s+(?:not\s+)?(?:incorrect|wrong|correct|right"
    r"|accurate|inaccurate|misleading|referring|talking|unclear|outdated|applicable"
    r"|inapplicable|relevant|irrelevant)\b",
    re.IGNORECASE,
)
# "Who …?", "Which museum …?": a bare name answers it ("The answer is: Baiju."), where after
# "How much …?" a name alone is a courtesy ("Hope this helps, Maria!") or a pointer ("Contact HR.")
_WANTS_NAME = re.compile(r"\W*(?:who|whom|whose|which|what)\b", re.IGNORECASE)
_POLAR = re.compile(r"^\W*(?:yes|no)\b|\b(?:not|never|cannot)\b|n't\b", re.IGNORECASE)
_ABSTAIN = re.compile(
    r"\bi\s+(?:do\s+not|don't|dont|cannot|can't|could\s+not|couldn't)\s+"
    r"(?:know|find|tell|say|answer|have\s+(?:any\s+|enough\s+)?(?:information|details|data))\b"
    r"|\bi(?:'m|\s+am)\s+not\s+sure\b"
    r"|\b(?:is|are|was|have|has|had|found|contains?|provides?|gives?|with)\s+no\s+"
    r"(?:information|mention|details)\b|^\W*no\s+(?:information|mention|details)\s+"
    r"(?:about|on|regarding|was|is\s+(?:given|provided|available))\b"
    r"|\bnot\s+(?:mentioned|specified|stated|covered|given|provided)(?:\s+in\b|\s*[.!]?\s*$)"
    r"|\b(?:cannot|can't|could\s+not|couldn't|unable\s+to)\s+find\b"
    r"|\b(?:passages?|sources?|context|(?:provided|given|these|above)\s+documents?)\s+"
    r"(?:do(?:es)?\s+not|don't|doesn't|did\s+not)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Citation:
    """One [n] marker used in the answer and where it leads."""

    marker: int
    document_id: str
    title: str
    url: str | None
    heading: str
    span: str


@dataclass(frozen=True)
class Attribution:
    """The answer with validated [n] markers, its citations and the sentences nothing supports."""

    text: str
    citations: list[Citation]
    unsupported: list[str]
    uncited: bool
    model_abstained: bool
    checked: bool = True  # False when attribution itself failed: nothing was verified either way
    # passage sentences stating another number or name than an unsupported claim, on its topic
    # ("until 2031" against "until 2027"): what a quote should show instead (app.quote)
    corrections: tuple[str, ...] = ()


@dataclass
class _Sentence:
    text: str  # markers removed
    model: list[int]  # markers the model wrote (any value)
    weights: dict[str, float]
    keys: set[str]  # numbers and names that must appear in a supporting passage
    kind: str  # "claim", "filler", "restated", "about", "asks", "abstain" or "empty"
    chosen: list[int]


def attribute(
    answer: str,
    passages: Sequence[Passage],
    embedder: Embedder | None = None,
    question: str = "",
) -> Attribution:
    """Insert validated [n] markers (passages numbered 1..n in order) and flag unsupported text.

    With the `question`, a sentence that only restates it gets no marker (see `_sentence`)."""
    try:
        return _attribute(str(answer), list(passages), embedder, question)
    except Exception:  # attribution is a check on the answer and must never lose the answer
        log.exception("attribution failed; answer returned without citations")
        return Attribution(split_markers(str(answer))[0], [], [], True, False, checked=False)


def _attribute(
    answer: str, passages: list[Passage], embedder: Embedder | None, question: str = ""
) -> Attribution:
    n = len(passages)
    names = likely_names(answer)  # proper nouns: capitalised mid-sentence in answer or passages
    for p in passages:
        names |= likely_names(p.chunk.text)
    asked = frozenset(weighted_terms(question, names)[0])
    texts = [" ".join([p.chunk.text, p.document.title, *p.chunk.heading_path]) for p in passages]
    bags = [set(weighted_terms(text, names)[0]) for text in texts]
    statements = [_statements(p, names) for p in passages]  # passages' sentences, split once
    spans = sentence_spans(answer)
    wants_name = bool(_WANTS_NAME.match(question))
    pieces = [_sentence(answer[start:end], names, asked, wants_name) for start, end in spans]
    claims = [s for s in pieces if s.kind in ("claim", "filler")]
    checked = {
        id(s): [_checked(s, bag, said, asked) for bag, said in zip(bags, statements, strict=True)]
        for s in claims
    }
    scores = {key: [(score, missing) for score, missing, _ in row] for key, row in checked.items()}
    if embedder is not None and claims and n:
        _add_cosines(embedder, claims, statements, scores)
    unsupported = [s.text for s in pieces if s.kind == "restated" and _POLAR.search(s.text)]
    corrections: list[str] = []
    for s in claims:
        row = [score for score, _ in scores[id(s)]]
        s.chosen = sorted({m for m in s.model if 1 <= m <= n and row[m - 1] >= SUPPORTED})
        if s.chosen or s.kind == "filler":
            continue
        ranked = sorted(range(n), key=lambda i: (-row[i], i))
        if ranked and row[ranked[0]] >= SUPPORTED:
            best = row[ranked[0]]
            s.chosen = [i + 1 for i in ranked[:2] if row[i] >= max(SUPPORTED, best - NEARLY)]
        else:
            s.chosen = _clauses(s, names, bags, statements, asked)
        s.chosen.sort()
        if not s.chosen:
            unsupported.append(s.text)
            corrections.extend(t for *_, against in checked[id(s)] for t in against)
    out, last = [], 0
    for (start, end), s in zip(spans, pieces, strict=True):
        out.append(answer[last:start] + _with_markers(s.text, s.chosen))
        last = end
    out.append(answer[last:])
    kinds = [s.kind for s in pieces if s.kind != "empty"]
    abstained = bool(kinds) and (
        kinds[0] == "abstain" or ("abstain" in kinds and "claim" not in kinds)
    )
    text = "".join(out).strip()
    return Attribution(
        text,
        _citations(pieces, passages),
        unsupported,
        bool(unsupported),
        abstained,
        corrections=tuple(dict.fromkeys(corrections)),
    )


def without_markers(text: str) -> str:
    """The text with no citation markers ([2], [1-3], …), which would read as Hearth's own."""
    return split_markers(text)[0]


def split_markers(text: str) -> tuple[str, list[int]]:
    """The text without citation markers of any form, and the numbers they held."""
    numbers: list[int] = []
    for _ in range(4):  # removing a marker can reveal another ("[5[1]]"); a few passes suffice
        out, last = [], 0
        for m in _MARKER.finditer(text):
            numbers.extend(_marker_numbers(m.group("a") or m.group("b") or ""))
            piece, nxt = text[last : m.start()].rstrip(), text[m.end() : m.end() + 1]
            out.append(piece + (" " if piece and nxt and nxt not in " \t\n.,;:!?)]" else ""))
            last = m.end()
        if not out:
            return text, numbers
        text = "".join(out) + text[last:]
    return re.sub(r"[\[\]［］【】〔〕]", "", text), numbers


def _marker_numbers(inner: str) -> list[int]:
    """[1], [1, 2], [1-3] (its ends); a malformed marker ([12a]) yields nothing: it is dropped."""
    parts = re.findall(r"\d+[a-z]?", inner, re.IGNORECASE)
    if any(not part.isdigit() or len(part) > 6 for part in parts):
        return []
    return [int(part) for part in parts]


def weighted_terms(text: str, names: set[str]) -> tuple[dict[str, float], set[str]]:
    """Content terms with weights (numbers and known names weigh more) and the key terms."""
    weights: dict[str, float] = {}
    keys: set[str] = set()
    for m in _TOKEN.finditer(text.casefold()):
        if m.group("num"):
            term = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", m.group("num"))
            keys.add(term)
        else:
            word = m.group("word")
            if len(word) < 2 or word in STOP_WORDS or word in _EXTRA_STOP or not word.isalnum():
                continue
            term = stem(word)
            if term in names:
                keys.add(term)
        weights[term] = KEY_WEIGHT if term in keys else 1.0
    return weights, keys


def likely_names(text: str) -> set[str]:
    """Capitalised words inside a sentence (not its first word): likely names (Paris, HR)."""
    found = set()
    for m in _NAME.finditer(text):
        word = m.group(1)
        if word[0].isupper() and word.casefold() not in STOP_WORDS:
            found.add(stem(word.casefold()))
    return found


def _sentence(
    raw: str, names: set[str], asked: frozenset[str] = frozenset(), wants_name: bool = False
) -> _Sentence:
    """One answer sentence, classified. "restated": every content term of it is the question's
    ("Your train got cancelled abroad at midnight", "Can I take a sabbatical after five
    years?"). Such a sentence states nothing a passage adds, and retrieval guarantees that
    some passage shares its words, so a marker on it would vouch for nothing: it gets none. A
    yes/no restatement ("No, Emberline does not pay for your mobile phone plan") is a claim
    whose one new word, its polarity, no term overlap can check: it is reported unsupported.
    "about": a sentence about the passages rather than from them (`_ABOUT`) gets no marker.
    "asks": a question ("Question: How often do we update the status page?") states nothing;
    it gets no marker either, unless it holds a number or name the question does not ("Paris
    staff get 35 days, right?" is a claim).
    """
    text, model = split_markers(raw)
    text = text.strip()
    weights, keys = weighted_terms(text, names | likely_names(text))
    if not any(c.isalnum() for c in text):
        kind = "empty" if not text else "filler"
    elif _ABSTAIN.search(text.replace("’", "'")):
        kind = "abstain"
    elif _ABOUT.search(text):
        kind = "about"
    elif is_question(text) and not set(keys) - asked:
        kind = "asks"
    elif weights and asked.issuperset(weights):
        kind = "restated"
    elif len(weights) >= MIN_CONTENT or any(map(_is_number, keys)) or (wants_name and keys):
        kind = "claim"
    else:
        kind = "filler"
    return _Sentence(text, model, weights, keys, kind, [])


def _lexical(
    s: _Sentence, bag: set[str], asked: frozenset[str] = frozenset()
) -> tuple[float, bool]:
    """(weighted share of the sentence's terms in the passage, whether a key term is missing).

    The share of the terms the question lacks, what the sentence adds, counts too: the lower
    of the two. Retrieval finds passages that hold the question's words, so a sentence made of
    them plus an invented detail ("The Lisbon office website has a Wi-Fi network with a name of
    'Lisbon office'", "We use the standard payment terms for supplier invoices") looked
    supported by them alone (docs/EVALUATION.md, "What an answer adds to the question")."""
    if not s.weights:
        return 0.0, False
    missing = any(k not in bag for k in s.keys)
    score = _share(s.weights, bag)
    added = {t: w for t, w in s.weights.items() if t not in asked}
    if asked and added:
        score = min(score, _share(added, bag))
    # What it says of them besides names and numbers: "All staff of Juniper Logistics adhere to
    # the highest standards of professionalism and ethics" is not "Applies to all staff of
    # Juniper Logistics", though the names, weighing double, make half its share.
    plain = [t for t in added if t not in s.keys]
    held = sum(t in bag for t in plain)
    if len(plain) >= PREDICATE_TERMS and held < PREDICATE_SHARE * len(plain):
        score = min(score, KEY_CAP)
    return (min(score, KEY_CAP) if missing else score), missing


def _share(weights: dict[str, float], bag: set[str]) -> float:
    return sum(w for t, w in weights.items() if t in bag) / sum(weights.values())


@dataclass(frozen=True)
class _Statement:
    """One sentence (or table row) of a passage: its text, content terms, numbers and names."""

    text: str
    terms: frozenset[str]
    keys: frozenset[str]


def _statements(passage: Passage, names: set[str]) -> list[_Statement]:
    text = passage.chunk.text
    out = []
    for start, end in sentence_spans(text):
        weights, keys = weighted_terms(text[start:end], names)
        out.append(_Statement(text[start:end].strip(), frozenset(weights), frozenset(keys)))
    return out


def _checked(
    s: _Sentence, bag: set[str], statements: list[_Statement], asked: frozenset[str]
) -> tuple[float, bool, list[str]]:
    """`_lexical`, with a contradicted number or name counted as missing (capped, never raised
    by the embedder), and the passage sentences that contradict it."""
    score, missing = _lexical(s, bag, asked)
    against = [] if missing else _contradicting(s, statements, asked)
    return (min(score, KEY_CAP), True, against) if against else (score, missing, [])


def _contradicting(s: _Sentence, statements: list[_Statement], asked: frozenset[str]) -> list[str]:
    """The passage's sentences on the claim's topic that state another number or name than the
    claim does (none when one of them states the claim's, or no sentence is on its topic).

    The small model copies a number or a name from the sentence next to the right one ("The
    Lisbon office lease was extended until 2027", where the lease sentence says 2031 and 2027
    is when Lisbon takes another floor; "The count of Apulia was Alexius I Comnenus", where
    the sentence about the count of Apulia names Robert Guiscard). The sentences on the topic
    are those sharing most of the claim's other words, ties broken by the question's words
    ("A maximum of 40,000 EUR" for a department head: the table row naming the department
    head), with at least TOPIC_TERMS in all. Years, other numbers and names are compared apart
    ("27 days" is not contradicted by a lead-in "Leave entitlement (from 2024):"); what the
    question holds is not the claim's own, and a claim stating no new number or name is never
    contradicted.
    """
    stated = set(s.keys) - asked
    if not stated:
        return []
    words = set(s.weights) - stated
    context = asked - words  # "in 1897": the question's numbers name the topic too
    # "The answer is: 1 hour" has too few words of its own to say what it is about: the
    # question's words then count as much as its own
    elliptical = len(words) < TOPIC_TERMS
    overlaps = [_overlap(words, context, st.terms, elliptical) for st in statements]
    best = max(overlaps, default=(0, 0))
    if sum(best) < TOPIC_TERMS:
        return []
    on_topic = [st for st, o in zip(statements, overlaps, strict=True) if o == best]
    for is_kind in (_is_year, _is_amount, _is_name):
        claimed = {k for k in stated if is_kind(k)}
        stating = [st for st in on_topic if any(is_kind(k) for k in st.keys - words - asked)]
        said = [_item_keys(st, words | context) if is_kind is _is_amount else st.keys
                for st in stating]  # fmt: skip
        if claimed and stating and not any(_agrees(claimed, keys) for keys in said):
            return [st.text for st in stating]
    return []


# Where a sentence lists several things with their numbers: ", " (not "20,000"), ";", "and", "or"
_LIST_ITEM = re.compile(r";|,(?=\s)|\s(?:and|or)\s", re.IGNORECASE)


def _item_keys(statement: _Statement, topic: set[str]) -> frozenset[str]:
    """The numbers of the items of a listing sentence that name the topic: "There were 20,000
    bottles of water, 10,000 blankets, and 200 laptops" states 20,000 about bottles of water,
    so "200 [bottles]" is not supported by it. A sentence that is no list, or whose items
    name the topic equally (or not at all), keeps all its numbers."""
    items = [
        weighted_terms(item, set()) for item in _LIST_ITEM.split(statement.text) if item.strip()
    ]
    numbered = [(len(topic & set(weights)), keys) for weights, keys in items if keys]
    if len(numbered) < 2:
        return statement.keys
    best = max(overlap for overlap, _ in numbered)
    if best == 0:
        return statement.keys
    listed = frozenset().union(*(keys for _, keys in numbered))
    chosen = frozenset().union(*(keys for overlap, keys in numbered if overlap == best))
    return statement.keys - listed | chosen


def _agrees(claimed: set[str], stated: frozenset[str]) -> bool:
    """One of the claimed numbers is stated ("from 18 December to 4 January" agrees with "4
    January"); every claimed name is ("The Warsaw Fotoplastikon" does not agree with "the
    Warsaw Uprising Museum")."""
    if all(_is_number(k) for k in claimed):
        return bool(claimed & stated)
    return claimed <= stated


def _overlap(
    words: set[str], context: frozenset[str], terms: frozenset[str], elliptical: bool
) -> tuple[int, int]:
    """How much a sentence is about the claim: its words first, then the question's."""
    own, from_question = len(words & terms), len(context & terms)
    return (own + from_question, 0) if elliptical else (own, from_question)


def _is_number(term: str) -> bool:
    return term[0].isdigit()


def _is_year(term: str) -> bool:
    """1066, 2031: four digits that read as a year ("1,500" too, normalised: then it is only
    ever compared with years, a contradiction missed rather than invented)."""
    return len(term) == 4 and term.isdigit() and 1000 <= int(term) <= 2100


def _is_amount(term: str) -> bool:
    return _is_number(term) and not _is_year(term)


def _is_name(term: str) -> bool:
    return not term[0].isdigit()


def _add_cosines(
    embedder: Embedder,
    claims: list[_Sentence],
    statements: list[list[_Statement]],
    scores: dict[int, list[tuple[float, bool]]],
) -> None:
    """Raise lexical support by sentence-embedding similarity (never past a missing key term)."""
    owners, texts = [], []
    for i, sentences in enumerate(statements):
        for statement in sentences:
            owners.append(i)
            texts.append(statement.text)
    if not texts:
        return
    try:
        vectors = np.asarray(embedder.embed_documents([s.text for s in claims] + texts), np.float32)
        if vectors.ndim != 2 or len(vectors) != len(claims) + len(texts):
            return
    except Exception:  # a failing embedder leaves the lexical scores, never the answer broken
        log.exception("embedder failed during attribution; using lexical support only")
        return
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.nan_to_num(vectors / np.where(norms > 0, norms, 1.0))
    sims = vectors[: len(claims)] @ vectors[len(claims) :].T
    for row, s in zip(sims, claims, strict=True):
        best = [0.0] * len(statements)
        for owner, sim in zip(owners, row.tolist(), strict=True):
            best[owner] = max(best[owner], sim)
        scores[id(s)] = [
            (score if missing else max(score, (score + cos) / 2), missing)
            for (score, missing), cos in zip(scores[id(s)], best, strict=True)
        ]


def _clauses(
    s: _Sentence,
    names: set[str],
    bags: list[set[str]],
    statements: list[list[_Statement]],
    asked: frozenset[str],
) -> list[int]:
    """Passages that support each clause of a compound sentence ("27 in Paris and 30 in Berlin").

    Each clause must be a claim one passage supports on its own: joining terms from two
    passages would vouch for "Paris staff get 30 days" (Paris from one, 30 from the other),
    and a fragment naming something ("Staff in Paris and Berlin get 30 days") cannot be checked.
    A clause the passage contradicts (`_contradicting`) is not supported by it either.
    """
    parts = [_sentence(part, names) for part in _CLAUSE.split(s.text)]
    chosen: set[int] = set()
    for part in parts if len(parts) > 1 and bags else []:
        if part.kind != "claim":  # "Staff in Paris": names a thing, states nothing
            if part.keys:
                return []
            continue
        row = [
            _checked(part, bag, said, asked)[0] for bag, said in zip(bags, statements, strict=True)
        ]
        best = max(range(len(bags)), key=lambda i: (row[i], -i))
        if row[best] < SUPPORTED:
            return []
        chosen.add(best + 1)
    return sorted(chosen)


def _with_markers(text: str, markers: list[int]) -> str:
    """'Paris staff get 27 days.' -> 'Paris staff get 27 days [1].' (before final punctuation)."""
    if not markers:
        return text
    cut = len(text)
    while cut and text[cut - 1] in "\"'”’)":
        cut -= 1
    end = cut
    while cut and text[cut - 1] in ".!?…:;,。！？":
        cut -= 1
    cut = cut if cut < end else len(text)
    return f"{text[:cut].rstrip()} {''.join(f'[{m}]' for m in markers)}{text[cut:]}"


def _citations(sentences: list[_Sentence], passages: list[Passage]) -> list[Citation]:
    """One Citation per marker used; its span is the passage sentence closest to what it backs."""
    citations = []
    for marker in sorted({m for s in sentences for m in s.chosen}):
        passage = passages[marker - 1]
        wanted: dict[str, float] = {}
        for s in sentences:
            if marker in s.chosen:
                wanted.update(s.weights)
        text = passage.chunk.text
        best, span = -1.0, text.strip()
        for start, end in sentence_spans(text):
            terms = weighted_terms(text[start:end], set())[0]
            overlap = sum(w for t, w in wanted.items() if t in terms)
            if overlap > best:
                best, span = overlap, text[start:end]
        citations.append(cite(marker, passage, span))
    return citations


def cite(marker: int, passage: Passage, span: str, limit: int = SPAN_CHARS) -> Citation:
    """Marker [n] leading to `passage`, with `span` cut to `limit` characters at a word (or
    mid-word when no space falls in its second half: a CJK or unspaced text)."""
    if len(span) > limit:
        cut = span[: limit - 1]
        at_word = cut.rsplit(" ", 1)[0]
        span = (at_word if len(at_word) >= limit // 2 else cut) + "…"
    document = passage.document
    heading = " > ".join(passage.chunk.heading_path)
    return Citation(marker, document.id, document.title, passage.url, heading, span)
