"""Numbers listed in a file, as opt-outs arrive: one a line, or a column of a CSV.

A provider's panel export, a spreadsheet of "RET" replies, an İYS export: whatever the shape,
`optouts import` needs its numbers, in whatever form people typed them. A file whose first
line names a number column (`number`, `phone`, `gsm`, `telefon`, `recipient`...) is read as a
CSV; anything else is one number a line (blank lines and `#` comments skipped). An İYS export
(with a `status` column) gives only its refusals: RET records (of type MESAJ, when it says).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import phone
from .errors import InvalidNumberError, SourceError
from .sources import CsvSource, SourceContext

# Header names taken as the number column, in order of preference (compared in lower case).
NUMBER_COLUMNS = (
    "number",
    "phone",
    "recipient",
    "gsm",
    "msisdn",
    "mobile",
    "telefon",
    "tel",
    "numara",
    "cep",
    "cep telefonu",
)
_DELIMITERS = ",;\t|"


@dataclass
class NumbersFile:
    numbers: list[str] = field(default_factory=list)  # normalised, each once, in file order
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (where, value, reason)
    column: str | None = None  # the CSV column read; None for one number a line
    not_refusals: int = 0  # İYS records left out: consents, or other channels

    def add(self, where: str, value: str) -> None:
        try:
            self.numbers.append(phone.normalize(value))
        except InvalidNumberError as error:
            self.invalid.append((where, value, error.reason))


def read_numbers(path: Path) -> NumbersFile:
    """The numbers of `path`; unreadable files raise SourceError naming the place."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SourceError(f"{path}: cannot read it: {error.strerror or error}") from None
    first = next((line for line in raw.splitlines() if line.strip()), b"")
    header = first.decode("utf-8-sig", errors="replace")
    found = _number_column(header)
    result = _from_csv(path, found) if found else _from_lines(path, raw)
    result.numbers = list(dict.fromkeys(result.numbers))
    return result


def _number_column(header: str) -> str | None:
    fields = [header]
    for delimiter in _DELIMITERS:
        if delimiter in header:
            fields = header.split(delimiter)
            break
    names = {name.strip().strip('"').lower(): name.strip().strip('"') for name in fields}
    return next((names[name] for name in NUMBER_COLUMNS if name in names), None)


def _from_lines(path: Path, raw: bytes) -> NumbersFile:
    found = NumbersFile()
    text = raw.decode("utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip().rstrip(",;").strip()
        if value and not value.startswith("#"):
            found.add(f"{path}:{number}", value)
    return found


def _from_csv(path: Path, column: str) -> NumbersFile:
    found = NumbersFile(column=column)
    source = CsvSource(str(path), {}, SourceContext(Path("."), None, str(path)))
    status = kind = None
    for index, (where, row) in enumerate(source.rows()):
        if index == 0:
            lower = {name.lower(): name for name in row}
            status, kind = lower.get("status"), lower.get("type")
        if status is not None and (
            row[status].strip().upper() != "RET"
            or (kind is not None and row[kind].strip().upper() != "MESAJ")
        ):
            found.not_refusals += 1
            continue
        value = row[column].strip()
        if value:
            found.add(where, value)
    return found
