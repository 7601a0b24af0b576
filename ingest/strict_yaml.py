"""YAML for access rules: safe (no tags run) and refusing a key given twice.

PyYAML keeps the last of two equal keys, silently: `groups: hr` then `groups: public` in front
matter, or a glob listed twice in a `.hearth-groups.yaml`, gave the file the groups its author
meant to override. Front matter and sidecars both load through here."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives `key` twice; `line` is 1-based."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"{key!r} is given twice (line {line})")
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # `<<` merge keys, as SafeLoader resolves them
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                if key in seen:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """The YAML document in `text`; DuplicateKeyError or another yaml.YAMLError if bad."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no tags run
