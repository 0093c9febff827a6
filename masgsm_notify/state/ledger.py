"""The sent ledger: every (account, number, text) MASGSM accepted, or may have, across all runs.

A journal protects one run; the ledger protects the account. Planning looks each rendered text up,
and a pair found within the pipeline's `send.dedupe` window is not sent again, whatever the run
key, journal, folder or edit (`already_sent`). Sending claims each pair before its request leaves,
in one transaction, so two runs racing on different journals cannot both send it. A batch's
pairs share one claim record, settled as accepted or unknown when the answer comes, or released
when nothing went: one row written per batch, whatever its size.

A claim writes its pairs as one row of `pending`, not into `sent`: numbers arrive in no order,
and inserting a batch's pairs one by one into an index keyed by number rewrites a page of it
for nearly every pair once the ledger is large (tens of microseconds each, most of a send's
time). Settled claims are folded into `sent` in key order, many batches in one transaction, at
the end of a send or when a process has claimed `FOLD_AT` pairs; until then every lookup reads
both, so a pair is held from the moment it is claimed, wherever it is stored.

Texts are kept as 128-bit BLAKE2 digests: the ledger needs to recognise a text, not to hold it.
The account is the API's host and port plus the user code, so a sandbox and the real service
never share entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import StorageError
from .paths import ledger_path
from .sqlite import Database

SCHEMA_VERSION = 2
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
CREATE TABLE IF NOT EXISTS pending (
    claim INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    pairs BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS journals (
    path TEXT PRIMARY KEY,
    seeded_at REAL,
    last_used REAL NOT NULL
);
"""
LOOKUP_PAGE = 400  # pairs per lookup statement (two variables each, under SQLite's old 999)
PAIR_SEPARATOR = "\n"  # between a pending claim's pairs, each "number digest-hex"
FOLD_AT = 200_000  # pairs a process claims before it folds: what another process may read
FOLDING_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS folding"
    " (account TEXT NOT NULL, number TEXT NOT NULL, digest BLOB NOT NULL, claim INTEGER NOT NULL)"
)

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


@dataclass
class _Planned:
    version: int  # SQLite's data_version before the owner's first lookup
    since: float  # the latest start of a window its lookups used


def _keeps_pending_claims(db: sqlite3.Connection) -> None:
    """Version 2 adds `pending` (the schema creates it): version 1 had no claims outside `sent`."""


