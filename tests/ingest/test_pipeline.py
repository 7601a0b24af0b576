"""The ingest run end to end with the hash embedder: diffing, groups, pruning, bad input."""

from __future__ import annotations

import bz2
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fakes import HashEmbedder

from app.cli import cli
from index.search import bm25_top_k, dense_top_k
from index.store import SQLiteStore
from ingest.chunker import embedding_text
from ingest.pipeline import IngestOptions, Ingestor, strip_invisible
from ingest.sources import SidecarError

PUBLIC = frozenset({"public"})


def make_tree(root: Path) -> Path:
    (root / "hr").mkdir(parents=True)
    (root / "handbook").mkdir()
    (root / "handbook" / "bikes.md").write_text(
        "---\ntitle: Bike scheme\n---\n# Bike scheme\n\nThe bike scheme refunds half of a new"
        " bicycle up to 400 euros.\n\n## Repairs\n\nRepairs are free at the Lisbon workshop.\n"
    )
    (root / "handbook" / "salaries.md").write_text(
        "---\ntitle: Salary bands\ngroups: [finance]\n---\n# Salary bands\n\nBand C pays"
        " between 52000 and 61000 euros.\n"
    )
    (root / "hr" / "reviews.txt").write_text("Performance reviews\n\nReviews happen every March.\n")
    (root / "notes.txt").write_text("Canteen\n\nThe canteen opens at 11:30 on weekdays.\n")
    (root / ".hearth-groups.yaml").write_text('"hr/**": [hr]\n')
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "docs")


def run(store: SQLiteStore, embedder: HashEmbedder, *paths: Path, **options):
    """In-process parsing keeps these tests fast; isolation has its own tests below."""
    options.setdefault("isolate_parsers", False)
    return Ingestor(store, embedder).run(list(paths), IngestOptions(**options))


def test_ingest_sets_groups_from_run_sidecar_and_front_matter(tmp_path, tree, embedder):
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, tree)
    assert report.ok, report.failed
    assert report.added == 4 and report.chunks >= 4
    assert store.document_state_of("handbook/bikes.md")[1] == PUBLIC
    assert store.document_state_of("handbook/salaries.md")[1] == {"finance"}
    assert store.document_state_of("hr/reviews.txt")[1] == {"hr"}
    assert [p.document.id for p in bm25_top_k(store, "canteen", PUBLIC, 3)] == ["notes.txt"]
    assert bm25_top_k(store, "reviews March", PUBLIC, 3) == []
    assert (
        bm25_top_k(store, "reviews March", frozenset({"hr"}), 3)[0].document.id == "hr/reviews.txt"
    )
    assert (
        dense_top_k(store, embedder, "bicycle refund", PUBLIC, 1)[0].document.title == "Bike scheme"
    )


def test_second_ingest_embeds_nothing_and_changes_are_applied(tmp_path, tree, embedder):
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tree)
    embedded = len(embedder.embedded)
    generation = store.manifest()["vector_generation"]
    again = run(store, embedder, tree)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert len(embedder.embedded) == embedded
    assert store.manifest()["vector_generation"] == generation
    (tree / "notes.txt").write_text("Canteen\n\nThe canteen now opens at 12:00.\n")
    (tree / "hr" / "reviews.txt").unlink()
    changed = run(store, embedder, tree)
    assert (changed.updated, changed.removed) == (1, 0)  # no --prune: the review stays
    assert store.document_state_of("hr/reviews.txt") is not None
    pruned = run(store, embedder, tree, prune=True)
    assert pruned.removed == 1 and store.document_state_of("hr/reviews.txt") is None
    assert "12:00" in bm25_top_k(store, "canteen", PUBLIC, 1)[0].chunk.text


def test_group_change_alone_does_not_reembed(tmp_path, tree, embedder):
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tree)
    embedded = len(embedder.embedded)
    (tree / ".hearth-groups.yaml").write_text('"hr/**": [hr]\n"notes.txt": [staff]\n')
    report = run(store, embedder, tree)
    assert report.regrouped == 1 and len(embedder.embedded) == embedded
    assert bm25_top_k(store, "canteen", PUBLIC, 3) == []
    assert bm25_top_k(store, "canteen", frozenset({"staff"}), 3)[0].document.id == "notes.txt"


def test_bad_files_are_reported_and_the_rest_is_ingested(tmp_path, tree, embedder):
    (tree / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tree / "broken.docx").write_bytes(b"PK\x03\x04 truncated zip")
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, tree)
    failed = dict(report.failed)
    assert set(failed) == {"broken.pdf", "broken.docx"}
    assert all(
        "Traceback" not in reason and str(tmp_path) not in reason for reason in failed.values()
    )
    assert report.added == 4


def test_special_files_and_symlinks_out_of_the_root_are_skipped(tmp_path, tree, embedder):
    outside = tmp_path / "secret.txt"
    outside.write_text("Top secret launch codes.\n")
    (tree / "link.txt").symlink_to(outside)
    os.mkfifo(tree / "pipe.txt")
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, tree)
    assert report.ok and report.added == 4
    assert bm25_top_k(store, "launch codes", PUBLIC, 3) == []
    assert sorted(report.left_out) == [
        ("link.txt", "a link out of the folder"), ("pipe.txt", "not a regular file")
    ]  # fmt: skip


def test_links_that_lead_nowhere_or_to_folders_are_named_in_the_summary(tmp_path, tree, embedder):
    (tree / "gone.md").symlink_to(tree / "deleted.md")
    (tree / "loop.md").symlink_to(tree / "loop.md")
    (tree / "shared").symlink_to(tmp_path, target_is_directory=True)
    data = tmp_path / "data"
    result = cli_run(["ingest", str(tree), "--data-dir", str(data), "--json"], embedder)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["added"] == 4
    assert sorted((e["path"], e["reason"]) for e in report["left_out"]) == [
        ("gone.md", "a link to nothing"), ("loop.md", "a link loop"),
        ("shared", "a link to a folder, not followed"),
    ]  # fmt: skip
    said = " ".join(
        cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).output.split()
    )
    assert "not read (3), only files inside the folder are: gone.md (a link to nothing)" in said
    alone = cli_run(["ingest", str(tree / "gone.md"), "--data-dir", str(data)], embedder)
    assert alone.exit_code == 1 and "gone.md: a link to nothing" in " ".join(alone.output.split())


def wiki_dump(pages: list[tuple[int, str, str]], redirects: list[tuple[int, str, str]] = ()) -> str:
    body = []
    for page_id, title, text in pages:
        body.append(
            f"<page><title>{title}</title><ns>0</ns><id>{page_id}</id><revision><id>{page_id}0</id>"
            f"<timestamp>2026-01-02T03:04:05Z</timestamp><text>{text}</text></revision></page>"
        )
    for page_id, title, target in redirects:
        body.append(
            f'<page><title>{title}</title><ns>0</ns><id>{page_id}</id><redirect title="{target}"/>'
            f"<revision><id>{page_id}0</id><timestamp>2026-01-02T03:04:05Z</timestamp>"
            f"<text>#REDIRECT [[{target}]]</text></revision></page>"
        )
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">'
        "<siteinfo><sitename>Testwiki</sitename><dbname>testwiki</dbname>"
        "<base>https://wiki.example/wiki/Main_Page</base></siteinfo>"
        + "".join(body)
        + "</mediawiki>"
    )


def test_wiki_dump_pages_redirects_and_a_cut(tmp_path, embedder):
    pages = [
        (i, f"Page {i}", f"== Facts ==\nFact number {i} is about zebra{i}.") for i in range(1, 6)
    ]
    xml = wiki_dump(pages, redirects=[(99, "Fifth", "Page 5")])
    dump = tmp_path / "wiki.xml.bz2"
    dump.write_bytes(bz2.compress(xml.encode()))
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, dump)
    assert report.ok and report.added == 5 and report.redirects == 1
    hit = bm25_top_k(store, "Fifth", PUBLIC, 1)[0]
    assert hit.document.id == "testwiki:5" and hit.url == "https://wiki.example/wiki/Page_5#Facts"
    cut = tmp_path / "cut.xml"
    text = wiki_dump(pages)
    cut.write_text(text[: text.index("zebra4")])
    store2 = SQLiteStore(tmp_path / "data2")
    report2 = run(store2, embedder, cut, prune=True)
    assert report2.added == 3 and len(report2.failed) == 1
    assert "cut.xml" in report2.failed[0][0]


def test_a_dump_of_pages_that_show_no_text_is_read_whole_storing_none(tmp_path, embedder):
    """A stub whose wikitext is only a template has no text: it is listed as empty, not
    stored, and a dump of nothing but such pages is still read whole (its batch holds no
    document and no vector) instead of failing the run."""
    dump = tmp_path / "stub.xml"
    dump.write_text(wiki_dump([(1, "Stub", "{{stub}}")]))
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, dump)
    assert report.ok and (report.added, report.chunks) == (0, 0)
    assert report.empty == ["testwiki:1"] and store.document_state_of("testwiki:1") is None
    assert store.source_fingerprint(str(dump.resolve())) is not None  # read whole


def test_invisible_characters_are_stripped_and_text_is_nfc():
    assert strip_invisible("pa\u200by\u202eroll\U000e0041 cafe\u0301") == "payroll café"


def cli_run(args: list[str], embedder: HashEmbedder):
    runner = CliRunner()
    return runner.invoke(cli, args, obj={"embedder_factory": lambda _path: embedder})


