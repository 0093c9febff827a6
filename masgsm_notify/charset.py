"""Choosing a CSV file's encoding on evidence from the whole file, never from its first lines.

Turkish recipient lists come as UTF-8 (with or without a byte-order mark), as Windows-1254
(cp1254, what Turkish Excel's "CSV" writes) or as UTF-16 (Excel's "Unicode Text"). In order:

1. a byte-order mark names the encoding: UTF-8, UTF-16 or UTF-32;
2. NUL bytes in every other byte of the start, and not in the others, are UTF-16 without a mark;
3. a file that is valid UTF-8 from end to end is UTF-8 (plain ASCII is UTF-8 too);
4. a file with bytes that are not UTF-8 and no multi-byte UTF-8 sequence anywhere is cp1254;
5. a file with both (a line pasted from another program into a UTF-8 file) is refused, naming the
   line and offset of the first byte that is not UTF-8: either reading would garble some names,
   and the cp1254 one would also send them in the dearer UCS-2 encoding.

Whatever the encoding, every byte of the file must decode in it before a row is read, so a bad
byte is reported with its line and offset rather than halfway through the plan. The file is read
in chunks, and the checks run in C (codecs, a bytes regex): memory stays flat and a 50 MB file
takes a fraction of a second.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .errors import SourceError

__all__ = ["Detected", "choose_encoding", "require_decodable"]

_CHUNK = 1 << 20
# Byte-order marks, longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32", "a UTF-32 byte-order mark"),
    (codecs.BOM_UTF32_BE, "utf-32", "a UTF-32 byte-order mark"),
    (codecs.BOM_UTF8, "utf-8-sig", "a UTF-8 byte-order mark"),
    (codecs.BOM_UTF16_LE, "utf-16", "a UTF-16 byte-order mark"),
    (codecs.BOM_UTF16_BE, "utf-16", "a UTF-16 byte-order mark"),
)
# A character that UTF-8 writes in more than one byte: neither ASCII nor a byte that
# surrogateescape decoding kept as it was.
_MULTI_BYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")


@dataclass(frozen=True)
class Detected:
    """The codec a file is read with, and the evidence for it, for the plan to show."""

    encoding: str  # a Python codec name: utf-8, utf-8-sig, cp1254, utf-16, utf-16-le, ...
    evidence: str


class _Bad(NamedTuple):
    """Where a file stops decoding: its byte offset and line, and what is wrong there."""

    offset: int
    line: int
    what: str  # "byte 0xFE", or why the decoder stopped


def choose_encoding(path: Path, shown: str) -> Detected:
    """The encoding of the file at `path` (`shown` in messages), or a SourceError naming the
    line and offset of the byte that rules the candidates out."""
    with path.open("rb") as file:
        head = file.read(4096)
        named = _by_mark(head) or _utf16_without_mark(head)
        if named:
            bad = _first_undecodable(file, named.encoding)
            if bad and named.encoding == "utf-8-sig":
                raise SourceError(
                    f"{shown}:{bad.line}: the file mixes encodings: {bad.what} at offset "
                    f"{bad.offset} is not UTF-8, but the file starts with a UTF-8 byte-order "
                    f"mark. {_PASTED}"
                )
            if bad:
                raise SourceError(
                    f"{shown}:{bad.line}: not valid {named.encoding} text at offset {bad.offset}: "
                    f"{bad.what}, though the file starts with {named.evidence}; set "
                    "recipients.encoding to the file's encoding"
                )
            return named
        bad = _first_undecodable(file, "utf-8")
        if bad is None:
            return Detected("utf-8", "valid UTF-8 throughout")
        sequence = _first_utf8_sequence(file)
        if sequence is not None:
            at, text = sequence
            raise SourceError(
                f"{shown}:{bad.line}: the file mixes encodings: {bad.what} at offset "
                f"{bad.offset} is not UTF-8, but line {_line_at(file, at)} holds UTF-8 text "
                f"({text!r}). {_PASTED}"
            )
        other = _first_undecodable(file, "cp1254")
        if other is not None:
            raise SourceError(
                f"{shown}:{other.line}: neither UTF-8 nor Windows-1254 (cp1254) text at offset "
                f"{other.offset}: {other.what}; set recipients.encoding to the file's encoding"
            )
        return Detected(
            "cp1254",
            f"not UTF-8 ({bad.what} on line {bad.line}), with no UTF-8 sequence anywhere: "
            "Windows-1254, the Turkish code page",
        )


def require_decodable(path: Path, shown: str, encoding: str) -> Detected:
    """Check that the whole file decodes in the encoding the pipeline names."""
    with path.open("rb") as file:
        bad = _first_undecodable(file, encoding)
    if bad is not None:
        raise SourceError(
            f"{shown}:{bad.line}: not valid {encoding} text at offset {bad.offset}: {bad.what} "
            "(the encoding recipients.encoding names)"
        )
    return Detected(encoding, "set by recipients.encoding")


_PASTED = (
    "Was a line pasted from another program? Save the file as UTF-8 throughout (or, if it is "
    "Windows-1254 throughout, set recipients.encoding: cp1254)."
)


def _by_mark(head: bytes) -> Detected | None:
    for mark, encoding, evidence in _MARKS:
        if head.startswith(mark):
            return Detected(encoding, evidence)
    return None


def _utf16_without_mark(head: bytes) -> Detected | None:
    """ASCII in UTF-16 has a NUL for every other byte (after it in LE, before it in BE), which
    no text in a one-byte encoding or UTF-8 has."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    pairs = len(head) // 2
    if pairs and odd * 4 > pairs and even * 10 <= odd:
        return Detected("utf-16-le", "UTF-16 (little-endian) without a byte-order mark")
    if pairs and even * 4 > pairs and odd * 10 <= even:
        return Detected("utf-16-be", "UTF-16 (big-endian) without a byte-order mark")
    return None


