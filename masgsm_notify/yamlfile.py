"""YAML that remembers where each value came from, so errors can say file:line:column.

Loading builds ordinary dicts and lists (subclasses, so the rest of the code need not care) whose
`marks` map each key or index to its position in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError


class YamlError(UsageError):
    """A YAML file could not be read or parsed."""


class LocatedDict(dict):
    """A mapping from YAML, with `marks[key]` giving `file:line:column` of each value."""

    marks: dict[Any, str]
    where: str


class LocatedList(list):
    """A sequence from YAML, with `marks[index]` giving `file:line:column` of each item."""

    marks: list[str]
    where: str


def _where(name: str, node: yaml.Node) -> str:
    return f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def load(text: str, name: str) -> Any:
    """Parse YAML text; `name` (usually the file path) prefixes every location."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node, name)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise YamlError(f"{where}: invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise YamlError(f"{name}: invalid YAML: {error}") from None
    finally:
        loader.dispose()


def load_file(path: Path, shown_as: str | None = None) -> Any:
    """Read and parse a YAML file, with a clear error when it is missing or not UTF-8."""
    name = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise YamlError(f"{name}: file not found") from None
    except UnicodeDecodeError as error:
        raise YamlError(f"{name}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise YamlError(f"{name}: cannot read it: {error.strerror}") from None
    return load(text, name)


def _build(loader: yaml.SafeLoader, node: yaml.Node, name: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        mapping = LocatedDict()
        mapping.marks, mapping.where = {}, _where(name, node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlError(f"{_where(name, key_node)}: a key must be a plain value")
            if key in mapping:
                raise YamlError(f"{_where(name, key_node)}: the key {key!r} appears twice")
            mapping[key] = _build(loader, value_node, name)
            mapping.marks[key] = _where(name, value_node)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        sequence = LocatedList(_build(loader, item, name) for item in node.value)
        sequence.marks, sequence.where = [_where(name, i) for i in node.value], _where(name, node)
        return sequence
    return loader.construct_object(node, deep=True)


def where(container: Any, key: Any) -> str:
    """The location of `container[key]` if known, else the container's own, else ''."""
    marks = getattr(container, "marks", None)
    if isinstance(marks, dict) and key in marks:
        return marks[key]
    if isinstance(marks, list) and isinstance(key, int) and 0 <= key < len(marks):
        return marks[key]
    return getattr(container, "where", "")
