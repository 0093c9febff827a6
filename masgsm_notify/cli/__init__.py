"""The `masgsm-notify` command: a thin click layer over the library.

Each command parses its options and calls one library function. Errors a user can cause arrive as
`MasgsmError` and leave as one paragraph on standard error with the documented exit code
(2 bad input, nothing sent; 1 runtime failure; 130 / 143 a run stopped by SIGINT / SIGTERM),
never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__, config
from ..errors import MasgsmError, RunInterrupted
from ..logs import scrub
from . import account, apprise, compliance, pipeline, runs, sandbox, serve, starter, validate
from .common import output_options, start_output


class MasgsmCommandError(click.ClickException):
    """A `MasgsmError` (or a run interrupted before sending) shown the click way, keeping the
    error's exit code."""

    def __init__(self, error: MasgsmError | RunInterrupted):
        super().__init__(scrub(str(error)))
        self.exit_code = error.exit_code


class MasgsmGroup(click.Group):
    """A group whose commands turn library errors into clean click errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (MasgsmError, RunInterrupted) as error:
            raise MasgsmCommandError(error) from None

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Every command, at any depth, also takes -v and -q after its name."""
        for command in _with_subcommands(cmd):
            output_options(command)
        super().add_command(cmd, name)


def _with_subcommands(command: click.Command) -> list[click.Command]:
    found = [command]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found += _with_subcommands(sub)
    return found


@click.group(cls=MasgsmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="masgsm-notify")
@output_options
@click.option(
    "--account",
    metavar="NAME",
    help="Use the account [accounts.NAME] of the config file "
    "($XDG_CONFIG_HOME/masgsm-notify/config.toml).  [env var: MASGSM_ACCOUNT]",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MASGSM_LOG_FILE",
    help="Write the log to this file instead of standard error.",
)
@click.pass_context
def main(ctx: click.Context, account: str | None, log_file: Path | None) -> None:
    """Send SMS through MASGSM: one-off texts, declarative pipelines, and a local sandbox.

    Account settings come from options, then MASGSM_USER, MASGSM_PASSWORD, MASGSM_TITLE and
    MASGSM_BASE_URL, then an account of the config file (--account NAME or MASGSM_ACCOUNT).
    Exit codes: 0 done, 1 runtime failure, 2 bad input (nothing sent),
    3 sent but delivery failures remain, 4 the send window is closed (try later), 130 / 143
    stopped by SIGINT / SIGTERM.

    \b
    Examples:
      masgsm-notify init && masgsm-notify run masgsm-starter/pipeline.yaml --sandbox
      masgsm-notify run pipelines/demo.yaml --sandbox
      masgsm-notify send --to "0532 111 22 33" -m "Merhaba" -n
      masgsm-notify sandbox serve --port 8765
      masgsm-notify COMMAND --help
    """
    start_output(ctx, log_file)
    config.choose_account(account)


_GROUPS = (account, pipeline, runs, starter, validate, compliance, serve, sandbox, apprise)
for _command in (command for group in _GROUPS for command in group.COMMANDS):
    main.add_command(_command)