def test_cli_ingest_json_status_and_exit_codes(tmp_path, tree, embedder):
    data = tmp_path / "data"
    result = cli_run(["ingest", str(tree), "--data-dir", str(data), "--json"], embedder)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 4 and report["failed"] == []
    status = cli_run(["status", "--data-dir", str(data), "--json"], embedder)
    info = json.loads(status.stdout)
    assert info["documents"] == 4 and info["by_group"]["finance"]["documents"] == 1
    assert info["by_kind"]["markdown"]["documents"] == 2 and info["embedder"] == "hash-embedder"
    (tree / "bad.pdf").write_bytes(b"not a pdf")
    partial = cli_run(["ingest", str(tree), "--data-dir", str(data), "--json"], embedder)
    assert partial.exit_code == 1 and json.loads(partial.stdout)["failed"][0]["source"] == "bad.pdf"
    missing = cli_run(["status", "--data-dir", str(tmp_path / "none")], embedder)
    assert missing.exit_code == 2 and "hearth ingest" in missing.output


def test_cli_refuses_bad_groups_and_another_embedder(tmp_path, tree, embedder):
    data = tmp_path / "data"
    bad = cli_run(["ingest", str(tree), "--data-dir", str(data), "--groups", "h r!"], embedder)
    assert bad.exit_code == 2 and "invalid group name" in bad.output
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    other = cli_run(["ingest", str(tree), "--data-dir", str(data)], HashEmbedder(model_id="other"))
    assert other.exit_code == 2 and "built with embedder 'hash-embedder'" in other.output
    assert "Traceback" not in other.output


def test_cli_help_has_examples_and_env_twins():
    result = CliRunner().invoke(cli, ["ingest", "--help"])
    assert "Examples" in result.output and "hearth ingest corpus/" in result.output
    for option in ("HEARTH_DATA_DIR", "HEARTH_GROUPS", "HEARTH_PRUNE", "HEARTH_BASE_URL"):
        assert option in result.output


def test_isolated_parsing_reports_a_hostile_file_and_goes_on(tmp_path, tree, embedder):
    """A DOCX that inflates to 600 MB exceeds the parser's memory limit: it costs that file
    only; the child is replaced and the rest of the batch is ingested."""
    import zipfile

    import docx

    template = tmp_path / "template.docx"
    docx.Document().save(str(template))
    bomb = tree / "bomb.docx"
    namespace = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in source.infolist():
            if item.filename != "word/document.xml":
                out.writestr(item, source.read(item.filename))
        with out.open("word/document.xml", "w") as part:  # streamed: the test stays small
            part.write(f"<w:document {namespace}><w:body><w:p><w:r><w:t>".encode())
            for _ in range(600):
                part.write(b"A" * 1_000_000)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    assert bomb.stat().st_size < 5_000_000
    store = SQLiteStore(tmp_path / "data")
    report = run(
        store, embedder, tree, isolate_parsers=True, parser_memory_mb=1200, parser_timeout_s=120
    )
    failed = dict(report.failed)
    assert set(failed) == {"bomb.docx"}, failed
    assert any(s in failed["bomb.docx"] for s in ("1200 MB", "MemoryError", "longer than"))
    assert report.added == 4


def counting_parsers(monkeypatch) -> list[str]:
    """Record every file the pipeline hands to a parser (in-process parsing)."""
    import ingest.planning as planning

    parsed: list[str] = []
    original = planning.parser_for

    def parser_for(path: Path):
        parser = original(path)
        if parser is None:
            return None

        def counted(file: Path, relative: str, options):
            parsed.append(relative)
            return parser(file, relative, options)

        return counted

    monkeypatch.setattr(planning, "parser_for", parser_for)
    return parsed


def test_unchanged_files_are_not_parsed_again(tmp_path, tree, embedder, monkeypatch):
    parsed = counting_parsers(monkeypatch)
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tree)
    assert len(parsed) == 4
    parsed.clear()
    again = run(store, embedder, tree)
    assert parsed == [] and (again.unchanged, again.added, again.updated) == (4, 0, 0)
    (tree / "notes.txt").write_text("Canteen\n\nThe canteen now opens at 12:00.\n")
    changed = run(store, embedder, tree)
    assert parsed == ["notes.txt"] and (changed.updated, changed.unchanged) == (1, 3)
    parsed.clear()
    (tree / ".hearth-groups.yaml").write_text('"hr/**": [hr, staff]\n')  # options changed
    regrouped = run(store, embedder, tree)
    assert parsed == ["hr/reviews.txt"] and regrouped.regrouped == 1
    parsed.clear()
    embedded = len(embedder.embedded)
    forced = run(store, embedder, tree, reparse=True)
    assert len(parsed) == 4 and forced.unchanged == 4 and len(embedder.embedded) == embedded


def test_a_fingerprint_never_hides_a_deleted_document(tmp_path, tree, embedder, monkeypatch):
    parsed = counting_parsers(monkeypatch)
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tree)
    store.delete_documents(["notes.txt"])
    parsed.clear()
    report = run(store, embedder, tree)
    assert parsed == ["notes.txt"] and report.added == 1
    assert store.document_state_of("notes.txt") is not None


def test_a_new_chunker_reaches_documents_whose_text_did_not_change(
    tmp_path, tree, embedder, monkeypatch
):
    """The content hash covered the text and the budget, not the chunker: a new parser version
    parsed every file again, found the same hash and kept the old chunks (the handbook's copied
    blocks stayed after the chunker learnt to drop them)."""
    from ingest import fingerprint

    store = SQLiteStore(tmp_path / "data")
    first = run(store, embedder, tree)
    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", fingerprint.FINGERPRINT_VERSION + 1)
    reparsed = run(store, embedder, tree)  # parsed again, nothing to change
    assert (reparsed.unchanged, reparsed.updated) == (first.added, 0)
    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", fingerprint.FINGERPRINT_VERSION + 1)
    monkeypatch.setattr(fingerprint, "CHUNKER_VERSION", fingerprint.CHUNKER_VERSION + 1)
    rechunked = run(store, embedder, tree)
    assert rechunked.updated == first.added and rechunked.chunks_reused == rechunked.chunks
    store.close()


def test_an_unchanged_dump_is_skipped_and_its_pages_survive_prune(tmp_path, embedder, monkeypatch):
    import ingest.dumps as dumps

    pages = [(i, f"Page {i}", f"Fact number {i} is about zebra{i}.") for i in range(1, 4)]
    dump = tmp_path / "wiki.xml"
    dump.write_text(wiki_dump(pages))
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, dump).added == 3
    calls: list[Path] = []
    original = dumps.parse_dump
    monkeypatch.setattr(dumps, "parse_dump", lambda p, o, r: calls.append(p) or original(p, o, r))
    again = run(store, embedder, dump, prune=True)
    assert calls == [] and again.unchanged == 3 and again.removed == 0
    assert store.document_state_of("testwiki:2") is not None
    dump.write_text(wiki_dump(pages[:2]))
    pruned = run(store, embedder, dump, prune=True)
    assert len(calls) == 1 and pruned.removed == 1 and pruned.unchanged == 2


def test_wikimedia_split_dump_names_are_recognised(tmp_path, embedder):
    """Wikimedia names its split dumps "...articles1.xml-p10p30302.bz2": still a dump."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    pages = [(i, f"Page {i}", f"Fact number {i} is about zebra{i}.") for i in range(1, 3)]
    (folder / "testwiki-pages-articles1.xml-p1p2.bz2").write_bytes(
        bz2.compress(wiki_dump(pages).encode())
    )
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, folder)
    assert report.ok and report.added == 2
    assert store.document_state_of("testwiki:2") is not None


def test_progress_knows_how_many_files_a_run_reads(tmp_path, tree, embedder):
    """The CLI's files bar has a total: every file the walk found, and each path named."""
    from ingest.pipeline import Progress

    class Recorded(Progress):
        def __init__(self) -> None:
            self.found = 0
            self.started: list[str] = []

        def sources_found(self, count: int) -> None:
            self.found += count

        def source_started(self, name: str) -> None:
            self.started.append(name)

    extra = tmp_path / "extra.txt"
    extra.write_text("Parking\n\nThe car park closes at 22:00.\n")
    progress = Recorded()
    store = SQLiteStore(tmp_path / "data")
    report = Ingestor(store, embedder, progress).run(
        [tree, extra], IngestOptions(isolate_parsers=False)
    )
    assert report.ok and report.added == 5
    assert progress.found == len(progress.started) == 5
    assert progress.started[-1] == "extra.txt"


@pytest.mark.parametrize("suffix", [".xml", ".xml.bz2"])
def test_a_dumps_progress_is_told_in_bytes_of_the_file(tmp_path, embedder, suffix):
    """A dump's page count is known only at its end: its bar counts the bytes read instead."""
    from ingest.pipeline import Progress

    class Recorded(Progress):
        def __init__(self) -> None:
            self.read: list[tuple[int, int]] = []

        def dump_read(self, done: int, total: int) -> None:
            self.read.append((done, total))

    xml = wiki_dump([(i, f"Page {i}", f"Text of page {i}. " * 200) for i in range(1, 40)])
    dump = tmp_path / f"wiki{suffix}"
    dump.write_bytes(bz2.compress(xml.encode()) if suffix.endswith("bz2") else xml.encode())
    progress = Recorded()
    report = Ingestor(SQLiteStore(tmp_path / "data"), embedder, progress).run(
        [dump], IngestOptions(isolate_parsers=False)
    )
    assert report.ok and report.added == 39
    assert len(progress.read) == 39  # one report per page
    assert {total for _, total in progress.read} == {dump.stat().st_size}
    done = [d for d, _ in progress.read]
    assert done == sorted(done) and 0 < done[-1] <= dump.stat().st_size
    if suffix == ".xml":  # bz2 reads whole compressed blocks: a small dump is one block
        assert done[0] < done[-1]


