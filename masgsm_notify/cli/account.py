"""One-off account commands: send, balance, report, titles, register."""

from __future__ import annotations

import re
import sys

import click

from .. import phone
from .. import text as sms_text
from ..client import MasgsmClient
from ..errors import EmptyReportError, InvalidNumberError, UsageError
from ..privacy import shown_number
from .common import account_options, emit, json_option, lang_option, mask_option, title_option

EXIT_PARTIAL = 3

# Enough to catch a slip (`bad`, `ali@`, `ali veli@x.com`); the provider judges the rest.
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def parse_numbers(values: tuple[str, ...]) -> list[str]:
    """Split `N1,N2` options and normalise them, naming every invalid one at once."""
    raw = [part.strip() for value in values for part in value.split(",") if part.strip()]
    good, bad = [], []
    for value in raw:
        try:
            good.append(phone.normalize(value))
        except InvalidNumberError as error:
            bad.append(error.message)
    if bad:
        raise UsageError("Invalid numbers, nothing was sent: " + " ".join(bad))
    if not good:
        raise UsageError("No numbers given: use --to N[,N...].")
    return list(dict.fromkeys(good))  # a number typed two ways gets the text once


@click.command()
@click.option(
    "--to",
    "to",
    multiple=True,
    required=True,
    metavar="N[,N...]",
    help="Recipient mobile number(s), any common Turkish form; repeatable.",
)
@click.option(
    "-m", "--message", required=True, help="The text to send; '-' reads it from standard input."
)
@title_option
@lang_option
@click.option(
    "--method",
    type=click.Choice(["post", "get"]),
    default="post",
    show_default=True,
    help="post: the V2 POST API; get: the V2 GET API (plain text, password in URL).",
)
@click.option(
    "--max-segments",
    type=click.IntRange(1, 20),
    default=sms_text.DEFAULT_MAX_SEGMENTS,
    show_default=True,
    help="Refuse a text longer than this many segments (as a pipeline's send.max_segments).",
)
@click.option(
    "-n", "--dry-run", is_flag=True, help="Show encoding, segments and credits; send nothing."
)
@mask_option
@json_option
@account_options
def send(
    client: MasgsmClient,
    to: tuple[str, ...],
    message: str,
    title: str | None,
    lang: str,
    method: str,
    max_segments: int,
    dry_run: bool,
    mask: bool,
    as_json: bool,
) -> None:
    """Send one text to one or many numbers (type 0).

    Every number is checked, and the text's length, before anything is sent.

    \b
    Examples:
      masgsm-notify send --to "0532 111 22 33" -m "Siparişiniz kargoya verildi." -n
      masgsm-notify send --to 5321112233,5334445566 -m "Toplantı 15:00'te."
      echo "Sunucu yanıt vermiyor" | masgsm-notify send --to 5321112233 -m - --lang plain
    """
    if message == "-":
        message = sys.stdin.read().rstrip("\n")
    if not message.strip():
        raise UsageError("The message is empty; nothing was sent.")
    numbers = parse_numbers(to)
    if method == "get":
        shown = sms_text.ascii_only(message)
    else:
        shown = sms_text.plain(message) if lang == "plain" else message
    cost = sms_text.cost(shown, lang_tr=method == "post" and lang != "plain")
    if cost.segments > max_segments:
        raise UsageError(
            f"The text needs {cost.segments:,} segments ({len(shown):,} characters, "
            f"{cost.encoding.value}), more than --max-segments {max_segments}; nothing was "
            "sent. Shorten it, or raise --max-segments."
        )
    plan = {
        "numbers": [shown_number(number, mask) for number in numbers],
        "text": shown,
        "encoding": cost.encoding.value,
        "segments": cost.segments,
        "credits": cost.credits(len(numbers)),
    }
    summary = (
        f"{len(numbers):,} number(s), {cost.encoding.value}, {cost.segments} segment(s) "
        f"each, {plan['credits']:,} credit(s)"
    )
    if dry_run:
        emit(as_json, {"dry_run": True, **plan}, f"Dry run, nothing sent: {summary}.")
        return
    if method == "get":
        result = client.send_get(numbers, message, title=title)
    else:
        result = client.send(numbers, message, title=title, lang=lang)
    data = {**plan, "message_id": result.message_id, "code": result.code, "partial": result.partial}
    if result.partial:
        emit(
            as_json,
            data,
            f"Partial send: the balance ran out (answer 3). Message id "
            f"{result.message_id}; `masgsm-notify report {result.message_id}` shows which "
            "numbers got it.",
        )
        sys.exit(EXIT_PARTIAL)
    emit(as_json, data, f"Sent: message id {result.message_id}; {summary}.")


