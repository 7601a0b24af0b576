"""Drop the runs of a Word file that a reader cannot see, before unstructured partitions it.

Text an author hid is the classic place to plant instructions for a model (hardening row 5): a
run marked hidden (`w:vanish`, `w:specVanish`, also through its character, paragraph or table
style, with Word's toggle rule across styles), written in the colour of what is behind it
(white or theme "background" on the white page, or on the same shading or highlight), set at
1.5 pt or less (the complex-script size for complex-script runs) or squeezed to 10 % width.
Formatting is resolved the way Word does it, from the document defaults through the table,
paragraph and character styles to the run's own properties. Where the background cannot be
known cheaply (table-style shading, a text box filled from the theme, a shading pattern) white
text is kept: losing a visible heading is worse than keeping a rare planted line. Headers and
footers are not touched: the DOCX parser leaves them out anyway. Every step is linear in the
size of the document (a hostile file must not buy quadratic time).
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
# Nor runs squeezed to this horizontal scale or less (w:w, per cent; Word allows 1-600).
TINY_SCALE = 10
# Word's theme colour names to the theme's scheme slots (the default colour mapping).
_THEME_SLOTS = {
    "dark1": "dk1", "light1": "lt1", "dark2": "dk2", "light2": "lt2",
    "text1": "dk1", "background1": "lt1", "text2": "dk2", "background2": "lt2",
    "accent1": "accent1", "accent2": "accent2", "accent3": "accent3", "accent4": "accent4",
    "accent5": "accent5", "accent6": "accent6", "hyperlink": "hlink",
    "followedHyperlink": "folHlink",
}  # fmt: skip
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
    scale: int | None = None  # w:w, horizontal scale in per cent

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


def _first(element: Any, tag: str) -> Any:
    """`element`'s property child (`w:pPr` of a paragraph, `w:rPr` of a run, `w:tcPr`,
    `w:tblPr`): the schema puts it first, so looking further would only cost time (a paragraph
    of 40,000 runs made `find` quadratic)."""
    if element is None:
        return None
    child = next(iter(element), None)  # len(element) would count every child
    return child if child is not None and child.tag == qn(tag) else None


def _size(rpr: Any) -> int | None:
    """The font size (half-points) of the run's text: the complex-script size for a run marked
    complex script or right-to-left, else the plain one."""
    complex_script = _on(rpr.find(qn("w:cs"))) or _on(rpr.find(qn("w:rtl")))
    value = _attr(rpr.find(qn("w:szCs" if complex_script else "w:sz")))
    return int(value) if value is not None and value.isdigit() else None


def _props(rpr: Any, theme: dict[str, str] | None = None) -> _Props:
    if rpr is None:
        return _Props()
    settings = [_on(rpr.find(qn(tag))) for tag in ("w:vanish", "w:specVanish")]
    hidden = None if settings == [None, None] else any(settings)
    highlight = _attr(rpr.find(qn("w:highlight")))
    scale = _attr(rpr.find(qn("w:w")))
    return _Props(
        hidden=hidden,
        colour=_colour(rpr.find(qn("w:color")), theme or {}),
        size=_size(rpr),
        highlight=_HIGHLIGHTS.get(highlight, "none") if highlight is not None else None,
        shading=_fill(rpr.find(qn("w:shd"))),
        scale=int(scale) if scale is not None and scale.isdigit() else None,
    )


def _colour(element: Any, theme: dict[str, str]) -> str | None:
    """A `w:color`: its theme colour (with tint or shade) when it names one, else its value;
    "auto" for automatic or unreadable values, None when not set."""
    if element is None:
        return None
    named = theme.get(_THEME_SLOTS.get(_attr(element, "w:themeColor") or "", ""))
    if named is None:
        return _hex(_attr(element)) or "auto"
    channels = [int(named[i : i + 2], 16) for i in (0, 2, 4)]
    tint = _fraction(_attr(element, "w:themeTint"))  # towards white
    if tint is not None:
        channels = [round(c * tint + 255 * (1 - tint)) for c in channels]
    shade = _fraction(_attr(element, "w:themeShade"))  # towards black
    if shade is not None:
        channels = [round(c * shade) for c in channels]
    return "".join(f"{c:02X}" for c in channels)


def _fraction(value: str | None) -> float | None:
    """A two-hex-digit theme tint or shade ("40") as a share of 255; None if absent or bad."""
    if value is None or len(value) != 2 or _hex(value * 3) is None:
        return None
    return int(value, 16) / 255


def theme_colours(document: Any) -> dict[str, str]:
    """The document theme's scheme colours (dk1, lt1, ...) as RRGGBB; empty if unreadable."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from lxml import etree

    for rel in document.part.rels.values():
        if rel.is_external or rel.reltype != RELATIONSHIP_TYPE.THEME:
            continue
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.fromstring(rel.target_part.blob, parser)
        except etree.XMLSyntaxError:
            return {}
        scheme = root.find(f".//{qn('a:clrScheme')}")
        if scheme is None:
            return {}
        colours = {}
        for slot in scheme:
            value = next(iter(slot), None)
            if value is not None:
                rgb = _hex(value.get("lastClr") or value.get("val"))
                if rgb is not None:
                    colours[etree.QName(slot).localname] = rgb
        return colours
    return {}


