"""Drop the runs of a Word file that a reader cannot see, before unstructured partitions it.

Text an author hid is the classic place to plant instructions for a model (hardening row 5): a
run marked hidden (`w:vanish`, `w:specVanish`, also through its character or paragraph style),
written in the colour of what is behind it (white on the white page, or on the same shading or
highlight), or set at 1.5 pt or less. Formatting is resolved the way Word does it, from the
document defaults through the paragraph and character styles to the run's own properties.
Where the background cannot be known cheaply (table-style shading, a text box filled from the
theme, a shading pattern) white text is kept: losing a visible heading is worse than keeping a
rare planted line. Headers and footers are not touched: the DOCX parser leaves them out anyway.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from docx.oxml.ns import qn

# Runs at or below this size (w:sz, in half-points: 3 = 1.5 pt) cannot be read.
TINY_HALF_POINTS = 3
# Colours whose red, green and blue each differ by at most this much look the same.
SAME_COLOUR = 16
WHITE = "FFFFFF"
_UNKNOWN = "?"  # a background that may be dark: never judge text colour against it
_ON = frozenset({"1", "true", "on"})
_HIGHLIGHTS = {
    "black": "000000", "blue": "0000FF", "cyan": "00FFFF", "green": "00FF00",
    "magenta": "FF00FF", "red": "FF0000", "yellow": "FFFF00", "white": "FFFFFF",
    "darkBlue": "000080", "darkCyan": "008080", "darkGreen": "008000",
    "darkMagenta": "800080", "darkRed": "800000", "darkYellow": "808000",
    "darkGray": "808080", "lightGray": "C0C0C0",
}  # fmt: skip
# Run content that is not text: a drawing's size or colour says nothing about its text box.
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_OBJECTS = (qn("w:drawing"), qn("w:pict"), qn("w:object"), f"{_MC}AlternateContent")
_WPS = "{http://schemas.microsoft.com/office/word/2010/wordprocessingShape}"


@dataclass(frozen=True)
class _Props:
    """Run properties that decide visibility; None = not set at this level."""

    hidden: bool | None = None
    colour: str | None = None
    size: int | None = None
    highlight: str | None = None
    shading: str | None = None

    def over(self, base: _Props) -> _Props:
        """These properties on top of `base` (set values win)."""
        changed = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{k: v for k, v in changed.items() if v is not None})


def _attr(element: Any, name: str = "w:val") -> str | None:
    return None if element is None else element.get(qn(name))


def _on(element: Any) -> bool | None:
    """A Word on/off property: absent = not set; present without w:val = on."""
    if element is None:
        return None
    value = _attr(element)
    return value is None or value.lower() in _ON


def _hex(value: str | None) -> str | None:
    """An RRGGBB colour in upper case, or None for "auto", "none" and anything malformed."""
    if value is None or len(value) != 6:
        return None
    try:
        int(value, 16)
    except ValueError:
        return None
    return value.upper()


def _fill(shd: Any) -> str | None:
    """What a `w:shd` paints: its fill, its pattern colour when solid, unknown for patterns."""
    if shd is None:
        return None
    pattern = _attr(shd) or "clear"
    if pattern == "solid":
        return _hex(_attr(shd, "w:color")) or _UNKNOWN
    if pattern in ("clear", "nil"):
        return _hex(_attr(shd, "w:fill"))
    return _UNKNOWN


def _props(rpr: Any) -> _Props:
    if rpr is None:
        return _Props()
    settings = [_on(rpr.find(qn(tag))) for tag in ("w:vanish", "w:specVanish")]
    hidden = None if settings == [None, None] else any(settings)
    size = _attr(rpr.find(qn("w:sz")))
    highlight = _attr(rpr.find(qn("w:highlight")))
    colour = rpr.find(qn("w:color"))
    return _Props(
        hidden=hidden,
        colour=(_hex(_attr(colour)) or "auto") if colour is not None else None,
        size=int(size) if size is not None and size.isdigit() else None,
        highlight=_HIGHLIGHTS.get(highlight, "none") if highlight is not None else None,
        shading=_fill(rpr.find(qn("w:shd"))),
    )


class _Styles:
    """Style look-ups with `w:basedOn` chains resolved once per style."""

    def __init__(self, styles: Any) -> None:
        self._by_id = {s.get(qn("w:styleId")): s for s in styles.iterfind(qn("w:style"))}
        self._defaults = {
            s.get(qn("w:type")): s.get(qn("w:styleId"))
            for s in styles.iterfind(qn("w:style"))
            if (s.get(qn("w:default")) or "").lower() in _ON
        }
        self._resolved: dict[str, tuple[_Props, str | None]] = {}
        self.document = _props(
            styles.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}")
        )

    def resolve(self, style_id: str | None, kind: str) -> tuple[_Props, str | None]:
        """(run properties, paragraph shading) a paragraph or character style gives."""
        style_id = style_id or self._defaults.get(kind)
        if style_id is None:
            return _Props(), None
        if style_id not in self._resolved:
            self._resolved[style_id] = _Props(), None  # a basedOn cycle ends here
            style = self._by_id.get(style_id)
            if style is None:
                return _Props(), None
            base, base_shading = self.resolve(_attr(style.find(qn("w:basedOn"))), "")
            ppr = style.find(qn("w:pPr"))
            shading = _fill(ppr.find(qn("w:shd"))) if ppr is not None else None
            self._resolved[style_id] = (
                _props(style.find(qn("w:rPr"))).over(base),
                shading or base_shading,
            )
        return self._resolved[style_id]

    def shaded(self, style_id: str | None) -> bool:
        """Whether a table style paints any cell: its text colours are then not judged."""
        style = self._by_id.get(style_id) if style_id else None
        return style is not None and any(
            _fill(shd) not in (None, WHITE) for shd in style.iter(qn("w:shd"))
        )


def _same(colour: str, background: str) -> bool:
    if background == _UNKNOWN:
        return False
    return all(
        abs(int(colour[i : i + 2], 16) - int(background[i : i + 2], 16)) <= SAME_COLOUR
        for i in (0, 2, 4)
    )


def _box_background(content: Any) -> str | None:
    """The fill behind a text box's text: None when transparent, _UNKNOWN unless plain RGB."""
    shape = next(content.iterancestors(f"{_WPS}wsp"), None)
    if shape is None:
        return _UNKNOWN  # VML and other shapes: not judged
    properties = shape.find(f"{_WPS}spPr")
    if properties is None:
        return _UNKNOWN
    if properties.find(qn("a:noFill")) is not None:
        return None
    rgb = properties.find(f"{qn('a:solidFill')}/{qn('a:srgbClr')}")
    return _hex(rgb.get("val")) if rgb is not None else _UNKNOWN


