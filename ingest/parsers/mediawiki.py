"""MediaWiki XML dump parser: streams a `pages-articles` dump into Documents and Redirects.

Dumps run to many gigabytes, so the XML is read with a streaming parser and each `<page>` is
released as soon as it has been turned into a value; memory does not grow with the dump. The XML
parser refuses DTDs and entity declarations (billion laughs, external entities): a dump never
needs them. A page over the size cap (or one that runs out of memory) is skipped and reported
once the rest of the dump is read. Each page's wikitext is rendered by `wikitext.py`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLParseError

import mwparserfromhell  # noqa: F401  (tests reach mwparserfromhell.parse through this module)
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from index.errors import NotAWikiExportError, ParseError
from index.types import Document, Section
from ingest.parsers.base import OutsideNamespaces, ParseOptions, Redirect
from ingest.parsers.wikitext import _norm_name, _render_page, _Site

log = logging.getLogger(__name__)

_REFUSE_DTD_AND_ENTITIES = {"forbid_dtd": True, "forbid_entities": True, "forbid_external": True}
_REDIRECT_RE = re.compile(r"\s*#REDIRECT\s*:?\s*\[\[([^\]|]*)", re.IGNORECASE)


def parse_dump(
    path: Path, options: ParseOptions, on_read: Callable[[int, int], None] | None = None
) -> Iterator[Document | Redirect | OutsideNamespaces]:
    """Stream a MediaWiki XML dump (`.xml`, `.xml.bz2`, `.xml.gz`) into documents and redirects.

    Only pages whose `<ns>` number is in `options.namespaces` are read: a `Document` per
    article, a `Redirect` per redirect page; any other page yields its id alone
    (`OutsideNamespaces`). Pages are yielded as they are read, so a dump cut
    short still yields every complete page before `ParseError` reports where it broke; a DTD or
    entity declaration is refused with `ParseError` before anything is expanded. `on_read(done,
    total)` hears after each page how many bytes of the file (compressed, as on disk) are read.
    """
    site = _Site(dbname=_file_stem(path), url_prefix=_prefix_from_option(options.base_url))
    pages, in_page, root = 0, False, None
    skipped: list[str] = []  # pages left out (too big, out of memory), reported at the end
    try:
        raw = path.open("rb")
        total = os.fstat(raw.fileno()).st_size
        stream = cast(
            IO[bytes], _BoundedPages(_decompressed(raw, path), options.wiki_max_page_bytes)
        )
    except OSError as exc:
        raise ParseError(f"cannot read dump {path.name}: {exc.strerror or exc}") from exc
    with raw, stream:
        events = iterparse(stream, events=("start", "end"), **_REFUSE_DTD_AND_ENTITIES)
        while True:
            try:
                event, elem = next(events)
            except StopIteration:
                if skipped:
                    raise ParseError(_skipped_message(path, skipped, pages)) from None
                return
            except DefusedXmlException as exc:
                raise ParseError(
                    f"dump {path.name} declares a DTD or entities ({type(exc).__name__}), which "
                    "is refused: entity expansion and external entities are never needed"
                ) from exc
            except _PageTooLarge as exc:
                raise ParseError(f"{path.name}: page {pages + 1} {exc}; the pages before it are "
                                 "kept, those after it are not read") from None  # fmt: skip
            except (XMLParseError, EOFError, OSError, zlib.error) as exc:
                raise ParseError(_broken_message(path, exc, pages, in_page)) from exc
            name = elem.tag.rpartition("}")[2]
            if event == "start":
                if root is None and name != "mediawiki":
                    # an error page or another XML file saved under the dump's name: taken for an
                    # empty dump, it would have let --prune remove every page stored from it
                    raise NotAWikiExportError(
                        f"{path.name} is not a MediaWiki export (its root element is <{name}>, "
                        "not <mediawiki>)"
                    )
                root = elem if root is None else root
                if name == "page" and in_page:  # not in an export: it would reset the bound
                    raise ParseError(f"{path.name}: a <page> inside page {pages + 1}")
                in_page = in_page or name == "page"
                continue
            item: Document | Redirect | OutsideNamespaces | None = None
            if name == "siteinfo":
                _read_siteinfo(elem, site, options.base_url is None)
            elif name == "page":
                in_page, pages = False, pages + 1
                try:
                    item = _page(elem, site, options, path)
                except _SkippedPage as exc:
                    skipped.append(str(exc))
                except MemoryError:
                    skipped.append(f"{_child(elem, 'title')!r} (ran out of memory)")
            else:
                continue
            if root is not None:
                root.clear()  # release the page (and anything before it) from the tree
            if on_read is not None and name == "page":
                on_read(raw.tell(), total)
            if item is not None:
                yield item


class _SkippedPage(Exception):
    """A page left out of the ingest; its message names the page and the reason."""


def _skipped_message(path: Path, skipped: list[str], pages: int) -> str:
    listed = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return f"{len(skipped)} of {pages} pages skipped in {path.name}: {listed}"


def _check_size(text: str, title: str, limit: int) -> None:
    """_SkippedPage if the wikitext is over `limit` bytes of UTF-8 (counted only when close)."""
    if len(text) * 4 <= limit:
        return  # a UTF-8 character is at most 4 bytes
    size = len(text) if len(text) > limit else len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise _SkippedPage(
            f"{title!r} ({size / 2**20:.3g} MB of wikitext, over the {limit / 2**20:.3g} MB "
            "limit, --wiki-max-page-mb)"
        )


class _PageTooLarge(Exception):
    """A page far over the size limit, stopped while it was being read."""


class _BoundedPages(io.RawIOBase):
    """The dump's bytes, refusing a page of more than XML_SLACK × the page limit while it is
    read: the size check of `_page` runs on a page's whole text, so a few KB of bz2 holding
    one 600 MB page took 1.5 GB before it was skipped. Pages up to the slack are read and
    skipped (named in the report) as before; XML escaping can make text several times larger."""

    XML_SLACK = 6
    _TAG = re.compile(rb"<page[\s>]")  # not <pages> or <pagex/>, which would reset the count

    def __init__(self, inner: IO[bytes], page_limit: int) -> None:
        self._inner = inner
        self._cap = page_limit * self.XML_SLACK + (1 << 20)
        self._since_page = 0
        self._tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        seen = self._tail + data
        starts = [m.start() for m in self._TAG.finditer(seen)]
        if starts:  # the page that starts here has read what follows its tag so far
            self._since_page = len(seen) - starts[-1]
        else:
            self._since_page += len(data)
        self._tail = seen[-5:]
        if self._since_page > self._cap:
            raise _PageTooLarge(f"is over {self._cap / 2**20:.0f} MB of XML")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _decompressed(raw: IO[bytes], path: Path) -> IO[bytes]:
    """The dump's XML bytes, read through `raw` (whose position tells the progress)."""
    suffix = path.suffix.lower()
    if suffix == ".bz2":
        return bz2.open(raw, "rb")
    if suffix == ".gz":
        return cast(IO[bytes], gzip.open(raw, "rb"))
    return raw


