"""Wikitext -> plain-text `Section`s (one per heading) and category names.

mwparserfromhell parses the wikitext; the renderer keeps what a reader sees (link labels, table
cells, list items, an infobox's fields) and drops what they don't (most templates, references,
comments, images, and category links, which become metadata). An infobox becomes one "Field:
value" line per field, before the text of the section it stood in: facts a page gives only
there ("Capital: Montgomery") can be found and quoted. (As a section of its own it made short
chunks that outranked the prose on a page's name alone: docs/INGEST-QUALITY.md, round 5.)
Markup mwparserfromhell leaves as text (it gives up on e.g. HTML tables with unclosed `<td>`)
goes through a regex renderer, which is also the fallback for a page it cannot parse at all;
nested templates and links are resolved there in one stack scan each, so hostile nesting
costs linear time.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import groupby
from typing import Any
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import (
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)

from index.types import Section
from ingest.parsers.tables import table_lines

log = logging.getLogger(__name__)

_FILE_NS, _MEDIA_NS, _CATEGORY_NS = 6, -2, 14
_CANONICAL = {"file": _FILE_NS, "image": _FILE_NS, "media": _MEDIA_NS, "category": _CATEGORY_NS}
_DROPPED_TAGS = {"ref", "references", "gallery", "imagemap", "timeline", "templatedata", "score"}
_DROPPED_TAGS |= {"templatestyles", "graph", "categorytree", "inputbox", "includeonly", "mapframe"}
_VERBATIM_TAGS = {"math", "chem", "ce", "pre", "nowiki", "syntaxhighlight", "source"}
# Back matter: lists of other pages, outside sites and books, which state nothing a reader asks
# about yet sit close to questions on the page's subject (a near miss about Brahui got "Profile
# of the Brahui language", an External links line, as its quote). A section so headed is
# dropped only when it is a list: an organisation's "References" section may be prose
# ("We ask candidates for two professional references"). English headings only.
_BACK_MATTER = frozenset({
    "see also", "external links", "external link", "further reading", "references",
    "bibliography", "footnotes", "citations", "works cited", "notes and references",
    "references and notes", "references and further reading", "other websites", "related pages",
    "links",
})  # fmt: skip
_BLOCK_TAGS = {"p", "div", "blockquote", "center", "poem", "ul", "ol", "dl", "tr", "caption"}
# Stripped before parsing: mwparserfromhell gives up on some refs (leaving raw `<ref>` text).
# A ref's body stops at the next <ref (refs do not nest): `.*?</ref>` searched to the page's end
# from every unclosed <ref>, 16 s for 20,000 of them.
_HIDDEN_RE = re.compile(
    r"<!--.*?(?:-->|$)|<ref\b[^>]*/>|<ref\b[^>]*>(?:(?!<ref\b|</ref).)*</ref\s*>", re.S | re.I
)
_VERBATIM_SPACE_RE = re.compile(r"(?<=\{)(?=[{|])|(?<=\})(?=\})|(?<=\[)(?=\[)|(?<=[]|])(?=[]}])")
_MAGIC_RE = re.compile(r"__([^\W_]+(?:_[^\W_]+)*)__")
_INTERLANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:-[a-z]{2,8})*")
_LEFTOVER_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}|</?ref\b[^>]*>|'{2,}")
_HTML_TAGS = "table|tbody|thead|t[rdh]|[uo]l|li|div|span|center|font|caption|small|big|[biusq]|sup"
_HTML_TAGS += "|sub|nowiki|br"
_MARKUP_HINT_RE = re.compile(rf"\[\[|\{{\{{|\{{\||^\s*\||</?(?:{_HTML_TAGS})\b", re.M | re.I)
# Cell attributes left in a cell's text when the `|` that ends them sits in a template
# (`|bgcolor=white colspan="3" {{n/a|}}`): MediaWiki expands the template first, we cannot.
_CELL_ATTRS_RE = re.compile(
    r"^(?:\s*(?:style|class|align|valign|bgcolor|colspan|rowspan|width|height|scope|nowrap|"
    r"data-sort-value|data-sort-type)\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s|\"']+))+(?:\s*\|)?\s*",
    re.I,
)
# A list item or table row with nothing left to read ("- ." after its links were images).
_EMPTY_LINE_RE = re.compile(r"[-|]\s*[.,;:|\s]*")
_TEMPLATE_TOKEN_RE = re.compile(r"\{\{|\}\}")
# Templates that show a reader one of their own parameters, among the most used in enwiki
# prose and tables (most templates are citations, infoboxes and navboxes: dropped). Value:
# which positional parameter is shown (-1: the last one).
_TEXT_TEMPLATES = {
    "flag": 1,  # {{flag|Finland}}: a flag icon and "Finland"
    "flagcountry": 1,
    "flagu": 1,
    "lang": 2,  # {{lang|fr|bonjour}}
    "transl": -1,  # {{transl|ar|DIN|text}} or {{transl|ja|text}}
    "nihongo": 1,  # {{nihongo|English|kanji|romaji}}: the English name
    "small": 1,
    "smaller": 1,
    "nowrap": 1,
    "nobr": 1,
    "quote": 1,
    "as of": 1,
    "angbr": 1,  # {{angbr|e}}: "⟨e⟩", the letter
    "chem2": 1,  # {{chem2|CH4}}
}
# Templates that typeset a figure (`_number`): {{val|0.001118|u=grams}}, {{frac|1|2}}, {{sc|bc}},
# {{sigfig|4.22|1}}, {{round|3.14159|2}}, {{nts|1234}} (a table's sortable number), {{bartable|62}}
# (a bar beside its figure). {{formatnum:1234}} is a parser function: see `template`.
# Not here: {{inflation}} and {{#expr}} compute from data or markup we do not have.
_NUMBER_TEMPLATES = frozenset({
    "val", "frac", "sfrac", "sc", "smallcaps", "small caps", "bibleref", "bibleref2",
    "bible verse", "bibleverse", "sigfig", "round", "nts", "number table sorting", "bartable",
})  # fmt: skip
# Templates that stand for a dash between dates or numbers ({{snd}}: " – ").
_DASH_TEMPLATES = {"snd": " – ", "snds": " – ", "spnd": " – ", "sndash": " – ",
                   "ndash": "–", "mdash": "—", "spaced ndash": " – "}  # fmt: skip
# {{convert|22|e6acre|km2}} shows "22 million acres": the e-prefixes of its unit codes.
_CONVERT_SCALES = {"e3": "thousand", "e6": "million", "e9": "billion", "e12": "trillion"}
# unit codes that are words: shown in the plural after "million"; other codes (t, mi, kWh) as
# they are
_UNIT_PLURALS = {"acre": "acres", "carat": "carats", "ton": "tons", "tonne": "tonnes",
                 "barrel": "barrels", "gallon": "gallons", "bushel": "bushels"}  # fmt: skip
_NUMBER_RE = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
# Templates that list their positional parameters ({{ubl|Paris|Berlin}}, {{plainlist|* a * b}}),
# common in infobox fields.
_LIST_TEMPLATES = frozenset({
    "ubl", "unbulleted list", "plainlist", "plain list", "flatlist", "flat list", "hlist",
    "bulleted list", "bull list", "collapsible list",
})  # fmt: skip
_INFOBOX_PREFIX = "infobox"
# Infobox fields that show no fact: pictures, their captions and sizes, links to flag or seal
# articles, layout switches. Matched against the field's name, lower-cased, without separators.
_LAYOUT_FIELD_RE = re.compile(
    r"image|caption|^alt|alt$|logo|map|flag|seal|coat|signature|pushpin|link|module|embed|"
    r"size|upright|footnote|blank|class|style|^child$|onlysourced|^label\d|^data\d|^header\d"
)
_NOT_A_FACT_RE = re.compile(r"(?i).*\.(?:svg|png|jpe?g|gif|tiff?|webp)|\d+\s*px|yes|no|none")
_FIELD_WORDS_RE = re.compile(  # word breaks in "LargestCity", "PCWater", "TZ1Where", "2010Pop"
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)
_RANGE_WORDS = {"to", "-", "–", "and", "or", "by", "x", "×", "+/-", "±"}
# Date templates of biographies and events show a date made of year|month|day: "Ayn Rand (born
# …, {{OldStyleDate|February 2|1905|January 20}} – March 6, 1982)" lost her birth date.
# ("and age" forms show the first date; the age depends on today and is left out.)
_DATE_TEMPLATES = frozenset({
    "birth date", "death date", "birth date and age", "death date and age", "start date",
    "end date", "start date and age", "dob", "bda", "dda",
})  # fmt: skip
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _date_text(texts: list[str], month_first: bool) -> str:
    """ "2 February 1905" ("February 2, 1905" with mf=yes) from year, month, day; "1905" or
    "February 1905" from fewer; "" when the year is not a number."""
    year, month, day = [*texts[:3], "", "", ""][:3]  # {{dts}} may have none of them
    if not year.isdigit():
        return ""
    if not (month.isdigit() and 1 <= int(month) <= 12):
        return year
    named = _MONTH_NAMES[int(month) - 1]
    if not (day.isdigit() and 1 <= int(day) <= 31):
        return f"{named} {year}"
    return f"{named} {int(day)}, {year}" if month_first else f"{int(day)} {named} {year}"


_LINK_TOKEN_RE = re.compile(r"\[\[|\]\]")
# A label or a tag stops at the next `[` or `<`: scanned to the page's end for a `]` or `>`
# that never comes, every unclosed one cost the length of the page (quadratic).
_PLAIN_SUBS = [
    (re.compile(r"\[(?:https?:)?//[^\s\][]+\s*([^\][\n]*)\]"), r"\1"),  # [http://x label]
    (re.compile(r"<(?:br|tr)\b[^<>]*>", re.I), "\n"),
    (re.compile(r"<t[dh]\b[^<>]*>", re.I), "\x1f"),  # cell separator, see `plain`
    (re.compile(r"<li\b[^<>]*>", re.I), "\n- "),
    (re.compile(rf"</?(?:{_HTML_TAGS})\b[^<>]*>", re.I), ""),
    (re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M), r"\2"),  # headings
]


@dataclass
class _Site:
    """What `<siteinfo>` says about the wiki (or what we assume when a dump has none)."""

    dbname: str
    url_prefix: str | None = None
    namespaces: dict[str, int] = field(default_factory=lambda: dict(_CANONICAL))

    def namespace_of(self, title: str) -> int | None:
        prefix, sep, _ = title.partition(":")
        return self.namespaces.get(_norm_name(prefix)) if sep else None

    def url(self, title: str) -> str | None:
        if self.url_prefix is None:
            return None
        return self.url_prefix + quote(title.replace(" ", "_"), safe="/:(),")


MAX_UNCLOSED = 200  # real pages leave a handful open at most; 2,000 "{{a|" cost 1.8 s
# What mwparserfromhell backtracks over when it is never closed: templates, links, tables,
# external links and paired tags. Tags that need no closing (<br>, <li>, <td>, …) cost nothing.
_OPENERS = re.compile(
    r"(?P<open>\{\{|\[\[|\[(?=https?:|ftp:|mailto:|//)|^[ \t:]*\{\|)"
    r"|(?P<close>\}\}|\]\]|(?<!\])\](?!\])|^[ \t]*\|\})"
    r"|<(?P<end>/?)(?P<tag>[a-z][a-z0-9]*)\b[^<>]*?(?P<empty>/?)>"
    r"|(?P<unended><[a-z][a-z0-9]*\b[^<>]*(?=<|\Z))",  # "<br x<br x…": a tag never ended
    re.IGNORECASE | re.MULTILINE,
)
_PAIRS = {"}}": "{{", "]]": "[[", "]": "[", "|}": "{|"}
_UNPAIRED_TAGS = frozenset("br hr wbr img li dt dd tr td th".split())
# What real pages leave open by the hundred count a tenth: 210 <p> is an ordinary page
_CHEAP = {"<p>": 0.1}
# Bodies the parser takes as they are (code, formulas): their "<" and "[" are not markup
_VERBATIM_BODIES = [
    re.compile(rf"<{tag}\b[^<>]*>(?:(?!</?{tag}\b).)*</{tag}\s*>", re.IGNORECASE | re.DOTALL)
    for tag in sorted(_VERBATIM_TAGS)
]


def _unclosed(text: str) -> int:
    """How many templates, links, tables, external links and paired tags are still open
    where the page ends, all kinds together: the parser is quadratic in them (80 KB of "{{a|"
    took 201 s, of "[[a|" 15 s; 16,000 "[http://a " 32 s; 20,000 "<br x" 344 s; "<span>" and
    "{|" alike). What stands inside <pre>, <syntaxhighlight> and the like is not counted."""
    for body in _VERBATIM_BODIES:
        text = body.sub("", text)
    open_now: dict[str, int] = {}
    for found in _OPENERS.finditer(text):
        if found["tag"]:
            name = found["tag"].casefold()
            if found["empty"] or name in _UNPAIRED_TAGS:
                continue
            kind, opens = f"<{name}>", not found["end"]
        elif found["unended"]:
            kind, opens = "<", True
        elif found["open"]:
            kind, opens = found["open"].lstrip(" \t:"), True
        else:
            kind, opens = _PAIRS[found["close"].lstrip(" \t")], False
        count = open_now.get(kind, 0)
        open_now[kind] = count + 1 if opens else max(0, count - 1)
    return round(sum(count * _CHEAP.get(kind, 1.0) for kind, count in open_now.items()))


def _norm_name(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def _render_page(text: str, site: _Site, title: str) -> tuple[tuple[Section, ...], list[str]]:
    """Sections and categories of one page's wikitext (regex fallback if parsing fails, or
    would take hours: mwparserfromhell is quadratic in what is opened and never closed)."""
    text = _HIDDEN_RE.sub("", text)
    try:
        if _unclosed(text) > MAX_UNCLOSED:
            raise ValueError("too many unclosed templates, links or tags")
        return _Renderer(site).sections(mwparserfromhell.parse(text, skip_style_tags=True).nodes)
    except Exception:  # mwparserfromhell or a pathological page: degrade, don't abort the dump
        log.warning("wikitext of %r could not be parsed; using the plain-text fallback", title)
        renderer = _Renderer(site)
        body = _clean(renderer.plain(text))
        return ((Section((), body),) if body else ()), renderer.categories


class _Renderer:
    """Turns parsed wikitext into clean text; collects category links on the way."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self.categories: list[str] = []
        self.infoboxes: list[str] = []  # infoboxes met in the section being rendered

    def sections(self, nodes: list[Any]) -> tuple[tuple[Section, ...], list[str]]:
        groups: list[tuple[Heading | None, list[Any]]] = [(None, [])]
        for node in nodes:
            if isinstance(node, Heading):
                groups.append((node, []))
            else:
                groups[-1][1].append(node)
        stack: list[tuple[int, str]] = []
        seen: dict[str, int] = {}
        result: list[Section] = []
        back_matter = False  # under "See also", "External links", …: not kept
        for heading, body_nodes in groups:
            anchor = None
            if heading is not None:
                name = " ".join(_clean(self.render(heading.title.nodes)).split())
                while stack and stack[-1][0] >= heading.level:
                    stack.pop()
                stack.append((heading.level, name))
                back_matter = any(_is_back_matter(n) for _, n in stack)
                anchor = name.replace(" ", "_") or None
                if anchor is not None:  # MediaWiki numbers repeated headings: X, X_2, X_3
                    seen[anchor] = seen.get(anchor, 0) + 1
                    anchor += f"_{seen[anchor]}" if seen[anchor] > 1 else ""
            body = _clean(self.render(body_nodes))  # rendered even if dropped: categories
            boxes, self.infoboxes = [box for box in self.infoboxes if box], []
            body = "\n\n".join([*boxes, body] if body else boxes)
            if body and not (back_matter and _is_list(body)):
                result.append(Section(tuple(n for _, n in stack if n), body, anchor))
        return tuple(result), self.categories

    def render(self, nodes: list[Any]) -> str:
        out: list[str] = []
        run: list[str] = []  # adjacent text and entities: markup left as text can span them
        in_marker = False
        for node in [*nodes, None]:
            if isinstance(node, Text | HTMLEntity):
                run.append(str(node.value if isinstance(node, Text) else node.normalize()))
                in_marker = False
                continue
            if run:
                text, run = "".join(run), []
                out.append(self.plain(text) if _MARKUP_HINT_RE.search(text) else text)
            # list markers are childless tags before the item's text
            marker = isinstance(node, Tag) and node.wiki_markup in ("*", "#", ";", ":")
            if marker and not in_marker:
                out.append("- " if node.wiki_markup in ("*", "#") else " ")
            elif not marker and node is not None:
                out.append(self.node(node))
            in_marker = marker
        return "".join(out)

    def node(self, node: Any) -> str:
        if isinstance(node, Wikilink):
            label = None if node.text is None else self.render(node.text.nodes)
            return self.link(self.render(node.title.nodes), label)
        if isinstance(node, ExternalLink):
            if not node.brackets:
                return str(node.url)  # bare URLs stay: the page shows them as text
            return self.render(node.title.nodes) if node.title is not None else ""
        if isinstance(node, Tag):
            return self.tag(node)
        if isinstance(node, Heading):
            return "\n" + self.render(node.title.nodes) + "\n"
        if isinstance(node, Template):
            return self.template(node)
        return ""  # comments, template arguments: nothing a reader sees

    def template(self, node: Template) -> str:
        """The text a reader sees of a template we know shows some ({{convert|10|km|mi}} shows
        "10 km (6.2 mi)": "10 km" is kept); any other template shows nothing here."""
        name = " ".join(str(node.name).replace("_", " ").split()).lower()
        if name in _DATE_TEMPLATES or name in ("oldstyledate", "dts", "date table sorting"):
            return self._date(node, name)
        if name.startswith("formatnum:"):  # {{formatnum:1234567}}: "1,234,567"
            number = self.render(node.name.nodes).partition(":")[2].strip()
            raw = any(str(p.value).strip() in ("R", "NOSEP") for p in node.params)
            return number if raw else _grouped(number)
        if name.startswith(_INFOBOX_PREFIX):
            slot = len(self.infoboxes)  # an infobox nested in this one's fields comes after it
            self.infoboxes.append("")
            self.infoboxes[slot] = self.infobox(node)
            return ""
        if name in _LIST_TEMPLATES:
            items = [self.render(p.value.nodes) for p in node.params if not p.showkey]
            return ", ".join(_list_items("\n".join(items)))
        if name in _DASH_TEMPLATES:
            return _DASH_TEMPLATES[name]
        if name in _NUMBER_TEMPLATES:
            return self._number(node, name)
        position = _TEXT_TEMPLATES.get(name)
        shown_by_name = name in ("convert", "chem", "marriage") or name.startswith("lang-")
        if position is None and not shown_by_name:
            return ""  # citations, navboxes: nothing rendered (they are most)
        shown = [p.value for p in node.params if not p.showkey] or [
            p.value for p in node.params if str(p.name).strip() == "text"
        ]
        texts = [" ".join(self.render(v.nodes).split()) for v in shown]
        if name == "convert" and len(texts) >= 2:
            return _convert_text(texts)
        if name == "chem":  # {{chem|C|''n''|H|2''n''}}: "CnH2n"
            return "".join(texts)
        if name == "marriage" and texts:  # {{marriage|Frank O'Connor|1929|1979}}
            years = "–".join(texts[1:3])
            return f"{texts[0]} (m. {years})" if years else texts[0]
        if name.startswith("lang-"):  # {{lang-el|Ἀχιλλεύς}}
            position = 1
        if position is None or not texts or len(texts) < position:
            return ""
        text = texts[-1] if position == -1 else texts[position - 1]
        if name.startswith("flag") and re.fullmatch(r"[A-Z]{2,3}", text):
            return ""  # {{flag|EE}} shows "Estonia": a country code we cannot expand
        return f"As of {text}" if name == "as of" else text

    def _number(self, node: Template, name: str) -> str:
        """A figure a template typesets: {{val|0.001118|u=grams}} "0.001118 grams",
        {{val|6.24|e=18}} "6.24×10^18", {{frac|3|1|2}} "3 1/2", {{sc|bc}} "BC",
        {{bibleref|Mark|3:25}} "Mark 3:25"; their numbers were lost with the template."""
        shown = [" ".join(self.render(p.value.nodes).split()) for p in node.params if not p.showkey]
        named = {
            str(p.name).strip(): " ".join(self.render(p.value.nodes).split())
            for p in node.params
            if p.showkey
        }
        if not shown:
            return ""
        if name in ("frac", "sfrac"):  # {{frac|2}} "1/2", {{frac|1|2}}, {{frac|3|1|2}}
            parts = ["1", *shown] if len(shown) == 1 else shown
            # "1{{sfrac|1|4}} days" is one and a quarter: a space keeps it from reading "11/4"
            whole = f"{parts[0]} " if len(parts) >= 3 else " "
            return whole + "/".join(parts[-2:])
        if name in ("sc", "smallcaps", "small caps"):
            return shown[0].upper() if len(shown[0]) <= 4 else shown[0]  # {{sc|bc}}: "BC"
        if name in ("bibleref", "bibleref2", "bible verse", "bibleverse"):
            return " ".join(shown[:2])
        if name in ("sigfig", "round"):  # {{sigfig|4.22|1}} "4", {{round|3.14159|2}} "3.14"
            return _rounded(shown[0], shown[1] if len(shown) > 1 else "", name == "sigfig")
        if name in ("nts", "number table sorting"):  # {{nts|1234567}} "1,234,567"
            return _grouped(shown[0])
        if name == "bartable":  # {{bartable|62|%|2}}: a bar, then "62%"
            return shown[0] + (shown[1] if len(shown) > 1 else "")
        value = shown[0]  # val
        if len(shown) >= 2 and _NUMBER_RE.fullmatch(shown[1]):
            value += f"±{shown[1]}"
        if named.get("e"):
            value += f"×10^{named['e']}"
        unit = named.get("u") or named.get("ul") or ""
        per = named.get("up") or named.get("upl") or ""
        return " ".join(filter(None, [value, unit])) + (f"/{per}" if per else "")

    def infobox(self, node: Template) -> str:
        """One "Field: value" line per field that states a fact (`infobox_fields`)."""
        return "\n".join(f"{label}: {text}" for label, text in self.infobox_fields(node))

    def infobox_fields(self, node: Template) -> list[tuple[str, str]]:
        """(label, value) of each field that states a fact: `|birth_place = [[Toronto]],
        Canada` gives ("Birth place", "Toronto, Canada"); pictures, empty fields and layout
        switches give nothing. A generic {{Infobox}}'s `labelN`/`dataN` pairs give (label,
        data)."""
        named = {str(p.name).strip(): p.value for p in node.params if p.showkey}
        fields: list[tuple[str, str]] = []
        for key, value in named.items():
            label = _field_label(key)
            numbered = re.fullmatch(r"label(\d+)", key)
            if numbered and f"data{numbered.group(1)}" in named:
                label = _field_text(self.render(value.nodes))
                value = named[f"data{numbered.group(1)}"]
            elif _LAYOUT_FIELD_RE.search(key.lower().replace("_", "").replace(" ", "")):
                continue
            text = _field_text(self.render(value.nodes))
            if label and text and not _NOT_A_FACT_RE.fullmatch(text):
                fields.append((label, text))
        return fields

    def _date(self, node: Template, name: str) -> str:
        """The date a date template shows ({{birth date|1809|2|12}}: "12 February 1809";
        {{OldStyleDate|February 2|1905|January 20}}: "February 2, 1905", the new-style date)."""
        texts = [" ".join(self.render(p.value.nodes).split()) for p in node.params if not p.showkey]
        if name == "oldstyledate":
            return ", ".join(texts[:2]) if len(texts) >= 2 else ""
        named = {str(p.name).strip().lower(): str(p.value).strip().lower() for p in node.params}
        if name in ("dts", "date table sorting"):  # a table's sortable date: {{dts|1778|02|05}}
            if len(texts) == 1:  # {{dts|5 February 1778}}: shown as written
                return texts[0]
            months = {m.lower()[:3]: str(i) for i, m in enumerate(_MONTH_NAMES, 1)}
            texts[1:2] = [months.get(text.lower()[:3], text) for text in texts[1:2]]
            return _date_text(texts, named.get("format", "mdy") != "dmy")  # "February 5, 1778"
        month_first = named.get("mf", "") in ("y", "yes")
        return _date_text(texts, month_first)

    def link(self, target: str, label: str | None) -> str:
        target = target.strip()
        shown = target.lstrip(":").strip()
        ns = self.site.namespace_of(shown)
        if not target.startswith(":"):
            if ns == _CATEGORY_NS:
                name = " ".join(shown.partition(":")[2].replace("_", " ").split())
                self.categories += [name[:1].upper() + name[1:]] if name else []
            prefix, sep, _ = shown.partition(":")
            interlanguage = sep and ns is None and _INTERLANGUAGE_RE.fullmatch(prefix)
            if ns in (_FILE_NS, _MEDIA_NS, _CATEGORY_NS) or (interlanguage and label is None):
                return ""  # images, category links and the sidebar's language links
        if label is not None and label.strip():
            return label
        if label is not None:  # the pipe trick: [[Help:Foo (bar)|]] shows "Foo"
            shown = re.sub(r"\s*\([^()]*\)$", "", shown.split(":", 1)[-1])
        return shown

    def tag(self, node: Tag) -> str:
        name = _tag(node)
        if name in _DROPPED_TAGS:
            return ""
        if name in ("br", "hr"):
            return "\n"
        if name == "table":
            return "\n" + "\n".join(self.table(node)) + "\n"
        if node.contents is None:
            return ""
        if name in _VERBATIM_TAGS:  # keep LaTeX and code, but never as `{{`, `]]`, ...
            return _VERBATIM_SPACE_RE.sub(" ", html.unescape(str(node.contents)))
        text = self.render(node.contents.nodes)
        if name in ("td", "th"):  # outside a table `tag` could render (see `table`)
            return "\x1f" + text.strip()
        if name == "li":
            return "\n- " + text.strip() + "\n"
        return f"\n{text}\n" if name in _BLOCK_TAGS else text

    def table(self, node: Tag) -> list[str]:
        captions: list[str] = []
        rows: list[list[_Cell]] = []
        headed: list[bool] = []  # per row: are all its cells header cells (`!`)?
        loose: list[_Cell] | None = None  # cells before the first row marker
        for is_part, group in groupby(self._table_children(node), key=_is_table_part):
            if not is_part:  # what the tokenizer left unparsed (e.g. `<tr><td>` never closed)
                rows.append([_Cell(_clean(self.render(list(group))))])
                headed.append(False)
                loose = None
                continue
            for child in group:
                name = _tag(child)
                if name == "tr":
                    cells = [c for c in self._table_children(child) if isinstance(c, Tag)]
                    rows.append(
                        [_Cell(self.cell(c), *self.spans(c)) for c in cells]
                        if cells
                        else [_Cell(self.cell(child))]
                    )
                    headed.append(bool(cells) and all(_tag(c) == "th" for c in cells))
                    loose = None
                    continue
                text = self.cell(child)
                if name == "caption" or (child.wiki_markup == "|" and text[:1] == "+" and not rows):
                    captions.append(text.removeprefix("+").rpartition("|")[2].strip())  # `|+ x`
                elif loose is None:
                    loose = [_Cell(text, *self.spans(child))]
                    rows.append(loose)
                    headed.append(name == "th")
                else:
                    loose.append(_Cell(text, *self.spans(child)))
                    headed[-1] = headed[-1] and name == "th"
        grid = _grid(rows, headed)
        expanded = grid is not None
        if grid is None:  # spans that would multiply the table: shown as written
            grid = [[cell.text for cell in row] for row in rows]
        kept = [(row, head, source) for row, head, source in zip(grid, headed, rows, strict=True)]
        kept = [entry for entry in kept if any(entry[0])]
        # a second header row under a first one with spanning cells names its columns' parts
        # ("Appearances" over "S1 … S5"): one header row, "Appearances S1". Only then, and only
        # the second: in a table of header cells alone (`! 2019 || Alice`) each row is a record.
        if (
            expanded
            and len(kept) > 1
            and kept[0][1]
            and kept[1][1]
            and len(kept[0][0]) == len(kept[1][0])
            and any(cell.rows > 1 or cell.columns > 1 for cell in kept[0][2])
        ):
            top, below = kept[0][0], kept[1][0]
            merged = [a if a == b else f"{a} {b}".strip() for a, b in zip(top, below, strict=True)]
            kept[:2] = [(merged, True, kept[0][2])]
        lines = table_lines([row for row, _, _ in kept], header=bool(kept) and kept[0][1])
        return [c for c in captions if c] + lines

    def _table_children(self, node: Tag) -> Iterator[Any]:
        for child in node.contents.nodes if node.contents is not None else []:
            if isinstance(child, Tag) and _tag(child) in ("tbody", "thead"):
                yield from self._table_children(child)
            else:
                yield child

    def spans(self, node: Tag) -> tuple[int, int]:
        """A cell's (rowspan, colspan): from its attributes, or from those left in its text
        when a template held the `|` that ends them (`| colspan="5" {{CMain}}`)."""
        rows, columns = _spans(node)
        if node.contents is not None and (rows, columns) == (1, 1):
            leftover = _CELL_ATTRS_RE.match(" ".join(str(node.contents).split()))
            if leftover:
                rows, columns = _spans_in(leftover.group())
        return rows, columns

    def cell(self, node: Tag) -> str:
        if node.contents is None:
            return ""
        return _CELL_ATTRS_RE.sub("", " ".join(_clean(self.render(node.contents.nodes)).split()))

    def plain(self, text: str) -> str:
        """Regex rendering of wikitext that mwparserfromhell left as text or could not parse.

        Nested templates and links are resolved in one stack scan each: a regex applied until
        nothing changes removes one nesting level per pass, quadratic on a hostile page.
        """
        text = _replace_nested(text, _TEMPLATE_TOKEN_RE, lambda inner: "")
        text = _fixpoint(_PLAIN_SUBS[0][0], _PLAIN_SUBS[0][1], text)
        text = _replace_nested(text, _LINK_TOKEN_RE, lambda inner: self.link(*_split_link(inner)))
        text = "\n".join(_table_line(line) for line in text.split("\n"))
        for pattern, replacement in _PLAIN_SUBS[1:]:
            text = pattern.sub(replacement, text)
        return text