def test_a_large_file_shows_its_embedding_progress_as_it_goes(tmp_path, embedder, monkeypatch):
    """A large file is one batch: its thousands of chunks were counted only once all were
    embedded, and the bar stood at 0 for minutes (6 min 37 s for a 4 MB text file)."""
    import ingest.embedding
    from ingest.pipeline import Progress

    monkeypatch.setattr(ingest.embedding, "EMBED_PROGRESS_SLICE", 10)
    steps: list[int] = []

    class Recorded(Progress):
        def chunks_embedded(self, count: int) -> None:
            steps.append(count)

    big = tmp_path / "big.txt"
    big.write_text("\n\n".join(f"Section {i}\n\n" + f"Room {i} has a projector. " * 60
                               for i in range(12)))  # fmt: skip
    report = Ingestor(SQLiteStore(tmp_path / "data"), embedder, Recorded()).run(
        [big], IngestOptions(isolate_parsers=False)
    )
    assert report.ok and report.added == 1 and report.chunks > 20
    assert sum(steps) == report.chunks and max(steps) <= 10 and len(steps) > 2


def test_an_update_embeds_only_the_chunks_it_changed(tmp_path):
    """Editing one word of a long document re-embedded all of it (83 chunks, 27 s): the chunks
    an update leaves as they were keep their stored vectors."""

    sections = [
        f"Room {i}\n\n" + f"Room {i} has a projector and {i} chairs. " * 25 for i in range(8)
    ]
    doc = tmp_path / "docs" / "rooms.txt"
    doc.parent.mkdir()
    doc.write_text("\n\n".join(sections))
    store, embedder = SQLiteStore(tmp_path / "data"), HashEmbedder()  # it records what it embeds
    first = Ingestor(store, embedder).run([doc.parent], IngestOptions(isolate_parsers=False))
    assert first.ok and first.chunks >= 8 and first.chunks_reused == 0
    before = {p.chunk.text for p in store.document_chunks("rooms.txt", PUBLIC)}
    embedder.embedded.clear()
    sections[3] = sections[3].replace("3 chairs", "30 chairs")
    doc.write_text("\n\n".join(sections))
    second = Ingestor(store, embedder).run([doc.parent], IngestOptions(isolate_parsers=False))
    assert second.ok and second.updated == 1 and second.chunks == first.chunks
    assert 0 < len(embedder.embedded) < first.chunks // 2
    assert second.chunks_reused == second.chunks - len(embedder.embedded)
    after = store.document_chunks("rooms.txt", PUBLIC)
    assert sum(p.chunk.text in before for p in after) == second.chunks_reused
    # every stored vector, kept or new, is its own chunk's: none shifted to a neighbour
    fresh = HashEmbedder().embed_documents(
        [embedding_text(p.document.title, p.chunk.heading_path, p.chunk.text) for p in after]
    )
    np.testing.assert_allclose(store.embeddings([p.chunk.id for p in after]), fresh, atol=1e-6)


def test_a_batch_is_embedded_while_the_next_documents_are_read(tmp_path, monkeypatch):
    """The embedding of one batch overlaps the parsing and chunking of the next: the first
    embedding call holds until the walk has read the second document, which a run that
    embedded in line could never do (the wait would run out and the test fail)."""
    import threading

    import ingest.embedding
    from ingest.pipeline import Progress

    monkeypatch.setattr(ingest.embedding, "EMBED_BATCH_CHUNKS", 1)  # one document per batch
    second_read = threading.Event()

    class Counting(Progress):
        read = 0

        def document_done(self) -> None:
            self.read += 1
            if self.read == 2:
                second_read.set()

    class Holding(HashEmbedder):
        calls = 0

        def embed_documents(self, texts):
            self.calls += 1
            if self.calls == 1:
                assert second_read.wait(10), "the walk waited for the embedding"
            return super().embed_documents(texts)

    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(4):
        (folder / f"note{i}.txt").write_text(f"Note {i}\n\nRoom {i} is booked on Fridays.\n")
    store = SQLiteStore(tmp_path / "data")
    embedder = Holding()
    report = Ingestor(store, embedder, Counting()).run([folder], IngestOptions())
    assert report.ok and report.added == 4 and embedder.calls == 4
    found = dense_top_k(store, embedder, "Room 2 is booked on Fridays", frozenset({"public"}), 1)
    assert found[0].document.title == "Note 2"


def test_a_file_ingested_again_from_inside_its_folder_keeps_the_folders_id_and_groups(
    tmp_path, tree, embedder
):
    """Ingested alone, hr/reviews.txt would become a second, public document 'reviews.txt'
    (the hr rule sits in the folder's sidecar): the copy is refused instead."""
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, tree).ok
    (tree / "hr" / "reviews.txt").write_text("Performance reviews\n\nReviews happen in April.\n")
    for inner in (tree / "hr" / "reviews.txt", tree / "hr"):
        report = run(store, embedder, inner)
        assert [name for name, _ in report.failed] == ["reviews.txt"]
        assert "already indexed as 'hr/reviews.txt'" in report.failed[0][1]
    assert store.document_state_of("reviews.txt") is None
    assert store.document_state_of("hr/reviews.txt")[1] == {"hr"}
    assert run(store, embedder, tree).updated == 1  # from its folder, the change is taken


def test_the_outer_folder_replaces_what_an_inner_ingest_stored(tmp_path, tree, embedder):
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, tree / "hr" / "reviews.txt").added == 1
    report = run(store, embedder, tree)
    assert report.ok and report.removed == 1 and report.removed_documents == ["reviews.txt"]
    assert store.document_state_of("reviews.txt") is None
    assert store.document_state_of("hr/reviews.txt")[1] == {"hr"}


def test_a_file_at_the_same_relative_path_elsewhere_is_refused_unless_replace(tmp_path, embedder):
    """Two folders sharing file names (hr/ and finance/ each with a policy.md, two teams'
    README.md) overwrote each other's documents: three users lost one that way. While the
    first file exists the second is refused, naming both ways out; --replace takes it (a new
    export of a corpus into a new folder) and the report names what it replaced."""
    team_a, team_b = tmp_path / "team-a", tmp_path / "team-b"
    for folder, text in ((team_a, "Team A onboarding"), (team_b, "Team B onboarding")):
        folder.mkdir()
        (folder / "onboarding.md").write_text(f"# Onboarding\n\n{text} starts on Monday.\n")
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, team_a).added == 1
    refused = run(store, embedder, team_b)
    assert not refused.ok and refused.updated == 0 and refused.rehomed == []
    assert refused.failed[0][0] == "onboarding.md" and "--replace" in refused.failed[0][1]
    assert "Team A" in bm25_top_k(store, "onboarding", PUBLIC, 1)[0].chunk.text  # kept
    second = run(store, embedder, team_b, replace=True)
    assert second.ok and second.updated == 1
    assert second.rehomed == [("onboarding.md", str((team_a / "onboarding.md").resolve()))]
    assert "Team B" in bm25_top_k(store, "onboarding", PUBLIC, 1)[0].chunk.text
    parent = run(SQLiteStore(tmp_path / "data2"), embedder, tmp_path)
    assert parent.added == 2 and parent.rehomed == []  # their parent folder keeps both
    args = ["ingest", str(team_a), "--data-dir", str(tmp_path / "data"), "--replace"]
    said = cli_run(args, embedder)
    assert "1 document now comes from another folder" in " ".join(said.output.split())
    (team_a / "onboarding.md").unlink()  # a moved folder: nothing to refuse or report
    moved = run(store, embedder, team_b)
    assert moved.ok and moved.rehomed == [] and moved.updated == 1


def test_the_cli_says_what_it_skipped_and_names_what_lost_its_file_or_was_removed(
    tmp_path, tree, embedder
):
    data = tmp_path / "data"
    (tree / "budget.xlsx").write_bytes(b"PK\x03\x04")
    (tree / "hr" / "photo.png").write_bytes(b"\x89PNG")
    (tree / "README").write_text("no suffix")
    first = cli_run(["ingest", str(tree), "--data-dir", str(data), "--json"], embedder)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["skipped"] == {"(none)": 1, ".png": 1, ".xlsx": 1}
    (tree / "notes.txt").unlink()
    second = cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder)
    assert second.exit_code == 0, second.output
    assert "skipped 3 files of types Hearth does not read: (none) 1, .png 1, .xlsx 1" in " ".join(
        second.output.split()
    )
    said = " ".join(second.output.split())
    assert (
        "1 stored document of these folders and wiki dumps has no file or page any more (or a blank one): notes.txt;"
        " answers still come from them, with the groups they had, until a run with --prune" in said
    )  # a file moved into a restricted folder stays readable under its old groups till then
    assert SQLiteStore(data).document_state_of("notes.txt") is not None  # kept without --prune
    args = ["ingest", str(tree), "--data-dir", str(data)]
    as_json = json.loads(cli_run([*args, "--json"], embedder).stdout)
    assert as_json["orphaned"] == 1 and as_json["orphaned_documents"] == ["notes.txt"]
    (tree / "hr" / "reviews.txt").unlink()
    pruned = cli_run([*args, "--prune"], embedder)
    assert "removed 2 documents: hr/reviews.txt, notes.txt" in " ".join(pruned.output.split())
    (tree / "handbook" / "bikes.md").unlink()
    as_json = json.loads(cli_run([*args, "--prune", "--json"], embedder).stdout)
    assert as_json["removed"] == 1 and as_json["removed_documents"] == ["handbook/bikes.md"]
    assert as_json["orphaned"] == 0 and as_json["orphaned_documents"] == []


def test_the_cli_refuses_a_named_file_it_cannot_read_and_a_missing_path_at_once(
    tmp_path, tree, embedder
):
    (tree / "budget.xlsx").write_bytes(b"PK\x03\x04")
    data = tmp_path / "data"
    named = cli_run(["ingest", str(tree / "budget.xlsx"), "--data-dir", str(data)], embedder)
    assert named.exit_code == 1 and "not a type Hearth reads" in named.output
    missing = cli_run(
        ["ingest", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "d2")], embedder
    )
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    assert not (tmp_path / "d2").exists()  # nothing created, no embedder loaded


