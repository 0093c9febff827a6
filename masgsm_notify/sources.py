"""Built-in recipient sources: csv, jsonl, yaml, inline and input.

A source turns the value under a pipeline's `recipients:` key into a stream of rows, each with a
location (`customers.csv:12`) for error messages. Sources stream: a CSV of a million rows is read
a row at a time, never held whole. Plugins add sources the same way these are added, through the
`register_sources` hook.
"""

from __future__ import annotations

import codecs
import collections
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from . import yamlfile
from .charset import Detected, choose_encoding, require_decodable
from .errors import SourceError
from .hookspecs import hookimpl

Row = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class SourceContext:
    """What a source may need besides its own value."""

    base_dir: Path  # relative paths are resolved against the pipeline's folder
    input: Any  # the JSON document given with --input, or None
    where: str  # location of the source's value in the pipeline file


class Source:
    """A stream of recipient rows.

    Subclasses set `name` (the key under `recipients:`), `options` (further keys they accept under
    `recipients:`, with their types) and implement `rows()`.
    """

    name: ClassVar[str]
    options: ClassVar[dict[str, type]] = {}
    # For sources read as text in an encoding of their own choosing (CSV): the codec and why,
    # set once `rows()` has started, for the plan to show.
    encoding: str | None = None
    encoding_evidence: str | None = None

    def __init__(self, value: Any, options: dict[str, Any], context: SourceContext):
        self.value = value
        self.settings = options
        self.context = context

    def rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def fingerprint(self) -> bytes:
        """Bytes that change when the recipients change (for run keys derived from inputs)."""
        return b""


class FileSource(Source):
    """A source read from a file named by its value, relative to the pipeline."""

    def __init__(self, value: Any, options: dict[str, Any], context: SourceContext):
        super().__init__(value, options, context)
        if not isinstance(value, str) or not value:
            raise SourceError(f"{context.where}: {self.name}: expected a file path")
        self.path = context.base_dir / value
        self.shown = value
        if not self.path.is_file():
            raise SourceError(f"{context.where}: {self.name} file {str(self.path)!r} not found")

    def fingerprint(self) -> bytes:
        digest = hashlib.sha256()
        with self.path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        return digest.digest()


class CsvSource(FileSource):
    """CSV with a header row. The delimiter is sniffed among `, ; tab |` unless given; the
    encoding is chosen on evidence from the whole file (see `charset`) unless given.

    After `rows()` has started, `encoding` is the codec the file is read with and
    `encoding_evidence` says why, for the plan.
    """

    name = "csv"
    options: ClassVar[dict[str, type]] = {"delimiter": str, "encoding": str}

    def rows(self) -> Iterator[Row]:
        chosen = self._encoding()
        self.encoding, self.encoding_evidence = chosen.encoding, chosen.evidence
        try:
            with self.path.open(newline="", encoding=chosen.encoding) as file:
                yield from self._read(file)
        except UnicodeError as error:  # the file changed after its encoding was checked
            raise SourceError(
                f"{self.shown}: not valid {chosen.encoding} text ({error}); "
                "set recipients.encoding (e.g. utf-8 or cp1254)"
            ) from None

    def _encoding(self) -> Detected:
        given = self.settings.get("encoding")
        if not given:
            return choose_encoding(self.path, self.shown)
        try:
            b"-".decode(given, "ignore")  # LookupError: an unknown name, or not a text codec
        except LookupError:
            raise SourceError(f"{self.context.where}: unknown encoding {given!r}") from None
        return require_decodable(self.path, self.shown, given)

    def _read(self, file: Any) -> Iterator[Row]:
        delimiter = self.settings.get("delimiter") or _sniff_delimiter(file.read(16384))
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise SourceError(
                f"{self.context.where}: recipients.delimiter must be one character other than "
                f"a quote or a line break, not {delimiter!r}"
            )
        file.seek(0)
        reader = csv.reader(file, delimiter=delimiter)
        try:
            yield from self._rows(reader, delimiter)
        except csv.Error as error:  # a field over csv's size limit, among others
            raise SourceError(f"{self.shown}:{reader.line_num}: unreadable CSV: {error}") from None

    def _rows(self, reader: Any, delimiter: str) -> Iterator[Row]:
        header = [name.strip() for name in next(reader, [])]
        if not header or not any(header):
            raise SourceError(f"{self.shown}:1: the CSV file has no header row")
        counts = collections.Counter(header)
        repeated = [i for i, h in enumerate(header, start=1) if counts[h] > 1]
        if repeated:  # by position: a header is the file's content, which is not always ours
            shown = ", ".join(map(str, repeated[:10]))
            more = f" and {len(repeated) - 10:,} more" if len(repeated) > 10 else ""
            raise SourceError(f"{self.shown}:1: columns {shown}{more} have the same name")
        width, shown = len(header), self.shown
        for fields in reader:
            if len(fields) != width:
                if not any(fields):
                    continue
                raise SourceError(
                    f"{shown}:{reader.line_num}: the row has {len(fields):,} fields but the header "
                    f"has {width:,} (an unquoted {delimiter!r} inside a value?)"
                )
            yield f"{shown}:{reader.line_num}", dict(zip(header, fields, strict=True))


