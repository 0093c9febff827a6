"""`validate`: a pipeline checked as a run would check it, offline, for pipeline-as-code in CI."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..pipeline import PlanReport, RunOptions
from ..pipeline.summary import skipped_lines
from ..pipeline.validate import validate as validate_pipeline
from .common import json_option
from .pipeline import (
    ClickUI,
    format_plan,
    input_option,
    json_errors,
    parse_vars,
    read_input,
    var_option,
)


class ValidateUI(ClickUI):
    """The plan under its own head; with -q, only the verdict."""

    def plan(self, report: PlanReport) -> None:
        if not self.quiet:
            self.echo(format_plan(report, head="Checked"))


@click.command()
@click.argument(
    "pipeline_file", metavar="PIPELINE.yaml", type=click.Path(dir_okay=False, path_type=Path)
)
@var_option
@input_option
@click.option(
    "--preview",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="How many rendered texts to show.",
)
@json_option
def validate(
    pipeline_file: Path,
    variables: tuple[str, ...],
    input_file: str | None,
    preview: int,
    as_json: bool,
) -> None:
    """Check a pipeline without sending or connecting: exit 0 valid, 2 not.

    Every check of a dry run that needs no network: the YAML and its keys, every row read,
    filtered by when:, rendered and numbered, each text's segments and the credits in all.
    No connection is opened (balance and title are checked by run -n), and no journal or
    sent ledger is read or written, so it suits CI for pipelines kept in a repository.

    \b
    Examples:
      masgsm-notify validate pipelines/invoice-reminder.yaml
      masgsm-notify validate pipelines/alertmanager.yaml --input payload.json
      masgsm-notify validate pipelines/demo.yaml -q && echo valid
    """
    with json_errors(as_json, valid=False, pipeline=str(pipeline_file)):
        input_data, input_bytes = read_input(input_file)
        options = RunOptions(
            vars=parse_vars(variables),
            input=input_data,
            input_bytes=input_bytes,
            preview=preview,
        )
        summary = validate_pipeline(pipeline_file, options, ValidateUI(as_json))
    assert summary.plan is not None
    if as_json:
        document = {
            "valid": True,
            "pipeline": str(pipeline_file),
            **summary.plan.to_dict(),
            "skipped_rows": summary.skipped_rows,
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    for line in skipped_lines(summary):
        click.echo(line)
    plan = summary.plan
    click.echo(
        f"{pipeline_file} is valid: {plan.to_send:,} message(s), {plan.credits_to_send:,} "
        "credit(s); nothing was sent, and no connection was made."
    )


COMMANDS = (validate,)
