"""`optouts` and `purge`: the opt-out list, and the retention of numbers and texts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypedDict

import click

from .. import phone
from ..errors import InvalidNumberError, UsageError
from ..numbers_file import read_numbers
from ..pipeline import parse_duration
from ..pipeline.purge import PurgeReport, purge
from ..pipeline.summary import shorten
from ..privacy import shown_number
from ..state.optouts import OptOutList, existing_optouts
from .common import emit, json_option, mask_option

LISTED_INVALID = 20


def _normalised(values: tuple[str, ...], masked: bool) -> list[str]:
    """Every number in the 5xxxxxxxxx form, or a UsageError listing those that are not."""
    good, bad = [], []
    for value in values:
        try:
            good.append(phone.normalize(value))
        except InvalidNumberError as error:
            bad.append(f"  {shorten(shown_number(value, masked))}: {error.reason}")
    if bad:
        raise UsageError("Not Turkish mobile numbers; nothing was changed:\n" + "\n".join(bad))
    return list(dict.fromkeys(good))


@click.group()
def optouts() -> None:
    """The opt-out list: numbers pipelines that honour opt-outs never send to.

    Commercial pipelines honour it by default (compliance.honour_optouts). MASGSM has no
    inbound API, so "RET" replies reach the list from you: add them, or import the provider
    panel's export or an İYS export. One list per state directory (MASGSM_STATE_DIR).

    \b
    Examples:
      masgsm-notify optouts add "0532 111 22 33" --reason "RET SMS"
      masgsm-notify optouts import ret-replies.txt
      masgsm-notify optouts list --mask
    """


@optouts.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--reason", help="Why the number is listed (kept with it, shown by list).")
@json_option
def optouts_add(numbers: tuple[str, ...], reason: str | None, as_json: bool) -> None:
    """Put numbers on the opt-out list (any form people type them in).

    \b
    Examples:
      masgsm-notify optouts add "0532 111 22 33" +905321112234 --reason "RET SMS"
    """
    wanted = _normalised(numbers, masked=False)
    with OptOutList() as listed:
        added = listed.add(wanted, reason, "add")
        total = listed.count()
    already = len(wanted) - added
    emit(
        as_json,
        {"added": added, "already_listed": already, "listed": total},
        f"Added {added:,} number(s) to the opt-out list"
        + (f" ({already:,} already on it)" if already else "")
        + f"; {total:,} listed in all.",
    )


@optouts.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@mask_option
@json_option
def optouts_remove(numbers: tuple[str, ...], mask: bool, as_json: bool) -> None:
    """Take numbers off the opt-out list (when a person asks to get texts again).

    \b
    Examples:
      masgsm-notify optouts remove 05321112233
    """
    wanted = _normalised(numbers, mask)
    listed = existing_optouts()
    removed: set[str] = set()
    if listed is not None:
        with listed:
            removed = listed.remove(wanted)
    missing = [shown_number(n, mask) for n in wanted if n not in removed]
    emit(
        as_json,
        {"removed": len(removed), "not_listed": missing},
        f"Removed {len(removed):,} number(s) from the opt-out list."
        + (f" Not on it: {', '.join(missing)}." if missing else ""),
    )


class _ListedNumber(TypedDict):
    """One number of `optouts list --json`."""

    number: str
    added_at: str
    reason: str | None
    source: str


@optouts.command("list")
@mask_option
@json_option
def optouts_list(mask: bool, as_json: bool) -> None:
    """Show the opt-out list, the earliest refusal first.

    \b
    Examples:
      masgsm-notify optouts list --mask
      masgsm-notify optouts list --json
    """
    listed = existing_optouts()
    entries = []
    if listed is not None:
        with listed:
            entries = list(listed.entries())
    rows: list[_ListedNumber] = [
        {
            "number": shown_number(entry.number, mask),
            "added_at": _moment(entry.added_at),
            "reason": entry.reason,
            "source": entry.source,
        }
        for entry in entries
    ]
    human = "\n".join(
        f"{row['number']:<15} {row['added_at'][:16].replace('T', ' ')}  {row['source']}"
        + (f"  {row['reason']}" if row["reason"] else "")
        for row in rows
    )
    emit(as_json, rows, human or "The opt-out list is empty.")


@optouts.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--reason", help="Why these numbers are listed (default: the file's name).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid numbers even when some entries are not Turkish mobile numbers.",
)
@mask_option
@json_option
def optouts_import(
    file: Path, reason: str | None, skip_invalid: bool, mask: bool, as_json: bool
) -> None:
    """Add every number of FILE to the opt-out list.

    FILE is one number a line, or a CSV with a number column (number, phone, gsm, telefon,
    recipient...), such as the provider panel's export of replies. An İYS export (with a status
    column) gives only its RET records of type MESAJ.

    \b
    Examples:
      masgsm-notify optouts import ret-replies.txt
      masgsm-notify optouts import iys-export.csv --reason "İYS RET"
    """
    found = read_numbers(file)
    if found.invalid and not skip_invalid:
        listed = "\n".join(
            f"  {where}: {shorten(shown_number(value, mask))}: {why}"
            for where, value, why in found.invalid[:LISTED_INVALID]
        )
        more = len(found.invalid) - LISTED_INVALID
        raise UsageError(
            f"{file}: {len(found.invalid):,} entr(ies) are not Turkish mobile numbers; nothing "
            f"was imported. Fix them, or add --skip-invalid to import the rest.\n{listed}"
            + (f"\n  ... and {more:,} more" if more > 0 else "")
        )
    with OptOutList() as listed_numbers:
        added = listed_numbers.add(found.numbers, reason or f"import {file.name}", "import")
        total = listed_numbers.count()
    details = [f"column {found.column!r}"] if found.column else []
    if len(found.numbers) > added:
        details.append(f"{len(found.numbers) - added:,} already listed")
    if found.not_refusals:
        details.append(f"{found.not_refusals:,} İYS record(s) that are not MESAJ refusals left out")
    if found.invalid:
        details.append(f"{len(found.invalid):,} invalid entr(ies) skipped")
    emit(
        as_json,
        {
            "imported": added,
            "already_listed": len(found.numbers) - added,
            "not_refusals": found.not_refusals,
            "invalid": len(found.invalid),
            "column": found.column,
            "listed": total,
        },
        f"Imported {added:,} number(s) from {file} into the opt-out list"
        + (f" ({'; '.join(details)})" if details else "")
        + f"; {total:,} listed in all.",
    )


def _moment(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


@click.command("purge")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="DURATION",
    help="Purge runs whose last activity is older than this (90d, 12h, 30m).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Purge only this journal (default: every journal of the state directory).",
)
@click.option("-n", "--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@json_option
def purge_command(older_than: str, journal: Path | None, dry_run: bool, as_json: bool) -> None:
    """Remove the numbers and texts of old runs from journals and the sent ledger (KVKK).

    Each run whose last activity is older than DURATION keeps its counts, states and costs
    (summaries and check still work) but loses every number and text, and can no longer be
    resumed; sent-ledger entries older than DURATION are removed (such texts may be sent
    again). Exits 1 when a journal stayed in use by a run.

    \b
    Examples:
      masgsm-notify purge --older-than 90d
      masgsm-notify purge --older-than 30d --journal shop.sqlite -n
    """
    try:
        seconds = parse_duration(older_than)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--older-than") from None
    report = purge(seconds, journal, dry_run)
    emit(as_json, report.to_dict(), _describe(report))
    if report.busy:
        raise SystemExit(1)


def _describe(report: PurgeReport) -> str:
    done = [j for j in report.journals if not j.busy]
    runs = sum(j.runs for j in done)
    messages = sum(j.messages for j in done)
    skipped = sum(j.skipped for j in done)
    verb = "Would purge" if report.dry_run else "Purged"
    cutoff = dt.datetime.fromtimestamp(report.cutoff).astimezone().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"{verb} {runs:,} run(s) with no activity since {cutoff} in {len(done):,} journal(s): "
        f"{messages:,} message(s) and {skipped:,} skipped row(s) "
        + ("would lose" if report.dry_run else "lost")
        + " their numbers and texts; their counts stay.",
        f"{verb} {report.ledger_entries:,} sent-ledger entr(ies) recorded before then.",
    ]
    lines += [f"Not purged, in use: {j.path}: {j.busy}" for j in report.busy]
    return "\n".join(lines)


COMMANDS = (optouts, purge_command)