MAX_COLSPAN = 100  # HTML allows 1,000; a hostile colspan would make one row that wide
# Filled spans may widen a row to twice the table's widest row of cells (at most
# MAX_GRID_ROW_CELLS) and the whole table to MAX_GRID_GROWTH times its cells: header cells with
# rowspan="999999" colspan="100" copied into every later row made 8.7 KB of markup 37.6 M
# characters.
MAX_GRID_ROW_CELLS = 200
MAX_GRID_GROWTH = 20


@dataclass(frozen=True)
class _Cell:
    text: str
    rows: int = 1  # rowspan
    columns: int = 1  # colspan


def _is_back_matter(heading: str) -> bool:
    return heading.rstrip(" :").casefold() in _BACK_MATTER


def _is_list(body: str) -> bool:
    """Whether every line of a rendered section is a list item (the renderer's "- ")."""
    return all(line.startswith("- ") for line in body.split("\n") if line.strip())


def _spans(node: Tag) -> tuple[int, int]:
    """A cell's (rowspan, colspan), 1 where absent or not a number."""
    rows, columns = (str(node.get(n).value) if node.has(n) else "" for n in ("rowspan", "colspan"))
    return _span_pair(rows, columns)


def _spans_in(attributes: str) -> tuple[int, int]:
    """(rowspan, colspan) written in attribute text: 'bgcolor=white colspan="3"' -> (1, 3)."""
    found = {
        name.lower(): value
        for name, value in re.findall(r"\b(rowspan|colspan)\s*=\s*[\"']?(\d+)", attributes, re.I)
    }
    return _span_pair(found.get("rowspan", ""), found.get("colspan", ""))