class JsonLinesSource(FileSource):
    """One JSON object per line; blank lines are ignored."""

    name = "jsonl"

    def rows(self) -> Iterator[Row]:
        with self.path.open("rb") as file:
            offset = 0
            for number, raw in enumerate(file, start=1):
                line = _json_text(raw, self.shown, number, offset)
                offset += len(raw)
                if not line.strip():
                    continue
                where = f"{self.shown}:{number}"
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise SourceError(f"{where}: invalid JSON: {error}") from None
                yield where, _require_mapping(row, where)


class JsonArraySource(FileSource):
    """One JSON array of objects (`[{...}, {...}]`), each row located by the line it starts on.

    The file's text is read whole, but rows are decoded one at a time as they are consumed, so
    memory holds the text, not every row as Python objects besides. Not registered as a
    pipeline source; the Apprise service reads `contacts=*.json` with it.
    """

    name = "json"

    def rows(self) -> Iterator[Row]:
        text = _json_text(self.path.read_bytes(), self.shown, 1, 0)
        decoder = json.JSONDecoder()
        pos = _JSON_SPACE.match(text).end()  # type: ignore[union-attr]
        if not text.startswith("[", pos):
            raise SourceError(
                f"{self.shown}:{_line_of(text, pos)}: a .json file must hold one JSON array of "
                "objects ([{...}, {...}]); for one object a line, name the file .jsonl"
            )
        pos = _JSON_SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        line, counted = _line_of(text, pos), pos
        if text.startswith("]", pos):
            pos += 1
        else:
            while True:
                line += text.count("\n", counted, pos)
                counted = pos
                where = f"{self.shown}:{line}"
                try:
                    row, pos = decoder.raw_decode(text, pos)
                except json.JSONDecodeError as error:
                    raise SourceError(
                        f"{self.shown}:{error.lineno}: invalid JSON: {error.msg}"
                    ) from None
                yield where, _require_mapping(row, where)
                pos = _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]
                if text.startswith("]", pos):
                    pos += 1
                    break
                if not text.startswith(",", pos):
                    raise SourceError(
                        f"{self.shown}:{_line_of(text, pos)}: invalid JSON: expected ',' or ']' "
                        "after an element of the array"
                    )
                pos = _JSON_SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        end = _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if end != len(text):
            raise SourceError(
                f"{self.shown}:{_line_of(text, end)}: invalid JSON: text after the array"
            )


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_text(raw: bytes, shown: str, line: int, offset: int) -> str:
    """JSON bytes (from `line` and byte `offset` of the file) as text, without a UTF-8 BOM at
    the file's start; JSON is UTF-8, so another byte is an error naming its line and offset."""
    try:
        return raw.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as error:
        at = error.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        line += raw.count(b"\n", 0, at)
        raise SourceError(
            f"{shown}:{line}: not UTF-8 text: byte 0x{raw[at]:02X} at offset {offset + at} "
            "(JSON files are UTF-8)"
        ) from None


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class YamlSource(FileSource):
    """A YAML file holding a list of mappings (read whole: meant for short lists)."""

    name = "yaml"

    def rows(self) -> Iterator[Row]:
        data = yamlfile.load_file(self.path, self.shown)
        yield from _located_rows(data, self.shown)


class InlineSource(Source):
    """A list of mappings written in the pipeline itself."""

    name = "inline"

    def rows(self) -> Iterator[Row]:
        yield from _located_rows(self.value, self.context.where)


class InputSource(Source):
    """A list inside the JSON given with `--input`, at a dotted path (`alerts`, `data.items`);
    an empty path means the document itself is the list."""

    name = "input"

    def rows(self) -> Iterator[Row]:
        path = "" if self.value in (None, True) else str(self.value)
        data = self.context.input
        if data is None:
            raise SourceError(f"{self.context.where}: this pipeline reads --input, none was given")
        for part in filter(None, path.split(".")):
            if isinstance(data, dict) and part in data:
                data = data[part]
            elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
                data = data[int(part)]
            else:
                raise SourceError(f"{self.context.where}: the --input JSON has no {path!r}")
        if not isinstance(data, list):
            raise SourceError(
                f"{self.context.where}: --input at {path or 'the top'!r} is not a list"
            )
        for index, row in enumerate(data):
            where = f"input:{path or ''}[{index}]"
            yield where, _require_mapping(row, where)


def _located_rows(data: Any, shown: str) -> Iterator[Row]:
    if not isinstance(data, list):
        raise SourceError(f"{yamlfile.where(data, None) or shown}: expected a list of recipients")
    for index, row in enumerate(data):
        where = yamlfile.where(data, index) or f"{shown}[{index}]"
        yield where, _require_mapping(row, where)


# What a row that is not a mapping is, named without quoting it.
_JSON_KINDS = {
    str: "a string",
    list: "a list",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _require_mapping(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        kind = _JSON_KINDS.get(type(row), "a value")
        raise SourceError(f"{where}: a recipient must be a mapping of fields, not {kind}")
    return row


def _sniff_delimiter(sample: str) -> str:
    header = sample.split("\n", 1)[0]
    counts = {d: header.count(d) for d in ",;\t|"}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


@hookimpl
def register_sources(register: Callable[[str, type[Source]], None]) -> None:
    for source in (CsvSource, JsonLinesSource, YamlSource, InlineSource, InputSource):
        register(source.name, source)
