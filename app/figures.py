"""Does a question ask for a figure, a date or a number, and does a text give one?

Two English word patterns for app/quote.py. The sentence closest to a question often names its
topic but not the figure asked for ("If you refer several people, you get a bonus for each
hire." for "How big is the referral bonus?"), so a quote prefers a close sentence that gives
one; and the bundled 135M model's cited answer can answer nothing ("The Lisbon office is located
in a renovated warehouse near the river [2]" for its address), so such an answer gives way to a
quote. A question the patterns miss keeps the old behaviour (closeness alone, the model's
answer); one they catch wrongly can cost a right answer, so where in doubt they miss:
"What's the time zone of the office?", "When should I use the VPN?" and "What was the
Gettysburg Address?" ask for no figure.
"""

from __future__ import annotations

import re

from index.terms import STOP_WORDS, stem

# The figure is the head of the question's noun phrase ("the phone extension for IT", "the
# salary range for E3"), lower case (a name such as "the Gettysburg Address" is none), with at
# most two lower-case words before it ("the availability target"; "the time zone" is no time).
_NOUNS = (
    r"percentage|share|size|number|amount|price|cost|rate|limit|budget|deadline|date|time|year"
    r"|day|month|target|maximum|minimum|extension|salary|address|phone|range|population|length"
    r"|duration|age|distance"
)
_HEAD_ENDS = (
    r"(?=\s*(?:[?.!,;:]|$)|\s+(?:of|for|to|on|per|in|at|from|with|do|does|did|is|are|was|were"
    r"|will|would|can|could|should|must|has|have|had|apply|applies|we|i|you|they|that)\b)"
    r"(?!\s+of\s+(?:detail|information|effort|work)\b)"
)
_ASKS_FIGURE = re.compile(
    r"\bhow\s+(?:many|much(?!\s+(?:of|detail)\b)|long|soon|big|large|old|often|far|quickly"
    r"|fast|early|late)\b"
    r"|\bup\s+to\s+what\b|\bwhat\s+number\b"
    r"|\b(?:what|which)(?:'s|\s+is|\s+was)\s+the\s+(?:most|least)\s+(?:I|you|we|they|one)\b"
    r"(?!\s+(?:can|could|should|must)\s+do\b)"
    r"|\b(?:what|which)(?:'s|\s+is|\s+are|\s+was|\s+were)?(?:\s+(?:the|our|my|your|its|their))?"
    rf"\s+(?-i:(?:(?!an?\b|e-?mail\b)[a-z][\w-]*\s+){{0,2}}(?:{_NOUNS})s?){_HEAD_ENDS}",
    re.IGNORECASE,
)
# "When" opens the question (or a sentence of it) or ends it: "What is formed when …" asks for
# a thing. And a "when" that sets a condition asks for none: "When I travel, who approves?",
# "When should I use the VPN?", "When is a doctor's note required?".
_WHEN = re.compile(
    r"(?:^\W*|[.!?,;:]\s*)(?:(?:and|so|but|by|since|until)\s+)?when\b|\bwhen\s*\?\W*$",
    re.IGNORECASE,
)
_WHEN_A_CONDITION = re.compile(  # bounded: a 4,000-character question stays linear
    r",[^?]{0,200}?\b(?:what|who|whom|whose|which|where|why|how)\b"
    r"|,\s*(?:do|does|did|is|are|was|were|can|could|should|must|will|would|may|has|have)\b"
    r"|^\W*when\s+(?!and\b|or\b)[^?,]*?\s(?:who|whom|whose|what|which|where|why|how)\b"
    r"|\bwhen\s+(?:should|can|could|may|might|would|do\s+(?:I|we|you)\s+need)\b"
    r"|\bwhen\s+(?:is|are)\b[^?]{0,200}"
    r"\b(?:required|needed|necessary|allowed|mandatory|permitted)\b",
    re.IGNORECASE,
)