class _Styles:
    """Style look-ups with `w:basedOn` chains resolved once per style."""

    def __init__(self, styles: Any, theme: dict[str, str]) -> None:
        self._by_id = {s.get(qn("w:styleId")): s for s in styles.iterfind(qn("w:style"))}
        self._defaults = {
            s.get(qn("w:type")): s.get(qn("w:styleId"))
            for s in styles.iterfind(qn("w:style"))
            if (s.get(qn("w:default")) or "").lower() in _ON
        }
        self._theme = theme
        self._resolved: dict[str, tuple[_Props, str | None]] = {}
        self._shaded: dict[str, bool] = {}
        self.document = _props(
            styles.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}"), theme
        )

    def resolve(self, style_id: str | None, kind: str) -> tuple[_Props, str | None]:
        """(run properties, paragraph shading) a table, paragraph or character style gives,
        through its `w:basedOn` chain; each style is resolved once, without recursion (a chain
        may be thousands deep) and a cycle ends where it closes."""
        style_id = style_id or self._defaults.get(kind)
        if style_id is None:
            return _Props(), None
        chain: list[str] = []
        current: str | None = style_id
        while current is not None and current not in self._resolved and current not in chain:
            style = self._by_id.get(current)
            if style is None:
                break
            chain.append(current)
            current = _attr(style.find(qn("w:basedOn")))
        base = self._resolved.get(current) if current is not None and current not in chain else None
        props, shading = base or (_Props(), None)
        for name in reversed(chain):  # the base first, each derived style on top
            style = self._by_id[name]
            ppr = style.find(qn("w:pPr"))
            fill = _fill(ppr.find(qn("w:shd"))) if ppr is not None else None
            props = _props(style.find(qn("w:rPr")), self._theme).over(props)
            shading = fill or shading
            self._resolved[name] = props, shading
        return self._resolved.get(style_id, (_Props(), None))

    def shaded(self, style_id: str | None) -> bool:
        """Whether a table style paints any cell: its text colours are then not judged."""
        if not style_id:
            return False
        if style_id not in self._shaded:
            style = self._by_id.get(style_id)
            self._shaded[style_id] = style is not None and any(
                _fill(shd) not in (None, WHITE) for shd in style.iter(qn("w:shd"))
            )
        return self._shaded[style_id]


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


def _toggled(*levels: bool | None) -> bool | None:
    """A toggle property (`w:vanish`) set by several styles: each one that sets it on flips
    it (ECMA-376 17.7.3), so hidden in the paragraph style and again in the character style
    is visible; None when no style sets it."""
    if all(level is None for level in levels):
        return None
    return sum(bool(level) for level in levels) % 2 == 1


