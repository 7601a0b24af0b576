"""Heading-aware, token-budgeted chunks with a modest overlap.

Each chunk stays inside one section (so it keeps that section's heading path, anchor and page)
and its embedding text — title and heading path, then the chunk body — never exceeds the
embedder's window, counted with the embedder's own tokenizer. A model that truncates silently
would otherwise embed only the start of a long chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from index.sentences import sentence_spans
from index.types import Chunk, Document, Section

TokenCounter = Callable[[str], int]

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def embedding_text(title: str, heading_path: tuple[str, ...], body: str) -> str:
    """What is embedded for a chunk: its context line, then its text."""
    context = " > ".join([title, *heading_path]) if title else " > ".join(heading_path)
    return f"{context}\n{body}" if context else body


@dataclass(frozen=True)
class ChunkBudget:
    """`max_tokens`: the embedder's window (hard limit); `target_tokens`: preferred chunk size;
    `overlap_tokens`: how much trailing text of a chunk is repeated at the start of the next."""

    max_tokens: int
    target_tokens: int = 200
    overlap_tokens: int = 32


@dataclass(frozen=True)
class _Unit:
    text: str
    separator: str  # joins this unit to the previous one ("\n" or " ")
    tokens: int


def _split_oversized(text: str, separator: str, limit: int, count: TokenCounter) -> list[_Unit]:
    """Break a line that is too long into sentences, then word runs, then character slices."""
    pieces = [p for p in _SENTENCE_END.split(text) if p]
    by_words = len(pieces) == 1
    if by_words:
        pieces = text.split()
    if len(pieces) == 1:  # one enormous "word": halve it until each half fits
        half = max(1, len(text) // 2)
        pieces = [text[:half], text[half:]]
        inner = ""
    else:
        inner = " "
    units: list[_Unit] = []
    for index, piece in enumerate(pieces):
        sep = separator if index == 0 else inner
        tokens = count(piece)
        if tokens > limit:
            units.extend(_split_oversized(piece, sep, limit, count))
        else:
            units.append(_Unit(piece, sep, tokens))
    return _merge_words(units, limit) if by_words else units


def _merge_words(units: list[_Unit], limit: int) -> list[_Unit]:
    """Re-pack word-sized units into runs just under the limit (fewer tokenizer calls later)."""
    merged: list[_Unit] = []
    for unit in units:
        last = merged[-1] if merged else None
        if last and unit.separator == " " and last.tokens + unit.tokens <= limit // 2:
            merged[-1] = _Unit(
                last.text + " " + unit.text, last.separator, last.tokens + unit.tokens
            )
        else:
            merged.append(unit)
    return merged


def _units(text: str, limit: int, count: TokenCounter) -> list[_Unit]:
    units: list[_Unit] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        tokens = count(line)
        if tokens > limit:
            units.extend(_split_oversized(line, "\n", limit, count))
        else:
            units.append(_Unit(line, "\n", tokens))
    return units


def _join(units: list[_Unit]) -> str:
    return "".join((u.separator if i else "") + u.text for i, u in enumerate(units))


def chunk_section(
    title: str, section: Section, budget: ChunkBudget, count_tokens: TokenCounter
) -> list[tuple[str, int]]:
    """(chunk body, token count of its embedding text) pairs for one section, in order."""

    # Word pieces of a unit, without the model's 2 special tokens; the prefix costs the rest.
    def count(text: str) -> int:
        return max(count_tokens(text) - 2, 1)

    prefix_tokens = count_tokens(embedding_text(title, section.heading_path, ""))
    room = budget.max_tokens - prefix_tokens
    if room < 16:  # an absurdly long heading path: embed the body with the bare title only
        return chunk_section(title, Section((), section.text), budget, count_tokens)
    target = min(room, max(budget.target_tokens - prefix_tokens, 16))
    units = _units(section.text, target, count)
    chunks: list[tuple[str, int]] = []
    current: list[_Unit] = []
    carried = 0  # how many leading units of `current` repeat the previous chunk (overlap)
    index = 0
    while index < len(units):
        unit = units[index]
        if current and sum(u.tokens for u in current) + unit.tokens > target:
            if carried == len(current):  # only overlap left: drop it rather than repeat it
                current, carried = [], 0
                continue
            body, tokens, kept = _finish(title, section, current, budget, count_tokens)
            chunks.append((body, tokens))
            overlap = _overlap(current[:kept], budget.overlap_tokens)
            current, carried = overlap + current[kept:], len(overlap)
            continue
        current.append(unit)
        index += 1
    while len(current) > carried:
        body, tokens, kept = _finish(title, section, current, budget, count_tokens)
        chunks.append((body, tokens))
        current, carried = current[kept:], 0
    return chunks


def _overlap(previous: list[_Unit], overlap_tokens: int) -> list[_Unit]:
    """The trailing units of the previous chunk that fit in the overlap budget and start a
    sentence (`index.sentences`, the splitter retrieval, prompts and quotes use).

    The overlap gives the next chunk the context just before it. A long line is cut into
    units at ; and : and between word runs, so the last units alone could begin mid-sentence:
    "95% CrI, 1.19-2.04)." opened a chunk, read as a sentence of its own, and the answer model
    stated it as a claim. So the overlap is the longest run of whole trailing sentences that
    fits the budget; when even the last sentence does not fit, there is no overlap: a fragment
    would mislead more than a missing sentence of context costs (the next chunk still starts
    where the text goes on, and the previous chunk holds that sentence whole).
    """
    offsets, position = [], 0
    for index, unit in enumerate(previous):
        position += len(unit.separator) if index else 0
        offsets.append(position)
        position += len(unit.text)
    spans = sentence_spans(_join(previous))
    carried = 0
    total = 0
    for index in range(len(previous) - 1, 0, -1):  # never the whole previous chunk
        total += previous[index].tokens
        if total > overlap_tokens:
            break
        # a unit starts a sentence unless it begins inside one (a list bullet is in none)
        if not any(start < offsets[index] < end for start, end in spans):
            carried = len(previous) - index
    return previous[len(previous) - carried :] if carried else []


def _finish(
    title: str, section: Section, units: list[_Unit], budget: ChunkBudget, count: TokenCounter
) -> tuple[str, int, int]:
    """Join units into a chunk body that fits the window; returns (body, tokens, units used).

    Token counts are not quite additive across joins, so the real count is checked and units
    are handed back to the next chunk until the body fits.
    """
    kept = len(units)
    while True:
        body = _join(units[:kept])
        tokens = count(embedding_text(title, section.heading_path, body))
        if tokens <= budget.max_tokens or kept == 1:
            return body, tokens, kept
        kept -= 1


# A repeated chunk at least this long (non-space characters) is dropped even under another
# heading; a shorter one ("See the policy.") may mean something else in another section.
REPEAT_MIN_CHARS = 100


def _repeat_key(body: str) -> str:
    """The body compared case-blind, its whitespace runs made single spaces (its only spaces)."""
    return " ".join(body.split()).casefold()


# Consecutive lines that all came earlier in the document are a copied block, dropped, when
# they are at least this many lines of 20+ non-space characters and this many non-space
# characters in all (about a chunk): a shorter run may be meant where it stands (the same
# three rows of leave, sick pay and notice under "Paris" and under "Lisbon").
REPEAT_RUN_LINES = 5
REPEAT_RUN_CHARS = 1000
_RUN_LINE_CHARS = 20
CHUNKER_VERSION = 3  # 2: copied blocks dropped; 3: overlap starts a sentence; in content_hash


def _without_repeated_lines(text: str, seen: set[str]) -> str:
    """`text` without the blocks of lines (paragraphs) that came earlier in the document.
    Repeats cut into chunks at other places were not twins: handbook-872p.docx holds its text
    four times, and 246 of its 603 chunks repeated the first copy under the last heading of
    the second."""
    lines = text.split("\n")
    keys = [_repeat_key(line) for line in lines]
    sizes = [len(key) - key.count(" ") for key in keys]  # non-space characters
    repeated = []
    for key in keys:  # in order, so a block repeated within this text counts too
        repeated.append(bool(key) and key in seen)
        if key:
            seen.add(key)
    drop = [False] * len(lines)
    start = 0
    while start < len(lines):
        if not repeated[start]:
            start += 1
            continue
        end = start
        while end < len(lines) and (repeated[end] or not keys[end]):
            end += 1
        weighty = sum(size >= _RUN_LINE_CHARS for size in sizes[start:end])
        if weighty >= REPEAT_RUN_LINES and sum(sizes[start:end]) >= REPEAT_RUN_CHARS:
            drop[start:end] = [True] * (end - start)
        start = end
    return "\n".join(line for line, dropped in zip(lines, drop, strict=True) if not dropped)


def chunk_document(
    document: Document,
    budget: ChunkBudget,
    count_tokens: TokenCounter,
    *,
    drop_repeats: bool = True,
) -> list[Chunk]:
    """All chunks of a document, positions numbered from 0 in reading order.

    A chunk whose text repeats an earlier chunk of the same document is left out: real files
    repeat whole pages or even their whole body (a report's page printed twice, a DOCX holding
    its text twice), and twins would take two of the few retrieval slots with one passage.
    """
    chunks: list[Chunk] = []
    seen: dict[str, set[tuple[str, ...]]] = {}  # chunk text -> heading paths it appeared under
    seen_lines: set[str] = set()  # long lines (paragraphs) already chunked
    for section in document.sections:
        if drop_repeats:
            section = replace(section, text=_without_repeated_lines(section.text, seen_lines))
            # a copy may give the headings as plain lines: "CHAPTER 1 – INTRODUCTION"
            seen_lines.update(_repeat_key(heading) for heading in section.heading_path)
        for body, tokens in chunk_section(document.title, section, budget, count_tokens):
            key = _repeat_key(body)
            paths = seen.setdefault(key, set())
            long_enough = len(key) - key.count(" ") >= REPEAT_MIN_CHARS  # non-space chars
            if drop_repeats and paths and (long_enough or section.heading_path in paths):
                continue
            paths.add(section.heading_path)
            chunks.append(
                Chunk(
                    document_id=document.id,
                    text=body,
                    heading_path=section.heading_path,
                    position=len(chunks),
                    n_tokens=tokens,
                    anchor=section.anchor,
                    page=section.page,
                )
            )
    return chunks