# A figure, a date or a number: "1,500 EUR", "9:00", "in September", "every two weeks".
_FIGURE = re.compile(
    r"\d[\d.,:/%]*"
    r"|\b(?:January|February|March|April|May(?!\s+(?:I|we|you|they|he|she|it)\b)|June|July"
    r"|August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday"
    r"|Saturday|Sunday)\b"
    r"|(?i:\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|hundred|thousand|million|billion|dozen|half|daily|weekly|monthly|yearly"
    r"|annually|quarterly)\b)"
)
# An answer may give it in more words than a sentence worth quoting for it: "within one week",
# "the fourth calendar day", "twice a year", "at midnight", "free of charge".
_FIGURE_IN_WORDS = re.compile(
    r"(?i:\b(?:one|zero|none|once|twice|thrice|noon|midday|midnight|fortnight(?:ly)?|hourly"
    r"|(?:bi|semi-?)(?:weekly|monthly|annual(?:ly)?)|(?:thir|four|fif|six|seven|eigh|nine)teen"
    r"|(?:six|seven|eigh|nine)ty|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
    r"|tenth|eleventh|twelfth|\w+teenth|\w+tieth|free|unlimited"
    r"|no\s+(?:limit|maximum|minimum|cap|cost|charge))\b)"
)
# … and a "when" may be answered by a condition or a moment: "as soon as they enter into force".
_MOMENT = re.compile(
    r"(?i:\b(?:whenever|if|unless|as\s+soon\s+as|before|after|during|within|until|upon"
    r"|following|prior\s+to|immediately|night|morning|evening)\b)"
)
_PASSAGE_NUMBER = re.compile(r"(?i:\b(?:passages?|sources?|documents?)\s+\d+)")
# "How many blankets were delivered?" asks for a count, which a date does not give ("a memo
# sent on January 23, 2023"): for how many / how much, dates are not the figure.
_COUNT = re.compile(r"\bhow\s+(?:many|much)\b", re.IGNORECASE)
_MONTHS = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(
    rf"\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})(?:,?\s+\d{{4}})?\b"
    rf"|\b(?:{_MONTHS})(?:\s+\d{{4}})?\b"
    r"|\b(?:in|since|from|until|by|of)\s+(?:1[0-9]|20)\d{2}\b"
    r"|\b\d{4}-\d{2}-\d{2}\b",
)


# "What percentage of patients relapsed?" wants a share: a sentence's "P = 0.452" or "n = 96"
# is a figure, not the one asked for
_ASKS_PERCENT = re.compile(
    r"\b(?:what|which)\s+(?:percentage|proportion|per\s*cent)\b|\bby\s+what\s+percentage\b"
    r"|\bhow\s+many\s+per\s*cent\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(
    r"\d(?:[\d.,]*\d)?\s*(?:%|per\s*cent\b|percent\b)|\b[a-z]+[\s-](?:per\s*cent|percent)\b"
    r"|\b(?:half|a\s+third|a\s+quarter)\b",
    re.IGNORECASE,
)


def asks_for_share(question: str) -> bool:
    """Whether the question asks for a percentage ("What percentage of …", "By what percentage
    …"), which only a share answers."""
    return bool(_ASKS_PERCENT.search(question))


def asks_for_figure(question: str) -> bool:
    """Whether the question asks for a figure, a date or a number."""
    return bool(_ASKS_FIGURE.search(question)) or _asks_when(question)


def _asks_when(question: str) -> bool:
    """Whether the question asks when something happens or happened, not on what condition
    ("When should I use the VPN?")."""
    return bool(_WHEN.search(question)) and not _WHEN_A_CONDITION.search(question)


# "When did Estonia join the OECD?", "When was the board founded?": a past event, which sources
# date ("in 2010", under a heading "March 2024"); "When is payroll run?" is as often answered
# in words ("on the first working day of the month", "every other week", "in the spring")
_WHEN_PAST = re.compile(r"\bwhen\s+(?:did|was|were)\b", re.IGNORECASE)


def asks_when_it_happened(question: str) -> bool:
    """Whether the question asks when a past event happened ("When did …", "When was …")."""
    return _asks_when(question) and bool(_WHEN_PAST.search(question))


_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|few|several"
_ORDINALS = r"first|second|third|(?:four|fif|six|seven|eigh|nin|ten|eleven|twelf|\w+teen|\w+tie)th"
# What dates a past event: a month or weekday, a year (911, 1066; not 50,000 or 1.5), a decade
# (1050s, '60s), a time of day, a century or an era (BC, AD), or an amount of time from a moment
# ("two years later", "the following year"); not any number ("held in Room 4", "ISDN's layer
# two protocol", "the Seven Years' War", "$2000"), nor "most years" or "now"; nor "dynasty" or
# "reign", which a title such as "Yuan dynasty" gives every sentence of its article
_TIME = re.compile(
    rf"\b(?:{_MONTHS}|{_DAYS})\b"
    r"|(?<![\d,.$€£])\d{3,4}(?![\d%]|[.,]\d)"
    r"|\b\d{1,3}0s\b|'\d0s\b"
    r"|\b\d{1,2}:\d{2}\b"
    r"|\b(?:BCE?|CE|AD|B\.C\.|A\.D\.)(?!\w)"
    r"|(?i:\b(?:centur(?:y|ies)|millenni(?:um|a)|decades?|ago|later|earlier|recently|yesterday"
    r"|noon|midnight|spring|summer|autumn|winter|age\s+of)\b)"
    rf"|(?i:\b(?:same|next|following|previous|last|that|this|{_ORDINALS}|\d+(?:st|nd|rd|th)?"
    rf"|{_NUMBER_WORDS})\s+(?:days?|weeks?|months?|years?|quarters?)\b(?!['’]))"
)


