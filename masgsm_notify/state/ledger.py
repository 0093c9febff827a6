"""The sent ledger: every (account, number, text) MASGSM accepted, or may have, across all runs.

A journal protects one run; the ledger protects the account. Planning looks each rendered text up,
and a pair found within the pipeline's `send.dedupe` window is not sent again, whatever the run
key, journal, folder or edit (`already_sent`). Sending claims each pair before its request leaves,
in one transaction, so two runs racing on different journals cannot both send it. A batch's
pairs share one claim record, settled as accepted or unknown when the answer comes, or released
when nothing went: one row written per batch, whatever its size.

Texts are kept as 128-bit BLAKE2 digests: the ledger needs to recognise a text, not to hold it.
The account is the API's host and port plus the user code, so a sandbox and the real service
never share entries.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .paths import ledger_path
from .sqlite import Database

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    run_key TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    account TEXT NOT NULL,
    number TEXT NOT NULL,
    digest BLOB NOT NULL,
    at REAL NOT NULL,
    claim INTEGER NOT NULL,
    PRIMARY KEY (account, number, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journals (
    path TEXT PRIMARY KEY,
    seeded_at REAL,
    last_used REAL NOT NULL
);
"""
LOOKUP_PAGE = 400  # pairs per lookup statement (two variables each, under SQLite's old 999)

# Claim states.
CLAIMED = "claimed"  # the request is about to leave, or left and its process died
ACCEPTED = "accepted"
UNKNOWN = "unknown"
RELEASED = "released"  # certainly not sent: its pairs are free again

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
    """The outcome of claiming a batch's pairs: the claim's record, and the pairs the ledger
    refused because another run sent (or is sending) them within the window."""

    id: int
    taken_by_others: set[Pair]


class Ledger(Database):
    kind = "sent ledger"

    def __init__(self, path: Path | None = None):
        super().__init__(path or ledger_path(), SCHEMA, SCHEMA_VERSION)

    # -- planning ------------------------------------------------------------------------------

    def seen(
        self, account: str, pairs: Sequence[Pair], since: float, not_owner: str | None = None
    ) -> set[Pair]:
        """The pairs recorded for `account` at or after `since` (a time.time()), by anyone but
        `not_owner`, and not released. Each pair is one primary-key lookup (the CROSS JOIN keeps
        SQLite from scanning the account's entries instead)."""
        found: set[Pair] = set()
        for start in range(0, len(pairs), LOOKUP_PAGE):
            page = pairs[start : start + LOOKUP_PAGE]
            values = ", ".join(["(?, ?)"] * len(page))
            rows = self.db.execute(
                f"WITH wanted(number, digest) AS (VALUES {values})"
                " SELECT s.number, s.digest FROM wanted w CROSS JOIN sent s"
                " ON s.account = ? AND s.number = w.number AND s.digest = w.digest"
                " JOIN claims c ON c.id = s.claim"
                " WHERE s.at >= ? AND c.state != ? AND c.owner != ?",
                (*(x for pair in page for x in pair), account, since, RELEASED, not_owner or ""),
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
        # A pair is taken over unless another owner's claim on it, not released, is within
        # the window: the condition is the upsert's own, so the common batch, where nothing is
        # refused, costs one write a pair and no lookup; only a batch that lost pairs looks up
        # which. A pair this owner already holds by a claim not released (a send whose answer
        # was lost, tried again) stays with that claim, so releasing the new one cannot free
        # a text the first attempt may have sent.
        free_before = math.inf if since is None else since
        with self.transaction() as db:
            claim_id = db.execute(
                "INSERT INTO claims (owner, run_key, state, at) VALUES (?, ?, ?, ?)",
                (owner, run_key, CLAIMED, now),
            ).lastrowid
            assert claim_id is not None
            # ?6 is RELEASED, ?7 the owner, ?8 the start of the window.
            written = db.executemany(
                "INSERT INTO sent (account, number, digest, at, claim) VALUES (?1, ?2, ?3, ?4, ?5)"
                " ON CONFLICT (account, number, digest) DO UPDATE"
                " SET at = excluded.at, claim = CASE WHEN EXISTS (SELECT 1 FROM claims c"
                " WHERE c.id = sent.claim AND c.state != ?6 AND c.owner = ?7)"
                " THEN sent.claim ELSE excluded.claim END"
                " WHERE sent.at < ?8 OR NOT EXISTS (SELECT 1 FROM claims c"
                " WHERE c.id = sent.claim AND c.state != ?6 AND c.owner != ?7)",
                (
                    (account, number, text_digest, now, claim_id, RELEASED, owner, free_before)
                    for number, text_digest in pairs
                ),
            ).rowcount
            refused = (
                set()
                if written == len(pairs)
                else self.seen(account, pairs, free_before, not_owner=owner)
            )
        return Claims(claim_id, refused)

    def settle(self, claim_id: int, state: str) -> None:
        """Record a claim's answer: ACCEPTED, UNKNOWN, or RELEASED when nothing went."""
        with self.transaction() as db:
            db.execute("UPDATE claims SET state = ? WHERE id = ?", (state, claim_id))

    def forget_before(self, cutoff: float, dry_run: bool = False) -> int:
        """Remove the entries recorded before `cutoff` (a time.time()), for `purge`; return how
        many. A pair forgotten can be sent again, so a retention period shorter than a
        pipeline's `send.dedupe` shortens that window."""
        if dry_run:
            return self.db.execute("SELECT COUNT(*) FROM sent WHERE at < ?", (cutoff,)).fetchone()[
                0
            ]
        with self.transaction() as db:
            forgotten = db.execute("DELETE FROM sent WHERE at < ?", (cutoff,)).rowcount
            db.execute(
                "DELETE FROM claims WHERE at < ?", (cutoff,)
            )  # a claim's pairs share its time
            return forgotten

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
            claims: dict[tuple[str, str, str], int] = {}

            def claim_of(owner: str, run_key: str, state: str, at: float) -> int:
                key = (owner, run_key, state)
                if key not in claims:
                    claim_id = db.execute(
                        "INSERT INTO claims (owner, run_key, state, at) VALUES (?, ?, ?, ?)",
                        (owner, run_key, state, at),
                    ).lastrowid
                    assert claim_id is not None
                    claims[key] = claim_id
                return claims[key]

            added = db.executemany(
                "INSERT OR IGNORE INTO sent (account, number, digest, at, claim)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    (account, number, digest(text), at, claim_of(owner, run_key, state, at))
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
