"""Finding what to ingest: walking folders safely and deciding each file's access groups.

Only regular files inside the ingest root are read: symlinks that lead outside it, FIFOs,
devices and hidden entries are skipped. Groups come from, in rising precedence: the run's
`--groups`, the root's `.hearth-groups.yaml` sidecar (glob -> groups), and a Markdown file's own
front matter (applied by its parser).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from index.errors import HearthError, InvalidGroupError
from index.types import parse_groups

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
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SidecarError(f"{SIDECAR_NAME} cannot be read: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise SidecarError(f"{SIDECAR_NAME} must map glob patterns to lists of groups")
        rules = []
        for pattern, groups in data.items():
            if not isinstance(groups, list | str) or not str(pattern).strip():
                raise SidecarError(f"{SIDECAR_NAME}: {pattern!r} needs a list of groups")
            try:
                parsed = parse_groups(
                    groups if isinstance(groups, str) else [str(g) for g in groups]
                )
            except InvalidGroupError as exc:
                raise SidecarError(f"{SIDECAR_NAME}: {exc.message}") from None
            if not parsed:
                raise SidecarError(f"{SIDECAR_NAME}: {pattern!r} has an empty group list")
            rules.append((_glob_regex(str(pattern).strip().lstrip("/")), parsed))
        return cls(tuple(rules))

    def groups_for(self, relative: str, default: frozenset[str]) -> frozenset[str]:
        chosen = default
        for regex, groups in self.rules:
            if regex.match(relative):
                chosen = groups
        return chosen


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: its path, its id relative to the root, and the groups the root gives it."""

    path: Path
    relative: str
    groups: frozenset[str]


def walk(
    root: Path, default_groups: frozenset[str], supported: frozenset[str]
) -> Iterator[SourceFile]:
    """Every ingestible file under `root`, in a stable order, never leaving the root."""
    root = root.resolve()
    rules = GroupRules.load(root)
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not is_safe_file(path, root):
                continue
            if not (is_wiki_dump(path) or path.suffix.lower() in supported):
                continue
            relative = path.relative_to(root).as_posix()
            yield SourceFile(path, relative, rules.groups_for(relative, default_groups))


def is_safe_file(path: Path, root: Path) -> bool:
    """A regular file whose real location is inside `root` (symlinks out, FIFOs, devices: no)."""
    try:
        real = path.resolve(strict=True)
        mode = os.stat(real).st_mode
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(mode) and real.is_relative_to(root)