def _span_pair(rows: str, columns: str) -> tuple[int, int]:
    """(rowspan, colspan) from their written values, colspan capped at MAX_COLSPAN."""
    return _span(rows), min(_span(columns), MAX_COLSPAN)


def _span(value: str) -> int:
    value = value.strip().strip("\"'")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _grid(rows: list[list[_Cell]], headed: list[bool]) -> list[list[str]] | None:
    """Rows of cell texts as the table shows them: a cell spanning rows (`rowspan`) repeated in
    each row it spans, at its column ("Cedric Gibbons" in the row of his 39 nominations as in
    that of his 11 awards: the second row was one cell short and went unlabelled), and a cell
    spanning columns (`colspan`) filling them: in a header row with its name repeated (each
    column it stands over has that name), elsewhere with empty cells (read once). A row that is
    one cell spanning several columns (a sub-heading: "Black-and-white") stays that one cell,
    without the cells carried down beside it.

    None when the filled spans would make a row or the table too large (see
    MAX_GRID_ROW_CELLS): the caller shows the cells as written."""
    row_limit = min(2 * max((len(row) for row in rows), default=0), MAX_GRID_ROW_CELLS)
    total_limit = MAX_GRID_GROWTH * sum(len(row) for row in rows)
    total = 0
    grid: list[list[str]] = []
    carried: dict[int, tuple[str, int]] = {}  # column -> (text, rows still to fill)
    for row, head in zip(rows, headed, strict=True):
        out: list[str] = []
        before = dict(carried)
        if len(row) == 1 and row[0].columns > 1:
            out.append(row[0].text)
            row = []
        new: dict[int, tuple[str, int]] = {}
        for cell in row:
            _take_carried(out, carried)
            for offset in range(cell.columns):
                text = cell.text if offset == 0 or head else ""
                if cell.rows > 1:
                    new[len(out)] = (text, cell.rows - 1)
                out.append(text)
            if len(out) > row_limit:
                return None
        _take_carried(out, carried)
        for column in sorted(c for c in carried if c >= len(out)):  # after a gap
            out.extend([""] * (column - len(out)))
            _take_carried(out, carried)
        total += len(out)
        if len(out) > row_limit or total > total_limit:
            return None
        # each carried cell ages a row, even where this row did not reach its column (or a
        # malformed row spanned over it)
        aged = {c: (text, left - 1) for c, (text, left) in before.items() if c not in new}
        carried = {c: entry for c, entry in aged.items() if entry[1] > 0} | new
        grid.append(out)
    return grid