def test_a_link_to_a_file_of_the_same_tree_is_read_once_by_the_files_own_name(
    tmp_path, tree, embedder
):
    (tree / "a-link.txt").symlink_to(tree / "hr" / "reviews.txt")  # walked before its target
    (tree / "copy.txt").hardlink_to(tree / "notes.txt")
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, tree)
    assert report.ok and report.added == 4  # the four files, none twice
    assert store.document_state_of("a-link.txt") is None
    assert store.document_state_of("hr/reviews.txt")[1] == {"hr"}
    assert {store.document_state_of(n) is None for n in ("copy.txt", "notes.txt")} == {True, False}


def test_status_lists_documents_and_what_a_group_may_read(tmp_path, tree, embedder):
    """An administrator checks access: every document with its groups, or a group's view."""
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    every = json.loads(cli_run(["status", "--data-dir", str(data), "--documents", "--json"],
                               embedder).stdout)  # fmt: skip
    groups = {d["id"]: d["groups"] for d in every["documents_listed"]}
    assert groups == {
        "handbook/bikes.md": ["public"], "handbook/salaries.md": ["finance"],
        "hr/reviews.txt": ["hr"], "notes.txt": ["public"],
    }  # fmt: skip
    assert every["documents_readable_by"] is None
    hr = json.loads(cli_run(["status", "--data-dir", str(data), "--group", "HR", "--json"],
                            embedder).stdout)  # fmt: skip
    assert [d["id"] for d in hr["documents_listed"]] == [
        "handbook/bikes.md", "hr/reviews.txt", "notes.txt",
    ]  # fmt: skip
    assert hr["documents_readable_by"] == ["hr", "public"]
    both = cli_run(["status", "--data-dir", str(data), "--group", "hr,finance"], embedder)
    table = both.output
    assert "readable by finance, hr, public): 4" in table and "Salary bands" in table
    assert (
        "documents_listed"
        not in cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout
    )
    bad = cli_run(["status", "--data-dir", str(data), "--group", "h r"], embedder)
    assert (
        bad.exit_code == 2 and "invalid group name" in bad.output and "Traceback" not in bad.output
    )


def test_status_says_when_the_vectors_are_behind_the_chunks(tmp_path, tree, embedder):
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    healthy = json.loads(cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout)
    assert healthy["vectors_behind"] is False
    # as an ingest interrupted before publishing leaves it: one document rewritten, the same
    # number of chunks under new ids (status compared counts, and said all was well)
    store = SQLiteStore(data)
    (found,) = bm25_top_k(store, "canteen", frozenset({"public"}), 1)
    store.delete_documents([found.chunk.document_id])
    store.publish_vectors = lambda: -1  # type: ignore[method-assign]
    run(store, embedder, tree / "notes.txt")
    store.close()
    behind = cli_run(["status", "--data-dir", str(data)], embedder)
    assert "the vectors are behind" in " ".join(behind.output.split())


def test_an_interrupted_run_publishes_the_vectors_of_what_it_wrote(
    tmp_path, tree, embedder, monkeypatch
):
    """Ctrl-C after some documents were written left the vectors without them: a running
    `hearth serve` searched them by words only until its restart or the next ingest."""
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tree)
    (tree / "notes.txt").write_text("Canteen\n\nThe canteen now opens at 11:00 on weekdays.\n")
    other = tmp_path / "other"
    other.mkdir()
    real = Ingestor._ingest_path

    def stopped_at_the_second_path(self, path, *args):
        if path == other:
            raise KeyboardInterrupt
        return real(self, path, *args)

    monkeypatch.setattr(Ingestor, "_ingest_path", stopped_at_the_second_path)
    with pytest.raises(KeyboardInterrupt):
        run(store, embedder, tree, other)
    assert store.stats()["vectors_behind"] is False
    (found,) = dense_top_k(store, embedder, "canteen opens", frozenset({"public"}), 1)
    assert "11:00" in found.chunk.text


def test_status_says_when_the_vector_file_is_missing_or_damaged(tmp_path, tree, embedder):
    """A restore without the .faiss file: status says so instead of counting its vectors."""
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    healthy = json.loads(cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout)
    assert healthy["vector_file_ok"] is True
    (vector_file,) = data.glob("*.faiss")
    vector_file.write_bytes(vector_file.read_bytes()[:-8] + b"damaged!")
    damaged = cli_run(["status", "--data-dir", str(data)], embedder)
    assert "is missing or damaged" in " ".join(damaged.output.split())
    vector_file.unlink()
    gone = json.loads(cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout)
    assert gone["vector_file_ok"] is False
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    rebuilt = json.loads(cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout)
    assert rebuilt["vector_file_ok"] is True


def test_status_tells_a_store_no_ingest_completed_in_and_make_run_ingests_it(
    tmp_path, tree, embedder
):
    """`make run` ingested only when the store file was missing: after an interrupted first
    run it served a partial index. It now looks for a completed ingest in `status --json`."""
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    completed = re.search(r"grep -q '([^']+)'", makefile).group(1)  # what `make run` looks for
    data = tmp_path / "data"
    SQLiteStore(data).close()  # what an ingest interrupted before its first document leaves
    plain = " ".join(cli_run(["status", "--data-dir", str(data)], embedder).output.split())
    assert "last ingest: none completed yet" in plain and "embedder: none yet" in plain
    assert "None" not in plain
    before = cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout
    assert completed not in before
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    assert completed in cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout


def test_prune_says_why_it_removed_nothing_when_a_file_failed(tmp_path, tree, embedder):
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    (tree / "notes.txt").unlink()
    (tree / "bad.pdf").write_bytes(b"not a pdf")
    result = cli_run(["ingest", str(tree), "--data-dir", str(data), "--prune"], embedder)
    assert result.exit_code == 1
    assert f"--prune removed nothing from {tree}" in " ".join(result.output.split())
    assert "failed bad.pdf: " in result.output and "bad.pdf: bad.pdf" not in result.output
    assert SQLiteStore(data).document_state_of("notes.txt") is not None


def test_an_empty_file_is_skipped_not_failed_and_an_emptied_one_counts_as_gone(
    tmp_path, tree, embedder
):
    data = tmp_path / "data"
    (tree / "placeholder.md").write_text("")
    (tree / "hr" / "blank.txt").write_text(" \n\t\n")
    (tree / "empty.pdf").write_bytes(b"")
    first = cli_run(["ingest", str(tree), "--data-dir", str(data), "--json"], embedder)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["failed"] == [] and report["added"] == 4
    assert sorted(report["empty"]) == ["empty.pdf", "hr/blank.txt", "placeholder.md"]
    (tree / "notes.txt").write_text("")  # emptied: like a deleted file, kept until --prune
    second = cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder)
    assert second.exit_code == 0, second.output
    said = " ".join(second.output.split())
    assert "skipped 4 empty files: empty.pdf, hr/blank.txt, notes.txt, placeholder.md" in said
    assert (
        "1 stored document of these folders and wiki dumps has no file or page any more (or a blank one)"
        in said
    )
    assert SQLiteStore(data).document_state_of("notes.txt") is not None
    pruned = cli_run(["ingest", str(tree), "--data-dir", str(data), "--prune", "--json"], embedder)
    assert pruned.exit_code == 0 and json.loads(pruned.stdout)["removed"] == 1
    assert SQLiteStore(data).document_state_of("notes.txt") is None


def test_a_small_file_with_text_is_not_taken_for_blank(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "short.txt").write_text("\ufeffOK\n")
    report = run(SQLiteStore(tmp_path / "data"), embedder, docs)
    assert report.ok and report.added == 1 and report.empty == []


def test_json_runs_that_fail_still_print_json_on_stdout(tmp_path, embedder):
    missing = tmp_path / "nowhere"
    ingest = cli_run(
        ["ingest", str(missing), "--data-dir", str(tmp_path / "d"), "--json"], embedder
    )
    assert ingest.exit_code == 2
    assert json.loads(ingest.stdout) == {
        "error": f"no such file or folder: {missing}",
        "exit_code": 2,
    }
    status = cli_run(["status", "--data-dir", str(tmp_path / "none"), "--json"], embedder)
    assert status.exit_code == 2 and "hearth ingest" in json.loads(status.stdout)["error"]


def test_namespace_groups_from_the_environment_only_warn(tmp_path, tree, embedder, monkeypatch):
    """A shared .env's wiki setting must not stop a run that reads folders."""
    monkeypatch.setenv("HEARTH_NAMESPACE_GROUPS", "4=staff")
    result = cli_run(["ingest", str(tree), "--data-dir", str(tmp_path / "d")], embedder)
    assert result.exit_code == 0, result.output
    assert "HEARTH_NAMESPACE_GROUPS: namespace 4 is not ingested" in " ".join(result.output.split())


def test_errors_keep_the_brackets_of_a_path(tmp_path, embedder):
    result = cli_run(["status", "--data-dir", str(tmp_path / "[old]")], embedder)
    assert result.exit_code == 2 and "[old]" in result.output


def test_namespace_groups_for_a_namespace_not_ingested_are_refused(tmp_path, embedder):
    dump = tmp_path / "wiki.xml"
    dump.write_text(wiki_dump([(1, "Main", "Some text.")]))
    args = ["ingest", str(dump), "--data-dir", str(tmp_path / "d"), "--namespace-groups", "4=staff"]
    refused = cli_run(args, embedder)
    assert refused.exit_code == 2
    assert "namespace 4 is not ingested (--namespaces 0)" in " ".join(refused.output.split())
    assert not (tmp_path / "d").exists()
    assert cli_run([*args, "--namespaces", "0,4"], embedder).exit_code == 0
    twice = cli_run([*args, "--namespaces", "0,4", "--namespace-groups", "4=staff;4=hr"], embedder)
    assert twice.exit_code == 2 and "namespace 4 is given groups twice" in twice.output


