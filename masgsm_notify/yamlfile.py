"""YAML that remembers where each value came from, so errors can say file:line:column.

Loading builds ordinary dicts and lists (subclasses, so the rest of the code need not care) whose
`marks` map each key or index to its position in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import YamlError


class LocatedDict(dict):
    """A mapping from YAML, with `marks[key]` giving `file:line:column` of each value and
    `key_marks[key]` that of the key itself (a value may start lines below its key)."""

    marks: dict[Any, str]
    key_marks: dict[Any, str]
    where: str


class LocatedList(list):
    """A sequence from YAML, with `marks[index]` giving `file:line:column` of each item."""

    marks: list[str]
    where: str


def _where(name: str, node: yaml.Node) -> str:
    return f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def load(text: str, name: str) -> Any:
    """Parse YAML text; `name` (usually the file path) prefixes every location."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:  # NUL and other control characters
        raise YamlError(_reader_problem(error, text, name)) from None
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader, name).build(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise YamlError(f"{where}: invalid YAML: {error.problem or error.context}") from None
    except yaml.reader.ReaderError as error:
        raise YamlError(_reader_problem(error, text, name)) from None
    except yaml.YAMLError as error:
        raise YamlError(f"{name}: invalid YAML: {error}") from None
    except RecursionError:
        raise YamlError(f"{name}: invalid YAML: values are nested too deeply") from None
    finally:
        loader.dispose()


def _reader_problem(error: yaml.reader.ReaderError, text: str, name: str) -> str:
    line = text.count("\n", 0, error.position) + 1
    column = error.position - text.rfind("\n", 0, error.position)
    character = error.character if isinstance(error.character, int) else ord(error.character)
    return (
        f"{name}:{line}:{column}: invalid YAML: the character #x{character:04x} is not "
        f"allowed ({error.reason})"
    )


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


# Aliases may repeat a value many times over (`&a [*b, *b, ...]` nested a few levels deep grows
# exponentially): past this many values repeated through aliases, the file is refused.
MAX_ALIASED_VALUES = 100_000


class _Builder:
    """Builds located values from YAML nodes. A node reached again through an alias gives the
    same value (as PyYAML does), an alias inside its own anchor is refused, and repetition
    through aliases is bounded."""

    def __init__(self, loader: yaml.SafeLoader, name: str):
        self.loader, self.name = loader, name
        self.built: dict[int, tuple[Any, int]] = {}  # id(node) -> (value, values in it)
        self.building: set[int] = set()
        self.repeated = 0

    def build(self, node: yaml.Node) -> Any:
        return self._build(node)[0]

    def _build(self, node: yaml.Node) -> tuple[Any, int]:
        name, key = self.name, id(node)
        if key in self.built:
            value, size = self.built[key]
            self.repeated += size
            if self.repeated > MAX_ALIASED_VALUES:
                raise YamlError(
                    f"{_where(name, node)}: aliases repeat values more than "
                    f"{MAX_ALIASED_VALUES:,} times; write the data out instead"
                )
            return value, size
        if key in self.building:
            raise YamlError(f"{_where(name, node)}: an alias refers to a value that contains it")
        self.building.add(key)
        value, size = self._new(node)
        self.building.discard(key)
        self.built[key] = (value, size)
        return value, size

    def _new(self, node: yaml.Node) -> tuple[Any, int]:
        name, size = self.name, 1
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            mapping = LocatedDict()
            mapping.marks, mapping.key_marks, mapping.where = {}, {}, _where(name, node)
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise YamlError(f"{_where(name, key_node)}: a key must be a plain value")
                if key in mapping:
                    raise YamlError(f"{_where(name, key_node)}: the key {key!r} appears twice")
                mapping[key], count = self._build(value_node)
                mapping.marks[key] = _where(name, value_node)
                mapping.key_marks[key] = _where(name, key_node)
                size += count
            return mapping, size
        if isinstance(node, yaml.SequenceNode):
            sequence = LocatedList()
            for item in node.value:
                value, count = self._build(item)
                sequence.append(value)
                size += count
            sequence.marks = [_where(name, item) for item in node.value]
            sequence.where = _where(name, node)
            return sequence, size
        return self._scalar(node), size

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
            if isinstance(value, str) and not value.isascii():
                value.encode("utf-8")  # "\ud800" is an escape YAML allows, but not a character
        except (ValueError, TypeError, OverflowError) as error:  # 2026-13-45, a 5000-digit int
            raise YamlError(f"{_where(self.name, node)}: invalid YAML value: {error}") from None
        return value


def key_where(mapping: Any, key: Any) -> str:
    """The location of the key itself (for errors about the key, not its value), else as
    `where`."""
    marks = getattr(mapping, "key_marks", None)
    if isinstance(marks, dict) and key in marks:
        return marks[key]
    return where(mapping, key)


def where(container: Any, key: Any) -> str:
    """The location of `container[key]` if known, else the container's own, else ''."""
    marks = getattr(container, "marks", None)
    if isinstance(marks, dict) and key in marks:
        return marks[key]
    if isinstance(marks, list) and isinstance(key, int) and 0 <= key < len(marks):
        return marks[key]
    return getattr(container, "where", "")
