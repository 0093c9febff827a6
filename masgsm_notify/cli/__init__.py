"""The `masgsm-notify` command: a thin click layer over the library.

Each command parses its options and calls one library function. Errors a user can cause arrive as
`MasgsmError` and leave as one paragraph on standard error with the documented exit code
(2 bad input, nothing sent; 1 runtime failure; 130 / 143 a run stopped by SIGINT / SIGTERM),
never as a traceback.
"""

from __future__ import annotations

import atexit
import gc
import importlib
from pathlib import Path

import click

from .. import __version__, config
from ..errors import MasgsmError, RunInterrupted
from ..logs import scrub
from .common import output_options, start_output

# The system takes a finished process's memory back whole, so the objects still alive at exit
# are frozen instead of walked and freed one by one on the way out (most of a run's exit, 50-60
# ms). atexit handlers still run, and files and journals are closed by the code that opened them.
atexit.register(gc.freeze)

# Each command: the module of this package that defines it, and the line `--help` lists it
# with. A command's module (and the library it drives) is imported when the command runs, so
# `--version`, `--help` and each command load only what they use. A test checks that these
# lines are the commands' own.
COMMANDS: dict[str, tuple[str, str]] = {
    "send": ("account", "Send one text to one or many numbers (type 0)."),
    "balance": ("account", "Show the account balance in credits (type 4)."),
    "report": ("account", "Show the delivery report of one send (type 2)."),
    "titles": (
        "account",
        "List the titles (sender IDs) registered to the account (older API, apiNo 3).",
    ),
    "register": ("account", "Register a sub-member of a reseller account (type 3)."),
    "init": (
        "starter",
        "Write a starter pipeline, sample data and a template into DIR (default masgsm-starter).",
    ),
    "validate": (
        "validate",
        "Check a pipeline without sending or connecting: exit 0 valid, 2 not.",
    ),
    "run": (
        "pipeline",
        "Run a pipeline: plan, check, send in personalised batches, check delivery, summarise.",
    ),
    "check": ("pipeline", "Check the delivery reports of a past run again, and summarise it."),
    "runs": ("runs", "List past runs: run key, pipeline, start and end, counts and state."),
    "plugins": ("pipeline", "List the loaded plugins and the hooks each implements."),
    "optouts": (
        "compliance",
        "The opt-out list: numbers pipelines that honour opt-outs never send to.",
    ),
    "purge": (
        "compliance",
        "Remove the numbers and texts of old runs from journals and the sent ledger (KVKK).",
    ),
    "serve": (
        "serve",
        "Receive webhooks (Alertmanager, Grafana, any JSON) and run pipelines on them.",
    ),
    "queue": ("serve", "serve's payloads: list them, retry a failed one."),
    "sandbox": ("sandbox", "A local MASGSM server that behaves like the real one."),
    "apprise": (
        "apprise",
        "Make masgsm:// URLs work in the apprise command and other Apprise-based tools.",
    ),
}


class MasgsmCommandError(click.ClickException):
    """A `MasgsmError` (or a run interrupted before sending) shown the click way, keeping the
    error's exit code."""

    def __init__(self, error: MasgsmError | RunInterrupted):
        super().__init__(scrub(str(error)))
        # click declares `exit_code` per class; this one carries the code of the error it shows.
        self.exit_code = error.exit_code  # type: ignore[misc]


class MasgsmGroup(click.Group):
    """A group whose commands turn library errors into clean click errors, loaded when used."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (MasgsmError, RunInterrupted) as error:
            raise MasgsmCommandError(error) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
            command = next(c for c in module.COMMANDS if c.name == name)
            for each in _with_subcommands(command):  # -v and -q after its name too
                output_options(each)
            self.commands[name] = command
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of `--help`, from the table: no command module is imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [
            (name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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