def test_the_cli_says_which_pages_a_narrower_namespaces_run_kept(tmp_path, embedder):
    dump = _shed_dump(tmp_path / "testwiki.xml", SHED, _shed_page(9, 4, "Project:Rota", "Mondays."))
    data = ["--data-dir", str(tmp_path / "d")]
    assert cli_run(["ingest", str(dump), *data, "--namespaces", "0,4"], embedder).exit_code == 0
    kept = cli_run(["ingest", str(dump), *data, "--namespaces", "4", "--prune"], embedder)
    said = " ".join(kept.output.split())
    assert kept.exit_code == 0 and "no file or page any more" not in said
    assert ("1 stored page of these dumps is in namespaces this run did not read "
            "(--namespaces): Bike shed (testwiki:1); kept as they were") in said  # fmt: skip


def test_a_file_the_parser_finds_no_text_in_is_empty_too_even_through_the_parser_child(
    tmp_path, embedder
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "utf16.txt").write_bytes(b"\xff\xfe")  # a BOM alone: blank once decoded
    (docs / "nbsp.txt").write_text("\u00a0\n\u00a0\n")
    (docs / "front-matter-only.md").write_text("---\ntitle: Draft\n---\n")
    (docs / "scripts-only.html").write_text("<html><script>var x = 1;</script></html>")
    (docs / "ok.txt").write_text("Parking\n\nThe car park closes at 22:00.\n")
    for isolated in (False, True):
        report = run(SQLiteStore(tmp_path / f"data-{isolated}"), embedder, docs,
                     isolate_parsers=isolated)  # fmt: skip
        assert report.ok, report.failed
        assert report.added == 1
        assert sorted(report.empty) == [
            "front-matter-only.md", "nbsp.txt", "scripts-only.html", "utf16.txt",
        ]  # fmt: skip


def test_the_env_file_sets_the_options_of_every_command_below_the_environment(
    tmp_path, tree, embedder, monkeypatch
):
    """`HEARTH_GROUPS=hr` in `.env` must not store a run's documents as public."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEARTH_GROUPS", raising=False)
    (tmp_path / ".env").write_text("HEARTH_GROUPS=hr\nHEARTH_DATA_DIR=from-env-file\nOTHER=x\n")
    notes = tree / "notes.txt"
    assert cli_run(["ingest", str(notes)], embedder).exit_code == 0
    assert SQLiteStore(tmp_path / "from-env-file").document_state_of("notes.txt")[1] == {"hr"}
    monkeypatch.setenv("HEARTH_GROUPS", "staff")  # an exported variable wins over the file
    notes.write_text("Canteen\n\nThe canteen opens at 11:00 on weekdays.\n")
    assert cli_run(["ingest", str(notes)], embedder).exit_code == 0
    assert SQLiteStore(tmp_path / "from-env-file").document_state_of("notes.txt")[1] == {"staff"}
    given = cli_run(["ingest", str(notes), "--groups", "finance"], embedder)  # the option wins
    assert given.exit_code == 0
    assert SQLiteStore(tmp_path / "from-env-file").document_state_of("notes.txt")[1] == {"finance"}


def test_a_file_the_parser_reads_nothing_from_keeps_its_stored_copy_and_nuls_fail(
    tmp_path, embedder
):
    """Only a blank file is taken for gone: a page the parser finds no text in may be its quirk
    (content outside `<main>`), and a file of NULs is damaged; neither loses what was stored."""
    docs = tmp_path / "docs"
    docs.mkdir()
    page, notes = docs / "page.html", docs / "notes.txt"
    page.write_text("<html><body><main><p>The canteen opens at 11:30.</p></main></body></html>")
    notes.write_text("Parking\n\nThe car park closes at 22:00.\n")
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, docs).added == 2
    page.write_text("<html><script>var x = 1;</script></html>")
    notes.write_bytes(b"\x00" * 4096)
    report = run(store, embedder, docs, prune=True)
    assert report.empty == ["page.html"] and report.removed == 0
    assert [name for name, _ in report.failed] == ["notes.txt"]
    assert "control characters" in report.failed[0][1]
    assert store.document_state_of("page.html") is not None
    assert store.document_state_of("notes.txt") is not None


def test_a_wiki_page_without_text_is_listed_as_empty_not_stored(tmp_path, embedder):
    """A blank page, or one whose markup yields no text, was stored as a document without
    chunks, which answers nothing. It is listed as empty and, like a blank file, taken for
    absent: a copy stored before is orphaned, then removed by --prune."""
    filled = (1, "Filled", "Fact number 1 is about zebras.")
    blank, markup = (2, "Blank", "  "), (3, "Only markup", "[[Category:People]]{{Navbox|x}}")
    dump = tmp_path / "wiki.xml"
    dump.write_text(wiki_dump([filled, blank, markup]))
    store = SQLiteStore(tmp_path / "data")
    first = run(store, embedder, dump)
    assert first.ok and first.added == 1 and first.chunks == 1
    assert first.empty == ["testwiki:2", "testwiki:3"]
    assert first.titles == {"testwiki:2": "Blank", "testwiki:3": "Only markup"}
    assert [d.id for d in store.list_documents()] == ["testwiki:1"]
    again = run(store, embedder, dump)  # the dump's fingerprint holds: not read again
    assert (again.unchanged, again.added, again.updated) == (1, 0, 0)
    dump.write_text(wiki_dump([(1, "Filled", "[[Category:Emptied]]"), blank, markup]))
    emptied = run(store, embedder, dump)
    assert emptied.ok and (emptied.added, emptied.updated, emptied.removed) == (0, 0, 0)
    assert emptied.empty == ["testwiki:1", "testwiki:2", "testwiki:3"]
    assert emptied.orphaned_documents == ["testwiki:1"]
    assert store.document_state_of("testwiki:1") is not None  # kept until --prune
    pruned = run(store, embedder, dump, prune=True)
    assert pruned.removed_documents == ["testwiki:1"] and store.list_documents() == []


def test_the_cli_names_the_empty_wiki_pages_by_title(tmp_path, tree, embedder):
    dump = tmp_path / "wiki.xml"
    dump.write_text(wiki_dump([(1, "Filled", "Some text."), (2, "Blank", "")]))
    data = ["--data-dir", str(tmp_path / "d")]
    pages = cli_run(["ingest", str(dump), *data], embedder)
    assert pages.exit_code == 0, pages.output
    assert "skipped 1 empty page: Blank (testwiki:2)" in " ".join(pages.output.split())
    (tree / "placeholder.md").write_text("")
    both = cli_run(["ingest", str(tree), str(dump), *data, "--reparse"], embedder)
    assert both.exit_code == 0, both.output
    said = " ".join(both.output.split())
    assert "skipped 2 empty documents: Blank (testwiki:2), placeholder.md" in said


def test_a_file_whose_text_is_all_invisible_is_listed_as_empty_not_stored(tmp_path, embedder):
    """Cleaning strips zero-width and other invisible characters: a file holding only those
    was stored without chunks. It is listed as empty, as a file the parser reads nothing from
    is, and a copy stored before stays."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "invisible.txt").write_text("\u200b\u200b\n\n\u2060\n")
    notes = docs / "notes.txt"
    notes.write_text("Parking\n\nThe car park closes at 22:00.\n")
    store = SQLiteStore(tmp_path / "data")
    first = run(store, embedder, docs)
    assert first.ok and first.added == 1 and first.empty == ["invisible.txt"]
    assert store.document_state_of("invisible.txt") is None
    notes.write_text("\ufeff\u200b\n")
    second = run(store, embedder, docs, prune=True)
    assert second.ok and sorted(second.empty) == ["invisible.txt", "notes.txt"]
    assert second.removed == 0 and store.document_state_of("notes.txt") is not None


def test_the_cli_shows_file_names_with_brackets_and_a_bar_per_dump(tmp_path, embedder):
    docs = tmp_path / "d["
    docs.mkdir()
    (docs / "]x.txt").write_text("Parking\n\nThe car park closes at 22:00.\n")
    for number, name in enumerate(("a.xml", "b.xml"), start=1):
        (docs / name).write_text(wiki_dump([(number, f"Page {name}", "Some text. " * 50)]))
    result = cli_run(["ingest", str(docs), "--data-dir", str(tmp_path / "data")], embedder)
    assert result.exit_code == 0, result.output  # a "[/]" in a path ended the run with a traceback
    assert "added                   │ 3" in result.output and "dump KB read" in result.output


def test_a_folder_that_cannot_be_listed_is_said_and_keeps_its_documents(
    tmp_path, tree, embedder, monkeypatch
):
    """lost+found at the top of a mount: said, its stored documents kept, the rest pruned."""
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    real_scandir = os.scandir

    def scandir(path):  # as for a folder made unreadable (root reads everything, so simulated)
        if Path(path).name == "hr":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (tree / "notes.txt").unlink()
    result = cli_run(["ingest", str(tree), "--data-dir", str(data), "--prune", "--json"], embedder)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["failed"] == [] and report["removed"] == 1
    assert report["unreadable_folders"] == [
        {"folder": str((tree / "hr").resolve()), "reason": "Permission denied"}
    ]
    assert SQLiteStore(data).document_state_of("hr/reviews.txt") is not None
    assert SQLiteStore(data).document_state_of("notes.txt") is None
    said = " ".join(
        cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).output.split()
    )
    assert "could not read 1 folder: " in said and "what was stored from them is kept" in said


def test_an_xml_file_that_is_not_a_wiki_export_fails_and_keeps_the_dumps_pages(tmp_path, embedder):
    folder = tmp_path / "dumps"
    folder.mkdir()
    dump = folder / "wiki.xml"
    dump.write_text(wiki_dump([(1, "Page 1", "Fact one is about zebras.")]))
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, folder).added == 1
    dump.write_text("<html><body>503 Service Unavailable</body></html>")  # a saved error page
    report = run(store, embedder, folder, prune=True)
    assert report.removed == 0 and report.prune_skipped == [str(folder)]
    assert report.failed == [
        (
            "wiki.xml",
            "wiki.xml is not a MediaWiki export (its root element is <html>, not <mediawiki>)",
        )
    ]
    assert store.document_state_of("testwiki:1") is not None
    (folder / "sitemap.xml").write_text('<urlset xmlns="x"><url><loc>/a</loc></url></urlset>')
    dump.write_text(wiki_dump([(1, "Page 1", "Fact one is about zebras.")]))
    again = run(store, embedder, folder, prune=True)  # an XML file never a dump: skipped
    assert again.failed == [] and again.skipped == {".xml (not a wiki export)": 1}


