"""Ingest quality on real documents: what each parser keeps, loses and garbles, per file.

    .venv/bin/python -m bench.ingest_quality [PATH ...] [--json OUT] [--show N]

Default paths: ../shared/eval/docs/** and ../shared/eval/mediawiki/*. Each file goes through the
ingest's own parse -> clean -> chunk steps (the bundled MiniLM tokenizer counts tokens, so the
chunks are the ones `hearth ingest` stores, without paying for the embeddings). The reference
text is extracted independently: pypdfium2 for PDF, python-docx for DOCX, BeautifulSoup for HTML
and Markdown (rendered), the raw text for TXT, mwparserfromhell's `strip_code` for wikitext.
Reported per file: sections, headings (found vs the source's; distinct texts, the title counted
as one), chunks, characters kept vs the reference (non-space characters), the share of the
reference's distinct words found in the chunks, and flagged chunks: leaked markup (`{{`, `[[`,
HTML tags), table debris, navigation/boilerplate phrases, mojibake, very short and duplicated
chunks. Reads ../shared (never run by the tests).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.types import Chunk, Document
from ingest.chunker import ChunkBudget, chunk_document
from ingest.parsers.base import ParseOptions
from ingest.parsers.mediawiki import parse_dump
from ingest.parsers.registry import parser_for
from ingest.pipeline import clean_document

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
WORD = re.compile(r"[^\W\d_]{4,}")
FLAGS: dict[str, re.Pattern[str]] = {
    "template": re.compile(r"\{\{|\}\}|\{\||\|\}"),
    "wikilink": re.compile(r"\[\[|\]\]"),
    "html": re.compile(r"</?(?:div|span|td|tr|table|br|img|a|p|ref|sup|li|ul|font)\b[^>]*>", re.I),
    "table debris": re.compile(r"^\s*(?:[|!]\s|\|-)|(?:\|\s*){3,}|^[\s|:-]{6,}$", re.M),
    "navigation": re.compile(
        r"\b(?:skip to (?:main )?content|toggle (?:the )?(?:table of contents|navigation|menu)|"
        r"jump to (?:navigation|search)|main menu|log ?in|sign (?:up|in)|subscribe|"
        r"share (?:this|on)|follow us|all rights reserved|privacy policy|cookie|"
        r"terms of (?:use|service)|retrieved from|edit links|back to top|read more)\b",
        re.I,
    ),
    "mojibake": re.compile(r"â€|Ã[\x80-\xbf]|Â[\xa0-\xbf]|â\x80|\ufffd"),
    "pdf glyphs": re.compile(r"\(cid:\d+\)"),
}
SHORT_CHARS = 40


@dataclass
class FileReport:
    """One source file's figures (a wiki dump: summed over its pages)."""

    name: str
    documents: int = 0
    sections: int = 0
    headings: int = 0
    source_headings: int = 0
    chunks: int = 0
    kept_chars: int = 0
    reference_chars: int = 0
    word_recall: float = 0.0
    flags: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""

    def row(self) -> dict[str, Any]:
        ratio = self.kept_chars / self.reference_chars if self.reference_chars else 0.0
        return {
            "file": self.name,
            "docs": self.documents,
            "sections": self.sections,
            "headings": f"{self.headings}/{self.source_headings}",
            "chunks": self.chunks,
            "kept/ref chars": f"{self.kept_chars}/{self.reference_chars} ({ratio:.2f})",
            "word recall": round(self.word_recall, 3),
            "flags": dict(sorted(self.flags.items())),
            "error": self.error,
        }


def nonspace(text: str) -> int:
    return sum(not c.isspace() for c in text)


# -- reference text, extracted without Hearth's parsers ---------------------------------------


