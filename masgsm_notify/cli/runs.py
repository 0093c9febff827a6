"""`runs`: the past runs of every journal the state directory knows, newest first."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..pipeline.past_runs import PastRun, past_runs
from .common import json_option

# The counts a person reads first, in this order; those that are zero are left out.
_SHOWN = (
    ("delivered", "delivered"),
    ("failed", "failed"),
    ("pending", "pending"),
    ("unknown", "unknown"),
    ("not_sent", "not sent"),
    ("held", "held"),
    ("already_sent", "already sent"),
    ("skipped", "skipped"),
    ("filtered", "filtered"),
)


@click.command()
@click.option(
    "--journal",
    "journals",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read this journal only (repeatable). Default: every journal of the state directory "
    "(MASGSM_STATE_DIR), those runs named with --journal, and older *.journal.sqlite files "
    "here or one folder down.",
)
@click.option(
    "--last",
    type=click.IntRange(min=0),
    metavar="N",
    default=20,
    show_default=True,
    help="How many of the newest runs to show; 0 shows them all.",
)
@json_option
def runs(journals: tuple[Path, ...], last: int, as_json: bool) -> None:
    """List past runs: run key, pipeline, start and end, counts and state.

    States: planning, planned (nothing sent yet), sending (a process is at work on it),
    interrupted (texts left to send or in flight: run it again), limited (the rest held by
    --limit) and finished. Dry runs and --sandbox runs keep no journal, so they are not listed.
    It only reads: it works while a run is sending.

    \b
    Examples:
      masgsm-notify runs
      masgsm-notify runs --last 0 --json
      masgsm-notify check "$(masgsm-notify runs --json | jq -r '.runs[0].run_key')"
    """
    found = past_runs(list(journals) or None, last or None)
    for problem in found.unreadable:
        click.echo(f"Skipped: {problem}", err=True)
    if as_json:
        document = {
            "runs": [run.to_dict() for run in found.runs],
            "more": found.more,
            "journals": [str(path) for path in found.journals],
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    if not found.runs:
        looked = ", ".join(str(p) for p in found.journals) or "no journal found"
        click.echo(f"No runs yet ({looked}).")
        return
    table = [("STARTED", "ENDED", "STATE", "PIPELINE", "RUN KEY", "COUNTS")]
    table += [_row(run) for run in found.runs]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    if found.more:
        click.echo(f"... and {found.more:,} older run(s); --last 0 shows them all.")


def _row(run: PastRun) -> tuple[str, str, str, str, str, str]:
    started = time.localtime(run.started)
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", started),
        _ended(started, run.ended),
        run.state,
        run.name,
        run.run_key,
        _counts(run),
    )


def _ended(started: time.struct_time, ended: float | None) -> str:
    """The end's time of day, with its date too when the run ended on another day."""
    if ended is None:
        return "-"
    moment = time.localtime(ended)
    same_day = moment[:3] == started[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", moment)


def _counts(run: PastRun) -> str:
    counts = run.counts
    values = {**counts.outcomes, **counts.beside()}
    shown = [f"{values[key]:,} {label}" for key, label in _SHOWN if values[key]]
    credits = f"; {counts.credits_sent:,} credit(s)" if counts.credits_sent else ""
    return (", ".join(shown) or f"{counts.rows:,} row(s)") + credits


COMMANDS = (runs,)
