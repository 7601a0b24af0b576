"""Footnotes and endnotes of a Word file, which unstructured's DOCX reader leaves out.

handbook-872p.docx's footnotes ("References to 'continue' in this Handbook shall have the same
meaning as 'adjourn.'", statute citations) were in no chunk. They are read straight from the
package (`word/footnotes.xml`, `word/endnotes.xml`) and kept as a last section each, one line
per note in the order Word stores them (the displayed marks depend on numbering settings, so
none is invented). Runs a reader cannot see are judged as in the body (docx_hidden.py).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from index.types import Section
from ingest.parsers.docx_hidden import hidden_run_judge

_NOT_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
MAX_NOTES_BYTES = 20 << 20  # a notes part larger than this is left out, not read into memory
PARTS = (("footnote", "Footnotes"), ("endnote", "Endnotes"))


def note_sections(path: Path) -> list[Section]:
    """A "Footnotes" and an "Endnotes" section ("- text" per note), for those the file has.

    Raises what python-docx and lxml raise for a broken part; the caller keeps the body then.
    """
    from docx.oxml import parse_xml  # lxml, entities not resolved
    from docx.oxml.ns import qn

    parts = []
    with zipfile.ZipFile(path) as package:
        for tag, heading in PARTS:
            try:
                info = package.getinfo(f"word/{tag}s.xml")
            except KeyError:
                continue
            if info.file_size <= MAX_NOTES_BYTES:
                parts.append((tag, heading, package.read(info)))
    if not parts:
        return []
    judge = hidden_run_judge(path)
    sections = []
    for tag, heading, xml in parts:
        notes = []
        for note in parse_xml(xml).iter(qn(f"w:{tag}")):
            if note.get(qn("w:type")) in _NOT_NOTES:
                continue
            text = " ".join(" ".join(_visible(p, judge) for p in note.iter(qn("w:p"))).split())
            if text:
                notes.append(f"- {text}")
        if notes:
            sections.append(Section((heading,), "\n".join(notes)))
    return sections


def _visible(paragraph: Any, judge: Any) -> str:
    from docx.oxml.ns import qn

    return "".join(
        t.text or ""
        for run in paragraph.iter(qn("w:r"))
        if not judge.hidden(run)
        for t in run.iter(qn("w:t"))
    )