def reference(path: Path) -> tuple[str, int]:
    """(reference text, number of headings in the source; -1 when the format has none)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        return "\n".join(page.get_textpage().get_text_range() for page in pdf), -1
    if suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        parts = [p.text for p in document.paragraphs]
        headings = len(
            {
                " ".join(p.text.split()).casefold()
                for p in document.paragraphs
                if p.style is not None and (p.style.name or "").startswith("Heading") and p.text
            }
        )

        def cells(table: Any) -> list[str]:
            out = []
            for row in table.rows:
                for cell in row.cells:
                    out.append(cell.text)
                    for inner in cell.tables:
                        out.extend(cells(inner))
            return out

        for table in document.tables:
            parts.extend(dict.fromkeys(cells(table)))  # merged cells repeat
        return "\n".join(parts), headings
    if suffix in (".html", ".htm"):
        return _html_reference(path.read_bytes().decode("utf-8", errors="replace"))
    if suffix in (".md", ".markdown"):
        import markdown

        body = path.read_text(encoding="utf-8", errors="replace")
        return _html_reference(markdown.markdown(body, extensions=["tables", "fenced_code"]))
    return path.read_text(encoding="utf-8", errors="replace"), -1


def _html_reference(markup: str) -> tuple[str, int]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    headings = len(
        {
            " ".join(h.get_text().split()).casefold()
            for h in soup.find_all(re.compile(r"^h[1-6]$"))
            if h.get_text(strip=True)
        }
    )
    return soup.get_text("\n"), headings


def wiki_reference(text: str) -> tuple[str, int]:
    import mwparserfromhell

    headings = 1 + len(set(re.findall(r"^=+([^=\n].*?)=+\s*$", text, re.M)))  # + the title
    try:
        return mwparserfromhell.parse(text).strip_code(), headings
    except Exception:
        return text, headings


# -- Hearth's chunks -------------------------------------------------------------------------


def token_counter() -> Any:
    from tokenizers import Tokenizer

    from index.embedder import bundled_model_path

    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text).ids)


BUDGET = ChunkBudget(max_tokens=256, target_tokens=200, overlap_tokens=32)


def chunks_of(document: Document, count: Any) -> list[Chunk]:
    return chunk_document(clean_document(document), BUDGET, count)


def inspect(report: FileReport, docs: list[Document], chunks: list[Chunk]) -> None:
    """Count what a reader would call wrong in the chunks; keep a few examples of each."""
    report.documents += len(docs)
    report.sections += sum(len(d.sections) for d in docs)
    report.headings += sum(  # distinct heading texts, the title included (it is a heading too)
        len(
            {" ".join(h.split()).casefold() for s in d.sections for h in (d.title, *s.heading_path)}
        )
        for d in docs
    )
    report.chunks += len(chunks)
    seen: Counter[tuple[str, str]] = Counter((c.document_id, c.text) for c in chunks)

    def flag(kind: str, text: str, match: re.Match[str] | None = None) -> None:
        report.flags[kind] += 1
        examples = report.examples.setdefault(kind, [])
        if len(examples) < 4:
            if match is not None:
                start = max(0, match.start() - 60)
                text = text[start : match.end() + 60]
            examples.append(" ".join(text.split())[:200])

    for chunk in chunks:
        for kind, pattern in FLAGS.items():
            match = pattern.search(chunk.text)
            if match:
                flag(kind, chunk.text, match)
        if nonspace(chunk.text) < SHORT_CHARS:
            flag("short", f"{' > '.join(chunk.heading_path)} :: {chunk.text}")
        if seen[(chunk.document_id, chunk.text)] > 1:
            flag("duplicate", chunk.text)
    for doc in docs:
        for section in doc.sections:
            for heading in section.heading_path:
                if len(heading) > 120 or FLAGS["template"].search(heading):
                    flag("bad heading", heading)


def words(text: str) -> set[str]:
    return {w.casefold() for w in WORD.findall(text)}


def measure_file(path: Path, count: Any) -> FileReport:
    report = FileReport(path.name)
    parser = parser_for(path)
    ref_text, report.source_headings = reference(path)
    report.reference_chars = nonspace(ref_text)
    if parser is None:
        report.error = "no parser"
        return report
    try:
        document = parser(path, path.name, ParseOptions())
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"[:200]
        return report
    chunks = chunks_of(document, count)
    kept = "\n".join(s.text for s in clean_document(document).sections)
    report.kept_chars = nonspace(kept)
    inspect(report, [document], chunks)
    ref_words = words(ref_text)
    chunk_words = words(" ".join([document.title, *(" ".join(c.heading_path) for c in chunks)]))
    chunk_words |= words(" ".join(c.text for c in chunks))
    report.word_recall = len(ref_words & chunk_words) / len(ref_words) if ref_words else 0.0
    report.examples["lost words"] = sorted(ref_words - chunk_words)[:40]
    return report


def measure_dump(path: Path, count: Any) -> FileReport:
    """A wiki dump: main-namespace articles (redirects excluded), summed."""
    import bz2
    from xml.etree.ElementTree import iterparse

    report = FileReport(path.name)
    ref_words: set[str] = set()
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rb") as stream:
        for _, elem in iterparse(stream):
            if elem.tag.rpartition("}")[2] != "page":
                continue
            ns = elem.findtext("{*}ns")
            text = elem.findtext("{*}revision/{*}text") or ""
            if (
                ns == "0"
                and elem.find("{*}redirect") is None
                and "#REDIRECT" not in text[:20].upper()
            ):
                ref_text, headings = wiki_reference(text)
                report.reference_chars += nonspace(ref_text)
                report.source_headings += headings
                ref_words |= words(ref_text)
            elem.clear()
    docs: list[Document] = []
    chunks: list[Chunk] = []
    try:
        for item in parse_dump(path, ParseOptions()):
            if not isinstance(item, Document):  # a redirect, a page of another namespace
                continue
            docs.append(item)
            chunks.extend(chunks_of(item, count))
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"[:200]
    report.kept_chars = sum(nonspace(s.text) for d in docs for s in clean_document(d).sections)
    inspect(report, docs, chunks)
    chunk_words = words(" ".join(c.text for c in chunks))
    chunk_words |= words(" ".join(" ".join(s.heading_path) for d in docs for s in d.sections))
    chunk_words |= words(" ".join(d.title for d in docs))
    report.word_recall = len(ref_words & chunk_words) / len(ref_words) if ref_words else 0.0
    report.examples["lost words"] = sorted(ref_words - chunk_words)[:40]
    return report


def default_paths() -> list[Path]:
    files = sorted(p for p in (SHARED / "docs").rglob("*") if p.is_file())
    return files + sorted((SHARED / "mediawiki").iterdir())


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ["file", "docs", "sections", "headings", "chunks", "kept/ref chars", "word recall"]
    lines = ["| " + " | ".join([*head, "flags"]) + " |", "|" + "---|" * (len(head) + 1)]
    for row in rows:
        flags = ", ".join(f"{k} {v}" for k, v in row["flags"].items()) or "—"
        if row["error"]:
            flags = f"ERROR {row['error']}; {flags}"
        lines.append("| " + " | ".join([*(str(row[h]) for h in head), flags]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: ../shared/eval)"
    )
    parser.add_argument("--json", type=Path, help="write the rows and examples here")
    parser.add_argument("--show", type=int, default=0, help="print N examples per flag")
    args = parser.parse_args()
    count = token_counter()
    reports = []
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(map(str, missing))}")
    named = [f for p in args.paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p])]
    for path in [p for p in named if p.is_file()] if args.paths else default_paths():
        is_dump = ".xml" in path.name  # also split dumps: pages-articles1.xml-p1p41242.bz2
        report = measure_dump(path, count) if is_dump else measure_file(path, count)
        reports.append(report)
        print(f"{path.name}: {report.chunks} chunks, flags {dict(report.flags)}", file=sys.stderr)
        if args.show:
            for kind, examples in report.examples.items():
                shown = [" ".join(examples)] if kind == "lost words" else examples[: args.show]
                for example in shown:
                    print(f"    [{kind}] {example}", file=sys.stderr)
    rows = [r.row() for r in reports]
    print(markdown_table(rows))
    if args.json:
        payload = [{**r.row(), "examples": r.examples} for r in reports]
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
