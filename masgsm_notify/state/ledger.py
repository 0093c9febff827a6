"""The sent ledger: every (account, number, text) MASGSM accepted, or may have, across all runs.

A journal protects one run; the ledger protects the account. Planning looks each rendered text up,
and a pair found within the pipeline's `send.dedupe` window is not sent again, whatever the run
key, journal, folder or edit (`already_sent`). Sending claims each pair before its request leaves,
in one transaction, so two runs racing on different journals cannot both send it; a claim is
settled as accepted or unknown when the answer comes, and released when nothing went.

Texts are kept as 128-bit BLAKE2 digests: the ledger needs to recognise a text, not to hold it.
The account is the API's host and port plus the user code, so a sandbox and the real service
never share entries.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .paths import ledger_path
from .sqlite import Database

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    account TEXT NOT NULL,
    number TEXT NOT NULL,
    digest BLOB NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    owner TEXT NOT NULL,
    run_key TEXT NOT NULL,
    PRIMARY KEY (account, number, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journals (
    path TEXT PRIMARY KEY,
    seeded_at REAL,
    last_used REAL NOT NULL
);
"""
LOOKUP_PAGE = 400  # pairs per lookup statement (two variables each, under SQLite's old 999)

# Ledger entry states.
CLAIMED = "claimed"  # the request is about to leave, or left and its process died
ACCEPTED = "accepted"
UNKNOWN = "unknown"

Pair = tuple[str, bytes]  # (number, digest)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def account_key(base_url: str, user: str) -> str:
    """`host:port/user`: the same account however the URL spells its scheme or path."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}/{user}"


@dataclass(frozen=True)
class Claims:
    """The outcome of claiming a batch's pairs: which the ledger refused, and why."""

    taken_by_others: set[Pair]  # sent (or being sent) by another run within the window


class Ledger(Database):
    kind = "sent ledger"

    def __init__(self, path: Path | None = None):
        super().__init__(path or ledger_path(), SCHEMA, SCHEMA_VERSION)

    # -- planning ------------------------------------------------------------------------------

    def seen(self, account: str, pairs: Sequence[Pair], since: float) -> set[Pair]:
        """The pairs recorded for `account` at or after `since` (a time.time())."""
        found: set[Pair] = set()
        for start in range(0, len(pairs), LOOKUP_PAGE):
            page = pairs[start : start + LOOKUP_PAGE]
            values = ", ".join(["(?, ?)"] * len(page))
            rows = self.db.execute(
                f"SELECT number, digest FROM sent WHERE account = ? AND at >= ?"
                f" AND (number, digest) IN (VALUES {values})",
                (account, since, *(item for pair in page for item in pair)),
            )
            found.update(rows)
        return found

    # -- sending -------------------------------------------------------------------------------

    def claim(
        self,
        account: str,
        pairs: Sequence[Pair],
        *,
        owner: str,
        run_key: str,
        since: float | None,
    ) -> Claims:
        """Claim `pairs` for `owner` before their request leaves.

        A pair another owner recorded at or after `since` is refused; with `since` None
        (dedupe off, or `--resend-duplicates`) every pair is claimed. The owner's own earlier
        claims are taken again: the journal, which marks a batch in flight before its request
        leaves, is what says whether those went.
        """
        now = time.time()
        refused: set[Pair] = set()
        with self.transaction() as db:
            if since is not None:
                for number, text_digest in pairs:
                    row = db.execute(
                        "SELECT owner, at FROM sent WHERE account = ? AND number = ?"
                        " AND digest = ?",
                        (account, number, text_digest),
                    ).fetchone()
                    if row and row[0] != owner and row[1] >= since:
                        refused.add((number, text_digest))
            db.executemany(
                "INSERT OR REPLACE INTO sent (account, number, digest, state, at, owner, run_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (account, number, text_digest, CLAIMED, now, owner, run_key)
                    for number, text_digest in pairs
                    if (number, text_digest) not in refused
                ),
            )
        return Claims(refused)

    def settle(self, account: str, pairs: Iterable[Pair], owner: str, state: str) -> None:
        """Record the answer for the owner's claims: ACCEPTED or UNKNOWN."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE sent SET state = ? WHERE account = ? AND number = ? AND digest = ?"
                " AND owner = ?",
                ((state, account, number, text_digest, owner) for number, text_digest in pairs),
            )

    def release(self, account: str, pairs: Iterable[Pair], owner: str) -> None:
        """Forget the owner's claims on pairs that certainly did not go (refused, not sent)."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM sent WHERE account = ? AND number = ? AND digest = ? AND owner = ?",
                ((account, number, text_digest, owner) for number, text_digest in pairs),
            )

    def forget_before(self, cutoff: float, dry_run: bool = False) -> int:
        """Remove the entries recorded before `cutoff` (a time.time()), for `purge`; return how
        many. A pair forgotten can be sent again, so a retention period shorter than a
        pipeline's `send.dedupe` shortens that window."""
        if dry_run:
            return self.db.execute("SELECT COUNT(*) FROM sent WHERE at < ?", (cutoff,)).fetchone()[
                0
            ]
        with self.transaction() as db:
            return db.execute("DELETE FROM sent WHERE at < ?", (cutoff,)).rowcount

    # -- journals known to the state -----------------------------------------------------------

    def note_journal(self, path: Path) -> bool:
        """Remember a journal a real run used; True when its pairs were never seeded."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO journals (path, last_used) VALUES (?, ?)"
                " ON CONFLICT (path) DO UPDATE SET last_used = excluded.last_used",
                (str(path), time.time()),
            )
            row = db.execute("SELECT seeded_at FROM journals WHERE path = ?", (str(path),))
            return row.fetchone()[0] is None

    def seed(
        self, path: Path, entries: Iterable[tuple[str, str, str, str, float, str, str]]
    ) -> int:
        """Record a journal's accepted and unknown pairs once (journals of earlier versions
        kept no ledger): entries are (account, number, text, state, at, owner, run_key)."""
        with self.transaction() as db:
            added = db.executemany(
                "INSERT OR IGNORE INTO sent (account, number, digest, state, at, owner, run_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (account, number, digest(text), state, at, owner, run_key)
                    for account, number, text, state, at, owner, run_key in entries
                ),
            ).rowcount
            db.execute("UPDATE journals SET seeded_at = ? WHERE path = ?", (time.time(), str(path)))
        return added

    def journals(self) -> list[Path]:
        """Every journal a real run used, most recent first."""
        rows = self.db.execute("SELECT path FROM journals ORDER BY last_used DESC")
        return [Path(path) for (path,) in rows]


def existing_ledger(path: Path | None = None) -> Ledger | None:
    """The ledger for lookups, or None when there is none yet (a dry run creates nothing)."""
    path = path or ledger_path()
    return Ledger(path) if path.is_file() else None
