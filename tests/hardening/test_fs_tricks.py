"""Row 21, filesystem tricks in the ingest root: file and directory symlinks out of the root,
link chains, a link to /dev/zero, a FIFO, a device node, odd names (`..` look-alikes,
newlines, bidi), and a file swapped for a link between the walk's check and the read.

Pass: nothing outside the root is opened (an audit hook records every `open` during the run),
nothing from outside reaches the store, special files are skipped without blocking, and the
ordinary files are all ingested. (tests/ingest/test_pipeline.py already covers one file link
out and one FIFO; this adds the rest and watches the opens.)
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

import pytest
from fakes import HashEmbedder
from hardkit import recording

import ingest.pipeline
from index.store import SQLiteStore
from ingest.parsers.registry import SUPPORTED_SUFFIXES as SUFFIXES
from ingest.pipeline import IngestOptions, Ingestor
from ingest.sources import UnsafeSourceError, verified_path, walk

pytestmark = pytest.mark.hardening

SECRET = "OUTSIDE-SECRET-5521"
REPO = Path(__file__).resolve().parents[2]


def build_tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(f"Secret\n\n{SECRET} launch codes.\n")
    (outside / "dir").mkdir()
    (outside / "dir" / "deep.txt").write_text(f"Deep\n\n{SECRET} in a folder.\n")
    (root / "ok.txt").write_text("Canteen\n\nThe canteen opens at noon.\n")
    (root / "sub" / "ok2.txt").write_text("Parking\n\nParking is free on Fridays.\n")
    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    (root / "rel-link.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    (root / "dir-link").symlink_to(outside / "dir", target_is_directory=True)
    (root / "sub" / "hop.txt").symlink_to(root / "file-link.txt")  # inside -> inside -> out
    (root / "zero.txt").symlink_to("/dev/zero")
    (root / "random.txt").symlink_to("/dev/urandom")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    (root / "dangling.txt").symlink_to(root / "nothing-here.txt")
    os.mkfifo(root / "pipe.txt")
    for name in (
        "..txt",
        "..\\..\\escape.txt",
        "new\nline.txt",
        "bidi\u202etxt.exe.txt",
        "%2e%2e%2fx.txt",
    ):
        (root / name).write_text("Odd name\n\nA file with an odd name about bicycles.\n")
    # A device node like /dev/null (needs CAP_MKNOD; without it /dev/zero behind a link covers it)
    with contextlib.suppress(OSError):
        os.mknod(root / "null.txt", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return root, outside


def inside(path: str, roots: list[Path]) -> bool:
    return any(Path(path).is_relative_to(r) for r in roots) or path.startswith("/proc/self/")


def run_recorded(root: Path, data: Path) -> tuple[object, list[str], SQLiteStore]:
    store = SQLiteStore(data, vector_kind="exact")
    embedder = HashEmbedder()
    with recording() as recorder:
        report = Ingestor(store, embedder).run([root], IngestOptions(isolate_parsers=False))
    allowed = [root.resolve(), data.resolve(), Path(sys.prefix), Path(sys.base_prefix), REPO]
    stray = [path for path, _ in recorder.opens if not inside(path, allowed)]
    return report, stray, store


@pytest.mark.timeout(60)
def test_nothing_outside_the_root_is_read_and_special_files_are_skipped(tmp_path):
    root, _ = build_tree(tmp_path)
    report, stray, store = run_recorded(root, tmp_path / "data")
    ids = sorted(r[0] for r in store.execute("SELECT id FROM documents"))
    texts = " ".join(str(r[0]) for r in store.execute("SELECT text FROM chunks"))
    store.close()
    print(f"fs tricks: ingested {ids}, failed {report.failed}, {len(stray)} stray opens")
    assert stray == []
    assert SECRET not in texts
    assert {"ok.txt", "sub/ok2.txt", "%2e%2e%2fx.txt", "new\nline.txt"} <= set(ids)
    assert not any(
        i.startswith(
            (
                "dir-link",
                "file-link",
                "rel-link",
                "zero",
                "random",
                "pipe",
                "null",
                "loop",
                "dangling",
                "sub/hop",
            )
        )
        for i in ids
    )


def swap_after_walk(monkeypatch, swaps):
    """Run `swaps` (callables) once the walk has checked every file and before any is read:
    the TOCTOU race of someone who can write in the ingest root, made deterministic."""
    real_walk = ingest.pipeline.walk

    def walk_then_swap(*args, **kwargs):
        files = list(real_walk(*args, **kwargs))
        for swap in swaps:
            swap()
        yield from files

    monkeypatch.setattr(ingest.pipeline, "walk", walk_then_swap)


@pytest.mark.timeout(30)
def test_a_file_or_folder_swapped_for_a_link_after_the_walk_is_not_read(tmp_path, monkeypatch):
    root, outside = build_tree(tmp_path)
    (root / "swap.txt").write_text("Swap\n\nAn innocent file.\n")
    (root / "swapdir").mkdir()
    (root / "swapdir" / "deep.txt").write_text("Innocent\n\nA file in a folder.\n")
    (root / "fifo-later.txt").write_text("Fifo\n\nSoon a pipe.\n")

    def swap_file():
        (root / "swap.txt").unlink()
        (root / "swap.txt").symlink_to(outside / "secret.txt")

    def swap_folder():  # a folder on the way, swapped for a link to a folder outside
        (root / "swapdir").rename(tmp_path / "parked")
        (root / "swapdir").symlink_to(outside / "dir", target_is_directory=True)

    def swap_fifo():  # a FIFO must not hang the run
        (root / "fifo-later.txt").unlink()
        os.mkfifo(root / "fifo-later.txt")

    swap_after_walk(monkeypatch, [swap_file, swap_folder, swap_fifo])
    report, stray, store = run_recorded(root, tmp_path / "data")
    texts = " ".join(str(r[0]) for r in store.execute("SELECT text FROM chunks"))
    ids = {r[0] for r in store.execute("SELECT id FROM documents")}
    store.close()
    failed = dict(report.failed)
    print(f"swap: failed {report.failed}, stray opens {stray}")
    assert stray == []
    assert SECRET not in texts
    assert {"swap.txt", "swapdir/deep.txt", "fifo-later.txt"} <= set(failed)
    assert {"ok.txt", "sub/ok2.txt"} <= ids


def test_verified_path_reads_the_checked_file_whatever_the_name_becomes(tmp_path):
    """The building block: a descriptor opened once, checked, and read through a private
    link, so a later swap of the name (or of a folder on the way) changes nothing."""
    root, outside = build_tree(tmp_path)
    (root / "sub" / "keep.txt").write_text("Kept\n\nThe checked content.\n")
    files = {s.relative: s for s in walk(root.resolve(), frozenset({"public"}), SUFFIXES)}
    assert {"ok.txt", "sub/ok2.txt", "sub/keep.txt"} <= set(files)
    assert not {"file-link.txt", "zero.txt", "pipe.txt", "loop.txt", "dangling.txt"} & set(files)
    assert not any(r.startswith(("dir-link", "sub/hop")) for r in files)

    keep = files["sub/keep.txt"]
    with verified_path(keep) as view:
        (root / "sub" / "keep.txt").unlink()
        (root / "sub" / "keep.txt").symlink_to(outside / "secret.txt")
        assert view.name == "keep.txt"
        assert "The checked content." in view.read_text()
        assert SECRET not in view.read_text()
    assert not view.exists() and not view.parent.exists()  # the private folder is gone

    # Swapped before the open: refused, whichever way.
    with pytest.raises(UnsafeSourceError), verified_path(keep):
        pass
    ok = files["sub/ok2.txt"]
    (outside / "ok2.txt").write_text(f"Parking\n\n{SECRET}\n")
    (root / "sub").rename(tmp_path / "sub-parked")
    (root / "sub").symlink_to(outside, target_is_directory=True)  # a folder on the way
    with recording() as recorder, pytest.raises(UnsafeSourceError), verified_path(ok):
        pass
    assert not any(Path(p).is_relative_to(outside) for p, _ in recorder.opens), recorder.opens
    plain = files["ok.txt"]
    (root / "ok.txt").unlink()
    os.mkfifo(root / "ok.txt")
    with pytest.raises(UnsafeSourceError), verified_path(plain):  # a FIFO now: no hang
        pass
    (root / "new.tmp").write_text("Canteen\n\nAnother file, same name.\n")  # another inode
    os.replace(root / "new.tmp", root / "ok.txt")
    with pytest.raises(UnsafeSourceError), verified_path(plain):
        pass
