"""Finding what to ingest: walking folders safely and deciding each file's access groups.

Only regular files inside the ingest root are read: symlinks that lead outside it or nowhere,
links to folders, FIFOs and devices are left out (and listed in `WalkNotes`); hidden entries are
skipped unmentioned. Groups come from, in rising precedence: the run's
`--groups`, the nearest `.hearth-groups.yaml` sidecar (glob -> groups) in the file's folder or
above it (up to and above the root; above it only one the running user or root owns and no one
else may change) with a rule matching the file, and a Markdown file's own front matter (applied
by its parser).

Checking a path and opening it later by name is a race: whoever can write in the root can swap a
checked file (or a folder on its way) for a link out in between. `open_verified` therefore opens
a walked file once, folder by folder from the root with O_NOFOLLOW (and O_NONBLOCK, so a FIFO
cannot hang it), and accepts the descriptor only if it is a regular file with the device and
inode the walk saw; `verified_path` turns that descriptor into a path parsers can open.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from index.errors import HearthError, InvalidGroupError
from index.types import parse_groups
from ingest import strict_yaml

SIDECAR_NAME = ".hearth-groups.yaml"
# A MediaWiki XML export, optionally compressed, also under Wikimedia's own split names such as
# "enwiki-latest-pages-articles1.xml-p10p30302.bz2" (".xml" followed by a page range).
DUMP_NAME = re.compile(r"\.xml(?:-p\d+p\d+[\w-]*)?(?:\.bz2|\.gz)?$", re.IGNORECASE)


def is_wiki_dump(path: Path) -> bool:
    """Whether a path names a MediaWiki XML export (optionally compressed)."""
    return DUMP_NAME.search(path.name) is not None


class SidecarError(HearthError):
    """The `.hearth-groups.yaml` file cannot be read or holds an invalid mapping."""

    code = "invalid_sidecar"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a path glob (`**` crosses folders, `*` and `?` do not) to a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class GroupRules:
    """Glob -> groups rules from a sidecar; the last matching rule wins."""

    rules: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = ()

    @classmethod
    def load(cls, root: Path) -> GroupRules:
        path = root / SIDECAR_NAME
        if not path.is_file():
            return cls()
        try:
            data = strict_yaml.load(path.read_text(encoding="utf-8")) or {}
        except strict_yaml.DuplicateKeyError as exc:  # the first rule was silently replaced
            raise SidecarError(f"{path} lists {exc.key!r} twice (line {exc.line})") from None
        except yaml.MarkedYAMLError as exc:  # where, as front matter errors say
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SidecarError(
                f"{path} is not valid YAML{where}: {exc.problem or exc.context}"
            ) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SidecarError(f"{path} cannot be read: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise SidecarError(f"{path} must map glob patterns to lists of groups")
        rules = []
        for pattern, groups in data.items():
            if not isinstance(groups, list | str) or not str(pattern).strip():
                raise SidecarError(f"{path}: {pattern!r} needs a list of groups")
            try:
                parsed = parse_groups(
                    groups if isinstance(groups, str) else [str(g) for g in groups]
                )
            except InvalidGroupError as exc:
                raise SidecarError(f"{path}: {exc.message}") from None
            if not parsed:
                raise SidecarError(f"{path}: {pattern!r} has an empty group list")
            rules.append((_glob_regex(str(pattern).strip().lstrip("/")), parsed))
        return cls(tuple(rules))

    def matching(self, relative: str) -> frozenset[str] | None:
        """The groups of the last rule matching `relative`, or None if none does."""
        chosen = None
        for regex, groups in self.rules:
            if regex.match(relative):
                chosen = groups
        return chosen


@dataclass(frozen=True)
class Sidecars:
    """The `.hearth-groups.yaml` rules that apply in a folder, nearest first: a file gets the
    groups of the nearest rule matching it. Those of folders above an ingested one count (with
    only the ingested folder's own, `docs/finance/` ingested alone was public although `docs/`
    says `"finance/**": [finance]`), and so do those of folders below it (`secret/` ingested
    as part of `docs/` ignored its own sidecar and was public)."""

    chain: tuple[tuple[Path, GroupRules], ...] = ()

    @classmethod
    def above(
        cls, folder: Path, notes: WalkNotes | None = None, *, check_own: bool = False
    ) -> Sidecars:
        """The sidecars of `folder` (resolved) and of every folder above it. One above it (and
        `folder`'s own with `check_own`: a file ingested alone) must come from root, the running
        user or `folder`'s owner, and not be writable by everyone: anyone may write
        /tmp/.hearth-groups.yaml. Another is refused (SidecarError), not passed over: its rules
        might have been the ones restricting these files. Those applied go to `notes`."""
        owners = {0, os.getuid()}
        with contextlib.suppress(OSError):
            owners.add(folder.stat().st_uid)
        chain = []
        for where in (folder, *folder.parents):
            path = where / SIDECAR_NAME
            if not (path.is_file() or path.is_symlink()):
                continue
            if where != folder or check_own:
                why = _untrusted(path, owners)
                if why:
                    raise SidecarError(
                        f"{path} is {why}: Hearth does not apply group rules another user may "
                        "have written; give it the owner of the folder ingested and mode 0644, "
                        "or remove it"
                    )
            rules = GroupRules.load(where)
            if not rules.rules:
                continue
            if where != folder and notes is not None:
                notes.rules_above.append(str(path))
            chain.append((where, rules))
        return cls(tuple(chain))

    def below(self, folder: Path) -> Sidecars:
        """These rules with those of `folder`'s own sidecar (a folder under the walked one)
        first."""
        path = folder / SIDECAR_NAME
        # inside the tree any owner may set rules, but not anyone who may write the file
        why = _untrusted(path, owners=None) if os.path.lexists(path) else None
        if why:
            raise SidecarError(
                f"{path} is {why}: Hearth does not apply group rules anyone may have "
                "written; fix its mode, or remove it"
            )
        try:
            rules = GroupRules.load(folder)
        except PermissionError:  # a folder that cannot be entered: the walk reports it
            return self
        return Sidecars(((folder, rules), *self.chain)) if rules.rules else self

    def groups_for(self, path: Path, default: frozenset[str]) -> frozenset[str]:
        """The groups for `path` (under the folder given to `above`), else `default`."""
        for folder, rules in self.chain:
            matched = rules.matching(path.relative_to(folder).as_posix())
            if matched is not None:
                return matched
        return default


def _untrusted(path: Path, owners: set[int] | None) -> str | None:
    """Why the sidecar at `path` may have been written by someone else (with `owners` None,
    any owner will do), or None."""
    try:
        status = os.lstat(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISLNK(status.st_mode):
        return "a link"
    if owners is not None and status.st_uid not in owners:
        return "owned by another user"
    if status.st_mode & 0o002:
        return "writable by every user"  # (a group may share a tree: umask 002)
    return None


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: its path, its id relative to the root, and the groups the root gives it.

    `root`, `real` (the file's real location relative to `root`, links inside the root
    resolved) and `identity` (st_dev, st_ino) are what the walk checked; `open_verified` holds
    the later read to exactly that file.
    """

    path: Path
    relative: str
    groups: frozenset[str]
    root: Path | None = None
    real: str | None = None
    identity: tuple[int, int] | None = None


class UnsafeSourceError(HearthError):
    """A walked file changed into something else (a link, a FIFO, another file) before its read."""

    code = "unsafe_source"


@dataclass
class WalkNotes:
    """What a walk passed over, for the run's report: files of types not read (by suffix,
    "(none)" without one), folders that could not be listed (real path, reason) and entries
    left out as unsafe or unreachable (path under the root, reason)."""

    skipped: Counter[str] = field(default_factory=Counter)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    rules_above: list[str] = field(default_factory=list)  # sidecars above the root, applied


def walk(
    root: Path,
    default_groups: frozenset[str],
    supported: frozenset[str],
    notes: WalkNotes | None = None,
) -> Iterator[SourceFile]:
    """Every ingestible file under `root`, in a stable order, never leaving the root; what it
    passed over goes to `notes` (hidden entries do not).
    A file reached twice (a link to a file of the same folder tree) is read once, by its own
    name: twice, it would be two documents with one text."""
    notes = notes if notes is not None else WalkNotes()
    found = [
        (source, source.path.is_symlink())
        for source in _walk(root, default_groups, supported, notes)
    ]
    by_own_name = {source.identity for source, link in found if not link}
    taken: set[tuple[int, int] | None] = set()
    for source, link in found:
        if source.identity in taken or (link and source.identity in by_own_name):
            continue
        taken.add(source.identity)
        yield source


def _walk(
    root: Path, default_groups: frozenset[str], supported: frozenset[str], notes: WalkNotes
) -> Iterator[SourceFile]:
    root = root.resolve()
    rules_in = {str(root): Sidecars.above(root, notes)}  # by folder, filled in as walked

    def cannot_list(error: OSError) -> None:
        # a folder that cannot be listed is not an empty one: its stored files must not be
        # taken for deleted (--prune would remove them)
        notes.unreadable.append((Path(error.filename or root), error.strerror or str(error)))

    for folder, dirs, files in os.walk(root, onerror=cannot_list, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # a folder link swapped for a folder after the check below: its parent's rules
        sidecars = rules_in.pop(folder, None) or rules_in.get(os.path.dirname(folder), Sidecars())
        for name in dirs:
            if not (Path(folder) / name).is_symlink():  # never entered (below)
                rules_in[os.path.join(folder, name)] = sidecars.below(Path(folder) / name)
        for name in dirs:
            if (Path(folder) / name).is_symlink():  # os.walk lists it, but never enters it
                relative = (Path(folder) / name).relative_to(root).as_posix()
                notes.left_out.append((relative, "a link to a folder, not followed"))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not (is_wiki_dump(path) or path.suffix.lower() in supported):
                notes.skipped[path.suffix.lower() or "(none)"] += 1
                continue
            relative = path.relative_to(root).as_posix()
            source = checked_source(path, root, relative, sidecars.groups_for(path, default_groups))
            if source is not None:
                yield source
            else:
                notes.left_out.append((relative, why_left_out(path, root)))


def why_left_out(path: Path, root: Path) -> str:
    """Why `checked_source` refused `path`, in words for the report (a resolved `root`)."""
    try:
        real = path.resolve(strict=True)
    except RuntimeError:
        return "a link loop"
    except OSError as exc:
        if path.is_symlink():
            return "a link to nothing"
        return exc.strerror or "cannot be read"
    if not real.is_relative_to(root):
        return "a link out of the folder"
    return "not a regular file"


def _file_names(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        if path.is_dir():
            for _, _, files in os.walk(path):
                yield from files
        else:
            yield path.name


def suffixes_under(paths: Iterable[Path], wanted: frozenset[str], look_at: int = 5000) -> list[str]:
    """Which of the `wanted` suffixes the files named or under `paths` have, in the order met:
    a quick look by name (no checks, nothing opened) at no more than `look_at` names, that
    stops once it found them all."""
    found: dict[str, None] = {}
    for name in itertools.islice(_file_names(paths), look_at):
        suffix = Path(name).suffix.lower()
        if suffix in wanted:
            found[suffix] = None
            if len(found) == len(wanted):
                break
    return list(found)


def checked_source(
    path: Path, root: Path, relative: str, groups: frozenset[str]
) -> SourceFile | None:
    """The SourceFile for `path` if it is a regular file whose real location is inside `root`
    (which must be resolved), with what was checked recorded; None otherwise."""
    try:
        real = path.resolve(strict=True)
        status = os.lstat(real)  # resolved: the file itself, never a link
    except (OSError, RuntimeError):
        return None
    if not stat.S_ISREG(status.st_mode) or not real.is_relative_to(root):
        return None
    inside = real.relative_to(root).as_posix()
    return SourceFile(path, relative, groups, root, inside, (status.st_dev, status.st_ino))


def is_safe_file(path: Path, root: Path) -> bool:
    """A regular file whose real location is inside `root` (symlinks out, FIFOs, devices: no)."""
    try:
        real = path.resolve(strict=True)
        mode = os.stat(real).st_mode
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(mode) and real.is_relative_to(root)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_PROC_FD = Path("/proc/self/fd")


def _open_in(folder: int, name: str, flags: int) -> int:
    """openat(folder, name): through /proc/self/fd where there is one, so that audit hooks
    see an absolute path (a relative name with dir_fd would look relative to the cwd)."""
    if _PROC_FD.is_dir():
        return os.open(f"{_PROC_FD}/{folder}/{name}", flags)
    return os.open(name, flags, dir_fd=folder)  # pragma: no cover - not Linux


def open_verified(source: SourceFile) -> int:
    """A read-only descriptor of exactly the file the walk checked, or UnsafeSourceError.

    Each folder below the root, then the file, is opened inside the one before with
    O_NOFOLLOW, so no link swapped in after the walk is followed anywhere on the way (the file
    with O_NONBLOCK too, so a FIFO cannot hang the run); then the descriptor must be a regular
    file with the device and inode the walk saw. Nothing outside the root is ever opened.
    The caller closes the descriptor.
    """
    if source.root is None or source.real is None or source.identity is None:
        raise UnsafeSourceError(f"{source.relative}: not checked by the walk")
    parts = PurePosixPath(source.real).parts
    if not parts or any(part in (".", "..") or "/" in part for part in parts):
        raise UnsafeSourceError(f"{source.relative}: not a plain path inside the root")
    folders: list[int] = []
    try:
        folders.append(os.open(source.root, _DIR_FLAGS))
        for part in parts[:-1]:
            folders.append(_open_in(folders[-1], part, _DIR_FLAGS))
        fd = _open_in(folders[-1], parts[-1], _FILE_FLAGS)
    except PermissionError as exc:  # a file or folder this user may not read: not a race
        raise UnsafeSourceError(f"{source.relative}: cannot read: {exc.strerror}") from None
    except OSError as exc:
        raise UnsafeSourceError(
            f"{source.relative}: changed during the ingest ({exc.strerror or exc}); not read"
        ) from None
    finally:
        for folder in folders:
            os.close(folder)
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode) or (status.st_dev, status.st_ino) != source.identity:
        os.close(fd)
        raise UnsafeSourceError(f"{source.relative}: replaced during the ingest; not read")
    os.set_blocking(fd, True)
    return fd


@contextlib.contextmanager
def verified_path(source: SourceFile) -> Iterator[Path]:
    """A path, named like the source (same suffix and stem), that opens exactly the checked
    file whatever happens to `source.path` meanwhile; valid inside the `with` block.

    It is a link in a private temporary folder to `/proc/<pid>/fd/<n>` of the verified
    descriptor, so nothing is copied and a parser child process (same user) can open it too;
    without /proc the file is copied from the descriptor instead.
    """
    fd = open_verified(source)
    folder = Path(tempfile.mkdtemp(prefix="hearth-source-"))  # mode 0700: ours alone
    local = folder / source.path.name
    try:
        handle = Path(f"/proc/{os.getpid()}/fd/{fd}")
        if handle.exists():
            local.symlink_to(handle)
        else:  # pragma: no cover - not Linux
            status = os.fstat(fd)
            with os.fdopen(os.dup(fd), "rb") as reader, local.open("xb") as writer:
                shutil.copyfileobj(reader, writer)
            os.utime(local, ns=(status.st_atime_ns, status.st_mtime_ns))
        yield local
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            local.unlink(missing_ok=True)
            folder.rmdir()
