"""Questions on the infobox facts of the enwiki sample, for `hearth eval --answer`.

    .venv/bin/python -m bench.infobox_questions OUT.jsonl

"What is the <field> of <page>?" for up to 3 fields per infobox (drawn with a fixed seed), the
field's first value as the key term: 135 questions. Written from the fields themselves, so they
measure whether an infobox fact can be found and stated at all, not how people ask. Reads
../shared (never run by the tests); docs/INGEST-QUALITY.md, round 5, has the figures.
"""

from __future__ import annotations

import bz2
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import mwparserfromhell
from defusedxml.ElementTree import iterparse

from ingest.parsers import wikitext

DUMP = (
    Path(__file__).resolve().parents[2]
    / "shared/eval/mediawiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
)
SKIPPED_LABELS = ("name", "fullname", "other")


def pages(dump: Path) -> Iterator[tuple[str, str, str]]:
    """(page id, title, wikitext) of each main-namespace page that is not a redirect."""
    title = page_id = ns = None
    with bz2.open(dump) as stream:
        for _, element in iterparse(stream, events=("end",)):
            tag = element.tag.rpartition("}")[2]
            if tag == "title":
                title = element.text
            elif tag == "ns":
                ns = element.text
            elif tag == "id" and page_id is None:
                page_id = element.text
            elif tag == "text":
                text = element.text or ""
                if ns == "0" and title and not text.lstrip().upper().startswith("#REDIRECT"):
                    yield str(page_id), title, text
            elif tag == "page":
                title = page_id = ns = None
                element.clear()


def facts(title: str, text: str) -> list[tuple[str, str]]:
    """(field label, first value) of the page's top-level infoboxes, as Hearth renders them."""
    code = mwparserfromhell.parse(wikitext._HIDDEN_RE.sub("", text), skip_style_tags=True)
    found = []
    for template in code.filter_templates(recursive=False):
        if not str(template.name).strip().lower().startswith("infobox"):
            continue
        renderer = wikitext._Renderer(wikitext._Site("enwiki"))
        for label, value in renderer.infobox_fields(template):  # the lines Hearth stores
            if re.search(r"\d", label) or label.lower() in SKIPPED_LABELS:
                continue
            term = re.sub(r"\s*\(.*", "", value.split(",")[0]).strip()
            if 3 <= len(term) <= 30 and term.lower() != title.lower():
                found.append((label, term))
    return found


def main(out: Path) -> None:
    rng = random.Random(0)
    questions = []
    for page_id, title, text in pages(DUMP):
        fields = facts(title, text)
        for label, term in rng.sample(fields, min(3, len(fields))):
            questions.append({
                "question": f"What is the {label.lower()} of {title}?",
                "expected_documents": [f"enwiki:{page_id}"], "key_term": term,
                "answerable": True, "groups": [],
            })  # fmt: skip
    out.write_text("".join(json.dumps(q) + "\n" for q in questions))
    print(f"{len(questions)} questions in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):  # "--help" was taken for a file name
        print(__doc__)
        sys.exit(0 if sys.argv[1:] in (["-h"], ["--help"]) else 2)
    main(Path(sys.argv[1]))