def _take_carried(out: list[str], carried: dict[int, tuple[str, int]]) -> None:
    """The cells carried down into the columns from `len(out)` on, up to the first gap."""
    while len(out) in carried:
        out.append(carried.pop(len(out))[0])


def _field_label(key: str) -> str:
    """An infobox field's name as a reader would write it: "LargestCity" and "largest_city"
    give "Largest city"; "2010Pop" gives "2010 pop"; positional parameters give ""."""
    if key.isdigit():
        return ""
    words = _FIELD_WORDS_RE.sub(" ", key.replace("_", " ")).split()
    text = " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in words)
    return text[:1].upper() + text[1:]


def _convert_text(texts: list[str]) -> str:
    """What {{convert}} shows of its input: "10 km" ({{convert|10|km|mi}}), "6 ft 4 in"
    ({{convert|6|ft|4|in|cm}}, which read "6 ft"), "5 to 10 km", "22 million acres"
    ({{convert|22|e6acre|km2}}, which read "22 e6acre")."""
    ranged = len(texts) >= 4 and texts[1].lower() in _RANGE_WORDS
    compound = (
        len(texts) >= 4
        and not ranged
        and _NUMBER_RE.fullmatch(texts[2]) is not None
        and texts[3][:1].isalpha()
    )
    shown = texts[:4] if ranged or compound else texts[:2]
    return " ".join(_scaled_unit(text) for text in shown)


