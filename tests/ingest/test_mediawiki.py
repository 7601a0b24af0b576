"""MediaWiki dump parser: wikitext to sections, metadata, redirects, namespaces, broken dumps.

Dumps are written by the tests themselves (plain, bz2, gz) so each case shows its own input.
"""

from __future__ import annotations

import bz2
import gzip
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.errors import ParseError
from index.types import Document
from ingest.parsers import mediawiki, wikitext
from ingest.parsers.base import ParseOptions, Redirect
from ingest.parsers.mediawiki import parse_dump

EXPORT_NS = "http://www.mediawiki.org/xml/export-0.11/"
SITEINFO = """<siteinfo>
    <sitename>Emberline Wiki</sitename>
    <dbname>emberwiki</dbname>
    <base>https://wiki.emberline.example/wiki/Main_Page</base>
    <namespaces>
      <namespace key="-2" case="first-letter">Medien</namespace>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">Projekt</namespace>
      <namespace key="6" case="first-letter">Datei</namespace>
      <namespace key="14" case="first-letter">Kategorie</namespace>
    </namespaces>
  </siteinfo>"""
FORBIDDEN = ("{{", "}}", "[[", "]]", "<ref", "{|", "|}")


def page_xml(
    title: str,
    text: str,
    *,
    ns: int = 0,
    page_id: int = 1,
    rev_id: int = 100,
    timestamp: str = "2024-05-01T12:30:00Z",
    redirect: str | None = None,
) -> str:
    redirect_el = (
        f'<redirect title="{escape(redirect, {chr(34): "&quot;"})}" />' if redirect else ""
    )
    return f"""  <page>
    <title>{escape(title)}</title>
    <ns>{ns}</ns>
    <id>{page_id}</id>
    {redirect_el}
    <revision>
      <id>{rev_id}</id>
      <timestamp>{timestamp}</timestamp>
      <model>wikitext</model>
      <format>text/x-wiki</format>
      <text bytes="{len(text)}" xml:space="preserve">{escape(text)}</text>
    </revision>
  </page>
"""


def dump_xml(pages: list[str], siteinfo: str | None = SITEINFO) -> str:
    return (
        f'<mediawiki xmlns="{EXPORT_NS}" version="0.11" xml:lang="en">\n'
        + (siteinfo or "")
        + "\n"
        + "".join(pages)
        + "</mediawiki>\n"
    )


def write(path: Path, content: str | bytes) -> Path:
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.name.endswith(".bz2"):
        data = bz2.compress(data)
    elif path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def parse(path: Path, **options: object) -> list[Document | Redirect]:
    """The pages read (the ids of pages outside the namespaces are tested apart)."""
    items = parse_dump(path, ParseOptions(**options))  # type: ignore[arg-type]
    return [item for item in items if isinstance(item, Document | Redirect)]


def one_doc(tmp_path: Path, text: str, title: str = "Annual leave") -> Document:
    items = parse(write(tmp_path / "emberwiki.xml", dump_xml([page_xml(title, text)])))
    assert len(items) == 1 and isinstance(items[0], Document)
    return items[0]


def docs(items: list[Document | Redirect]) -> list[Document]:
    return [item for item in items if isinstance(item, Document)]


def assert_clean(doc: Document) -> None:
    for section in doc.sections:
        for fragment in FORBIDDEN:
            assert fragment not in section.text, (fragment, section.text)
            assert all(fragment not in heading for heading in section.heading_path)


# --- sections -------------------------------------------------------------------------------

LEAVE_PAGE = """Staff get '''25 days''' of leave.
__TOC__
== Leave ==
=== Paris ===
Paris staff add two local holidays.
=== Berlin ===
Berlin staff add one.
== Empty parent ==
<!-- nothing here -->
{{stub}}
=== Child ===
The child still knows its parent.
== Pay ==
Paid monthly.
"""


def test_sections_follow_the_heading_levels(tmp_path: Path) -> None:
    doc = one_doc(tmp_path, LEAVE_PAGE)
    assert [(s.heading_path, s.anchor) for s in doc.sections] == [
        ((), None),
        (("Leave", "Paris"), "Paris"),
        (("Leave", "Berlin"), "Berlin"),
        (("Empty parent", "Child"), "Child"),
        (("Pay",), "Pay"),
    ]
    assert doc.sections[0].text == "Staff get 25 days of leave."
    assert doc.sections[1].text == "Paris staff add two local holidays."
    assert doc.sections[3].text == "The child still knows its parent."


def test_anchors_use_underscores_and_number_repeated_headings(tmp_path: Path) -> None:
    text = "== Annual leave rules ==\nA\n== Notes ==\nB\n== Notes ==\nC\n== [[Pay|Pay day]] ==\nD"
    doc = one_doc(tmp_path, text)
    assert [s.anchor for s in doc.sections] == [
        "Annual_leave_rules",
        "Notes",
        "Notes_2",
        "Pay_day",
    ]
    assert doc.sections[-1].heading_path == ("Pay day",)


def test_back_matter_lists_are_dropped_but_their_categories_kept(tmp_path: Path) -> None:
    text = (
        "Brahui is spoken in Balochistan.\n== Phonology ==\nIt has five vowels.\n"
        "== See also ==\n* [[Dravidian languages]]\n** [[Tamil]]\n"
        "== References: ==\n{{reflist}}\n=== Sources ===\n* Emeneau, ''Brahui'' (1962)\n"
        "== External links ==\n* [http://lmp.example Profile of the Brahui language]\n"
        "[[Category:Dravidian languages]]\n"
        "== Notes on spelling ==\nThe board spells it Bráhuí."
    )
    doc = one_doc(tmp_path, text, title="Brahui language")
    assert [s.heading_path for s in doc.sections] == [(), ("Phonology",), ("Notes on spelling",)]
    assert "Profile" not in doc.text and "Emeneau" not in doc.text and "Dravidian" not in doc.text
    assert doc.categories == ("Dravidian languages",)