# A recurring schedule dates no event: "open Monday to Friday, 08:00 to 19:30" says when an
# office is open, not when it opened
_UNTIL = r"\s*(?:to|through|until|till|-|–|—)\s*"
_AM_PM = r"\s*(?i:[ap]\.?m\.?)(?!\w)"
_CLOCK = rf"\b\d{{1,2}}(?:[:.]\d{{2}}(?:{_AM_PM})?(?![\w:])|{_AM_PM})"  # 08:00, 9:00 am, 5 p.m.
_HOUR = rf"(?:{_CLOCK}|(?i:\b(?:noon|midnight)\b))"
_SCHEDULE = re.compile(
    rf"\b(?:{_DAYS}){_UNTIL}(?:{_DAYS})\b|{_HOUR}{_UNTIL}{_HOUR}"
    rf"|\b\d{{1,2}}{_UNTIL}\d{{1,2}}(?:[:.]\d{{2}})?{_AM_PM}"  # "9 until 5 pm": one am/pm for both
    rf"|(?i:\b(?:every|each)\s+)(?:{_DAYS})\b"
)


def dates_it(answer: str, question: str) -> bool:
    """Whether an answer to "when did it happen" gives a time the question does not already
    hold, or a moment ("following the Nice Treaty", "before the war"); a schedule's days and
    hours are none."""
    answer = _SCHEDULE.sub(" ", answer)
    asked = {m.group(0).casefold() for m in _TIME.finditer(question)}
    return any(m.group(0).casefold() not in asked for m in _TIME.finditer(answer)) or bool(
        _MOMENT.search(answer)
    )


def answers_figure(answer: str, question: str, moments: bool = True) -> bool:
    """Whether an answer gives a figure, a date or a number the question does not already
    hold ("the salary range for band E3 is competitive" only repeats "E3"; for "how many" or
    "how much" a date is none; for "what percentage" only a share is), or for a "when"
    question a moment or a condition (unless not `moments`: a source sentence's "if" is no
    answer to prefer)."""
    answer = _PASSAGE_NUMBER.sub(" ", answer)  # "according to passage 2" gives nothing
    if asks_for_share(question):
        asked_shares = {m.group(0).casefold() for m in _PERCENT.finditer(question)}
        return any(m.group(0).casefold() not in asked_shares for m in _PERCENT.finditer(answer))
    if _COUNT.search(question):
        answer = _DATE.sub(" ", answer)
    asked = {m.group(0).casefold() for m in _FIGURE.finditer(question)}
    for pattern in (_FIGURE, _FIGURE_IN_WORDS):
        if any(m.group(0).casefold() not in asked for m in pattern.finditer(answer)):
            return True
    return (
        moments
        and bool(_WHEN.search(question))
        and not _ASKS_FIGURE.search(question)
        and bool(_MOMENT.search(answer))
    )


