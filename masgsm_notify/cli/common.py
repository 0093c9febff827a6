"""Options and output helpers shared by the commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .. import logs
from ..api import DEFAULT_BASE_URL, LANGS
from ..errors import MissingCredentialsError


@dataclass
class Output:
    """How much this invocation says: -v and -q may come before the command or after it."""

    verbose: int = 0
    quiet: bool = False
    log_file: Path | None = None
    started: bool = False  # logging is set up; options read later set it up again


def output(ctx: click.Context | None = None) -> Output:
    """This invocation's output settings, kept on the root context (defaults outside one)."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return Output()
    return ctx.find_root().meta.setdefault("masgsm_notify.output", Output())


def start_output(ctx: click.Context, log_file: Path | None) -> None:
    """Set up logging from the options read so far (the group's); later ones refine it.

    A log file that cannot be opened (its folder missing, a folder in its place, no right to
    write) is a bad option: exit 2 before anything is done.
    """
    settings = output(ctx)
    settings.log_file, settings.started = log_file, True
    if log_file is not None and not log_file.parent.is_dir():
        raise click.BadParameter(
            f"{log_file}: the folder {log_file.parent} does not exist; create it, or name a "
            "file in an existing folder.",
            param_hint="'--log-file' / MASGSM_LOG_FILE",
        )
    try:
        logs.configure_logging(settings.verbose, settings.log_file, settings.quiet)
    except OSError as error:
        raise click.BadParameter(
            f"{log_file}: cannot write to it ({error.strerror or error}).",
            param_hint="'--log-file' / MASGSM_LOG_FILE",
        ) from None


def _count_output(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if not value:
        return
    settings = output(ctx)
    if param.name == "verbose":
        settings.verbose += value
    else:
        settings.quiet = True
    if settings.started:
        logs.configure_logging(settings.verbose, settings.log_file, settings.quiet)


def output_options(command: Any) -> Any:
    """-v and -q, for the group and for every command (so `run p.yaml -v` works too)."""
    command = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_count_output,
        help="Say less: results and errors only (no notes, progress or warnings).",
    )(command)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_count_output,
        help="More log output: -v info, -vv debug.",
    )(command)


def account_options(command: Callable) -> Callable:
    """--user, --password, --base-url and --timeout; what they leave unset comes from the
    environment, then the config file (`config.resolve`), and a command's --title too."""

    @click.option(
        "--user",
        help="User code: the phone number registered with MASGSM.  [env var: MASGSM_USER]",
    )
    @click.option(
        "--password",
        help="Account password (prefer the environment variable or a config password_file: "
        "options show in process lists).  [env var: MASGSM_PASSWORD]",
    )
    @click.option(
        "--base-url",
        help="API base URL; point it at a sandbox or a proxy.  [env var: MASGSM_BASE_URL; "
        f"default: {DEFAULT_BASE_URL}]",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        help="Seconds to wait for an answer.",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        user: str | None,
        password: str | None,
        base_url: str | None,
        timeout: float,
        **kwargs: Any,
    ) -> Any:
        from ..service import Service  # the HTTP client, loaded by the commands that talk

        given = {"user": user, "password": password, "base": base_url, "title": kwargs.get("title")}
        try:
            service = Service.from_settings(given)
        except MissingCredentialsError as error:
            if not error.unset:
                raise
            options = " and ".join(f"--{key}" for key in error.unset)
            raise MissingCredentialsError(f"{error} Or pass {options}.", error.unset) from None
        with service.client(timeout=(10.0, timeout)) as client:
            return command(*args, client=client, **kwargs)

    return wrapper


def title_option(command: Callable) -> Callable:
    return click.option(
        "--title",
        help="Sender ID shown to recipients; must be registered.  [env var: MASGSM_TITLE]",
    )(command)


lang_option = click.option(
    "--lang",
    type=click.Choice(LANGS),
    default="auto",
    show_default=True,
    help="auto: ask for Turkish characters when the text has them; tr: always; "
    "plain: transliterate to plain text.",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON document."
)


def _masking(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        logs.mask_numbers()  # logs and errors too, from the moment the option is read
    return value


mask_option = click.option(
    "--mask",
    is_flag=True,
    callback=_masking,
    help="Show phone numbers masked (0532 *** ** 33) in output, logs and exports (KVKK); "
    "pipelines can ask the same with privacy: mask.",
)


def emit(as_json: bool, data: Any, human: str) -> None:
    """Print a result as JSON or as text for a person."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else human)
