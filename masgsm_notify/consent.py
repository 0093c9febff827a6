"""İYS consent: may this number get a commercial text?

Law 6563 requires prior consent, held in İYS (İleti Yönetim Sistemi), before a commercial
message goes to an individual; traders and craftsmen (TACIR) may be messaged until they refuse.
A pipeline with `compliance.consent` asks the `consent_status` hook about each planning chunk's
numbers in bulk. This module is the rule (`allows`) and the built-in answer: a CSV of İYS
consent records, read and indexed once per run.

The records' header is `recipient,type,source,status,consentDate,recipientType`. Only `MESAJ`
records count. Each number's latest record decides: the latest `consentDate`; at the same moment
a RET wins (a refusal wins a tie); records still tied (the same moment and status) decide alike,
whichever line comes later. A BIREYSEL recipient (or one with no recipientType) needs an ONAY;
a TACIR recipient may be sent to unless its latest record is a RET.
"""

from __future__ import annotations

import csv
import datetime as dt
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import phone
from .errors import InvalidNumberError, SourceError
from .hookspecs import hookimpl

ONAY, RET = "ONAY", "RET"
BIREYSEL, TACIR = "BIREYSEL", "TACIR"
HEADER = ("recipient", "type", "source", "status", "consentDate", "recipientType")
_NEEDED = ("recipient", "type", "status", "consentDate")
_RECIPIENT_TYPES = ("", BIREYSEL, TACIR)
_ISTANBUL = "Europe/Istanbul"  # İYS records its dates in Türkiye's time

# Mobile numbers 5xxxxxxxxx, less this, fit in 30 bits; moments, seconds since 2000, in 31.
_FIRST_MOBILE = 5_000_000_000
_SINCE = dt.date(2000, 1, 1).toordinal() * 86400
_LAST_MOMENT = (1 << 31) - 1  # early 2068
_NUMBER_SHIFT = 33
_NUMBER_BITS = 30
_BUCKET_BITS = 16  # 16,384 buckets of 65,536 numbers

# One answer about a number: its latest status, and its recipient type when known.
Answer = tuple[str | None, str | None]


def allows(answer: Any) -> bool:
    """The rule, for the built-in records and any plugin's answer alike: `answer` is a status
    (`"ONAY"`, `"RET"`), a `(status, recipient_type)` pair, or None (nothing known).

    Anything else is a ValueError."""
    if answer is None:
        return False
    try:
        return _DECIDED[answer]  # the common shapes, decided once: this runs per recipient
    except (KeyError, TypeError):
        pass
    if isinstance(answer, str):
        return _decide(answer, None)
    try:
        status, kind = answer
    except (TypeError, ValueError):
        raise ValueError(
            f"{answer!r:.60} is not a status or a (status, recipientType) pair"
        ) from None
    return _decide(status, kind)


def _decide(status: Any, kind: Any) -> bool:
    status, kind = str(status or "").upper(), str(kind or "").upper()
    return status != RET if kind == TACIR else status == ONAY


_DECIDED: dict[Any, bool] = {
    **{status: _decide(status, None) for status in (ONAY, RET)},
    **{
        (status, kind): _decide(status, kind)
        for status in (ONAY, RET, None)
        for kind in (BIREYSEL, TACIR, None)
    },
}