def _file_stem(path: Path) -> str:
    name = path.name
    for suffix in (".bz2", ".gz", ".xml"):
        name = name.removesuffix(suffix)
    return name or "wiki"


def _broken_message(path: Path, exc: BaseException, pages: int, in_page: bool) -> str:
    # expat codes 3, 5, 6: no element found, unclosed token, partial character (input ran out)
    damaged = isinstance(exc, zlib.error) or (isinstance(exc, OSError) and exc.errno is None)
    if damaged and not isinstance(exc, EOFError):  # not a disk's I/O error (errno EIO)
        what = "dump's compressed data is damaged"  # bz2's "Invalid data stream", gzip's CRC
    elif not (isinstance(exc, EOFError) or getattr(exc, "code", None) in (3, 5, 6)):
        what = "dump is not valid XML"
    elif in_page:
        what = "dump ends in the middle of a page"
    else:
        what = "dump ends before its closing </mediawiki> tag"
    return f"{what} after {pages} complete pages ({path.name}: {exc})"


def _prefix_from_option(base_url: str | None) -> str | None:
    if not base_url:
        return None
    return base_url if base_url.endswith(("/", "=")) else base_url + "/"


def _read_siteinfo(elem: Element, site: _Site, use_base: bool) -> None:
    sitename = (elem.findtext("{*}sitename") or "").strip()
    dbname = (elem.findtext("{*}dbname") or "").strip()
    site.dbname = dbname or "".join(sitename.lower().split()) or site.dbname
    base = (elem.findtext("{*}base") or "").strip()
    if use_base and base:
        marker = base.find("title=")  # https://host/index.php?title=Main_Page
        site.url_prefix = base[: marker + 6] if marker >= 0 else base.rsplit("/", 1)[0] + "/"
    for ns in elem.iterfind("{*}namespaces/{*}namespace"):
        key = ns.get("key", "")
        if ns.text and key.lstrip("-").isdigit():
            site.namespaces[_norm_name(ns.text)] = int(key)


def _child(elem: Element | None, name: str) -> str:
    return "" if elem is None else (elem.findtext("{*}" + name) or "").strip()


def _page(
    elem: Element, site: _Site, options: ParseOptions, path: Path
) -> Document | Redirect | OutsideNamespaces | None:
    title, page_id, ns_text = _child(elem, "title"), _child(elem, "id"), _child(elem, "ns")
    ns = int(ns_text) if ns_text.lstrip("-").isdigit() else 0
    if not title or not page_id:
        return None
    if ns not in options.namespaces:
        return OutsideNamespaces(f"{site.dbname}:{page_id}", title)
    revision = ([None, *elem.findall("{*}revision")])[-1]  # the last one is the newest
    text = "" if revision is None else revision.findtext("{*}text") or ""
    _check_size(text, title, options.wiki_max_page_bytes)
    redirect, match = elem.find("{*}redirect"), _REDIRECT_RE.match(text)
    if redirect is not None or match:
        target = (redirect.get("title") or "") if redirect is not None else ""
        target = (target or (match.group(1) if match else "")).split("#", 1)[0].strip(" :")
        if not target:
            return None
        target_ns = site.namespace_of(target) or 0
        return Redirect(
            site=site.dbname, alias=title, target=target,
            groups=options.namespace_groups.get(ns, options.groups),
            target_groups=options.namespace_groups.get(target_ns, options.groups),
        )  # fmt: skip
    sections: tuple[Section, ...] = (Section((), text.strip()),) if text.strip() else ()
    categories: list[str] = []
    if _child(revision, "model") in ("", "wikitext"):  # else CSS, JSON, Lua: kept as they are
        sections, categories = _render_page(text, site, title)
    return Document(
        id=f"{site.dbname}:{page_id}",
        source=str(path),
        title=title,
        kind="wiki",
        sections=sections,
        groups=options.namespace_groups.get(ns, options.groups),
        url=site.url(title),
        modified=_timestamp(_child(revision, "timestamp")),
        revision=_child(revision, "id") or None,
        categories=tuple(dict.fromkeys(categories)),
        content_hash="",
    )


def _timestamp(value: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
