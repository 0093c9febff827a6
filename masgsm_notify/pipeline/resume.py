"""What a person is told when a run stops before the end: where it stands, and how to go on.

A run stopped by a signal, an unreachable provider, its spending cap or a file it could not
write is resumed by running the same run key again; the journal says what was sent, so nothing
goes twice. The command is spelt out in full: the pipeline, `--run-key`, `--journal` when it is
not the default one, and the `--var`, `--input` and `--account` that decide the run's texts
(with others, the run key would refuse to resume).
"""

from __future__ import annotations

import os
import shlex

from .. import config
from ..errors import MasgsmError
from ..states import OUTCOMES
from .context import RunContext, RunInfo
from .journals import choose_journal
from .records import RunRecords


def resume_command(context: RunContext, info: RunInfo) -> str | None:
    """The command that resumes the run, or None for a trial that kept no journal."""
    if context.throwaway:
        return None
    options = context.options
    words = [*_program(), "run", str(info.pipeline)]
    if options.sandbox:
        words.append("--sandbox")
    words += ["--run-key", info.run_key, *_journal(context, info)]
    for key, value in options.vars.items():
        words += ["--var", f"{key}={value}"]
    if options.input_name:
        words += ["--input", options.input_name]
    command = shlex.join(words)
    if options.input_name == "-":
        command += " (with the same document on standard input)"
    return command


def check_command(context: RunContext, info: RunInfo) -> str:
    """The command that reads the run's delivery reports again."""
    return shlex.join([*_program(), "check", info.run_key, *_journal(context, info)])


def _program() -> list[str]:
    account = config.chosen_account()
    return ["masgsm-notify", *(["--account", account] if account else [])]


def _journal(context: RunContext, info: RunInfo) -> list[str]:
    """`--journal PATH`, unless the run's journal is the one chosen without it."""
    default = choose_journal(context.pipeline, None).path
    same = os.path.realpath(default) == os.path.realpath(info.journal)
    return [] if same else ["--journal", str(info.journal)]


def standing(records: RunRecords) -> str:
    """Where the run's recipients stand, in the words of a stopped run."""
    tally = records.tally()
    rows = {name: tally.rows(states) for name, states in OUTCOMES.items()}
    sent = rows["delivered"] + rows["failed"] + rows["pending"]
    return (
        f"So far {sent:,} recipient(s) sent, {rows['not_sent']:,} never left, "
        f"{rows['unknown']:,} unknown."
    )


def explain(error: MasgsmError, records: RunRecords, command: str | None) -> None:
    """Add where the run stands and how to resume it to the message of what stopped it."""
    try:
        where = standing(records)
    except MasgsmError:  # the journal may be what failed: the message stands without counts
        where = ""
    then = (
        f"Resume with: {command}"
        if command
        else "This trial kept no journal: run it again to start over."
    )
    error.message = " ".join(part for part in (error.message, where, then) if part)