class ConsentRecords:
    """A CSV of İYS consent records, indexed on first use: each number's deciding record.

    Each MESAJ record becomes one 64-bit integer, (number, moment, is RET, is TACIR) from the
    highest bits down, so sorting them (in buckets of numbers, to keep the sort's temporary
    list small) puts each number's records in order and its last one decides. Records at the
    same moment with the same status differ only in recipientType, which then changes no
    decision, so the line order is not kept. The index holds one integer per number in a
    sorted array (8 bytes each: a million numbers in 8 MB), and a planning chunk is answered by
    binary search. The file is read with `csv` directly, a list per line: the fields that
    matter are ASCII, so any ASCII-compatible encoding reads the same.
    """

    def __init__(self, value: str, base_dir: Path, where: str):
        self.path = base_dir / value
        self.shown = value
        self.where = where
        self._index: array[int] | None = None

    def answers(self, numbers: Iterable[str]) -> dict[str, Answer]:
        """The deciding record's (status, recipient type) of each number that has one."""
        index = self.index()
        found: dict[str, Answer] = {}
        for number in numbers:
            key = int(number) - _FIRST_MOBILE
            at = bisect_left(index, key << _NUMBER_SHIFT)
            if at < len(index) and index[at] >> _NUMBER_SHIFT == key:
                packed = index[at]
                found[number] = (RET if packed & 2 else ONAY, TACIR if packed & 1 else None)
        return found

    def index(self) -> array[int]:
        """The deciding record of each number, in number order."""
        if self._index is None:
            try:
                with self.path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
                    self._index = self._read(file)
            except OSError as error:
                raise SourceError(
                    f"{self.where}: compliance.consent: cannot read {self.shown}: "
                    f"{error.strerror or error}"
                ) from None
        return self._index

    def _read(self, file: Any) -> array[int]:
        first = file.readline()
        file.seek(0)
        reader = csv.reader(file, delimiter=max(",;\t", key=first.count))
        try:
            return self._records(reader)
        except csv.Error as error:
            raise SourceError(f"{self.shown}:{reader.line_num}: unreadable CSV: {error}") from None

    def _records(self, reader: Any) -> array[int]:
        recipient, kind, status, date, recipient_type = self._columns(next(reader, []))
        width = max(recipient, kind, status, date, recipient_type) + 1
        # Records bucketed by the number's highest bits, so each bucket is sorted on its own
        # and the sort's temporary list stays small.
        buckets = [array("q") for _ in range(1 << (_NUMBER_BITS - _BUCKET_BITS))]
        for fields in reader:
            line = reader.line_num
            if len(fields) < width:
                if not any(fields):
                    continue
                raise SourceError(
                    f"{self.shown}:{line}: the row has {len(fields)} fields, fewer than the header"
                )
            channel = fields[kind]
            if channel != "MESAJ" and channel.strip().upper() != "MESAJ":
                continue
            answer = fields[status]
            if answer not in (ONAY, RET):
                answer = self._one_of(answer, (ONAY, RET), "status", line)
            trader = False
            if recipient_type >= 0 and (named := fields[recipient_type]) != BIREYSEL:
                trader = self._one_of(named, _RECIPIENT_TYPES, "recipientType", line) == TACIR
            number = int(_number(fields[recipient], self.shown, line)) - _FIRST_MOBILE
            moment = _seconds(fields[date], self.shown, line)
            packed = number << _NUMBER_SHIFT | moment << 2 | (answer == RET) << 1 | trader
            buckets[number >> _BUCKET_BITS].append(packed)
        return _latest(buckets)

    def _one_of(self, value: str, allowed: tuple[str, ...], column: str, line: int) -> str:
        """A value in another case or with spaces around it, or the error naming its line."""
        value = value.strip().upper()
        if value not in allowed:
            expected = " or ".join(a for a in allowed if a)
            raise SourceError(f"{self.shown}:{line}: {column} {value!r}: expected {expected}")
        return value

    def _columns(self, header: list[str]) -> tuple[int, int, int, int, int]:
        """Where each İYS column is (any case); -1 for a missing recipientType."""
        at = {name.strip().lower(): i for i, name in enumerate(header)}
        missing = [name for name in _NEEDED if name.lower() not in at]
        if missing:
            raise SourceError(
                f"{self.shown}:1: not İYS consent records: no {', '.join(missing)} column "
                f"(the header İYS exports is {','.join(HEADER)})"
            )
        recipient, kind, status, date = (at[name.lower()] for name in _NEEDED)
        return recipient, kind, status, date, at.get("recipienttype", -1)


def _latest(buckets: list[array[int]]) -> array[int]:
    """The last record of each number, bucket by bucket (they are in number order)."""
    latest = array("q")
    previous = -1
    for bucket in buckets:
        for packed in sorted(bucket):
            number = packed >> _NUMBER_SHIFT
            if number == previous:
                latest[-1] = packed
            else:
                latest.append(packed)
                previous = number
        del bucket[:]
    return latest


def _number(value: str, shown: str, line: int) -> str:
    """The record's recipient as 5xxxxxxxxx (İYS writes +905xxxxxxxxx: the fast case)."""
    try:
        return phone.normalize(value[3:] if len(value) == 13 and value[:3] == "+90" else value)
    except InvalidNumberError as error:
        raise SourceError(f"{shown}:{line}: recipient: {error}") from None


def _seconds(value: str, shown: str, line: int) -> int:
    """`YYYY-MM-DD HH:MM:SS` as seconds on one scale (dates with an offset in Türkiye's time)."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = _moment(value, f"{shown}:{line}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(_ISTANBUL)).replace(tzinfo=None)
    seconds = moment.toordinal() * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    return min(max(seconds - _SINCE, 0), _LAST_MOMENT)  # before 2000 (İYS began in 2020): 2000


def _moment(value: str, where: str) -> dt.datetime:
    """A date that needed a second look (spaces around it), or the error naming its line."""
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise SourceError(
            f"{where}: consentDate {value.strip()[:40]!r}: expected YYYY-MM-DD HH:MM:SS"
        ) from None


@hookimpl
def consent_status(numbers: list[str], source: Any) -> dict[str, Answer] | None:
    """The built-in answer: from the İYS records a pipeline names in `compliance.consent`."""
    if isinstance(source, ConsentRecords):
        return source.answers(numbers)
    return None
