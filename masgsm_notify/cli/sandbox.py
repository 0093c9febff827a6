"""`masgsm-notify sandbox serve`: a local MASGSM for demos, tests and trying things out."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

import click

from ..errors import UsageError
from ..sandbox import FAULTS, FaultPlan, SandboxConfig, SandboxServer
from .common import output

_DEFAULTS = SandboxConfig()


def _fault_rates(values: tuple[str, ...]) -> dict[str, float]:
    rates = {}
    for value in values:
        name, _, rate = value.partition("=")
        try:
            rates[name] = float(rate)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not NAME=RATE", param_hint="--fault") from None
        if name not in FAULTS or not 0 <= rates[name] <= 1:
            raise click.BadParameter(
                f"{value!r}: NAME is one of {', '.join(FAULTS)} and RATE is 0..1",
                param_hint="--fault",
            )
    return rates


@click.group()
def sandbox() -> None:
    """A local MASGSM server that behaves like the real one.

    \b
    Examples:
      masgsm-notify sandbox serve --port 8765
      masgsm-notify sandbox serve --port 8765 --title ACME --balance 500
    """


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=0, show_default=True, help="Port; 0 picks a free one.")
@click.option("--user", default=_DEFAULTS.user, show_default=True, help="The account's user code.")
@click.option(
    "--password", default=_DEFAULTS.password, show_default=True, help="The account's password."
)
@click.option(
    "--title",
    "titles",
    multiple=True,
    help=f"A registered title; repeatable (default: {', '.join(_DEFAULTS.titles)}).",
)
@click.option(
    "--banned-title",
    "banned",
    multiple=True,
    help=f"A banned title; repeatable (default: {', '.join(_DEFAULTS.banned_titles)}).",
)
@click.option(
    "--balance",
    type=click.IntRange(min=0),
    default=_DEFAULTS.balance,
    show_default=True,
    help="Starting balance in credits.",
)
@click.option(
    "--settle-ms",
    type=click.IntRange(min=0),
    default=_DEFAULTS.settle_ms,
    show_default=True,
    help="Milliseconds before a sent number leaves Bekleyen.",
)
@click.option(
    "--fail-suffix",
    "fail_suffixes",
    multiple=True,
    help="Numbers ending in this end up in Hatali; repeatable (default: 99).",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Delay added to every API request.",
)
@click.option(
    "--bare-codes",
    is_flag=True,
    help="Answer error codes as a bare number, as some provider versions do.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME=RATE",
    help=f"Inject a fault into that share of sends; NAME is one of {', '.join(FAULTS)}.",
)
@click.option(
    "--fault-scope",
    type=click.Choice(["send", "all"]),
    default="send",
    show_default=True,
    help="Which requests faults hit.",
)
@click.option(
    "--stall-ms",
    type=click.IntRange(min=0),
    default=35_000,
    show_default=True,
    help="How long a 'stall' fault holds the answer back.",
)
@click.option("--seed", type=int, help="Seed for fault injection, for repeatable runs.")
def serve(
    host: str,
    port: int,
    user: str,
    password: str,
    titles: tuple[str, ...],
    banned: tuple[str, ...],
    balance: int,
    settle_ms: int,
    fail_suffixes: tuple[str, ...],
    latency_ms: int,
    bare_codes: bool,
    faults: tuple[str, ...],
    fault_scope: str,
    stall_ms: int,
    seed: int | None,
) -> None:
    """Serve until stopped. The first line of output is the base URL to point clients at.

    The account is user 5300000000, password sandbox; titles MASGSMTEST and SANDBOX are
    registered unless --title names others (a pipeline's title must be one of them).

    \b
    Examples:
      masgsm-notify sandbox serve --port 8765
      masgsm-notify sandbox serve --port 8765 --title ACME --title MASGSMTEST
      masgsm-notify sandbox serve --fault 503=0.05 --fault drop_after=0.01 --seed 7
    """
    config = SandboxConfig(
        user=user,
        password=password,
        titles=titles or _DEFAULTS.titles,
        banned_titles=banned or _DEFAULTS.banned_titles,
        balance=balance,
        settle_ms=settle_ms,
        fail_suffixes=fail_suffixes or _DEFAULTS.fail_suffixes,
        bare_codes=bare_codes,
    )
    plan = FaultPlan(rates=_fault_rates(faults), scope=fault_scope, stall_ms=stall_ms, seed=seed)
    try:
        server = SandboxServer(
            config, host=host, port=port, latency_ms=latency_ms, faults=plan if faults else None
        )
    except OSError as error:
        raise UsageError(f"The sandbox cannot listen on {host}:{port}: {error.strerror}.") from None
    # Ctrl-C or SIGTERM (systemd, docker stop, a test) stops it the same clean way, even where
    # it was started with SIGINT ignored, as a shell starts a background job.
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, _stop)
    click.echo(server.base_url)
    if not output().quiet:
        click.echo(
            f"sandbox account {user}, titles {', '.join(config.titles)}; Ctrl-C stops it.",
            err=True,
        )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


COMMANDS = (sandbox,)
