"""İYS consent: may this number get a commercial text?

Law 6563 requires prior consent, held in İYS (İleti Yönetim Sistemi), before a commercial
message goes to an individual; traders and craftsmen (TACIR) may be messaged until they refuse.
A pipeline with `compliance.consent` asks the `consent_status` hook about each planning chunk's
numbers in bulk. This module is the rule (`allows`) and the built-in answer: a CSV of İYS
consent records, read and indexed once per run.

The records' header is `recipient,type,source,status,consentDate,recipientType`. Only `MESAJ`
records count. Each number's latest record decides: the latest `consentDate`, a RET before an
ONAY of the same moment (refusal wins a tie), then the later line. A BIREYSEL recipient (or one
with no recipientType) needs an ONAY; a TACIR recipient may be sent to unless it is a RET.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import phone
from .errors import InvalidNumberError, SourceError
from .hookspecs import hookimpl
from .sources import CsvSource, SourceContext

ONAY, RET = "ONAY", "RET"
BIREYSEL, TACIR = "BIREYSEL", "TACIR"
HEADER = ("recipient", "type", "source", "status", "consentDate", "recipientType")
_NEEDED = ("recipient", "type", "status", "consentDate")
_RECIPIENT_TYPES = ("", BIREYSEL, TACIR)
_ISTANBUL = "Europe/Istanbul"  # İYS records its dates in Türkiye's time

# One answer about a number: its latest status, and its recipient type when known.
Answer = tuple[str | None, str | None]


def allows(answer: Any) -> bool:
    """The rule, for the built-in records and any plugin's answer alike: `answer` is a status
    (`"ONAY"`, `"RET"`), a `(status, recipient_type)` pair, or None (nothing known)."""
    if answer is None:
        return False
    status, kind = (answer, None) if isinstance(answer, str) else answer
    status, kind = str(status or "").upper(), str(kind or "").upper()
    return status != RET if kind == TACIR else status == ONAY


class ConsentRecords:
    """A CSV of İYS consent records, indexed on first use: each number's deciding record.

    The index keeps one small integer per number (the record's order and its answer), so a
    million records take some tens of megabytes, and a planning chunk is answered with dictionary
    lookups.
    """

    def __init__(self, value: str, base_dir: Path, where: str):
        self.source = CsvSource(value, {}, SourceContext(base_dir, None, where))
        self.shown = value
        self._index: dict[int, int] | None = None

    def answers(self, numbers: Iterable[str]) -> dict[str, Answer]:
        """The deciding record's (status, recipient type) of each number that has one."""
        index = self.index()
        found = {}
        for number in numbers:
            packed = index.get(int(number))
            if packed is not None:
                found[number] = (RET if (packed >> 33) & 1 else ONAY, TACIR if packed & 1 else None)
        return found

    def index(self) -> dict[int, int]:
        """number -> (moment << 1 | is RET) << 32 | position, << 1 | is TACIR; larger is later."""
        if self._index is None:
            self._index = self._read()
        return self._index

    def _read(self) -> dict[int, int]:
        index: dict[int, int] = {}
        rows = self.source.rows()
        columns: dict[str, str] | None = None
        for position, (where, row) in enumerate(rows):
            if columns is None:
                columns = self._columns(row)
            if row[columns["type"]].strip().upper() != "MESAJ":
                continue
            number = self._number(row[columns["recipient"]], where)
            status = row[columns["status"]].strip().upper()
            if status not in (ONAY, RET):
                raise SourceError(f"{where}: status {status!r}: expected ONAY or RET")
            kind = row[columns["recipientType"]].strip().upper() if columns["recipientType"] else ""
            if kind not in _RECIPIENT_TYPES:
                raise SourceError(f"{where}: recipientType {kind!r}: expected BIREYSEL or TACIR")
            moment = _seconds(row[columns["consentDate"]], where)
            packed = (((moment << 1 | (status == RET)) << 32 | position) << 1) | (kind == TACIR)
            key = int(number)
            if packed > index.get(key, -1):
                index[key] = packed
        return index

    def _columns(self, row: dict[str, str]) -> dict[str, str]:
        """The header's spelling of each İYS column (any case); recipientType may be missing."""
        by_lower = {name.lower(): name for name in row}
        columns = {name: by_lower.get(name.lower(), "") for name in HEADER}
        missing = [name for name in _NEEDED if not columns[name]]
        if missing:
            raise SourceError(
                f"{self.shown}:1: not İYS consent records: no {', '.join(missing)} column "
                f"(the header İYS exports is {','.join(HEADER)})"
            )
        return columns

    @staticmethod
    def _number(value: str, where: str) -> str:
        try:
            return phone.normalize(value)
        except InvalidNumberError as error:
            raise SourceError(f"{where}: recipient: {error}") from None


def _seconds(value: str, where: str) -> int:
    """`YYYY-MM-DD HH:MM:SS` as seconds on one scale (dates with an offset in Türkiye's time)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise SourceError(
            f"{where}: consentDate {value.strip()[:40]!r}: expected YYYY-MM-DD HH:MM:SS"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(_ISTANBUL)).replace(tzinfo=None)
    return moment.toordinal() * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second


@hookimpl
def consent_status(numbers: list[str], source: Any) -> dict[str, Answer] | None:
    """The built-in answer: from the İYS records a pipeline names in `compliance.consent`."""
    if isinstance(source, ConsentRecords):
        return source.answers(numbers)
    return None