def _rounded(number: str, digits: str, significant: bool) -> str:
    """`number` rounded half up as {{sigfig}} (to `digits` significant figures: "4.22", "1" ->
    "4"; "1234", "2" -> "1200") or {{round}} (to `digits` decimals, default 0) show it; a
    value that is no plain number is shown as it is."""
    try:
        value = Decimal(number.replace(",", "").replace("−", "-"))
        places = int(digits) if digits.strip() else (1 if significant else 0)
    except (InvalidOperation, ValueError):
        return number
    # bounded: "1e999999" would print a million digits, and Decimal keeps 28 of them
    if not value.is_finite() or abs(value.adjusted()) > 20 or not -20 <= places <= 20:
        return number
    if significant:
        if places < 1:
            return number
        if value:
            places = places - 1 - value.adjusted()
    try:
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return number
    return format(rounded, "f")


# past this a figure is no count a reader groups, and int() refuses 4,300 digits and more
MAX_GROUPED_DIGITS = 30


def _grouped(number: str) -> str:
    """A plain number with thousands separators, as {{formatnum}} and {{nts}} show it
    ("1234567.5" -> "1,234,567.5"); any other text as it is."""
    plain = re.fullmatch(r"([-+−]?)(\d+)(\.\d+)?", number.strip())
    if plain is None:
        return number.strip()
    sign, whole, decimals = plain.groups()
    if len(whole) > MAX_GROUPED_DIGITS:
        return number.strip()
    return f"{sign}{int(whole):,}{decimals or ''}"


