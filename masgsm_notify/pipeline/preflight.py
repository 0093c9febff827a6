"""Pre-flight: the balance and the title, checked against the plan before anything is sent.

In a real run a short or unreadable balance, or a title the account does not list, stops the
run with nothing sent; a dry run reports them. Reads are retried while MASGSM is unreachable, up
to the run's give-up time (`patience.Patience.read`). A title list that cannot be read is only
reported: some accounts lack the older API that lists titles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ..client import MasgsmClient
from ..errors import (
    CredentialsError,
    InsufficientBalanceError,
    MasgsmError,
    ProviderDownError,
    TitleError,
)
from .summary import Checks

T = TypeVar("T")


class Reader(Protocol):
    """Reads through `fetch`, retrying while MASGSM is unreachable (`Patience.read`)."""

    def __call__(self, fetch: Callable[[], T], /) -> T: ...


def preflight(
    client: MasgsmClient,
    title: str | None,
    credits: int,
    read: Reader,
) -> tuple[Checks, list[MasgsmError]]:
    """Read the balance and the titles; return what was found and what stands in the way."""
    checks = Checks()
    problems: list[MasgsmError] = []
    try:
        checks.balance = read(client.balance)
        if checks.balance < credits:
            problems.append(
                InsufficientBalanceError(
                    f"The plan needs {credits:,} credits but the balance is "
                    f"{checks.balance:,}; nothing was sent. Top up, or send fewer."
                )
            )
    except CredentialsError:
        raise
    except ProviderDownError as error:
        checks.balance_error = str(error)
        problems.append(
            ProviderDownError(
                f"{error} Nothing was sent: run the same command again once MASGSM answers."
            )
        )
    except MasgsmError as error:
        checks.balance_error = str(error)
        problems.append(MasgsmError(f"The balance could not be read ({error}); nothing was sent."))
    try:
        checks.titles = read(client.titles)
        if title not in checks.titles:
            problems.append(
                TitleError(
                    f"The title {title!r} is not registered to the account "
                    f"(registered: {', '.join(checks.titles) or 'none'}); nothing was sent."
                )
            )
    except CredentialsError:
        raise
    except MasgsmError as error:
        checks.titles_error = str(error)
    checks.problems = [str(p) for p in problems]
    return checks, problems