def test_a_file_ingested_alone_keeps_its_folders_sidecar_groups(tmp_path, embedder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "board.txt").write_text("Board minutes\n\nThe board approved the budget.\n")
    (folder / ".hearth-groups.yaml").write_text('"*": [finance]\n')
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, folder)
    report = run(store, embedder, folder / "board.txt")
    assert report.failed == [] and report.regrouped == 0 and report.made_public == []
    assert store.document_state_of("board.txt")[1] == {"finance"}
    assert bm25_top_k(store, "board minutes", PUBLIC, 3) == []


def test_a_run_that_makes_restricted_documents_public_says_so(tmp_path, tree, embedder):
    data = tmp_path / "data"
    args = ["ingest", str(tree / "notes.txt"), "--data-dir", str(data)]
    assert cli_run([*args, "--groups", "finance"], embedder).exit_code == 0
    again = cli_run(args, embedder)  # --groups forgotten
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert "1 document only some groups could read before is now public: notes.txt" in said
    assert "check --groups and the .hearth-groups.yaml rules, then ingest again" in said
    as_json = json.loads(cli_run([*args, "--groups", "hr", "--json"], embedder).stdout)
    assert as_json["made_public"] == []  # restricted to another group: not widened to public


def test_a_sidecar_rule_that_makes_documents_public_points_at_the_rules(tmp_path, tree, embedder):
    """A narrowed .hearth-groups.yaml rule, not a forgotten --groups, widened these: the
    warning must send the operator to both."""
    (tree / "hr" / "2024").mkdir()
    (tree / "hr" / "2024" / "review.txt").write_text("Review 2024\n\nRaises were 3 percent.\n")
    args = ["ingest", str(tree), "--data-dir", str(tmp_path / "data")]
    assert cli_run(args, embedder).exit_code == 0
    (tree / ".hearth-groups.yaml").write_text('"hr/*": [hr]\n')  # "hr/**" edited
    again = cli_run(args, embedder)
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert (
        "is now public: hr/2024/review.txt; if that was not meant, check --groups and the" in said
    )
    assert ".hearth-groups.yaml rules, then ingest again" in said
    assert "ingest again with --groups" not in said


def test_the_wiki_page_limit_is_an_option_read_from_the_env_file_and_checked(
    tmp_path, embedder, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEARTH_WIKI_MAX_PAGE_MB", raising=False)
    dump = tmp_path / "wiki.xml"
    dump.write_text(wiki_dump([(1, "Small", "Short."), (2, "Big", "word " * 3000)]))
    (tmp_path / ".env").write_text("HEARTH_WIKI_MAX_PAGE_MB=0.01\n")  # 10,485 bytes
    result = cli_run(["ingest", str(dump), "--data-dir", "data", "--json"], embedder)
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["added"] == 1
    assert "'Big' (0.0143 MB of wikitext, over the 0.01 MB limit" in report["failed"][0]["reason"]
    for bad in ["nan", "inf", "0", "abc"]:
        refused = cli_run(["ingest", str(dump), "--wiki-max-page-mb", bad], embedder)
        assert refused.exit_code == 2 and "--wiki-max-page-mb" in refused.output, bad


def test_a_file_that_may_not_be_read_is_said_so_not_taken_for_a_race(
    tmp_path, tree, embedder, monkeypatch
):
    import ingest.sources

    real_open_in = ingest.sources._open_in

    def open_in(folder, name, flags):  # as for chmod 000 (root reads everything: simulated)
        if name == "notes.txt":
            raise PermissionError(13, "Permission denied")
        return real_open_in(folder, name, flags)

    monkeypatch.setattr(ingest.sources, "_open_in", open_in)
    report = run(SQLiteStore(tmp_path / "data"), embedder, tree)
    assert report.failed == [("notes.txt", "notes.txt: cannot read: Permission denied")]


def test_a_sidecar_that_is_not_valid_yaml_is_refused_with_its_line(tmp_path, tree, embedder):
    (tree / ".hearth-groups.yaml").write_text('"hr/**": [hr]\n"notes.txt": [staff\n')
    result = cli_run(["ingest", str(tree), "--data-dir", str(tmp_path / "data")], embedder)
    said = "".join(result.output.split())  # the path may wrap anywhere
    assert result.exit_code != 0
    assert f"{tree.resolve()}/.hearth-groups.yamlisnotvalidYAMLatline3:expected','or']'" in said


def test_a_sidecar_that_lists_a_pattern_twice_is_refused(tmp_path, tree, embedder):
    """YAML keeps the last of two equal keys: finance/** given [public], then [finance]
    further down, was read as [finance] only by luck of order; the other way round, public."""
    (tree / ".hearth-groups.yaml").write_text('"hr/**": [hr]\n"**": [staff]\n"hr/**": [public]\n')
    result = cli_run(["ingest", str(tree), "--data-dir", str(tmp_path / "data")], embedder)
    said = "".join(result.output.split())
    assert result.exit_code != 0 and "lists'hr/**'twice(line3)" in said
    assert (
        not (tmp_path / "data" / "hearth.sqlite3").exists()
        or not SQLiteStore(tmp_path / "data").list_documents()
    )


def test_a_folder_named_twice_is_read_once(tmp_path, tree, embedder):
    report = run(SQLiteStore(tmp_path / "data"), embedder, tree, tree / ".." / tree.name)
    assert (report.added, report.unchanged) == (4, 0)


def test_ctrl_c_during_an_ingest_is_answered_at_once_and_the_handler_restored():
    import io
    import signal
    import time

    from rich.console import Console

    from ingest.cli import _acknowledged_interrupts

    launched_with = signal.getsignal(signal.SIGINT)  # SIG_IGN when run as a background job
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    before = signal.getsignal(signal.SIGINT)
    said = io.StringIO()
    with pytest.raises(KeyboardInterrupt), _acknowledged_interrupts(Console(file=said)):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler's KeyboardInterrupt ends it at once
    assert "stopping once the embedder finishes its batch" in said.getvalue()
    assert signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's: left as it is
    try:
        with _acknowledged_interrupts(Console(file=said)):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, launched_with)


def test_a_link_ingested_alone_gets_the_rules_of_the_file_it_leads_to(tmp_path, embedder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "board.txt").write_text("Board minutes\n\nThe board approved the budget.\n")
    (folder / ".hearth-groups.yaml").write_text('"board.txt": [finance]\n')
    (tmp_path / "board-link.txt").symlink_to(folder / "board.txt")
    store = SQLiteStore(tmp_path / "data")
    run(store, embedder, tmp_path / "board-link.txt")
    assert store.document_state_of("board-link.txt")[1] == {"finance"}


def test_a_file_or_folder_ingested_alone_gets_the_nearest_sidecar_rule_above_it(tmp_path, embedder):
    docs = tmp_path / "docs"
    (docs / "finance" / "2026").mkdir(parents=True)
    (docs / ".hearth-groups.yaml").write_text('"finance/**": [finance]\n')
    (docs / "finance" / ".hearth-groups.yaml").write_text('"*.md": [board]\n')  # no match
    budget = docs / "finance" / "2026" / "budget.txt"
    budget.write_text("Budget 2026\n\nThe travel budget is 40,000 EUR.\n")
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, budget).added == 1
    assert store.document_state_of("budget.txt")[1] == {"finance"}
    inner = SQLiteStore(tmp_path / "inner")  # the same for its folder ingested alone
    assert run(inner, embedder, docs / "finance" / "2026").added == 1
    assert inner.document_state_of("budget.txt")[1] == {"finance"}


def test_a_sidecar_in_a_subfolder_applies_when_its_parent_is_ingested(tmp_path, embedder):
    """`secret/.hearth-groups.yaml` made its files finance when `secret/` was ingested alone,
    and public when `docs/` was: a file's groups must not depend on the folder named."""
    docs = tmp_path / "docs"
    (docs / "secret" / "deeper").mkdir(parents=True)
    (docs / "secret" / ".hearth-groups.yaml").write_text(
        '"ledger*": [finance]\n"deeper/**": [hr]\n'
    )
    (docs / "secret" / "ledger-x.md").write_text("# Ledger\n\nThe account number is 1234.\n")
    (docs / "secret" / "menu.md").write_text("# Menu\n\nSoup on Mondays.\n")
    (docs / "secret" / "deeper" / "notes.txt").write_text("Notes\n\nHR notes here.\n")
    (docs / "secret" / "deeper" / ".hearth-groups.yaml").write_text('"other*": [board]\n')
    (docs / "top.md").write_text("# Top\n\nPublic words.\n")
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, docs).failed == []
    groups = {i: g for i, (_, g) in store.document_state().items()}
    assert groups == {
        "secret/ledger-x.md": {"finance"}, "secret/menu.md": {"public"},
        "secret/deeper/notes.txt": {"hr"},  # no rule of its own matched: the nearer one's
        "top.md": {"public"},
    }  # fmt: skip
    assert bm25_top_k(store, "account number", PUBLIC, 3) == []
    (docs / "secret" / ".hearth-groups.yaml").chmod(0o666)  # anyone may rewrite it now
    with pytest.raises(SidecarError, match="writable by every user"):
        run(SQLiteStore(tmp_path / "again"), embedder, docs)


