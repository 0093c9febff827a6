"""The Apprise service's personalised mode: a contacts file planned the way pipelines plan rows.

Each row goes through the `Composer` pipelines use, so a contact means the same number, text and
cost as the same row in a pipeline: the number normalised, the text rendered in the sandboxed
strict environment, stripped and NFC-normalised, refused beyond a segment limit. Repeated
(number, text) pairs are sent once, as the journal's `merge_duplicates` does.

Every row is planned and checked before anything is sent; the problems name their rows by
number, never by content. Files: `.jsonl` and `.ndjson` hold one JSON object a line, `.json` one
JSON array of objects, anything else is CSV with a header row.

A masgsm:// URL is often written by someone other than whoever runs it (a shared configuration
file, apprise-api), so the file it names is checked first (`allowed_contacts_path`): a relative
path inside the working directory, or anything under a folder that MASGSM_CONTACTS_DIR lists.
The variable is read from the environment only: whoever writes the URL could grant it otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import phone
from .compose import Composer
from .errors import SettingError, UsageError
from .render import compile_text, field_reader, make_environment
from .sources import CsvSource, JsonArraySource, JsonLinesSource, Row, Source, SourceContext

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
JSON_ARRAY_SUFFIXES = (".json",)
CONTACTS_DIR_VARIABLE = "MASGSM_CONTACTS_DIR"


@dataclass(frozen=True)
class Contact:
    """One text to send: the row it came from, the normalised number, the final text."""

    where: str
    number: str
    text: str


@dataclass
class ContactsPlan:
    """The texts to send, the repeated rows folded into earlier ones, and the problems.

    `merged` pairs a repeated row with the row whose message it repeats. When `problems` is not
    empty nothing may be sent, and `messages` stops growing at the first problem.
    """

    messages: list[Contact] = field(default_factory=list)
    merged: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def contacts_dirs() -> list[Path]:
    """The folders MASGSM_CONTACTS_DIR lists (separated like PATH), resolved."""
    listed = os.environ.get(CONTACTS_DIR_VARIABLE, "").split(os.pathsep)
    return [Path(entry.strip()).expanduser().resolve() for entry in listed if entry.strip()]


def allowed_contacts_path(written: str) -> Path:
    """The file a URL's `contacts=` names, resolved, if a URL may name it; else `SettingError`.

    Allowed: a relative path that stays inside the working directory, links followed, or any
    path under a folder of MASGSM_CONTACTS_DIR. The refusal reads the same whether or not the
    file exists, so it tells nothing about files outside those folders.
    """
    dirs = contacts_dirs()
    try:
        path = Path(written).expanduser()
        resolved = (Path.cwd() / path).resolve()
    except (OSError, ValueError):  # a NUL byte, a loop of links
        resolved = None
    roots = dirs if path.is_absolute() else [Path.cwd().resolve(), *dirs]
    if resolved is None or not any(resolved.is_relative_to(root) for root in roots):
        where = (
            f"under {os.pathsep.join(map(str, dirs))} ({CONTACTS_DIR_VARIABLE})"
            if dirs
            else f"under a folder listed in {CONTACTS_DIR_VARIABLE} (not set)"
        )
        raise SettingError(
            f"The MASGSM contacts file ({written}) is refused: a URL may name a file by a "
            f"relative path inside the working directory, or one {where}."
        )
    if not resolved.is_file():
        raise SettingError(f"The MASGSM contacts file ({written}) was not found.")
    return resolved


def contact_source(path: Path) -> Source:
    """The source that reads `path`, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix in JSON_LINES_SUFFIXES:
        source_class: type[Source] = JsonLinesSource
    elif suffix in JSON_ARRAY_SUFFIXES:
        source_class = JsonArraySource
    else:
        source_class = CsvSource
    context = SourceContext(base_dir=Path.cwd(), input=None, where="contacts=")
    return source_class(str(path), {}, context)


def contact_rows(path: Path) -> Iterator[Row]:
    """The rows of a contacts file with their `file:line` locations, streamed."""
    yield from contact_source(path).rows()


def plan_contacts(
    path: Path,
    number_field: str,
    template: str,
    *,
    plain: bool,
    max_segments: int,
    limit_name: str = "the limit",
) -> ContactsPlan:
    """Plan every row of the contacts file; never raises for a bad file, row or template.

    `number_field` names the field holding the number (any header, `Telefon No` too);
    `template` is the Jinja text rendered per row, which sees the row's fields by name and the
    whole row as `row`.
    """
    plan = ContactsPlan()
    first_of: dict[tuple[str, str], str] = {}
    try:
        composer = Composer(
            field_reader(number_field),
            compile_text(make_environment(), template, "message"),
            plain=plain,
            max_segments=max_segments,
            limit_name=limit_name,
        )
        for row in contact_rows(path):
            done = composer((row,))  # one row at a time, so problems come in row order
            plan.problems.extend(error.without_data for error in done.errors)
            plan.problems.extend(_problem(number_field, *bad) for bad in done.invalid)
            if plan.problems:
                continue
            for where, number, text, _encoding, _segments in done.messages:
                first = first_of.get((number, text))
                if first is None:
                    first_of[number, text] = where
                    plan.messages.append(Contact(where, number, text))
                else:
                    plan.merged.append((where, first))
    except UsageError as error:  # the template's syntax, or an unreadable file
        plan.problems.append(error.message)
    except OSError as error:
        plan.problems.append(f"{path}: {error.strerror or error}")
    if not plan.problems and not plan.messages:
        plan.problems.append(f"{path}: the contacts file has no contacts.")
    return plan


def _problem(number_field: str, where: str, value: str, reason: str) -> str:
    """A refused row as one line naming the row, and nothing of its content."""
    if not value.strip():
        return f"{where}: no {number_field!r} field (the number)."
    if not phone.is_valid(value):
        return f"{where}: the {number_field!r} field is not a Turkish mobile number: {reason}."
    return f"{where}: {reason}."
