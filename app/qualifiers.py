"""What a question singles out among alternatives its sources list side by side.

"How much is the meal voucher in Paris?" against a passage listing Berlin's 7.50 EUR and "no
meal vouchers in Paris"; "How quickly must a SEV2 page be acknowledged?" against a table of
SEV1, SEV2 and SEV3: the small model, and the sentence closest to the question, both take the
neighbouring row. In an adversarial walkthrough of 120 questions on corpus/, 12 of the 28
wrong answers that came with a citation were a figure from the right document's wrong row,
office or level.

A qualifier is a name the question capitalises inside it (Paris, Bastille Day), a code of
letters and a digit (SEV2, P2, Tier 1), or a year (2013). A sentence is about another row when
it does not name the qualifier but names one of its siblings: a code with the same letters and
another digit (SEV1), another year (2040), or a name the sources list beside it ("Paris,
Berlin and Lisbon", rows "Office: Paris | …" and "Office: Berlin | …", sections headed "Paris"
and "Berlin"). A name the question shares with everything (a product, the company) has no
siblings and so never decides.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from index.sentences import sentences
from index.terms import STOP_WORDS
from index.types import Passage

# a capitalised word with a number after it, or letters with one digit: "Tier 1", "SEV2", "P-2"
_CODE = re.compile(r"\b([A-Z][A-Za-z]{0,9})[ -]?(\d{1,2})\b(?![.,:]\d)|\b([A-Za-z]{1,5})-?(\d)\b")
# capitalised words that are not the question's first: "Paris", "Bastille Day"
_NAME = re.compile(r"(?<=[\w,)])[ \t]+[\"'“‘«(]?([A-Z][^\W\d_]+(?:[ \t]+[A-Z][^\W\d_]+)*)")
# a capitalised word anywhere in a source: a possible sibling
_ANY_NAME = re.compile(r"\b[A-Z][^\W\d_]+\b")
# what joins two names of one list: "Paris, Berlin", "Paris | Berlin", "basil in Paris, chives
# in Berlin", "Berlin and Lisbon" (with at most LISTED_TOKENS tokens between them)
_JOINER = re.compile(r"[,;|/]|\band\b|\bor\b")
_TOKEN = re.compile(r"[,;|/]|[^\s,;|/]+")
LISTED_TOKENS = 6
LISTED_CHARS = 80
MAX_HEADS = 100  # row heads read per chunk: pairs grow with their square
# a capitalised word inside a sentence, not its first: a name, not a label
_INSIDE = re.compile(r"(?<=[a-z,)])[ \t]+([A-Z][^\W\d_]+)\b")
# a year: "How many cases were there in 2013?" against "… 64.3 million in 2013, … 111.8
# million in 2040": the small model took the projection
_YEAR = re.compile(
    r"(?<![\w.,€$£/])(?:1[89]|20)\d\d(?![\w€$£%]|[.,/]\d|\s*(?:%|[€$£]"
    r"|(?i:eur|usd|gbp|chf|euros?|dollars?|[kmgt]b|km|kg)\b))"
)
# "since 2019", "until 2030": a time span, not one year among others
_SPAN_BEFORE = re.compile(r"\b(?:since|before|after|until|till|from|between|through)\s+$", re.I)
# capitalised words a question uses for itself, not for a row: "How much in EUR …?"
_NOT_QUALIFIERS = frozenset({"eur", "euro", "euros", "usd", "gbp", "i"})


@dataclass(frozen=True)
class Qualifier:
    """One name or code a question singles out; `letters` is set for a code."""

    key: str
    pattern: re.Pattern[str]
    letters: str | None = None
    digits: str | None = None
    year: bool = False

    def named_in(self, text: str) -> bool:
        return self.pattern.search(text) is not None

    def other_code_in(self, text: str) -> bool:
        """Whether `text` names a sibling code: the same letters with other digits, or for a
        year another year."""
        if self.year:
            return any(year != self.key for year in _YEAR.findall(text))
        if self.letters is None:
            return False
        codes = re.finditer(rf"\b{re.escape(self.letters)}[ -]?(\d{{1,2}})\b", text, re.I)
        return any(m.group(1) != self.digits for m in codes)


def asked_qualifiers(question: str) -> tuple[Qualifier, ...]:
    """The names and codes `question` singles out."""
    found: dict[str, Qualifier] = {}
    for m in _CODE.finditer(question):
        letters, digits = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if letters.casefold() in STOP_WORDS:
            continue
        key = f"{letters.casefold()} {digits}"
        pattern = re.compile(rf"\b{re.escape(letters)}[ -]?{digits}\b", re.IGNORECASE)
        found[key] = Qualifier(key, pattern, letters, digits)
    for m in _YEAR.finditer(question):
        if not _SPAN_BEFORE.search(question[max(0, m.start() - 12) : m.start()]):
            found[m.group()] = Qualifier(m.group(), re.compile(rf"\b{m.group()}\b"), year=True)
    code_words = {word for key in found for word in key.split()}
    for m in _NAME.finditer(question):
        words = [w for w in m.group(1).casefold().split() if w not in code_words]
        while words and (words[0] in STOP_WORDS or words[0] in _NOT_QUALIFIERS):
            words.pop(0)  # "What does the IT help desk…": "IT" is not a name here
        if not words:
            continue
        phrase = r"[ \t]+".join(map(re.escape, words))
        key = " ".join(words)
        found[key] = Qualifier(key, re.compile(rf"\b{phrase}(?:s|es|'s|’s)?\b", re.IGNORECASE))
    return tuple(found.values())


@dataclass(frozen=True)
class Rows:
    """The alternatives the shown sources list: which names stand beside which."""

    texts: tuple[str, ...]  # each with its headings
    siblings: dict[str, frozenset[str]]
    heads: tuple[frozenset[str], ...]  # each text's row heads, when it has two or more

    @classmethod
    def of(
        cls,
        texts: Sequence[str],
        headings: Sequence[Sequence[str]],
        documents: Sequence[str] | None = None,
    ) -> Rows:
        """The siblings of every name listed beside another in one of `texts`, heading a row
        of one text as another does, or heading a section of one document (`documents`: each
        text's) under the same parent (`headings`: each text's heading path) as another does."""
        documents = documents if documents is not None else [""] * len(texts)
        pairs: set[tuple[str, str]] = set()
        for text in texts:
            for line in sentences(text):
                pairs |= _listed_pairs(line)
        # "Berlin: 7.50 EUR" heads a row, "Address: Rua das Gaivotas 31" a field: a bare head
        # counts when the sources also use it as a name inside a sentence ("in Berlin")
        proper = {m.group(1).casefold() for text in texts for m in _INSIDE.finditer(text)}
        heads_of = []
        for text in texts:
            found = [h for h in map(_row_head, text.split("\n")[:MAX_HEADS]) if h]
            found = [(p, n) for p, n in found if p or n in proper]
            pairs |= {(n, m) for p, n in found for q, m in found if p == q}
            heads_of.append(frozenset(n for _, n in found) if len(found) > 1 else frozenset())
        sections = [(doc, tuple(path[:-1]), path[-1].casefold())
                    for doc, path in zip(documents, headings, strict=True) if path]  # fmt: skip
        pairs |= {(n, m) for d, p, n in sections for e, q, m in sections if (d, p) == (e, q)}
        siblings: dict[str, set[str]] = {}
        for one, other in pairs:
            if one != other:
                siblings.setdefault(one, set()).add(other)
                siblings.setdefault(other, set()).add(one)
        return cls(
            tuple(in_context(text, path) for text, path in zip(texts, headings, strict=True)),
            {k: frozenset(v) for k, v in siblings.items()},
            tuple(heads_of),
        )

    @classmethod
    def of_passages(cls, passages: Iterable[Passage]) -> Rows:
        """Rows of whole retrieved chunks: a condensed passage has lost its list markers."""
        passages = list(passages)
        return cls.of(
            [p.chunk.text for p in passages],
            [p.chunk.heading_path for p in passages],
            [p.document.id for p in passages],
        )

    def discussed(self, qualifiers: Iterable[Qualifier]) -> tuple[Qualifier, ...]:
        """The qualifiers the sources name: only those can tell one row from another."""
        return tuple(q for q in qualifiers if any(q.named_in(text) for text in self.texts))

    def has_siblings(self, q: Qualifier) -> bool:
        """Whether the sources list `q` as one row of several (an office, a level)."""
        return q.letters is not None or q.year or bool(self._siblings_of(q))

    def _siblings_of(self, q: Qualifier) -> frozenset[str]:
        # a name said among a text's rows stands beside them: "There are no meal vouchers
        # in Paris." above "Berlin: …" and "Lisbon: …"
        return self.siblings.get(q.key, frozenset()).union(
            *(heads for text, heads in zip(self.texts, self.heads, strict=True) if q.named_in(text))
        )

    def names_another(self, text: str, qualifiers: Iterable[Qualifier]) -> bool:
        """Whether `text` is another row's: it names a sibling of a qualifier and none of the
        qualifiers ("Paris: 27 days" is not another row's for "Paris and Berlin?")."""
        qualifiers = tuple(qualifiers)
        if any(q.named_in(text) for q in qualifiers):
            return False
        return any(
            q.other_code_in(text) or any(_word(name).search(text) for name in self._siblings_of(q))
            for q in self.discussed(qualifiers)
        )


_HEAD = re.compile(r"([^\w\s]*\s*(?:[A-Za-z]+:\s*)?)([A-Z][^\W\d_]+)\b\s*[:|–-]")


def in_context(text: str, headings: Sequence[str]) -> str:
    """A text with the headings it sits under: "## Lisbon" names the row below it."""
    return " ".join([*headings, text])


# a year the question asks about as a time ("in 2020", "for 2017", "at the start of 2025"), not
# one that names a thing ("the 2027 general assembly", "Windows 2000")
_AS_A_TIME = re.compile(r"\b(?:in|for|of|during|by)\s+(?:the\s+(?:year|fiscal\s+year)\s+)?$", re.I)
# two years as one span ("2019–2021", "2025-26", "between 2019 and 2021", "from 2019 to 2021"),
# or a year that opens or closes one ("since 2018", "after 2019", "until 2022"): it may cover
# the year asked
_YEAR_PAIR = re.compile(r"((?:1[89]|20)\d\d)\s*(?:[-–—/]|\bto\b|\band\b)\s*((?:1[89]|20)?\d\d)\b")
_OPEN_SPAN = re.compile(
    r"\b(since|after|until|till|through|before)\s+(?:the\s+end\s+of\s+)?((?:1[89]|20)\d\d)\b",
    re.IGNORECASE,
)


def asked_years(question: str) -> tuple[str, ...]:
    """The years `question` asks about as a time: "in 2020", "for 2017 films", "at the start
    of 2025"."""
    return tuple(dict.fromkeys(
        m.group() for m in _YEAR.finditer(question)
        if _AS_A_TIME.search(question[max(0, m.start() - 40) : m.start()])
    ))  # fmt: skip


def of_other_years(text: str, years: Sequence[str]) -> bool:
    """Whether `text` is about other years than `years` only: it names a year, none of
    `years` (not even inside "FY2020"), and no span that covers one ("2019–2021", "2025-26",
    "since 2018")."""
    if not years or any(year in text for year in years):
        return False
    if any(_spans_over(text, int(year)) for year in years):
        return False
    return any(found not in years for found in _YEAR.findall(text))


def _spans_over(text: str, year: int) -> bool:
    """Whether a span of years in `text` covers `year` ("2015 and 2016" covers no 2020; "a
    film from 1999" is no span)."""
    for m in _YEAR_PAIR.finditer(text):
        first, last = int(m.group(1)), m.group(2)
        end = int(last) if len(last) == 4 else first // 100 * 100 + int(last)
        if first <= year <= end:
            return True
    for m in _OPEN_SPAN.finditer(text):
        word, bound = m.group(1).casefold(), int(m.group(2))
        if year >= bound if word in ("since", "after") else year <= bound:
            return True  # "after 2019" for 2020, "before 2021" for 2020
    return False


def _listed_pairs(line: str) -> set[tuple[str, str]]:
    pairs = set()
    for first, second in itertools.pairwise(_ANY_NAME.finditer(line)):
        between = line[first.end() : second.start()]
        if (
            len(between) <= LISTED_CHARS
            and _JOINER.search(between)
            and len(_TOKEN.findall(between)) <= LISTED_TOKENS
        ):
            pairs.add((first.group().casefold(), second.group().casefold()))
    return pairs


def _row_head(line: str) -> tuple[str, str] | None:
    """(what comes before it, the name) of a line that starts a row with a name: "Office:
    Paris | 27 days" -> ("office:", "paris"); "- Berlin: 7.50 EUR" -> ("-", "berlin")."""
    m = _HEAD.match(line.lstrip()[:200])
    return (m.group(1).strip().casefold(), m.group(2).casefold()) if m else None


@functools.lru_cache(maxsize=1024)
def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