def test_back_matter_headings_over_prose_are_kept(tmp_path: Path) -> None:
    """An organisation's "References" or "See also" section may state facts."""
    text = (
        "== References ==\nWe ask candidates for two professional references, checked by HR "
        "within 5 days.\n== See also ==\n* [[Travel policy]]\nThe travel policy pays 50 EUR a day."
    )
    doc = one_doc(tmp_path, text, title="Hiring")
    assert [s.heading_path for s in doc.sections] == [("References",), ("See also",)]
    assert "within 5 days" in doc.text and "50 EUR a day" in doc.text


# --- what a reader would not see -----------------------------------------------------------


def test_templates_refs_comments_files_and_magic_words_are_removed(tmp_path: Path) -> None:
    text = """{{Navbox offices
| name = Paris {{flag|France}}
| list1 = [[People|120]]
}}
The office opened in 2019.<ref name="a">{{cite web|url=http://x.example|title=Source}}</ref>
It has a garden.<ref name="a"/> <!-- editor note: check this -->
[[File:Office.jpg|thumb|The [[garden]] in spring]]
[[Image:Plan.png|left|200px]]
[[Datei:Karte.png|mini|Localized file link]]
[[Medien:Sound.ogg]]
__NOTOC__ Fish &amp; chips&nbsp;daily.<br/>Closed on Sundays.
[[Category:Offices]]
[[Kategorie:Paris|Sort key]]"""
    doc = one_doc(tmp_path, text)
    assert doc.text == (
        "The office opened in 2019.\nIt has a garden.\n\nFish & chips daily.\nClosed on Sundays."
    )
    assert doc.categories == ("Offices", "Paris")
    assert_clean(doc)


def test_links_are_kept_as_their_text(tmp_path: Path) -> None:
    text = (
        "See [[Annual leave]], [[Annual leave#Paris|the Paris rules]] and other [[dog]]s. "
        "Read [https://hr.example/policy the policy] or https://hr.example/faq. "
        "Browse [[:Kategorie:Travel]]. [[Help:Leave (HR)|]] [[de:Urlaub]]"
    )
    doc = one_doc(tmp_path, text)
    assert doc.text == (
        "See Annual leave, the Paris rules and other dogs. Read the policy or "
        "https://hr.example/faq. Browse Kategorie:Travel. Leave"
    )
    assert doc.categories == ()


def test_lists_bold_and_italic(tmp_path: Path) -> None:
    text = "Rules:\n* '''First''' rule\n** ''nested'' rule\n# numbered\n; Term : definition"
    doc = one_doc(tmp_path, text)
    assert doc.text.splitlines() == [
        "Rules:",
        "- First rule",
        "- nested rule",
        "- numbered",
        "Term definition",
    ]


def test_tables_become_rows_with_caption_first(tmp_path: Path) -> None:
    text = """Before.
{| class="wikitable"
|+ Leave by office
! Office !! Days
|-
| style="color:red" | Paris || 27
|-
| [[Berlin office|Berlin]]
| 25{{efn|plus one}}
|}
After."""
    doc = one_doc(tmp_path, text)
    assert [line for line in doc.text.splitlines() if line] == [
        "Before.",
        "Leave by office",
        "Office: Paris | Days: 27",  # each row carries the header's column names
        "Office: Berlin | Days: 25",
        "After.",
    ]


def test_cells_spanning_rows_and_columns_fill_them(tmp_path: Path) -> None:
    """A rowspan cell appeared only in its first row: "Most Nominations | 39 nominations" lost
    Cedric Gibbons and, one cell short, its column names; a colspan (even one whose `|` a
    template holds) and a second header row ("Appearances" over "S1 S2") left rows narrower
    than the header (the Prison Break cast)."""
    text = """{| class="wikitable"
! Category !! Name !! Superlative
|-
| Most Awards || rowspan="2" | [[Cedric Gibbons]] || 11 awards
|-
| Most Nominations || 39 nominations
|-
| colspan="3" | Others
|-
| Most Nominations || Roland Anderson || 15 nominations
|}
{| class="wikitable"
! rowspan="2" | Actor !! colspan="2" | Appearances
|-
! S1 !! S2
|-
| Dominic Purcell || colspan="2" {{CMain}}
|-
| Robin Tunney || {{CMain}} || 2
|}"""
    doc = one_doc(tmp_path, text)
    assert [line for line in doc.text.splitlines() if line] == [
        "Category | Name | Superlative",  # kept: a row ("Others") is not labelled
        "Category: Most Awards | Name: Cedric Gibbons | Superlative: 11 awards",
        "Category: Most Nominations | Name: Cedric Gibbons | Superlative: 39 nominations",
        "Others",
        "Category: Most Nominations | Name: Roland Anderson | Superlative: 15 nominations",
        "Actor: Dominic Purcell",
        "Actor: Robin Tunney | Appearances S2: 2",
    ]


def test_html_tables_with_unclosed_cells_still_become_rows(tmp_path: Path) -> None:
    text = (
        "Stations:\n<table>\n<tr><td>''Riga''<td>[[Rīga]]<td>0\n"
        "<tr><td>Ogre<td>Uogre<td>34\n</table>"
    )
    doc = one_doc(tmp_path, text)
    lines = [line for line in doc.text.splitlines() if line]
    assert lines == ["Stations:", "Riga | Rīga | 0", "Ogre | Uogre | 34"]


def test_math_is_kept_without_wiki_brackets(tmp_path: Path) -> None:
    doc = one_doc(tmp_path, r"Ratio <math>\frac{{a}}{b}</math> holds.")
    assert "frac" in doc.text and "holds." in doc.text
    assert_clean(doc)