class Ledger(Database):
    kind = "sent ledger"

    def __init__(self, path: Path | None = None):
        super().__init__(path or ledger_path(), SCHEMA, SCHEMA_VERSION, {1: _keeps_pending_claims})
        # The pairs of the pending claims a lookup had to compare (never those of the claiming
        # owner), read when first met: a claim's pairs never change. Keyed by id and time, since
        # a purge can free an id for a new claim.
        self._pending: dict[tuple[int, float], frozenset[Pair]] = {}
        self._claimed_since_fold = 0
        self.db.execute(FOLDING_TABLE)
        # Owners whose pairs this connection looked up while planning them, with SQLite's
        # data_version then and the windows used. While no other connection has written, and no
        # other owner has claimed or been seeded on this one, nothing can hold those pairs
        # against them that planning did not find: their claims need no lookup. An owner whose
        # pairs may have been taken meanwhile keeps None: it looks up from then on.
        self._planned: dict[str, _Planned | None] = {}

    # -- planning ------------------------------------------------------------------------------

    def seen(
        self,
        account: str,
        pairs: Sequence[Pair],
        since: float,
        not_owner: str | None = None,
        planning_for: str | None = None,
    ) -> set[Pair]:
        """The pairs recorded for `account` at or after `since` (a time.time()), by anyone but
        `not_owner`, and not released: in pending claims and in `sent`, read in one snapshot.
        `planning_for`: the owner that planned these pairs, and will claim only pairs it looked
        up this way."""
        if planning_for is not None:
            self._note_planning(planning_for, since)
        with self._snapshot():
            return self._pending_holders(account, pairs, since, not_owner) | self._folded_holders(
                account, pairs, since, not_owner
            )

    def _folded_holders(
        self, account: str, pairs: Sequence[Pair], since: float, not_owner: str | None
    ) -> set[Pair]:
        """Each pair is one primary-key lookup (the CROSS JOIN keeps SQLite from scanning the
        account's entries instead)."""
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

    def _pending_holders(
        self, account: str, pairs: Sequence[Pair], since: float, not_owner: str | None
    ) -> set[Pair]:
        """A few rows to read while no other process claims: the pairs of claims not met before
        are read once, and only claims by another owner within the window are compared."""
        live = self.db.execute(
            "SELECT p.claim, c.owner, c.at FROM pending p JOIN claims c ON c.id = p.claim"
            " WHERE p.account = ? AND c.state != ?",
            (account, RELEASED),
        ).fetchall()
        if len(self._pending) > 2 * len(live) + 64:  # folded or released since they were read
            held = {(claim, at) for claim, _owner, at in live}
            self._pending = {key: kept for key, kept in self._pending.items() if key in held}
        holders = [(claim, at) for claim, owner, at in live if at >= since and owner != not_owner]
        self._read_pairs(holders)
        wanted = set(pairs)
        found: set[Pair] = set()
        for key in holders:
            found |= wanted & self._pending[key]
        return found

    def _read_pairs(self, claims: list[tuple[int, float]]) -> None:
        """Read the pairs of the pending claims, (id, time), not met before."""
        unread = dict(key for key in claims if key not in self._pending)
        ids = list(unread)
        for start in range(0, len(ids), LOOKUP_PAGE):
            page = ids[start : start + LOOKUP_PAGE]
            rows = self.db.execute(
                f"SELECT claim, pairs FROM pending WHERE claim IN ({', '.join('?' * len(page))})",
                page,
            )
            for claim, packed in rows:
                self._pending[claim, unread[claim]] = frozenset(_pairs_in(packed))

    def _note_planning(self, owner: str, since: float) -> None:
        """Read the version first, so that a write after it changes it. A claim whose window
        starts before the lookups' (a clock set back) may meet holders they did not look for."""
        if owner not in self._planned:
            self._planned[owner] = _Planned(self._data_version(), since)
        elif (planned := self._planned[owner]) is not None:
            planned.since = max(planned.since, since)

    def _needs_lookup(self, owner: str, since: float) -> bool:
        """False when the owner's planning looked these pairs up and nothing since could hold
        them against it (see `_planned`)."""
        planned = self._planned.get(owner)
        return planned is None or planned.version != self._data_version() or since < planned.since

    def _spoil_planning(self, but: str | None = None) -> None:
        """Another owner's claim, or a seed, on this connection: what the planned owners looked
        up may be held now, so they look up from then on."""
        self._planned = {o: v if o == but else None for o, v in self._planned.items()}

    def _data_version(self) -> int:
        """Changes whenever another connection commits to the ledger."""
        version: int = self.db.execute("PRAGMA data_version").fetchone()[0]
        return version

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction, unless already inside one: a fold between reading `pending`
        and reading `sent` would otherwise hide the pairs it moves."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

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
        with self.transaction() as db:
            claim_id = db.execute(
                "INSERT INTO claims (owner, run_key, state, at) VALUES (?, ?, ?, ?)",
                (owner, run_key, CLAIMED, now),
            ).lastrowid
            assert claim_id is not None
            self._spoil_planning(but=owner)
            refused = (
                self.seen(account, pairs, since, owner)
                if since is not None and self._needs_lookup(owner, since)
                else set()
            )
            taken = frozenset(pairs) - refused
            if taken:
                db.execute(
                    "INSERT INTO pending (claim, account, pairs) VALUES (?, ?, ?)",
                    (claim_id, account, _packed(taken)),
                )
        self._claimed_since_fold += len(taken)
        if self._claimed_since_fold >= FOLD_AT:
            self.fold()
        return Claims(claim_id, refused)

    def fold(self) -> bool:
        """Move every settled pending claim, whoever made it, into `sent` (see the module);
        return whether it was done. Folding is never needed for correctness, so a fold the disk
        or a lock refuses is left for the next: the claims stay pending, held as firmly, and the
        claim or send that folded stands."""
        try:
            with self.transaction() as db:
                self._fold(db)
        except StorageError:
            return False
        self.forget_folded()
        return True

    @property
    def claimed_since_fold(self) -> int:
        """Pairs this connection claimed since the last fold it did or heard of."""
        return self._claimed_since_fold

    def forget_folded(self) -> None:
        """The settled claims were folded, on this connection or by another process: the pairs
        read from pending claims, and the count of pairs claimed since a fold, start again."""
        self._pending.clear()
        self._claimed_since_fold = 0

    def _fold(self, db: sqlite3.Connection) -> None:
        """Settled claims only, whose state is final: a claim still in flight (or left so by a
        process that died) stays pending, so that its release, if it comes, cannot free a pair
        it took over from another. Pairs in key order, so that each page of `sent` is written
        once; a pair claimed more than once in claim order, so that the later claim takes it
        over, except from its own owner's claim not released: releasing a retry cannot free a
        text the first attempt may have sent. Released claims hold nothing."""
        # The pairs go through a temporary table that SQLite sorts, so that a fold's memory
        # does not grow with the number of pairs it folds.
        settled = db.execute(
            "SELECT p.claim, p.account, p.pairs FROM pending p"
            " JOIN claims c ON c.id = p.claim WHERE c.state IN (?, ?)",
            (ACCEPTED, UNKNOWN),
        )
        db.executemany(
            "INSERT INTO temp.folding VALUES (?, ?, ?, ?)",
            (
                (account, number, text_digest, claim)
                for claim, account, packed in settled
                for number, text_digest in _pairs_in(packed)
            ),
        )
        db.execute(
            "INSERT INTO sent (account, number, digest, at, claim)"
            " SELECT f.account, f.number, f.digest, c.at, c.id FROM temp.folding f"
            " JOIN claims c ON c.id = f.claim WHERE true ORDER BY 1, 2, 3, 5"
            " ON CONFLICT (account, number, digest) DO UPDATE"
            " SET at = MAX(sent.at, excluded.at), claim = CASE WHEN EXISTS (SELECT 1 FROM claims o"
            " WHERE o.id = sent.claim AND o.state != ? AND o.owner ="
            " (SELECT owner FROM claims WHERE id = excluded.claim))"
            " THEN sent.claim ELSE excluded.claim END",
            (RELEASED,),
        )
        db.execute("DELETE FROM temp.folding")
        db.execute(
            "DELETE FROM pending WHERE claim IN (SELECT id FROM claims WHERE state != ?)",
            (CLAIMED,),
        )

    def settle(self, claim_id: int, state: str) -> None:
        """Record a claim's answer: ACCEPTED, UNKNOWN, or RELEASED when nothing went."""
        with self.transaction() as db:
            db.execute("UPDATE claims SET state = ? WHERE id = ?", (state, claim_id))

    def forget_before(self, cutoff: float, dry_run: bool = False) -> int:
        """Remove the entries recorded before `cutoff` (a time.time()), for `purge`; return how
        many. A pair forgotten can be sent again, so a retention period shorter than a
        pipeline's `send.dedupe` shortens that window."""
        with self.transaction() as db:
            if dry_run:  # done, counted and undone: a dry run writes nothing
                db.execute("SAVEPOINT dry_run")
            self._fold(db)
            forgotten: int = db.execute("DELETE FROM sent WHERE at < ?", (cutoff,)).rowcount
            # Claims left pending are in flight, or were when their process died.
            old = "SELECT id FROM claims WHERE at < ?"
            (lines,) = db.execute(
                "SELECT COALESCE(SUM(LENGTH(pairs) - LENGTH(REPLACE(pairs, ?, '')) + 1), 0)"
                f" FROM pending WHERE claim IN ({old})",
                (PAIR_SEPARATOR, cutoff),
            ).fetchone()
            db.execute(f"DELETE FROM pending WHERE claim IN ({old})", (cutoff,))
            # A claim still named by an entry stays, so that no entry points at a freed id.
            db.execute(
                "DELETE FROM claims WHERE at < ? AND id NOT IN (SELECT claim FROM sent)"
                " AND id NOT IN (SELECT claim FROM pending)",
                (cutoff,),
            )
            if dry_run:
                db.execute("ROLLBACK TO dry_run")
        if not dry_run:
            self.forget_folded()
        return forgotten + lines

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
        self._spoil_planning()
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


def _packed(pairs: Iterable[Pair]) -> str:
    return PAIR_SEPARATOR.join(f"{number} {text_digest.hex()}" for number, text_digest in pairs)


def _pairs_in(packed: str) -> Iterator[Pair]:
    for line in packed.split(PAIR_SEPARATOR):
        number, hex_digest = line.split(" ")
        yield number, bytes.fromhex(hex_digest)


def existing_ledger(path: Path | None = None) -> Ledger | None:
    """The ledger for lookups, or None when there is none yet (a dry run creates nothing)."""
    path = path or ledger_path()
    return Ledger(path) if path.is_file() else None