@click.command()
@json_option
@account_options
def balance(client: MasgsmClient, as_json: bool) -> None:
    """Show the account balance in credits (type 4).

    \b
    Examples:
      masgsm-notify balance
      masgsm-notify --account acme balance --json
    """
    credits = client.balance()
    emit(as_json, {"balance": credits}, f"Balance: {credits:,} credits")


def _message_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Message ids are the numbers `send` prints; anything else is refused before a request."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise UsageError(
            f"{value!r} is not a message id: ids are numbers, as `masgsm-notify send` prints "
            "them (Sent: message id 100001); nothing was requested."
        )
    return value


@click.command()
@click.argument("message_id", callback=_message_id)
@mask_option
@json_option
@account_options
def report(client: MasgsmClient, message_id: str, mask: bool, as_json: bool) -> None:
    """Show the delivery report of one send (type 2).

    Exits 1 when the report lists no numbers at all: no send of this account has that id (or
    the provider has not listed it yet).

    \b
    Examples:
      masgsm-notify report 100001
      masgsm-notify report 100001 --json
    """
    result = client.report(message_id)
    groups = {
        state: [shown_number(number, mask) for number in numbers]
        for state, numbers in (
            ("delivered", result.delivered),
            ("failed", result.failed),
            ("pending", result.pending),
        )
    }
    if not any(groups.values()):
        raise EmptyReportError(
            f"The report of message {message_id} lists no numbers: no send of this account "
            "has that id (if it was sent just now, ask again in a minute)."
        )
    lines = [f"Message {message_id}: " + ", ".join(f"{len(v):,} {k}" for k, v in groups.items())]
    lines += [f"  {state:<9} {number}" for state, group in groups.items() for number in group]
    emit(as_json, {"message_id": message_id, **groups}, "\n".join(lines))


@click.command()
@json_option
@account_options
def titles(client: MasgsmClient, as_json: bool) -> None:
    """List the titles (sender IDs) registered to the account (older API, apiNo 3).

    \b
    Examples:
      masgsm-notify titles
      masgsm-notify titles --json
    """
    names = client.titles()
    emit(as_json, {"titles": names}, "\n".join(names) if names else "No registered titles.")


@click.command()
@click.option("--username", required=True, help="The new sub-member's user name.")
@click.option("--fullname", required=True, help="The new sub-member's full name.")
@click.option("--email", required=True, help="The new sub-member's e-mail address.")
@click.option("--phone", "member_phone", required=True, help="The new sub-member's phone number.")
@json_option
@account_options
def register(
    client: MasgsmClient, username: str, fullname: str, email: str, member_phone: str, as_json: bool
) -> None:
    """Register a sub-member of a reseller account (type 3).

    The sub-member's password is read from standard input when it is not a terminal, otherwise
    asked for at a hidden prompt; it is never an option, so it never shows in process lists.
    The phone must be a Turkish mobile number and the e-mail an address; both are checked
    before the password is asked for.

    \b
    Examples:
      masgsm-notify register --username bayi-ali --fullname "Ali Veli" \\
          --email ali@example.com --phone "0532 555 00 00"
      printf '%s\\n' "$MEMBER_PASSWORD" | masgsm-notify register --username bayi-ali ...
    """
    email, member_phone = _member_details(username, fullname, email, member_phone)
    if sys.stdin.isatty():
        password = click.prompt(
            "Sub-member password", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("The sub-member password is empty; nothing was registered.")
    client.register(username, password, fullname, email, member_phone)
    emit(as_json, {"registered": username}, f"Registered sub-member {username}.")


def _member_details(username: str, fullname: str, email: str, member_phone: str) -> tuple[str, str]:
    """Check a sub-member's details before anything is asked or sent; the e-mail and the
    phone, normalised."""
    for option, value in (("--username", username), ("--fullname", fullname)):
        if not value.strip():
            raise UsageError(f"{option} is empty; nothing was registered.")
    email = email.strip()
    if not EMAIL_RE.fullmatch(email):
        raise UsageError(
            f"--email {email!r} does not look like an e-mail address (like ali@example.com); "
            "nothing was registered."
        )
    try:
        return email, phone.normalize(member_phone)
    except InvalidNumberError as error:
        raise UsageError(f"--phone {error.message} Nothing was registered.") from None


COMMANDS = (send, balance, report, titles, register)
