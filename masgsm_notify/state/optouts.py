"""The opt-out list: numbers that asked not to be sent to, one list for the whole state directory.

Law 6563 gives a refusal three business days to take effect; a pipeline that honours opt-outs
(every commercial one, and informational ones that ask) checks each recipient here while
planning, and again before a resumed run sends, so a number added today is not sent to tonight.
MASGSM has no inbound API: replies ("RET") reach this list through `masgsm-notify optouts add`
or `optouts import` (the provider's panel export, İYS). Numbers are kept in the `5xxxxxxxxx`
form; callers normalise them first (`phone.normalize`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import optouts_path
from .sqlite import Database

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS optouts (
    number TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    reason TEXT,
    source TEXT NOT NULL
) WITHOUT ROWID;
"""
LOOKUP_PAGE = 900  # numbers per lookup statement (under SQLite's old limit of 999 variables)


@dataclass(frozen=True)
class OptOut:
    number: str
    added_at: float
    reason: str | None
    source: str  # "add", or "import FILE"


class OptOutList(Database):
    kind = "opt-out list"

    def __init__(self, path: Path | None = None):
        super().__init__(path or optouts_path(), SCHEMA, SCHEMA_VERSION)

    def add(self, numbers: Iterable[str], reason: str | None, source: str) -> int:
        """List numbers; return how many were new. A number already listed keeps the date and
        reason of its first refusal."""
        with self.transaction() as db:
            return db.executemany(
                "INSERT OR IGNORE INTO optouts (number, added_at, reason, source)"
                " VALUES (?, ?, ?, ?)",
                ((number, time.time(), reason, source) for number in numbers),
            ).rowcount

    def remove(self, numbers: Iterable[str]) -> set[str]:
        """Take numbers off the list; return those that were on it."""
        wanted = list(dict.fromkeys(numbers))
        with self.transaction():
            found = self.listed(wanted)
            self.db.executemany("DELETE FROM optouts WHERE number = ?", ((n,) for n in found))
        return found

    def listed(self, numbers: Sequence[str]) -> set[str]:
        """Which of `numbers` are on the list (a few indexed lookups per thousand numbers)."""
        found: set[str] = set()
        for start in range(0, len(numbers), LOOKUP_PAGE):
            page = numbers[start : start + LOOKUP_PAGE]
            marks = ", ".join("?" * len(page))
            rows = self.db.execute(f"SELECT number FROM optouts WHERE number IN ({marks})", page)
            found.update(number for (number,) in rows)
        return found

    def entries(self) -> Iterator[OptOut]:
        """Every listed number, the earliest refusal first."""
        for row in self.db.execute(
            "SELECT number, added_at, reason, source FROM optouts ORDER BY added_at, number"
        ):
            yield OptOut(*row)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM optouts").fetchone()[0]


def existing_optouts(path: Path | None = None) -> OptOutList | None:
    """The list for lookups, or None when nobody ever opted out (runs create no file)."""
    path = path or optouts_path()
    return OptOutList(path) if path.is_file() else None