def _scaled_unit(text: str) -> str:
    """ "e6acre" -> "million acres", "e6t" -> "million t"; any other text as it is."""
    scale = re.fullmatch(r"(e(?:3|6|9|12))([A-Za-z][A-Za-z0-9]*)", text)
    if scale is None:
        return text
    unit = scale.group(2)
    return f"{_CONVERT_SCALES[scale.group(1)]} {_UNIT_PLURALS.get(unit, unit)}"


def _field_text(rendered: str) -> str:
    """An infobox value on one line: its lines and list items joined with ", "."""
    return ", ".join(_list_items(_clean(rendered)))


def _list_items(text: str) -> list[str]:
    """The non-empty lines of `text`, list markers removed."""
    lines = (" ".join(line.split()).removeprefix("- ") for line in text.split("\n"))
    items = (line.strip().rstrip(",;").rstrip() for line in lines)
    return [item for item in items if item and item != "-"]


def _is_table_part(node: Any) -> bool:
    return isinstance(node, Tag) and _tag(node) in ("caption", "tr", "td", "th")


def _tag(node: Tag) -> str:
    return str(node.tag).strip().lower()


def _split_link(inner: str) -> tuple[str, str | None]:
    target, sep, label = inner.partition("|")
    return target, (label.rpartition("|")[2] if sep else None)  # File:x|thumb|caption


