"""Footnotes and endnotes of a Word file, which unstructured's DOCX reader leaves out.

handbook-872p.docx's footnotes ("References to 'continue' in this Handbook shall have the same
meaning as 'adjourn.'", statute citations) were in no chunk. They are read straight from the
package (`word/footnotes.xml`, `word/endnotes.xml`) and kept as a last section each, numbered
in the order Word stores them, which is the order they are referenced.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import fromstring

from index.types import Section

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_NOT_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
MAX_NOTES_BYTES = 20 << 20  # a notes part larger than this is left out, not read into memory
PARTS = (("footnotes", "Footnotes"), ("endnotes", "Endnotes"))


def note_sections(path: Path) -> list[Section]:
    """A "Footnotes" and an "Endnotes" section ("1. text" per note), for those the file has."""
    sections = []
    with zipfile.ZipFile(path) as package:
        for part, heading in PARTS:
            try:
                info = package.getinfo(f"word/{part}.xml")
            except KeyError:
                continue
            if info.file_size > MAX_NOTES_BYTES:
                continue
            notes = _notes(package.read(info), part[:-1])
            if notes:
                lines = [f"{number}. {text}" for number, text in enumerate(notes, start=1)]
                sections.append(Section((heading,), "\n".join(lines)))
    return sections


def _notes(xml: bytes, tag: str) -> list[str]:
    """The text of each real note (Word's separators left out), whitespace made single."""
    texts = []
    for note in fromstring(xml).iter(f"{_W}{tag}"):
        if note.get(f"{_W}type") in _NOT_NOTES:
            continue
        words = " ".join(_visible_text(paragraph) for paragraph in note.iter(f"{_W}p"))
        text = " ".join(words.split())
        if text:
            texts.append(text)
    return texts


def _visible_text(paragraph: Any) -> str:
    """A paragraph's text without runs marked hidden (`w:vanish`): hidden text is no more read
    here than in the body (docx_hidden.py)."""
    shown: list[str] = []
    for run in paragraph.iter(f"{_W}r"):
        props = run.find(f"{_W}rPr")
        if props is not None and props.find(f"{_W}vanish") is not None:
            continue
        shown.extend(t.text or "" for t in run.iter(f"{_W}t"))
    return "".join(shown)