def test_kitchen_sink_leaves_no_markup(tmp_path: Path) -> None:
    text = (
        LEAVE_PAGE
        + """
{{Navbox|list=[[A]] [[B]]}}
{| class="wikitable"
|-
| {{tooltip|x|y}} || <ref>r</ref> [[File:x.png]] cell
|}
<references />
{{DEFAULTSORT:Leave}}
[[Category:Leave]]"""
    )
    doc = one_doc(tmp_path, text)
    assert_clean(doc)
    assert doc.categories == ("Leave",)
    assert "cell" in doc.sections[-1].text


# --- metadata, urls, options -----------------------------------------------------------------


def test_document_metadata(tmp_path: Path) -> None:
    page = page_xml(
        "Annual leave", "Text.", page_id=42, rev_id=9001, timestamp="2024-05-01T12:30:00Z"
    )
    path = write(tmp_path / "emberwiki.xml", dump_xml([page]))
    (doc,) = parse(path)
    assert isinstance(doc, Document)
    assert doc.id == "emberwiki:42"
    assert doc.source == str(path)
    assert (doc.title, doc.kind, doc.revision, doc.content_hash) == (
        "Annual leave",
        "wiki",
        "9001",
        "",
    )
    assert doc.modified == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert doc.modified is not None and doc.modified.tzinfo is not None
    assert doc.url == "https://wiki.emberline.example/wiki/Annual_leave"
    assert doc.groups == frozenset({"public"})


def test_the_newest_revision_is_used(tmp_path: Path) -> None:
    page = page_xml("Leave", "Old text.", rev_id=1).replace(
        "    </revision>\n",
        "    </revision>\n    <revision><id>2</id><timestamp>2025-01-01T00:00:00Z</timestamp>"
        "<text>New text.</text></revision>\n",
    )
    (doc,) = parse(write(tmp_path / "w.xml", dump_xml([page])))
    assert isinstance(doc, Document)
    assert (doc.text, doc.revision) == ("New text.", "2")


def test_urls_are_quoted_and_base_url_overrides_the_site(tmp_path: Path) -> None:
    path = write(tmp_path / "w.xml", dump_xml([page_xml("Café (Paris)/Menu, A&B?", "x")]))
    (doc,) = docs(parse(path))
    assert doc.url == "https://wiki.emberline.example/wiki/Caf%C3%A9_(Paris)/Menu,_A%26B%3F"
    for base in ("https://intranet.example/kb", "https://intranet.example/kb/"):
        (doc,) = docs(parse(path, base_url=base))
        assert doc.url == "https://intranet.example/kb/Caf%C3%A9_(Paris)/Menu,_A%26B%3F"


def test_without_siteinfo_the_file_name_names_the_wiki(tmp_path: Path) -> None:
    path = write(tmp_path / "teamwiki.xml.bz2", dump_xml([page_xml("Leave", "x", page_id=7)], None))
    (doc,) = docs(parse(path))
    assert (doc.id, doc.url) == ("teamwiki:7", None)


def test_sitename_names_the_wiki_when_dbname_is_missing(tmp_path: Path) -> None:
    siteinfo = SITEINFO.replace("<dbname>emberwiki</dbname>", "")
    path = write(tmp_path / "dump.xml", dump_xml([page_xml("Leave", "x", page_id=7)], siteinfo))
    (doc,) = docs(parse(path))
    assert doc.id == "emberlinewiki:7"


# --- redirects and namespaces ---------------------------------------------------------------


def test_redirects_yield_redirect_not_document(tmp_path: Path) -> None:
    pages = [
        page_xml("Annual leave", "The rules.", page_id=1),
        page_xml("Holidays", "#REDIRECT [[Annual leave]]", page_id=2, redirect="Annual leave"),
        page_xml("Vacation", "#redirect [[Annual leave#Paris]] {{R from synonym}}", page_id=3),
        page_xml("Project redirect", "#REDIRECT [[Annual leave]]", ns=4, page_id=4),
    ]
    items = parse(write(tmp_path / "w.xml", dump_xml(pages)))
    assert [d.title for d in docs(items)] == ["Annual leave"]
    assert [i for i in items if isinstance(i, Redirect)] == [
        Redirect(site="emberwiki", alias="Holidays", target="Annual leave"),
        Redirect(site="emberwiki", alias="Vacation", target="Annual leave"),
    ]


def test_namespaces_are_chosen_by_number_not_title(tmp_path: Path) -> None:
    pages = [
        page_xml("Help: not a namespace", "Main namespace page.", page_id=1),
        page_xml("Projekt:Über uns", "Project page.", ns=4, page_id=2),
        page_xml("Kategorie:Leave", "Category page.", ns=14, page_id=3),
    ]
    path = write(tmp_path / "w.xml", dump_xml(pages))
    assert [d.title for d in docs(parse(path))] == ["Help: not a namespace"]
    chosen = docs(parse(path, namespaces=frozenset({4, 14})))
    assert [d.title for d in chosen] == ["Projekt:Über uns", "Kategorie:Leave"]


def test_namespace_groups_override_the_default_groups(tmp_path: Path) -> None:
    pages = [
        page_xml("Leave", "Main.", page_id=1),
        page_xml("Projekt:Salaries", "Secret.", ns=4, page_id=2),
    ]
    path = write(tmp_path / "w.xml", dump_xml(pages))
    items = docs(
        parse(
            path,
            groups=frozenset({"staff"}),
            namespaces=frozenset({0, 4}),
            namespace_groups={4: frozenset({"hr"})},
        )
    )
    assert {d.title: d.groups for d in items} == {
        "Leave": frozenset({"staff"}),
        "Projekt:Salaries": frozenset({"hr"}),
    }


# --- file formats and broken input ----------------------------------------------------------


def many_pages(n: int, body: str = "") -> list[str]:
    return [page_xml(f"Page {i}", f"Body of page {i}.{body}", page_id=i) for i in range(1, n + 1)]


