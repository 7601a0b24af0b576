"""Chunker properties: no chunk exceeds the window, and every word of the text is kept."""

from __future__ import annotations

import itertools
import re

from fakes import HashEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st

from index.types import Document, Section
from ingest.chunker import ChunkBudget, chunk_document, embedding_text

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
LINE = st.lists(WORD, min_size=0, max_size=80).map(" ".join)
SECTION_TEXT = st.lists(LINE, min_size=1, max_size=12).map("\n".join)
HEADINGS = st.lists(WORD, max_size=4).map(tuple)


def doc(sections: list[tuple[tuple[str, ...], str]], title: str = "Title") -> Document:
    return Document(
        id="d",
        source="s",
        title=title,
        kind="text",
        sections=tuple(Section(path, text) for path, text in sections),
    )


@settings(max_examples=200, deadline=None)
@given(
    sections=st.lists(st.tuples(HEADINGS, SECTION_TEXT), min_size=1, max_size=4),
    max_tokens=st.integers(min_value=24, max_value=128),
    overlap=st.integers(min_value=0, max_value=20),
)
def test_budget_and_coverage(sections, max_tokens, overlap):
    embedder = HashEmbedder(max_tokens=max_tokens)
    budget = ChunkBudget(max_tokens=max_tokens, target_tokens=max_tokens, overlap_tokens=overlap)
    document = doc(sections)
    chunks = chunk_document(document, budget, embedder.count_tokens, drop_repeats=False)
    for chunk in chunks:
        text = embedding_text(document.title, chunk.heading_path, chunk.text)
        assert embedder.count_tokens(text) <= max_tokens
        assert chunk.n_tokens == embedder.count_tokens(text)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # Coverage: each section's words appear, in order, in that section's chunks.
    for path, text in sections:
        words = text.split()
        chunk_words = [w for c in chunks if c.heading_path == path for w in c.text.split()]
        it = iter(chunk_words)
        assert all(any(w == x for x in it) for w in words)
    # Dropping repeated chunks loses no word of the document.
    kept = chunk_document(document, budget, embedder.count_tokens)
    assert {w for c in kept for w in c.text.split()} == {w for c in chunks for w in c.text.split()}
    assert [c.position for c in kept] == list(range(len(kept)))


def test_repeated_chunks_are_dropped_but_short_ones_under_other_headings_stay():
    """Real files repeat: reliance.pdf prints pages 2 and 3 twice, handbook-872p.docx holds its
    whole text twice. Twins would fill two retrieval slots with one passage."""
    page = "Reliance Industries Limited is the largest private sector corporation in India, " * 2
    document = doc(
        [
            (("Page 2",), page),
            (("Page 3",), page),  # a long repeat under another heading: dropped
            (("Fees",), "See the policy."),
            (("Travel",), "See the policy."),  # short, other heading: kept (its context differs)
            (("Travel",), "See the policy."),  # short, same heading: dropped
        ]
    )
    chunks = chunk_document(document, ChunkBudget(128), HashEmbedder().count_tokens)
    assert [c.heading_path for c in chunks] == [("Page 2",), ("Fees",), ("Travel",)]
    assert [c.position for c in chunks] == [0, 1, 2]


def test_a_copied_block_is_dropped_even_where_chunks_are_cut_elsewhere():
    """handbook-872p.docx holds its text four times, the last copies as plain paragraphs under
    the last heading: cut at other places, their chunks were not twins of the first copy's and
    246 of 603 chunks repeated it under a wrong heading. Rows that two sections share stay."""
    paragraphs = [f"Paragraph {i} of the trustee handbook says what a standing trustee does "
                  f"in case {i}, and when the court must be told of it in writing." for i in range(12)]  # fmt: skip
    rows = ["Annual leave: 25 working days a year", "Sick pay: full pay for six weeks",
            "Notice period: two months for both sides"]  # fmt: skip
    document = doc(
        [
            (("Chapter 1",), "\n".join(paragraphs)),
            (("Paris",), "Paris office.\n" + "\n".join(rows)),
            (("Lisbon",), "Lisbon office.\n" + "\n".join(rows) + "\nMeal allowance: 9 EUR"),
            (
                ("Chapter 7", "Remedies"),
                "The last section.\nChapter 1\n" + "\n".join(paragraphs[1:]),
            ),
        ]
    )
    chunks = chunk_document(document, ChunkBudget(64), HashEmbedder().count_tokens)
    remedies = [c.text for c in chunks if c.heading_path == ("Chapter 7", "Remedies")]
    assert remedies == ["The last section."]  # the heading given as a line went with its copy
    lisbon = "\n".join(c.text for c in chunks if c.heading_path == ("Lisbon",))
    assert all(row in lisbon for row in rows)  # a short shared block is meant where it stands


def test_heading_path_and_anchor_follow_the_section():
    document = Document(
        id="d",
        source="s",
        title="Leave",
        kind="wiki",
        sections=(
            Section((), "Intro text."),
            Section(("Offices", "Paris"), "Paris gets 27 days.", anchor="Paris"),
            Section(("Report",), "Page two text.", anchor="page=2", page=2),
        ),
    )
    chunks = chunk_document(document, ChunkBudget(64), HashEmbedder().count_tokens)
    assert [(c.heading_path, c.anchor, c.page) for c in chunks] == [
        ((), None, None),
        (("Offices", "Paris"), "Paris", None),
        (("Report",), "page=2", 2),
    ]
    assert embedding_text("Leave", ("Offices", "Paris"), "x") == "Leave > Offices > Paris\nx"


def test_long_text_overlaps_and_splits_giant_words():
    sentences = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(60))
    giant = "x" * 5000
    document = doc([((), sentences), (("Blob",), giant)])
    embedder = HashEmbedder(max_tokens=40)
    chunks = chunk_document(document, ChunkBudget(40, 40, 10), embedder.count_tokens)
    first, second = chunks[0].text, chunks[1].text
    assert re.findall(r"Sentence number \d+", first)[-1] in second  # overlap carried over
    blob = [c for c in chunks if c.heading_path == ("Blob",)]
    assert "".join(c.text for c in blob) == giant


def test_overlap_starts_at_a_sentence_boundary_or_is_left_out():
    """A long line is cut at ';' too, and the overlap carried its last piece: "95% CrI,
    1.19-2.04)." opened a chunk as a sentence of its own and was stated as a claim."""
    claim = (
        "The adjusted odds of relapse were higher in the treated group (odds ratio 1.56; "
        "95% CrI, 1.19-2.04)."
    )
    text = " ".join([claim] * 12)
    embedder = HashEmbedder(max_tokens=64)
    budget = ChunkBudget(64, 64, 16)
    chunks = chunk_document(doc([((), text)]), budget, embedder.count_tokens, drop_repeats=False)
    assert len(chunks) > 2
    assert all(c.text.startswith("The adjusted odds") for c in chunks), [c.text for c in chunks]
    # a whole sentence that fits the budget is still carried over
    short = " ".join(f"Fact {i} holds; it is {i}." for i in range(40))
    chunks = chunk_document(doc([((), short)]), budget, embedder.count_tokens)
    for first, second in itertools.pairwise(chunks):
        assert second.text.startswith("Fact "), second.text
        assert first.text.rsplit(". ", 1)[-1] in second.text  # its last sentence repeated