def test_sidecars_above_the_folder_are_named_and_only_trusted_ones_applied(tmp_path, embedder):
    """Anyone may write /tmp/.hearth-groups.yaml: rules above the ingested folder that other
    users may change stop the run (skipped, restricting rules would be lost too), and those
    applied are named in the report."""
    shared = tmp_path / "shared"
    (shared / "hrdocs").mkdir(parents=True)
    (shared / "hrdocs" / "payroll.md").write_text("# Payroll\n\nPaid on the 25th.\n")
    sidecar = shared / ".hearth-groups.yaml"
    sidecar.write_text('"**": [public]\n')
    sidecar.chmod(0o666)  # as if planted where everyone may write
    data = tmp_path / "data"
    args = ["ingest", str(shared / "hrdocs"), "--groups", "hr", "--data-dir", str(data)]
    planted = cli_run(args, embedder)
    said = " ".join(planted.output.split())
    assert planted.exit_code == 2 and "is writable by every user" in said
    assert "Traceback" not in said
    assert not data.exists() or SQLiteStore(data).is_empty()  # nothing stored
    alone = cli_run(["ingest", str(shared / "hrdocs" / "payroll.md"), "--groups", "hr",
                     "--data-dir", str(data), "--json"], embedder)  # fmt: skip
    assert json.loads(alone.stdout)["failed"][0]["reason"].endswith("or remove it")
    sidecar.chmod(0o644)
    trusted = cli_run(args, embedder)
    said = " ".join(trusted.output.split())
    assert "group rules also applied from above the folder: " in said
    assert str(sidecar.resolve()) in said.replace(" ", "")
    store = SQLiteStore(data)
    assert store.document_state_of("payroll.md")[1] == {"public"}
    store.close()
    (shared / "hrdocs" / ".hearth-groups.yaml").write_text('"*": [hr]\n')
    (shared / "hrdocs" / ".hearth-groups.yaml").chmod(0o666)  # the file's own folder, too
    own = cli_run(["ingest", str(shared / "hrdocs" / "payroll.md"), "--data-dir", str(data),
                   "--json"], embedder)  # fmt: skip
    assert "writable by every user" in json.loads(own.stdout)["failed"][0]["reason"]


def _shed_page(page_id: int, ns: int, title: str, body: str, target: str | None = None) -> str:
    redirect = f'<redirect title="{target}"/>' if target else ""
    return (
        f"<page><title>{title}</title><ns>{ns}</ns><id>{page_id}</id>{redirect}<revision>"
        f"<id>{page_id}0</id><timestamp>2026-01-02T03:04:05Z</timestamp><text>{body}</text>"
        "</revision></page>"
    )


def _shed_dump(path: Path, *pages: str) -> Path:
    path.write_text(
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">'
        '<siteinfo><dbname>testwiki</dbname><namespaces><namespace key="0"/>'
        '<namespace key="4">Project</namespace></namespaces></siteinfo>'
        + "".join(pages)
        + "</mediawiki>"
    )
    return path


SHED = _shed_page(1, 0, "Bike shed", "== Storage ==\nBikes are stored in the shed.")
QUAGMIRE = _shed_page(
    2, 4, "Project:Staff layoffs Quagmire", "#REDIRECT [[Bike shed]]", "Bike shed"
)


def test_a_restricted_redirects_title_is_not_a_searchable_word_of_a_public_page(tmp_path, embedder):
    """A redirect in an hr-only namespace to a public page made its title ("Staff layoffs
    Quagmire") a word anyone could search the public page by."""
    dump = _shed_dump(
        tmp_path / "wiki.xml",
        SHED,
        QUAGMIRE,
        _shed_page(3, 4, "Project:Shed rules", "== Rules ==\nLock the shed."),
        _shed_page(
            4,
            4,
            "Project:Rules of the shed",
            "#REDIRECT [[Project:Shed rules]]",
            "Project:Shed rules",
        ),
        _shed_page(5, 0, "Shed", "#REDIRECT [[Bike shed]]", "Bike shed"),
    )
    store = SQLiteStore(tmp_path / "data")
    report = run(store, embedder, dump, namespaces=frozenset({0, 4}),
                 namespace_groups={4: frozenset({"hr"})})  # fmt: skip
    assert report.ok and report.redirects == 2  # the public one, and hr's to an hr page
    assert bm25_top_k(store, "Quagmire", PUBLIC, 3) == []
    assert bm25_top_k(store, "Quagmire", frozenset({"hr"}), 3) == []  # for every reader
    assert [p.document.id for p in bm25_top_k(store, "Shed", PUBLIC, 1)] == ["testwiki:1"]
    hr_alias = bm25_top_k(store, "Rules of the", frozenset({"hr"}), 1)
    assert [p.document.id for p in hr_alias] == ["testwiki:3"]


def test_a_redirect_removed_or_made_restricted_stops_finding_its_target(tmp_path, embedder):
    """Aliases were only ever added: a redirect deleted from the wiki, or whose namespace
    became hr-only, stayed a word anyone could search its public target by."""
    store = SQLiteStore(tmp_path / "data")
    shed = _shed_page(5, 0, "Garage", "#REDIRECT [[Bike shed]]", "Bike shed")
    dump = _shed_dump(tmp_path / "wiki.xml", SHED, QUAGMIRE, shed)
    assert run(store, embedder, dump, namespaces=frozenset({0, 4})).redirects == 2
    assert (
        len(bm25_top_k(store, "Quagmire", PUBLIC, 3))
        == len(bm25_top_k(store, "Garage", PUBLIC, 3))
        == 1
    )
    run(
        store, embedder, dump, namespaces=frozenset({0, 4}), namespace_groups={4: frozenset({"hr"})}
    )
    assert bm25_top_k(store, "Quagmire", PUBLIC, 3) == []  # now an hr page's title
    assert len(bm25_top_k(store, "Garage", PUBLIC, 3)) == 1
    _shed_dump(dump, SHED)  # the Garage redirect deleted from the wiki
    run(store, embedder, dump, namespaces=frozenset({0, 4}))
    assert bm25_top_k(store, "Garage", PUBLIC, 3) == [] and store.stats()["aliases"] == 0


def test_aliases_stored_before_they_named_their_dump_are_replaced_by_its_next_read(
    tmp_path, embedder
):
    """Stores written before aliases named their dump (migration 0005) keep them with no
    dump: the next whole read of the site's dump replaces those too (the fingerprint version
    makes it read again)."""
    import sqlite3

    from index.store import DB_NAME

    store = SQLiteStore(tmp_path / "data")
    dump = _shed_dump(tmp_path / "wiki.xml", SHED, QUAGMIRE)
    run(store, embedder, dump, namespaces=frozenset({0, 4}))
    with sqlite3.connect(tmp_path / "data" / DB_NAME) as old:
        old.execute("UPDATE aliases SET source = NULL")
    _shed_dump(dump, SHED)
    run(store, embedder, dump, namespaces=frozenset({0, 4}))
    assert bm25_top_k(store, "Quagmire", PUBLIC, 3) == []


def test_pages_gone_from_a_dump_are_orphaned_also_when_a_newer_export_has_a_new_name(
    tmp_path, embedder
):
    """A page deleted from the wiki stayed searchable and unreported (files in a folder were
    reported); a newer export under a new name, the old file deleted, kept the old one's
    pages forever, even with --prune."""
    store = SQLiteStore(tmp_path / "data")
    garage = _shed_page(6, 0, "Garage", "Cars park in the garage.")
    march = _shed_dump(tmp_path / "wiki-2026-03.xml", SHED, garage)
    assert run(store, embedder, march).added == 2
    _shed_dump(march, SHED)
    assert run(store, embedder, march).orphaned_documents == ["testwiki:6"]
    march.rename(tmp_path / "old.xml")
    _shed_dump(tmp_path / "old.xml", SHED, garage)
    run(store, embedder, tmp_path / "old.xml")  # both pages again, from old.xml
    (tmp_path / "old.xml").unlink()
    april = _shed_dump(tmp_path / "wiki-2026-04.xml", SHED)
    assert run(store, embedder, april).orphaned_documents == ["testwiki:6"]
    pruned = run(store, embedder, april, prune=True)
    assert pruned.removed_documents == ["testwiki:6"] and bm25_top_k(store, "cars", PUBLIC, 3) == []


def test_a_newer_export_in_a_dated_folder_orphans_the_pages_the_wiki_deleted(tmp_path, embedder):
    """Dumps kept in dated folders (dumps/2026-01/, dumps/2026-12/): with the old folder
    deleted, the pages only it held stayed answerable forever, --prune or not."""
    store = SQLiteStore(tmp_path / "data")
    garage = _shed_page(6, 0, "Garage", "Cars park in the garage.")
    (tmp_path / "dumps" / "2026-01").mkdir(parents=True)
    (tmp_path / "dumps" / "2026-12").mkdir()
    january = _shed_dump(tmp_path / "dumps" / "2026-01" / "testwiki.xml", SHED, garage)
    assert run(store, embedder, january).added == 2
    (tmp_path / "dumps" / "2026-01" / "testwiki.xml").unlink()
    (tmp_path / "dumps" / "2026-01").rmdir()
    december = _shed_dump(tmp_path / "dumps" / "2026-12" / "testwiki.xml", SHED)
    orphaned = run(store, embedder, december)
    assert orphaned.orphaned_documents == ["testwiki:6"] and orphaned.titles == {
        "testwiki:6": "Garage"
    }
    pruned = run(store, embedder, december, prune=True)
    assert pruned.removed_documents == ["testwiki:6"] and bm25_top_k(store, "cars", PUBLIC, 3) == []
    assert store.document_state_of("testwiki:1")