@pytest.mark.parametrize("name", ["w.xml.bz2", "w.xml.gz"])
def test_compressed_dumps_read_like_plain_ones(tmp_path: Path, name: str) -> None:
    xml = dump_xml(many_pages(3))
    plain = docs(parse(write(tmp_path / "w.xml", xml)))
    packed = docs(parse(write(tmp_path / name, xml)))
    assert [(d.id, d.text) for d in packed] == [(d.id, d.text) for d in plain]
    assert len(packed) == 3


def collect_until_error(path: Path) -> tuple[list[Document | Redirect], ParseError]:
    items: list[Document | Redirect] = []
    with pytest.raises(ParseError) as caught:
        for item in parse_dump(path, ParseOptions()):
            items.append(item)
    return items, caught.value


def test_cut_dump_yields_complete_pages_then_raises(tmp_path: Path) -> None:
    xml = dump_xml(many_pages(13))
    cut = xml[: xml.index("Body of page 13") + 5]  # inside page 13's text
    items, error = collect_until_error(write(tmp_path / "cut.xml", cut))
    assert [d.title for d in docs(items)] == [f"Page {i}" for i in range(1, 13)]
    assert "ends in the middle of a page after 12 complete pages" in error.message
    assert "cut.xml" in error.message and str(tmp_path) not in error.message


def test_dump_cut_between_pages_says_so(tmp_path: Path) -> None:
    xml = dump_xml(many_pages(3))
    items, error = collect_until_error(
        write(tmp_path / "cut.xml", xml[: xml.rindex("</page>") + 7])
    )
    assert len(items) == 3
    assert "ends before its closing </mediawiki> tag after 3 complete pages" in error.message