def _first_undecodable(file: BinaryIO, encoding: str) -> _Bad | None:
    """Where the file, read from its start, first fails to decode in `encoding`, or None."""
    file.seek(0)
    if codecs.lookup(encoding).name == "utf-8-sig":
        encoding = "utf-8"  # the same bytes, but offsets then count the mark
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, line = 0, 1
    for chunk in iter(lambda: file.read(_CHUNK), b""):
        state = decoder.getstate()
        try:
            line += decoder.decode(chunk).count("\n")
        except UnicodeError as error:  # UTF-16 without its mark raises a bare UnicodeError
            return _locate(decoder, state, chunk, offset, line, error)
        offset += len(chunk)
    state = decoder.getstate()
    try:
        decoder.decode(b"", final=True)
    except UnicodeError as error:
        return _locate(decoder, state, b"", offset, line, error)
    return None


def _locate(
    decoder: codecs.IncrementalDecoder,
    state: tuple[bytes, int],
    chunk: bytes,
    offset: int,
    line: int,
    error: UnicodeError,
) -> _Bad:
    """Where a decode error is in the file: the decoder is rewound to before the chunk and fed
    the chunk's bytes up to the error, to count the lines before it."""
    pending = state[0]
    data = pending + chunk
    at = getattr(error, "start", 0)  # into `data`: the pending bytes, then the chunk
    decoder.setstate(state)
    with contextlib.suppress(UnicodeError):  # those bytes decoded a moment ago
        line += decoder.decode(chunk[: max(at - len(pending), 0)]).count("\n")
    if not isinstance(error, UnicodeDecodeError):
        what = str(error)
    elif error.reason in ("unexpected end of data", "truncated data") or at >= len(data):
        what = "a character cut short by the end of the file"
    else:
        what = f"byte 0x{data[at]:02X}"
    return _Bad(offset - len(pending) + at, line, what)


def _first_utf8_sequence(file: BinaryIO) -> tuple[int, str] | None:
    """(offset, text) of the first well-formed multi-byte UTF-8 sequence in the file.

    Decoded with surrogateescape, a byte that is not UTF-8 becomes one character, and so does a
    whole multi-byte sequence: a chunk holds such a sequence exactly when it decodes to fewer
    characters than it has bytes, a test at C speed. Only that chunk is then searched.
    """
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    offset = 0  # bytes decoded before this chunk
    for chunk in iter(lambda: file.read(_CHUNK), b""):
        pending = len(decoder.getstate()[0])
        text = decoder.decode(chunk)
        decoded = pending + len(chunk) - len(decoder.getstate()[0])
        if len(text) < decoded:
            found = _MULTI_BYTE.search(text)
            if found:  # always, by the count above
                before = text[: found.start()].encode("utf-8", "surrogateescape")
                return offset + len(before), found.group()
        offset += decoded
    return None


def _line_at(file: BinaryIO, offset: int) -> int:
    """The 1-based line of a byte offset, counting the line feeds before it."""
    file.seek(0)
    line, read = 1, 0
    while read < offset:
        chunk = file.read(min(_CHUNK, offset - read))
        if not chunk:
            break
        line += chunk.count(b"\n")
        read += len(chunk)
    return line
