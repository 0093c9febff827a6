"""What a run leaves behind once it has sent: the results CSV and the notices to `notify:`.

Both happen after texts went out, so neither may turn a finished run into an error: a failure
here is reported as a note and the run's result stands. Their templates are tried when the run
starts, so a mistake in them is found while nothing has been sent.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..render import RenderError, compile_text, render
from .journal import Journal, RunRecord
from .spec import Pipeline
from .summary import Summary

# Characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_path(pipeline: Pipeline, env: Any) -> Path | None:
    """Where `report.export` writes, rendered now (a RenderError names the place)."""
    if not pipeline.report.export:
        return None
    where = f"{pipeline.path}: report.export"
    name = render(compile_text(env, pipeline.report.export, where), {}, where)
    return pipeline.base_dir / name


def export_csv(journal: Journal, run: RunRecord, path: Path) -> int:
    """Write one row per message and skipped row; cells that could be formulas are defused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        writer = csv.writer(file)
        writer.writerow(["row", "number", "state", "message_id", "segments", "copies", "text"])
        for record in journal.results(run):
            writer.writerow([_safe_cell(value) for value in record])
            written += 1
    return written


def export(journal: Journal, run: RunRecord, path: Path, note: Callable[[str], None]) -> None:
    try:
        rows = export_csv(journal, run, path)
    except OSError as error:
        note(f"Could not write the results to {path}: {error.strerror or error}.")
        return
    note(f"Wrote {rows} result row(s) to {path}.")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def check_notify_templates(pipeline: Pipeline, env: Any) -> None:
    """Compile every `notify:` URL template (a RenderError names the broken one)."""
    for index, template in enumerate(pipeline.notify):
        compile_text(env, template, f"{pipeline.path}: notify[{index}]")


def notify(pipeline: Pipeline, env: Any, summary: Summary, note: Callable[[str], None]) -> None:
    """Send the run's summary to every `notify:` URL (Apprise); report what could not go."""
    import apprise  # loaded by the runs that notify, not by every command

    from ..apprise_plugin import register

    register()  # masgsm:// targets
    notifier = apprise.Apprise()
    for index, template in enumerate(pipeline.notify):
        where = f"{pipeline.path}: notify[{index}]"
        try:
            url = render(compile_text(env, template, where), {"env": os.environ}, where)
        except RenderError as error:
            note(f"{error}; that notify target was skipped.")
            continue
        if not notifier.add(url):
            note(f"notify[{index}]: not a usable Apprise URL; skipped.")
    o = summary.outcomes
    body = (
        f"{summary.name} ({summary.run_key}): {o['delivered']} delivered, {o['failed']} failed, "
        f"{o['pending']} pending, {o['unknown']} unknown, {o['not_sent']} not sent, "
        f"{summary.skipped} skipped; {summary.credits_sent} credits."
    )
    if len(notifier) and not notifier.notify(body=body, title=f"masgsm-notify: {summary.name}"):
        note("Some notify targets could not be reached (see the log).")
