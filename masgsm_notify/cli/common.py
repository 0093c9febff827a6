"""Options and output helpers shared by the commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from ..client import DEFAULT_BASE_URL, LANGS, MasgsmClient


def account_options(command: Callable) -> Callable:
    """--user, --password, --base-url and --timeout, each also read from the environment."""

    @click.option(
        "--user",
        envvar="MASGSM_USER",
        show_envvar=True,
        help="User code: the phone number registered with MASGSM.",
    )
    @click.option(
        "--password",
        envvar="MASGSM_PASSWORD",
        show_envvar=True,
        help="Account password (prefer the environment variable: options show in process lists).",
    )
    @click.option(
        "--base-url",
        envvar="MASGSM_BASE_URL",
        show_envvar=True,
        default=DEFAULT_BASE_URL,
        show_default=True,
        help="API base URL; point it at a sandbox or a proxy.",
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
        base_url: str,
        timeout: float,
        **kwargs: Any,
    ) -> Any:
        if not user or not password:
            raise click.UsageError(
                "MASGSM credentials are missing: set MASGSM_USER and MASGSM_PASSWORD "
                "(or pass --user and --password)."
            )
        client = MasgsmClient(user, password, base_url=base_url, timeout=(10.0, timeout))
        with client:
            return command(*args, client=client, **kwargs)

    return wrapper


def title_option(command: Callable) -> Callable:
    return click.option(
        "--title",
        envvar="MASGSM_TITLE",
        show_envvar=True,
        help="Sender ID shown to recipients; must be registered.",
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


def emit(as_json: bool, data: Any, human: str) -> None:
    """Print a result as JSON or as text for a person."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else human)