def test_cut_bz2_stream_yields_complete_pages_then_raises(tmp_path: Path) -> None:
    # 100 kB bz2 blocks, so that the first half of the file holds whole blocks of pages
    full = bz2.compress(dump_xml(many_pages(1000, " Leave" * 40)).encode(), compresslevel=1)
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(full[: len(full) // 2])
    items, error = collect_until_error(path)
    assert 0 < len(items) < 1000
    assert [d.title for d in docs(items)] == [f"Page {i}" for i in range(1, len(items) + 1)]
    assert all(d.text == f"Body of page {i}." + " Leave" * 40 for i, d in enumerate(docs(items), 1))
    assert f"after {len(items)} complete pages" in error.message


def test_malformed_xml_raises_parse_error(tmp_path: Path) -> None:
    xml = dump_xml(many_pages(2)).replace("<title>Page 2</title>", "<title>Page 2</titel>")
    items, error = collect_until_error(write(tmp_path / "bad.xml", xml))
    assert [d.title for d in docs(items)] == ["Page 1"]
    assert "not valid XML" in error.message


@pytest.mark.parametrize("name", ["junk.xml.bz2", "junk.xml.gz"])
def test_corrupt_compressed_file_raises_parse_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"this is not compressed at all" * 10)
    items, error = collect_until_error(tmp_path / name)
    assert items == [] and name in error.message
    assert "compressed data is damaged" in error.message  # was "not valid XML"


def test_missing_file_raises_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read dump"):
        list(parse_dump(tmp_path / "nope.xml", ParseOptions()))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE mediawiki [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<mediawiki><page><title>Lol</title><ns>0</ns><id>1</id>
<revision><id>1</id><text>&lol9;</text></revision></page></mediawiki>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE mediawiki [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<mediawiki><page><title>Secret</title><ns>0</ns><id>1</id>
<revision><id>1</id><text>&secret;</text></revision></page></mediawiki>
"""


@pytest.mark.timeout(10)
@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_dtd_and_entities_are_refused_quickly(tmp_path: Path, content: str) -> None:
    started = time.perf_counter()
    items, error = collect_until_error(write(tmp_path / "evil.xml", content))
    assert items == []
    assert "refused" in error.message
    assert time.perf_counter() - started < 2


def test_unparseable_wikitext_falls_back_to_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse = mediawiki.mwparserfromhell.parse

    def fragile_parse(text: str, *args: Any, **kwargs: Any) -> Any:
        if "BOOM" in text:
            raise RuntimeError("tokenizer gave up")
        return real_parse(text, *args, **kwargs)

    monkeypatch.setattr(mediawiki.mwparserfromhell, "parse", fragile_parse)
    pages = [
        page_xml("Broken", "BOOM {{tpl|x}} see [[Annual leave|the rules]].\n[[Category:Odd]]"),
        page_xml("Fine", "== Part ==\nAll good.", page_id=2),
    ]
    items = docs(parse(write(tmp_path / "w.xml", dump_xml(pages))))
    assert [d.title for d in items] == ["Broken", "Fine"]
    assert items[0].text == "BOOM see the rules."
    assert items[0].categories == ("Odd",)
    assert items[1].sections[0].heading_path == ("Part",)


def test_cell_attributes_before_a_template_do_not_leak(tmp_path: Path) -> None:
    """enwiki "List of Prison Break characters": `|bgcolor=white colspan="3" {{n/a|}}` left
    `bgcolor=white colspan="3"` in the text (the attribute `|` is inside the template)."""
    text = (
        '{| class="wikitable"\n|-\n|align="center"| [[Peter Stormare]]\n'
        '|align="center"| [[John Abruzzi]]\n|bgcolor=white colspan="3" {{n/a|}}\n|-\n'
        '| colspan="2" {{tba}} || A cell saying width=3 stays\n|}'
    )
    doc = one_doc(tmp_path, text, title="Cast")
    assert doc.text == "Peter Stormare | John Abruzzi\nA cell saying width=3 stays"


def test_list_items_left_without_words_are_dropped(tmp_path: Path) -> None:
    """enwiki: `* [[File:x.svg]] {{flag}}.` items rendered as "- ." lines."""
    doc = one_doc(tmp_path, "Flags:\n* [[File:x.svg|20px]] {{flag|EE}}.\n* Estonia\n* |\n")
    assert doc.text == "Flags:\n- Estonia"


def test_fallback_strips_deeply_nested_templates_in_linear_time() -> None:
    """Bug: the fallback removed one template level per regex pass (1e5 levels took ~200 s).
    Work is compared across two depths, not timed against a wall-clock budget."""
    renderer = wikitext._Renderer(wikitext._Site("w"))
    calls = {"n": 0}
    real = wikitext._replace_nested

    def counting(text: str, tokens: Any, render: Any) -> str:
        calls["n"] += 1
        return real(text, tokens, render)

    for depth in (10, 10_000):
        calls["n"] = 0
        text = (
            "before "
            + "{{a|" * depth
            + "x"
            + "}}" * depth
            + " "
            + "[[b|" * 50
            + "after"
            + "]]" * 50
        )
        wikitext._replace_nested = counting  # type: ignore[assignment]
        try:
            out = renderer.plain(text)
        finally:
            wikitext._replace_nested = real  # type: ignore[assignment]
        assert out == "before  after"
        assert calls["n"] == 2  # one scan for templates, one for links, whatever the depth


def test_fallback_nested_links_and_templates_render_like_the_parser() -> None:
    renderer = wikitext._Renderer(wikitext._Site("w"))
    text = "a {{b|{{c}}|d}} e [[x|y [[z]] w]] [[File:a.png|thumb|cap]] {{unclosed [[Foo]] }} g"
    assert renderer.plain(text) == "a  e y z w   g"
    assert wikitext._clean(renderer.plain("{{open [[Foo]]")) == "open Foo"


def test_oversized_page_is_skipped_and_reported_after_the_rest(tmp_path: Path) -> None:
    big = "Leave policy text. " * 6000  # ~114 KB of wikitext
    pages = [
        page_xml("Before", "Kept before.", page_id=1),
        page_xml("Huge", big, page_id=2),
        page_xml("After", "Kept after.", page_id=3),
    ]
    path = write(tmp_path / "w.xml", dump_xml(pages))
    seen: list[str] = []
    with pytest.raises(ParseError) as caught:
        for item in parse_dump(path, ParseOptions(wiki_max_page_bytes=100_000)):
            seen.append(item.title if isinstance(item, Document) else "redirect")
    assert seen == ["Before", "After"]
    assert "1 of 3 pages skipped" in caught.value.message
    assert "'Huge' (0.109 MB of wikitext, over the 0.0954 MB limit" in caught.value.message
    assert [d.title for d in docs(parse(path))] == ["Before", "Huge", "After"]  # default cap


def test_page_size_cap_counts_utf8_bytes(tmp_path: Path) -> None:
    pages = [page_xml("Wide", "ä" * 6000, page_id=1), page_xml("Narrow", "a" * 6000, page_id=2)]
    path = write(tmp_path / "w.xml", dump_xml(pages))
    with pytest.raises(ParseError, match="'Wide'"):  # 6,000 characters but 12,000 bytes
        list(parse_dump(path, ParseOptions(wiki_max_page_bytes=10_485)))


def test_memory_error_on_one_page_skips_only_that_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_render = mediawiki._render_page

    def greedy(text: str, site: Any, title: str) -> Any:
        if title == "Greedy":
            raise MemoryError
        return real_render(text, site, title)

    monkeypatch.setattr(mediawiki, "_render_page", greedy)
    pages = [page_xml("Greedy", "x", page_id=1), page_xml("Fine", "y", page_id=2)]
    seen: list[str] = []
    with pytest.raises(ParseError, match="'Greedy' \\(ran out of memory\\)"):
        for item in parse_dump(write(tmp_path / "w.xml", dump_xml(pages)), ParseOptions()):
            seen.append(item.title if isinstance(item, Document) else "")
    assert seen == ["Fine"]


# --- property -------------------------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄäöüß", min_size=1, max_size=12)
DECORATIONS = [
    "{}",
    "'''{}'''",
    "''{}''",
    "[[{}]]",
    "[[Some target|{}]]",
    "[https://example.org {}]",
    "{{{{tpl|x}}}} {}",
    "{}<ref>note</ref>",
    "<!-- c -->{}",
    "<span>{}</span>",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.tuples(WORD, st.integers(0, len(DECORATIONS) - 1), st.sampled_from([" ", "\n", "\n\n"])),
        min_size=1,
        max_size=30,
    )
)
def test_words_survive_any_decoration(tmp_path: Path, words: list[tuple[str, int, str]]) -> None:
    text = "".join(DECORATIONS[style].format(word) + sep for word, style, sep in words)
    doc = one_doc(tmp_path, text)
    tokens = doc.text.split()
    for word, _, _ in words:
        assert word in tokens, (word, text, doc.text)
    assert_clean(doc)


def test_templates_that_show_text_keep_it(tmp_path: Path) -> None:
    """enwiki tables list countries as {{flag|Finland}} and prose gives distances as
    {{convert|...}}: dropping every template left "16% | 14%" rows and "is long" sentences."""
    doc = one_doc(
        tmp_path,
        "The lake is {{convert|10|km|mi}} long and {{convert|2|to|3|m|ft|abbr=on}} deep.\n"
        "{| class=wikitable\n! Country !! Export\n|-\n| {{flag|Finland}} || 16%\n"
        "|-\n| {{flagicon|SWE}} {{flag|SWE}} || 19%\n|}\n"
        "Its name is {{lang|fr|Lac Bleu}} ({{nihongo|Blue Lake|青い湖|Aoi-ko}}), "
        "{{as of|2020}} {{nowrap|400 m}} above the sea.{{citation needed|date=May 2020}}",
    )
    assert doc.text == (
        "The lake is 10 km long and 2 to 3 m deep.\n\n"
        "Country: Finland | Export: 16%\nExport: 19%\n\n"  # a code is not a name: left out
        "Its name is Lac Bleu (Blue Lake), As of 2020 400 m above the sea."
    )


def test_templates_that_gave_wrong_figures_or_holes_show_what_a_reader_sees(tmp_path: Path) -> None:
    """Round 6 (docs/INGEST-QUALITY.md): "At 6 ft, he was tall" for {{convert|6|ft|4|in|cm|0}},
    "22 e6acre of forest", "(after and )" for {{angbr}}, "1775September 3" for {{snd}}, "(general
    formula )" for {{chem}}."""
    doc = one_doc(
        tmp_path,
        "At {{convert|6|ft|4|in|cm|0}}, he was tall; {{convert|22|e6acre|km2}} of forest, "
        "{{convert|10|km|0}} of road, {{convert|5|e6t|e6ST}} of grain.\n"
        "The letter is used most (after {{angbr|e}} and {{angbr|t}}), "
        "from April 19, 1775{{snd}}September 3, 1783.\n"
        "Alkanes (general formula {{chem|C|n|H|2n+2}}) are called {{lang-el|alkanios}}. "
        "He married {{marriage|Frank O'Connor|1929}}, then {{marriage|Ann|1980|1990}}.",
    )
    assert doc.text == (
        "At 6 ft 4 in, he was tall; 22 million acres of forest, 10 km of road, 5 million t of grain.\n"
        "The letter is used most (after e and t), from April 19, 1775 – September 3, 1783.\n"
        "Alkanes (general formula CnH2n+2) are called alkanios. "
        "He married Frank O'Connor (m. 1929), then Ann (m. 1980–1990)."
    )


def test_templates_that_typeset_figures_keep_them(tmp_path: Path) -> None:
    """Round 7: "the current that would deposit of silver per second" ({{val}} dropped),
    "extending back to 3500 ." ({{sc|bc}}), "(Ἀχιλλεύς, Akhilleus, )"."""
    doc = one_doc(
        tmp_path,
        "It deposits {{val|0.001118000|u=grams}} of silver per second; one coulomb is roughly "
        "{{val|6.241509|e=18}} charges at {{val|1.2|0.1|ul=m|up=s}}. A {{frac|1|2}} share, "
        "{{frac|3|1|2}} cups and {{frac|4}} of it. Back to 3500 {{sc|bc}}; see "
        "{{bibleref|Mark|3:25}}.\n\n"
        "'''Achilles''' ({{lang-grc|Ἀχιλλεύς}}, ''Akhilleus'', {{IPA-el|a.kʰil.lěu̯s|}}) was a hero. Code: t = (1,) and f(a, b).",
    )
    assert doc.text == (
        "It deposits 0.001118000 grams of silver per second; one coulomb is roughly "
        "6.241509×10^18 charges at 1.2±0.1 m/s. A 1/2 share, 3 1/2 cups and 1/4 of it. Back to "
        "3500 BC; see Mark 3:25.\n\n"
        "Achilles (Ἀχιλλεύς, Akhilleus) was a hero. Code: t = (1,) and f(a, b)."
    )


def test_templates_that_round_or_format_numbers_keep_them(tmp_path: Path) -> None:
    """Brahui's infobox read "Speakers: million" ({{sigfig|4.22|1}} dropped); the Articles of
    Confederation's table lost its ratification dates ({{dts}}) and order ({{nts}})."""
    doc = one_doc(
        tmp_path,
        "{{Infobox language\n|name = Brahui\n|speakers = {{sigfig|4.22|1}} million\n}}\n"
        "About {{sigfig|1234|2}} words, {{sigfig|0.001234|2}} of them, pi is {{round|3.14159|2}}"
        " and {{round|2.5}}; {{formatnum:1234567}} people, {{formatnum: 34.62}} km, "
        "{{formatnum:1,234|R}} and {{sigfig|many|2}}.\n"
        '{| class="wikitable"\n! Order !! State !! Date !! Share\n|-\n'
        "| {{nts| 2}} || South Carolina || {{dts|1778|02|05}} || {{bartable|87.5|%|2}}\n|}",
    )
    assert doc.text == (
        "Name: Brahui\nSpeakers: 4 million\n\n"
        "About 1200 words, 0.0012 of them, pi is 3.14 and 3; 1,234,567 people, 34.62 km, 1,234 "
        "and many.\n\n"
        "Order: 2 | State: South Carolina | Date: February 5, 1778 | Share: 87.5%"
    )


def test_brackets_a_dropped_template_leaves_empty_are_removed(tmp_path: Path) -> None:
    doc = one_doc(
        tmp_path,
        "'''Ayn Rand''' ({{IPAc-en|ˈ|aɪ|n}}; born '''Alisa Rosenbaum''', "
        "{{efn|Her name in Russian.}} – March 6, 1982) was a writer.\n\n"
        "'''Albedo''' ({{IPAc-en|æ|l|ˈ|b|iː|d|oʊ}}) is a measure. Call f() or g(x).",
    )
    assert doc.text == (
        "Ayn Rand (born Alisa Rosenbaum, – March 6, 1982) was a writer.\n\n"
        "Albedo is a measure. Call f() or g(x)."
    )


def test_date_templates_show_their_date(tmp_path: Path) -> None:
    """Biographies give their dates through templates; dropping them lost the birth date."""
    doc = one_doc(
        tmp_path,
        "'''Ayn Rand''' (born '''Alisa Rosenbaum''', "
        "{{OldStyleDate|February 2|1905|January 20}} – March 6, 1982) was a writer.\n\n"
        "Lincoln was born on {{birth date|1809|2|12}} and died on "
        "{{death date and age|mf=yes|1865|04|15|1809|02|12}}. The line opened in "
        "{{Start date|1929|5}}; the club in {{start date and age|1929}}; "
        "{{birth date|df=y|unknown}} is nothing.",
    )
    assert doc.text == (
        "Ayn Rand (born Alisa Rosenbaum, February 2, 1905 – March 6, 1982) was a writer.\n\n"
        "Lincoln was born on 12 February 1809 and died on April 15, 1865. The line opened in "
        "May 1929; the club in 1929; is nothing."
    )


def test_infobox_fields_come_before_the_text_they_stood_beside(tmp_path: Path) -> None:
    """A page's infobox holds facts its prose may not repeat (birth place, capital): dropped
    with the other templates, they could not be found. Pictures and layout fields stay out."""
    doc = one_doc(
        tmp_path,
        "{{Infobox person\n| name = Allan Dwan\n| image = Allan Dwan 1920.jpg\n"
        "| image_size = 220px\n| caption = Dwan in 1920\n| alt = A man in a hat\n"
        "| birth_date = {{Birth date|df=yes|1885|4|3}}\n"
        "| birth_place = [[Toronto]], Canada<ref>{{cite web|url=http://x.example}}</ref>\n"
        "| occupation = Film director<br>Film producer<br />\n"
        "| spouse = {{ubl|Pauline Bush (1915–1919)|Marie Shelton}}\n"
        "| known_for = {{plainlist|\n* ''Robin Hood''\n* ''Heidi'',\n}}\n"
        "| Flaglink = [[Flag of Canada|Flag]]\n| website = {{URL|dwan.example}}\n"
        "| LargestCity = [[Toronto]]\n| 2010Pop = 4,858,979\n| module = \n| signature = \n"
        "| years_active = \n}}\n"
        "'''Allan Dwan''' was a director.\n== Career ==\nHe directed films.",
        title="Allan Dwan",
    )
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (
            (),
            "Name: Allan Dwan\nBirth date: 3 April 1885\nBirth place: Toronto, Canada\n"
            "Occupation: Film director, Film producer\n"
            "Spouse: Pauline Bush (1915–1919), Marie Shelton\nKnown for: Robin Hood, Heidi\n"
            "Largest city: Toronto\n2010 pop: 4,858,979\n\nAllan Dwan was a director.",
        ),
        (("Career",), "He directed films."),
    ]
    assert_clean(doc)


def test_generic_and_nested_infoboxes_keep_their_order_and_section(tmp_path: Path) -> None:
    """{{Infobox}} names its rows with labelN/dataN; an infobox nested in another's field
    follows it; one under a heading keeps that heading's path and anchor."""
    doc = one_doc(
        tmp_path,
        "Intro.\n== Offices ==\n{{Infobox\n| label1 = Founded | data1 = 1990\n"
        "| label2 = Empty label | header3 = Staff\n"
        "| label4 = Head | data4 = {{Infobox person/child | name = Marta Ruiz }}\n}}\n"
        "Paris and Berlin.",
    )
    assert [(s.heading_path, s.anchor, s.text) for s in doc.sections] == [
        ((), None, "Intro."),
        (("Offices",), "Offices", "Founded: 1990\n\nName: Marta Ruiz\n\nParis and Berlin."),
    ]


def test_a_page_of_unclosed_templates_is_not_given_to_the_slow_parser(monkeypatch) -> None:
    """mwparserfromhell is quadratic in unclosed `{{` (80 KB of "{{a|" took 201 s, in the
    ingest's own process): such a page gets the plain-text fallback; real pages do not."""
    calls = []
    real_parse = wikitext.mwparserfromhell.parse
    monkeypatch.setattr(wikitext.mwparserfromhell, "parse",
                        lambda text, **kw: (calls.append(text), real_parse(text, **kw))[1])  # fmt: skip
    site = wikitext._Site(dbname="x")
    sections, _ = wikitext._render_page("Intro. " + "{{a|" * 20000, site, "Bomb")
    assert calls == [] and "Intro." in sections[0].text
    nested = "== H ==\nText {{lang|fr|{{small|bonjour}}}} here {{unclosed|\n"
    sections, _ = wikitext._render_page(nested, site, "Fine")
    assert len(calls) == 1 and sections[0].heading_path == ("H",)
    assert wikitext._unclosed("{{a|" * 300 + "}}" * 300) == 0  # closed: parsed
    assert wikitext._unclosed("[[a|" * 300) == 300 and wikitext._unclosed("<ref>a" * 300) == 300
    assert wikitext._unclosed('<ref name="x"/>' * 300 + "<br>" * 300 + "<ref>a</ref>" * 3) == 0
    for bomb in ("[[a|" * 20000, "<ref>a" * 20000):
        wikitext._render_page(bomb, site, "Bomb")
    assert len(calls) == 1  # neither reached the parser


def test_other_constructs_left_open_are_counted_too(monkeypatch) -> None:
    """16,000 unclosed "[http://a " held the parser 32 s; unclosed tables and paired tags are
    as slow. Closed ones and tags that need no closing are not counted; the shared dumps'
    2,212 pages leave at most 41 open in all (200 are allowed). The plain-text fallback the
    page gets instead must not be quadratic itself (20,000 "[//x " took minutes in it)."""
    calls = []
    monkeypatch.setattr(wikitext.mwparserfromhell, "parse", lambda text, **kw: calls.append(text))
    for unit in ("[http://a ", "[//example.org ", "{|\n", "<span>", "<small>", "<br x"):
        assert wikitext._unclosed(unit * 300) == 300, unit
        sections, _ = wikitext._render_page("Kept. " + unit * 20000, wikitext._Site("x"), "Bomb")
        assert "Kept." in sections[0].text
    assert calls == []
    # a code page and a page of unclosed paragraphs are ordinary: parsed, headings kept
    code = (
        "<syntaxhighlight lang=java>\n"
        + "Map<String, List<Integer>> m;\n" * 110
        + "</syntaxhighlight>"
    )
    assert wikitext._unclosed(code) == 0 and wikitext._unclosed("<p>a " * 210) == 21
    assert wikitext._unclosed("<p>a " * 20000) > wikitext.MAX_UNCLOSED
    closed = "[http://a b] {|\n|x\n|} <span>y</span> <ref name=z/> <br> <li>a <td>b "
    assert wikitext._unclosed(closed * 300) == 0
    assert wikitext._unclosed("{{a|" * 100 + "[[b|" * 60 + "<span>" * 60) == 220  # all kinds add


def test_a_page_far_over_the_limit_is_stopped_while_it_is_read(tmp_path: Path) -> None:
    """A few KB of bz2 can hold one 600 MB page, and the size check ran on its whole text
    (1.5 GB of memory before it was skipped): reading stops once the page passes 6 × the
    limit, the pages before it are kept and the run says why."""
    huge = "x" * 3_000_000  # over 6 × 100 KB + 1 MB of XML
    pages = [page_xml("Before", "Kept before.", page_id=1), page_xml("Bomb", huge, page_id=2),
             page_xml("After", "Never read.", page_id=3)]  # fmt: skip
    path = tmp_path / "w.xml.bz2"
    path.write_bytes(bz2.compress(dump_xml(pages).encode()))
    seen: list[str] = []
    with pytest.raises(ParseError, match=r"page 2 is over 2 MB of XML; the pages before it"):
        for item in parse_dump(path, ParseOptions(wiki_max_page_bytes=100_000)):
            seen.append(item.title if isinstance(item, Document) else "redirect")
    assert seen == ["Before"]


def test_markers_inside_a_page_do_not_reset_its_size_bound(tmp_path: Path) -> None:
    """`<pagex/>` every 50 KB reset the count (as `<page` did), and a page inside a page is
    not an export's."""
    chunk = "x" * 50_000 + "</text><pagex/><text>"
    bomb = page_xml("Bomb", "", page_id=1).replace("<text", "<text>" + chunk * 60 + "<text", 1)
    path = tmp_path / "w.xml.bz2"
    path.write_bytes(bz2.compress(dump_xml([bomb]).encode()))
    with pytest.raises(ParseError, match="is over 2 MB of XML"):
        list(parse_dump(path, ParseOptions(wiki_max_page_bytes=100_000)))
    nested = page_xml("Outer", "a").replace("<title>", page_xml("Inner", "b") + "<title>", 1)
    path2 = write(tmp_path / "n.xml", dump_xml([nested]))
    with pytest.raises(ParseError, match="a <page> inside page 1"):
        list(parse_dump(path2, ParseOptions()))


def test_date_templates_without_a_date_show_nothing(tmp_path: Path) -> None:
    """{{dts}}, {{dts|format=dmy}}, {{date table sorting}} and {{birth date}} without a date
    raised ValueError, and the whole page fell back to plain text: its sections were lost."""
    doc = one_doc(
        tmp_path,
        "Intro.\n== Ratified ==\nSigned {{dts}}{{dts|format=dmy}}{{date table sorting}}"
        "{{birth date}} in {{dts|1778|Feb}}.\n",
    )
    assert [s.heading_path for s in doc.sections] == [(), ("Ratified",)]
    assert doc.sections[1].text == "Signed in February 1778."


def test_numbers_too_long_to_group_are_shown_as_written(tmp_path: Path) -> None:
    """{{formatnum:}} and {{nts}} of a 5,000-digit number hit Python's 4,300-digit int() limit
    and the whole page fell back to plain text; past 30 digits a number is shown as written."""
    long, longer = "1" * 31, "9" * 5000
    doc = one_doc(
        tmp_path,
        f"Intro.\n== Figures ==\nA {{{{formatnum:{long}}}}} and {{{{formatnum:{longer}}}}}.\n"
        f'{{| class="wikitable"\n! Order !! Name\n|-\n| {{{{nts|{longer}}}}} || x\n|}}',
    )
    assert [s.heading_path for s in doc.sections] == [(), ("Figures",)]
    assert doc.sections[1].text == f"A {long} and {longer}.\n\nOrder: {longer} | Name: x"


def test_spans_that_would_multiply_a_table_are_not_expanded(tmp_path: Path) -> None:
    """Header cells with rowspan="999999" colspan="100" were copied into every later row: 8.7 KB
    of markup became 37.6 M characters. Past 2x the widest row (at most 200 cells) or 20x the
    table's cells, the table is shown as written, without filling the spans."""
    text = (
        "{|\n"
        + "".join(f'! rowspan="999999" colspan="100" | h{i}\n' for i in range(20))
        + "|-\n| x\n" * 200
        + "|}"
    )
    started = time.monotonic()
    doc = one_doc(tmp_path, text)
    assert time.monotonic() - started < 5
    assert doc.text.splitlines() == [" | ".join(f"h{i}" for i in range(20))] + ["x"] * 200


def test_header_rows_join_only_under_a_spanning_header(tmp_path: Path) -> None:
    """A table whose rows are all header cells (`! 2019 || Alice`) collapsed into one line,
    "Year 2019 2020 | Winner Alice Bob": a second header row joins the first only when the
    first has a cell spanning rows or columns ("Appearances" over "S1 S2"), and no third."""
    text = """{| class="wikitable"
! Year !! Winner
|-
! 2019 || Alice
|-
! 2020 || Bob
|}
{| class="wikitable"
! rowspan="2" | Actor !! colspan="2" | Appearances
|-
! S1 !! S2
|-
! Robin Tunney !! 1 !! 2
|}"""
    doc = one_doc(tmp_path, text)
    assert [line for line in doc.text.splitlines() if line] == [
        "Year: 2019 | Winner: Alice",
        "Year: 2020 | Winner: Bob",
        "Actor: Robin Tunney | Appearances S1: 1 | Appearances S2: 2",
    ]
