"""`init`: a starter folder with a pipeline, sample data and a template, and what to run next."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from ..starter import DEFAULT_FOLDER, write_starter

_WHAT = {
    "pipeline.yaml": "the pipeline, commented",
    "data": "sample appointments with Turkish names and numbers",
    "templates": "the text each recipient gets",
}


@click.command()
@click.argument(
    "folder", metavar="[DIR]", required=False, type=click.Path(file_okay=False, path_type=Path)
)
def init(folder: Path | None) -> None:
    """Write a starter pipeline, sample data and a template into DIR (default masgsm-starter).

    The starter runs at once against the embedded sandbox: no account, no real SMS. DIR must
    be new or empty; nothing is ever overwritten.

    \b
    Examples:
      masgsm-notify init
      masgsm-notify init reminders && masgsm-notify run reminders/pipeline.yaml --sandbox
    """
    written = write_starter(folder or DEFAULT_FOLDER)
    click.echo(f"Wrote a starter pipeline to {written.folder}/:")
    width = max(len(str(written.folder / path)) for path in written.files)
    for path in written.files:
        shown = str(written.folder / path)
        click.echo(f"  {shown:<{width}}  {_WHAT.get(path.parts[0], '')}".rstrip())
    pipeline = shlex.quote(str(written.pipeline))
    steps = [
        (f"masgsm-notify validate {pipeline}", "every row checked, offline"),
        (f"masgsm-notify run {pipeline} --sandbox", "the whole flow, no real SMS"),
        (f"masgsm-notify run {pipeline} --dry-run", "with your account: cost, balance, title"),
    ]
    click.echo("Next:")
    width = max(len(command) for command, _ in steps)
    for command, why in steps:
        click.echo(f"  {command:<{width}}   # {why}")


COMMANDS = (init,)
