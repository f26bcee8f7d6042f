"""Rasa's YAML, read with line numbers, so that what Shopbot leaves out can be pointed at.

Rasa reads YAML 1.2, where ``yes``, ``no``, ``on`` and ``off`` are plain strings (a response
``text: yes`` says "yes"); PyYAML's safe loader is YAML 1.1, so its booleans are narrowed here to
``true``/``false``. Mappings and lists come back as ``dict``/``list`` subclasses carrying the line
they start on (``line``) and, for mappings, the line of each key (``key_lines``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from core.errors import BadRequest


class YamlMap(dict[Any, Any]):
    """A mapping with the line it starts on and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """The line of ``key``, or of the mapping when the key is absent."""
        return getattr(self, "key_lines", {}).get(key, self.line)


class YamlList(list[Any]):
    """A list with the line it starts on (1-based)."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and line-numbered containers."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    out = YamlMap()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as err:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark) from err
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> YamlList:
    out = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def read_yaml(path: Path, shown: str) -> Any:
    """Parse ``path``; unreadable or invalid YAML is a ``BadRequest`` naming ``shown`` and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadRequest(f"cannot read {shown}: {err}") from err
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = getattr(err, "problem", None) or str(err)
        raise BadRequest(f"{where}: not valid YAML: {problem}") from err


def read_mapping(path: Path, shown: str) -> YamlMap:
    """A YAML file whose top level must be a mapping (empty files are an empty mapping)."""
    data = read_yaml(path, shown)
    if data is None:
        empty = YamlMap()
        empty.key_lines = {}
        return empty
    if not isinstance(data, YamlMap):
        raise BadRequest(f"{shown}: expected a mapping at the top level, not {type(data).__name__}")
    return data


def line_of(value: Any, default: int = 0) -> int:
    """The line a parsed container starts on, or ``default`` for a scalar."""
    return int(getattr(value, "line", default) or default)


__all__ = ["YamlMap", "YamlList", "read_yaml", "read_mapping", "line_of"]