def test_a_renamed_sibling_folder_or_an_unread_part_keeps_its_pages(tmp_path, embedder):
    """The review: a sibling folder renamed (exports/policies -> exports/policies-2026), or a
    split export's second part not read in the run, had their pages pruned."""
    store = SQLiteStore(tmp_path / "data")
    garage = _shed_page(6, 0, "Garage", "Cars park in the garage.")
    attic = _shed_page(8, 0, "Attic", "Boxes are kept in the attic.")
    exports = tmp_path / "exports"
    for name in ("handbook", "policies"):
        (exports / name).mkdir(parents=True)
    handbook = _shed_dump(exports / "handbook" / "testwiki.xml", SHED)
    _shed_dump(exports / "policies" / "testwiki-p2.xml", attic)
    run(store, embedder, handbook, exports / "policies" / "testwiki-p2.xml")
    (exports / "policies").rename(exports / "policies-2026")
    assert run(store, embedder, handbook, prune=True).removed_documents == []

    dumps = tmp_path / "dumps"
    (dumps / "2026-01").mkdir(parents=True)
    parts = [
        _shed_dump(dumps / "2026-01" / f"p{i}.xml", page) for i, page in ((1, SHED), (2, garage))
    ]
    store = SQLiteStore(tmp_path / "data2")
    run(store, embedder, *parts)
    (dumps / "2026-01").rename(dumps / "2026-12")  # the new export, both parts, old one gone
    assert run(store, embedder, dumps / "2026-12" / "p1.xml", prune=True).removed_documents == []
    assert store.document_state_of("testwiki:6")


def test_pages_outside_a_narrower_namespaces_run_are_kept_and_said(tmp_path, embedder):
    """`--namespaces 4` on a dump read before with 0,4 called the main namespace's pages gone
    ("no file or page any more"), and --prune deleted them though the dump still held them."""
    store = SQLiteStore(tmp_path / "data")
    staff = _shed_page(9, 4, "Project:Rota", "The rota is posted on Mondays.")
    dump = _shed_dump(tmp_path / "testwiki.xml", SHED, staff)
    assert run(store, embedder, dump, namespaces=frozenset({0, 4})).added == 2
    narrower = run(store, embedder, dump, namespaces=frozenset({4}), prune=True)
    assert narrower.ok and narrower.removed_documents == [] and narrower.orphaned_documents == []
    assert narrower.outside_namespaces == ["testwiki:1"] and narrower.unchanged == 1
    assert [p.document.id for p in bm25_top_k(store, "bikes shed", PUBLIC, 3)] == ["testwiki:1"]
    moved = _shed_page(1, 2, "User:Bike shed", "Bikes are stored in the shed.")
    _shed_dump(dump, moved, staff)  # moved out of the main namespace: not the page stored
    assert run(store, embedder, dump, namespaces=frozenset({4})).orphaned_documents == [
        "testwiki:1"
    ]
    _shed_dump(dump, staff)  # the wiki deleted the page: gone, whatever the namespaces
    assert run(store, embedder, dump, namespaces=frozenset({4})).orphaned_documents == [
        "testwiki:1"
    ]


def test_a_page_with_no_text_is_not_called_made_public_on_every_run(tmp_path, embedder):
    """Groups are read from a document's chunks' ACL rows: an empty page has none, so every
    run reported it "made public" and regrouped it (publishing a new vector generation)."""
    store = SQLiteStore(tmp_path / "data")
    dump = _shed_dump(tmp_path / "wiki.xml", SHED, _shed_page(7, 0, "Empty", ""))
    assert run(store, embedder, dump).ok
    again = run(store, embedder, dump, reparse=True)
    assert again.made_public == [] and again.regrouped == 0 and again.unchanged == 1
    assert again.empty == ["testwiki:7"]  # not stored at all now


def test_a_split_export_and_a_gone_dump_elsewhere_lose_no_page(tmp_path, embedder):
    """The old export's pages were pruned while the run's first part was read, though its
    second part held them (removed, then added and embedded again); and a deleted dump in
    another folder (a mount not there now) had its pages orphaned by any dump of the wiki."""
    store = SQLiteStore(tmp_path / "data")
    garage = _shed_page(6, 0, "Garage", "Cars park in the garage.")
    whole = _shed_dump(tmp_path / "wiki-2026-03.xml", SHED, garage)
    (tmp_path / "mnt").mkdir()
    elsewhere = _shed_dump(tmp_path / "mnt" / "other.xml", _shed_page(8, 0, "Attic", "Boxes."))
    run(store, embedder, whole, elsewhere)
    whole.unlink()
    elsewhere.unlink()
    parts = [
        _shed_dump(tmp_path / "wiki-p1.xml", SHED),
        _shed_dump(tmp_path / "wiki-p2.xml", garage),
    ]
    report = run(store, embedder, *parts, prune=True)
    assert report.ok and report.removed_documents == [] and report.added == 0
    assert store.document_state_of("testwiki:6") and store.document_state_of("testwiki:8")


def test_an_export_sharing_pages_with_another_dump_still_reads_the_rest(tmp_path, embedder):
    """Two exports sharing a page: the second stopped at it, its later pages never stored."""
    store = SQLiteStore(tmp_path / "data")
    garage = _shed_page(6, 0, "Garage", "Cars park in the garage.")
    attic = _shed_page(8, 0, "Attic", "Boxes are kept in the attic.")
    run(store, embedder, _shed_dump(tmp_path / "tools.xml", SHED))
    report = run(store, embedder, _shed_dump(tmp_path / "rooms.xml", garage, SHED, attic))
    assert report.added == 2 and [name for name, _ in report.failed] == ["rooms.xml"]
    assert "1 of its pages are already indexed from" in report.failed[0][1]
    assert store.document_state_of("testwiki:8") is not None


def test_a_copy_of_a_dump_elsewhere_is_refused_unless_replace(tmp_path, embedder):
    """Two copies of one dump took each page back and forth: every run "updated" them all and
    published new vectors. As for files, the second is refused while the first exists."""
    store = SQLiteStore(tmp_path / "data")
    (tmp_path / "mirror").mkdir()
    dump = _shed_dump(tmp_path / "wiki.xml", SHED)
    copy = _shed_dump(tmp_path / "mirror" / "wiki-copy.xml", SHED)
    first = run(store, embedder, dump, copy)
    assert first.added == 1 and [name for name, _ in first.failed] == ["wiki-copy.xml"]
    assert "--replace" in first.failed[0][1] and str(dump.resolve()) in first.failed[0][1]
    again = run(store, embedder, dump, copy)
    assert again.updated == 0 and again.unchanged == 1 and len(again.failed) == 1
    taken = run(store, embedder, copy, replace=True)
    assert taken.ok and taken.rehomed == [("testwiki:1", str(dump.resolve()))]


def test_a_dump_whose_base_is_not_a_web_link_gives_its_pages_no_link(tmp_path, embedder):
    dump = tmp_path / "wiki.xml"
    text = wiki_dump([(1, "Bike shed", "== Storage ==\nBikes are stored in the shed.")])
    dump.write_text(text.replace("https://wiki.example/wiki/Main_Page",
                                 "javascript:alert(document.domain)//x/Main_Page"))  # fmt: skip
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, dump).ok
    hit = bm25_top_k(store, "bikes shed", PUBLIC, 1)[0]
    assert hit.document.url is None and hit.url is None


def test_status_warns_when_other_users_may_read_the_store(tmp_path, tree, embedder):
    """A backup restored with the umask's 0644 into a 0755 folder left restricted text,
    key hashes and conversations readable by every user of the machine, silently."""
    data = tmp_path / "data"
    assert cli_run(["ingest", str(tree), "--data-dir", str(data)], embedder).exit_code == 0
    assert json.loads(cli_run(["status", "--data-dir", str(data), "--json"],
                              embedder).stdout)["readable_by_others"] == []  # fmt: skip
    data.chmod(0o755)
    (data / "hearth.sqlite3").chmod(0o644)
    said = " ".join(cli_run(["status", "--data-dir", str(data)], embedder).output.split())
    assert "other users may read hearth.sqlite3" in said and "chmod 600" in said
    data.chmod(0o700)  # nobody else may enter the folder: nothing to say
    info = json.loads(cli_run(["status", "--data-dir", str(data), "--json"], embedder).stdout)
    assert info["readable_by_others"] == []


@pytest.mark.skipif(os.getuid() != 0, reason="giving files to another user needs root")
def test_a_sidecar_above_owned_by_the_folders_owner_is_applied(tmp_path, embedder):
    """A service user ingesting a tree someone else owns: that owner's rules above the folder
    are theirs to set (only rules from root or the running user were applied, and
    docs/finance ingested alone lost docs/'s "finance/**" rule)."""
    docs = tmp_path / "docs"
    (docs / "finance").mkdir(parents=True)
    (docs / ".hearth-groups.yaml").write_text('"finance/**": [finance]\n')
    (docs / "finance" / "b.md").write_text("# Budget\n\nThe travel budget is 40,000 EUR.\n")
    for path in (docs, docs / ".hearth-groups.yaml", docs / "finance", docs / "finance" / "b.md"):
        os.chown(path, 65534, 65534)  # nobody
    store = SQLiteStore(tmp_path / "data")
    assert run(store, embedder, docs / "finance").failed == []
    assert store.document_state_of("b.md")[1] == {"finance"}


def test_an_80_column_terminal_shows_every_count_and_total_whole():
    """A long file name took the room of the dump's total ("1205/59…") on 80 columns."""
    from rich.console import Console

    from ingest.cli import _RichProgress, progress_bars

    console = Console(width=80, file=io.StringIO(), record=True, force_terminal=True)
    bars = progress_bars(console)
    progress = _RichProgress(bars)
    progress.sources_found(3)
    progress.source_started("exports/2026-12/enwiki-pages-articles1.xml-p10p30302-shortened.bz2")
    progress.chunks_embedded(12345)
    progress.dump_read(1234567, 6089746)
    console.print(bars.get_renderable())
    shown = console.export_text()
    assert "1/3" in shown and "12345/?" in shown and "1205/5947" in shown
    assert "…" in shown and "shortened.bz2" in shown  # the name's end, cut from the front