class _Judge:
    """Decides, run by run, whether a reader of the printed page could see its text."""

    def __init__(self, document: Any, styles: _Styles) -> None:
        page = document.find(qn("w:background"))
        self.page = _hex(_attr(page, "w:color")) or WHITE
        self.styles = styles

    def _background(self, run: Any, props: _Props, paragraph_shading: str | None) -> str:
        """The colour behind a run: highlight, shading, paragraph, cell, text box, page."""
        for colour in (props.highlight, props.shading, paragraph_shading):
            if colour not in (None, "none"):
                return str(colour)
        for ancestor in run.iterancestors(qn("w:tc"), qn("w:tbl"), qn("w:txbxContent")):
            if ancestor.tag == qn("w:txbxContent"):
                fill = _box_background(ancestor)
            else:
                properties = ancestor.find(
                    qn("w:tcPr" if ancestor.tag == qn("w:tc") else "w:tblPr")
                )
                fill = _fill(properties.find(qn("w:shd"))) if properties is not None else None
                if ancestor.tag == qn("w:tbl") and fill is None and properties is not None:
                    style = _attr(properties.find(qn("w:tblStyle")))
                    fill = _UNKNOWN if self.styles.shaded(style) else None
            if fill is not None:
                return fill
        return self.page

    def hidden(self, run: Any) -> bool:
        paragraph = next(run.iterancestors(qn("w:p")), None)
        ppr = paragraph.find(qn("w:pPr")) if paragraph is not None else None
        pstyle = _attr(ppr.find(qn("w:pStyle"))) if ppr is not None else None
        para_props, para_shading = self.styles.resolve(pstyle, "paragraph")
        rpr = run.find(qn("w:rPr"))
        rstyle = _attr(rpr.find(qn("w:rStyle"))) if rpr is not None else None
        char_props, _ = self.styles.resolve(rstyle, "character")
        props = _props(rpr).over(char_props.over(para_props.over(self.styles.document)))
        if props.hidden:
            return True
        if any(child.tag in _OBJECTS for child in run):
            return False  # a picture or text box: its own runs are judged one by one
        if props.size is not None and props.size <= TINY_HALF_POINTS:
            return True
        if props.colour in (None, "auto"):
            return False  # automatic colour: Word keeps it readable on any background
        direct_shading = _fill(ppr.find(qn("w:shd"))) if ppr is not None else None
        background = self._background(run, props, direct_shading or para_shading)
        return _same(str(props.colour), background)


def without_hidden_runs(path: Path) -> io.BytesIO | None:
    """The Word file at `path` without its invisible runs, or None when it has none.

    Raises what python-docx raises for a file it cannot read (ValueError for a non-ZIP file).
    """
    import docx

    if not zipfile.is_zipfile(path):
        raise ValueError("not a ZIP archive (so not a DOCX file)")
    document = docx.Document(str(path))
    judge = _Judge(document.element, _Styles(document.styles.element))
    doomed = [run for run in document.element.body.iter(qn("w:r")) if judge.hidden(run)]
    if not doomed:
        return None
    for run in doomed:
        parent = run.getparent()
        if parent is not None:
            parent.remove(run)
    visible = io.BytesIO()
    document.save(visible)
    visible.seek(0)
    return visible