def _replace_nested(text: str, tokens: re.Pattern[str], render: Any) -> str:
    """Each balanced opener..closer span (innermost first) replaced by `render(inner text)`,
    in one left-to-right pass; unmatched openers and closers stay as they are."""
    out: list[str] = []
    opened: list[int] = []  # index in `out` of each pending opener
    position = 0
    for match in tokens.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        if match.group()[0] in "{[":
            opened.append(len(out))
            out.append(match.group())
        elif opened:
            start = opened.pop()
            inner = "".join(out[start + 1 :])
            del out[start:]
            out.append(render(inner))
        else:
            out.append(match.group())
    out.append(text[position:])
    return "".join(out)


def _fixpoint(pattern: re.Pattern[str], replacement: Any, text: str, limit: int = 8) -> str:
    """`pattern.sub` until nothing changes, at most `limit` passes (a bound on hostile input)."""
    for _ in range(limit):
        previous, text = text, pattern.sub(replacement, text)
        if previous == text:
            break
    return text


def _table_line(line: str) -> str:
    """One line of wiki table markup as text: `| a || b` → `a | b`; `{|`, `|}`, `|-` vanish."""
    stripped = line.strip()
    if stripped[:2] in ("{|", "|}", "|-"):
        return ""
    if stripped[:1] not in ("|", "!"):
        return line
    cells = re.split(r"\|\||!!", stripped[2:] if stripped[:2] == "|+" else stripped[1:])
    parts = [cell.partition("|") for cell in cells]  # `style="..." | text`
    return " | ".join((text if sep else attrs).strip() for attrs, sep, text in parts)