class _Judge:
    """Decides, run by run, whether a reader of the printed page could see its text."""

    def __init__(self, document: Any, styles: _Styles, theme: dict[str, str]) -> None:
        page = document.find(qn("w:background"))
        self.page = _hex(_attr(page, "w:color")) or WHITE
        self.styles = styles
        self.theme = theme

    def _background(self, run: Any, props: _Props, paragraph_shading: str | None) -> str:
        """The colour behind a run: highlight, shading, paragraph, cell, text box, page."""
        for colour in (props.highlight, props.shading, paragraph_shading):
            if colour not in (None, "none"):
                return str(colour)
        for ancestor in run.iterancestors(qn("w:tc"), qn("w:tbl"), qn("w:txbxContent")):
            if ancestor.tag == qn("w:txbxContent"):
                fill = _box_background(ancestor)
            else:
                is_cell = ancestor.tag == qn("w:tc")
                properties = _first(ancestor, "w:tcPr" if is_cell else "w:tblPr")
                fill = _fill(properties.find(qn("w:shd"))) if properties is not None else None
                if not is_cell and fill is None and properties is not None:
                    style = _attr(properties.find(qn("w:tblStyle")))
                    fill = _UNKNOWN if self.styles.shaded(style) else None
            if fill is not None:
                return fill
        return self.page

    def _table_style(self, run: Any) -> _Props:
        """The run properties of the style of the table the run is in (innermost), if any."""
        table = next(run.iterancestors(qn("w:tbl")), None)
        properties = _first(table, "w:tblPr")
        style = _attr(properties.find(qn("w:tblStyle"))) if properties is not None else None
        return self.styles.resolve(style, "table")[0] if style else _Props()

    def hidden(self, run: Any) -> bool:
        paragraph = next(run.iterancestors(qn("w:p")), None)
        ppr = _first(paragraph, "w:pPr")
        pstyle = _attr(ppr.find(qn("w:pStyle"))) if ppr is not None else None
        para_props, para_shading = self.styles.resolve(pstyle, "paragraph")
        rpr = _first(run, "w:rPr")
        rstyle = _attr(rpr.find(qn("w:rStyle"))) if rpr is not None else None
        char_props, _ = self.styles.resolve(rstyle, "character")
        table_props = self._table_style(run)
        styled = char_props.over(para_props.over(table_props.over(self.styles.document)))
        own = _props(rpr, self.theme)
        props = own.over(styled)
        hidden = own.hidden
        if hidden is None:
            hidden = _toggled(table_props.hidden, para_props.hidden, char_props.hidden)
        if hidden is None:
            hidden = self.styles.document.hidden
        if hidden:
            return True
        if any(child.tag in _OBJECTS for child in run):
            return False  # a picture or text box: its own runs are judged one by one
        if props.size is not None and props.size <= TINY_HALF_POINTS:
            return True
        if props.scale is not None and props.scale <= TINY_SCALE:
            return True
        if props.colour in (None, "auto"):
            return False  # automatic colour: Word keeps it readable on any background
        direct_shading = _fill(ppr.find(qn("w:shd"))) if ppr is not None else None
        background = self._background(run, props, direct_shading or para_shading)
        return _same(str(props.colour), background)


def hidden_run_judge(path: Path) -> _Judge:
    """What decides whether a run of the Word file at `path` is invisible (its styles, theme
    and page colour), for parts other than the body (footnotes: docx_notes.py)."""
    import docx

    return _judge_of(docx.Document(str(path)))


def _judge_of(document: Any) -> _Judge:
    theme = theme_colours(document)
    return _Judge(document.element, _Styles(document.styles.element, theme), theme)


def without_hidden_runs(path: Path) -> io.BytesIO | None:
    """The Word file at `path` without its invisible runs, or None when it has none.

    Raises what python-docx raises for a file it cannot read (ValueError for a non-ZIP file).
    """
    import docx

    if not zipfile.is_zipfile(path):
        raise ValueError("not a ZIP archive (so not a DOCX file)")
    document = docx.Document(str(path))
    judge = _judge_of(document)
    doomed = [run for run in document.element.body.iter(qn("w:r")) if judge.hidden(run)]
    if not doomed:
        return None
    by_parent: dict[Any, set[Any]] = {}
    for run in doomed:
        by_parent.setdefault(run.getparent(), set()).add(run)
    for parent, runs in by_parent.items():
        if parent is not None:  # one pass per parent: remove() one by one is quadratic
            parent[:] = [child for child in parent if child not in runs]
    visible = io.BytesIO()
    document.save(visible)
    visible.seek(0)
    return visible