# "How many laptops were delivered?" counts laptops: the last of the words after "how many"
# before a function word, a verb in -ed or the end of the clause ("new jobs", "common
# shares"), if it is plural. Where in doubt, none: a count may come without its word ("how many
# times": "twice"; "how many people": "36 employees"), and a wrong one costs a right answer.
_HOW_MANY = re.compile(r"\bhow\s+many\s+([^?.!,;:]*)", re.IGNORECASE)
_WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_UNNAMED = frozenset(
    {"times", "ones", "others", "more", "things", "items", "units"}
    # units measure rather than name what is counted, and sources give their own: "27 working
    # days" answers "how many hours of annual leave" (corpus/adversarial.jsonl)
    | {"seconds", "minutes", "hours", "days", "weeks", "months", "years", "decades", "centuries"}
    | {"euros", "dollars", "pounds", "francs", "cents", "percent", "points", "per-cents"}
    | {"metres", "meters", "kilometres", "kilometers", "miles", "kilos", "kilograms", "tonnes"}
    | {"litres", "liters", "inches", "feet", "bytes", "bits", "calories", "pages", "words"}
)
# plurals without an s: "How many women needed treatment?" counts women ("people" is left
# out: "36 employees" answers how many people)
_IRREGULAR = frozenset({"women", "men", "children", "mice", "teeth", "geese"})
# words after a number that name no thing counted: "40 this year", "3 hours"
_NO_THING = STOP_WORDS | _UNNAMED
# a number as written ("1,500", "3", not the "5" of "1.5") and a number with the word after it
_NUMBER = r"(?<![\w.,-])(?:\d[\d,.]*\d|\d)"
_COUNT_OF = re.compile(rf"({_NUMBER})\s+([^\W\d_]+)")
_NOT_COUNTING = frozenset({"am", "pm", "eur", "usd", "gbp", "chf", "euro", "dollar"}) | _UNNAMED
_YEARLIKE = re.compile(r"(?:1[89]|20)\d\d")
_COUNTING = re.compile(rf"{_NUMBER}\s+(?:\([^)]*\)\s+)?((?:[^\W\d_]+[ \t]+){{0,2}}[^\W\d_]+)")
# a number that names rather than counts: "Room 4 seats 10", "Level 3 includes 12"
_LABEL = re.compile(r"\b[A-Z][\w-]*\s+$")


def counted_word(question: str) -> str | None:
    """What a "how many" question counts, as written ("How many laptops were delivered?":
    "laptops"), or None (no such question, or a count that may come without the word)."""
    m = _HOW_MANY.search(question)
    if not m:
        return None
    head = None
    for word in _WORDS.findall(m.group(1).casefold())[:4]:
        if word in STOP_WORDS or (head and word.endswith("ed")):
            break
        head = word
    if head in _IRREGULAR and f"{head}-" not in m.group(1).casefold():  # not "women-led teams"
        return head
    if head is None or head in _UNNAMED or not head.endswith("s") or head.endswith("ss"):
        return None
    return head


def counted_thing(question: str) -> str | None:
    """The stem of what a "how many" question counts ("laptop"), or None (`counted_word`)."""
    word = counted_word(question)
    return None if word is None else word if word in _IRREGULAR else stem(word)


def _same_thing(a: str, b: str) -> bool:
    """Stems of one word, allowing for spelling ("licens", "licenc")."""
    return a == b or (min(len(a), len(b)) >= 5 and a[:5] == b[:5])


def names_counted(text: str, counted: str) -> bool:
    """Whether `text` names the counted thing, in any form ("laptops", "laptop", "licences"
    for "licenses"; "three-bedroom" names bedrooms)."""
    return any(_same_thing(stem(word), counted) for word in _WORDS.findall(text.casefold()))


def other_counts(text: str, counted: str, numbers: frozenset[str] | None = None) -> list[str]:
    """The other things than the one counted that `text` gives a number of: "trucks" in "3
    trucks" for laptops (positive evidence only: "1,200 people" or "50 GB" may well count
    employees or storage). `numbers`: only these numbers count (those an answer gave, found in
    a source)."""
    found = []
    for m in _COUNT_OF.finditer(text):
        number, word = m.group(1), m.group(2).casefold()
        if (numbers is not None and number not in numbers) or _LABEL.search(text[: m.start()]):
            continue
        plural = word.endswith("s") and not word.endswith("ss") and len(word) > 3
        if plural and word not in _NO_THING and not _same_thing(stem(word), counted):
            found.append(word)
    return found


def counts(text: str, counted: str) -> bool:
    """Whether a number in `text` counts the thing: "63 women", "17 (11.0%) patients", "140
    open desks" (within three words of the number, a bracket skipped), and not one that names
    ("Room 12 laptops"), a year or a time of day."""
    for m in _COUNTING.finditer(text):
        number, label = m.group(0).split()[0], _LABEL.search(text[: m.start()])
        if (label and label.group(0).strip().casefold() not in STOP_WORDS) or _YEARLIKE.fullmatch(
            number
        ):
            continue  # "Room 12 laptops", "In 2020 laptops were replaced": no count ("The 12 …" is)
        for word in m.group(1).casefold().split():
            if word in _NOT_COUNTING:  # "At 3 pm laptops …", "The 500 EUR laptops"
                break
            if _same_thing(stem(word), counted):
                return True
            if word in STOP_WORDS:  # "in 2020 the laptops": the number counts no laptops
                break
    return False


def numbers_in(text: str) -> frozenset[str]:
    """The numbers a text gives, as written ("1,500", "3")."""
    return frozenset(re.findall(_NUMBER, text))