def _clean(text: str) -> str:
    """Plain text tidied: magic words and stray markup gone, spaces and blank lines collapsed."""
    text = _MAGIC_RE.sub(lambda m: "" if m.group(1).isupper() else m.group(0), text)
    text = _fixpoint(_LEFTOVER_RE, "", text.replace("\xa0", " "))
    lines = (_tidy_line(line) for line in text.split("\n"))
    text = "\n".join(line for line in lines if not _EMPTY_LINE_RE.fullmatch(line))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# What a dropped template leaves of its brackets and separators: "Albedo ({{IPAc-en|…}})",
# "Ayn Rand ({{IPAc-en|…}}; born Alisa Rosenbaum, {{OldStyleDate|…}} – March 6, 1982)".
# Only after a space, so code ("f()") keeps its brackets.
_HOLLOW_RES = (
    (re.compile(r"(?<=\s)\(\s*(?:[;,]\s*)*\)"), ""),  # "Albedo ()"
    (re.compile(r"(?<=\s)\(\s*(?:[;,]\s*)+"), "("),  # "(; born"
    (re.compile(r"([;,])(?:\s*[;,])+"), r"\1"),  # "Rosenbaum, ; –"
    # "(Ἀχιλλεύς, Akhilleus, )": a space before the ")" (a template was there), so code's
    # "(1,)" keeps its comma
    (re.compile(r"(?<=\s)(\([^()]*?\w)(?:\s*[;,])+\s+\)"), r"\1)"),
)


def _tidy_line(line: str) -> str:
    """Spaces collapsed; loose HTML cells (marked \\x1f by `tag` and `plain`) joined with " | ";
    brackets and separators left empty by dropped templates removed."""
    for pattern, replacement in _HOLLOW_RES:
        line = pattern.sub(replacement, line)
    first, *cells = (" ".join(cell.split()) for cell in line.split("\x1f"))
    return " | ".join([first, *cells] if first else cells)
