"""Reading amounts and dates the way Turkish spreadsheets, ERPs and programs write them.

An export from Turkish Excel or an accounting program writes `1.250,50` and `25.11.2026`; a
program writes `1250.5` and `2026-11-25`; a JSON file holds `1250.5` as a number and Excel may
leave a date as its serial number `46351`. These readers take all of them, strictly: what they
cannot read is an `UnreadableValueError` naming the value, never a guess and never a silent 0.

Amounts, after a sign and one lira mark (`₺` before or after, `TL` or `TRY` before or after):

- digits alone are a whole number (`1250`);
- with both `.` and `,`, the last one is the decimal separator and the other groups thousands,
  in groups of three (`1.250,50`, `1,250.50`);
- one separator used more than once groups thousands (`1.250.000`, `1,250,000`);
- one separator used once is the decimal separator (`1250,50`, `733,57`, `1250.5`), except when
  1 to 3 digits (not starting with 0) come before it and exactly 3 after: `1.250` and `1,250`
  can be read either way, so the locale decides. `tr` (the default) reads `.` as thousands and
  `,` as decimals (`1.250` is 1250, `1,250` is 1.25), `en` the other way round.

Dates are ISO (`2026-11-25`, `2026-11-25T14:30:00+03:00`), or day first as Türkiye writes them
(`25.11.2026`, `25/11/2026`, `25-11-2026`, each optionally followed by `14:30` or `14:30:15`),
or, when the value is a number, an Excel serial date (`46351` is 25.11.2026; `46351.5` is noon).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from .errors import UnreadableValueError

__all__ = ["LOCALES", "read_amount", "read_date"]

#: The pipeline's `locale:` choices: which reading an ambiguous `1.250` or `1,250` gets.
LOCALES = ("tr", "en")
_DECIMAL_SEPARATOR = {"tr": ",", "en": "."}

# No cell needs more; a longer text is refused before Decimal or a regex spends time on it.
_MAX_TEXT = 64
_MAX_INTEGER_DIGITS = 30

_AMOUNT = re.compile(
    r"""\s*([-+\u2212]?)\s*(₺|(?i:TL|TRY))?\s*([-+\u2212]?)\s*
    (?:
        ([0-9]+)                                        # 1250
      | ([1-9][0-9]{0,2})([.,])([0-9]{3})               # 1.250 or 1,250: the locale decides
      | ([0-9]*)[.,]([0-9]+)                            # 1250,50 1250.5 733,57 ,5
      | ([1-9][0-9]{0,2}(?:\.[0-9]{3})+)(?:,([0-9]+))?  # 1.250.000 1.250,50
      | ([1-9][0-9]{0,2}(?:,[0-9]{3})+)(?:\.([0-9]+))?  # 1,250,000 1,250.50
    )
    \s*(₺|(?i:TL|TRY))?\s*""",
    re.VERBOSE,
)
# What programs write (1249.90, 349, -12.5) is read without the general pattern, several times
# faster; never the ambiguous 1.250, which has three decimals.
_PLAIN = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,2})?")
_FORMS = "write it like 1.250,50, 1250,50, 1,250.50 or 1250.50, optionally with ₺ or TL"


def read_amount(value: object, locale: str = "tr", reader: str = "money") -> Decimal:
    """`value` (an int, float, Decimal or text) as a finite Decimal.

    `reader` names the filter in error messages. Floats go through their repr, so 1.005 is
    1.005, not 1.00499999999999989...; bools are refused (True is not 1 TL).
    """
    if isinstance(value, str):
        if _PLAIN.fullmatch(value):
            return Decimal(value)
        return _amount_from_text(value, locale, reader)
    if isinstance(value, bool):
        raise UnreadableValueError(reader, f"{value!r} is not a number", value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        _surface_undefined(value)
        if value is None:
            raise UnreadableValueError(reader, "no value (None) where a number is needed", None)
        raise UnreadableValueError(reader, f"{value!r} is not a number", value)
    if not number.is_finite():
        raise UnreadableValueError(reader, f"{value!r} is not a finite number", value)
    return number


def _amount_from_text(value: str, locale: str, reader: str) -> Decimal:
    if not value or value.isspace():
        raise UnreadableValueError(
            reader, f"an empty value ({value!r}) where a number is needed", value
        )
    found = _AMOUNT.fullmatch(value) if len(value) <= _MAX_TEXT else None
    if found is None:
        raise UnreadableValueError(reader, f"{value!r} is not a number ({_FORMS})", value)
    (sign, before, sign2, whole, either, separator, three, units, fraction, tr, tr_fraction, en,
     en_fraction, after) = found.groups()  # fmt: skip
    if (sign and sign2) or (before and after):
        raise UnreadableValueError(reader, f"{value!r} is not a number ({_FORMS})", value)
    if whole is not None:
        units, fraction = whole, ""
    elif either is not None:
        units, fraction = either, three
        if separator != _decimal_separator(locale):
            units, fraction = units + fraction, ""
    elif tr is not None:
        units, fraction = tr.replace(".", ""), tr_fraction
    elif en is not None:
        units, fraction = en.replace(",", ""), en_fraction
    # else one separator, a decimal one: units and fraction are as matched
    if len(units) > _MAX_INTEGER_DIGITS:
        raise UnreadableValueError(reader, f"{value!r} is too large to be an amount", value)
    negative = "-" if (sign or sign2) in ("-", "\u2212") else ""
    return Decimal(f"{negative}{units or 0}.{fraction}" if fraction else f"{negative}{units}")


def _decimal_separator(locale: str) -> str:
    try:
        return _DECIMAL_SEPARATOR[locale]
    except KeyError:
        raise ValueError(f"locale {locale!r} is not one of {', '.join(LOCALES)}") from None


def _surface_undefined(value: object) -> None:
    """Let a Jinja StrictUndefined raise its own error, which names the missing variable.

    Otherwise a template that misspells `amount` would fail with "Undefined is not a number".
    Every other object converts to text harmlessly.
    """
    str(value)


# --- Dates -----------------------------------------------------------------------------------

_TIME = (
    r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<micro>[0-9]{1,6})[0-9]*)?)?"
)
_ISO = re.compile(
    rf"\s*(?P<year>[0-9]{{4}})-(?P<month>[0-9]{{2}})-(?P<day>[0-9]{{2}})"
    rf"(?:[T ]{_TIME}\s*(?P<zone>[Zz]|[+-][0-9]{{2}}(?::?[0-9]{{2}})?)?)?\s*"
)
_DAY_FIRST = re.compile(
    rf"\s*(?P<day>[0-9]{{1,2}})(?P<separator>[./-])(?P<month>[0-9]{{1,2}})(?P=separator)"
    rf"(?P<year>[0-9]{{4}})(?:[T ]+{_TIME})?\s*"
)
_DATE_FORMS = "write it like 25.11.2026, 25/11/2026, 2026-11-25 or 2026-11-25T14:30"
# Excel counts days from 1899-12-30 (its day 60 is a 29 February 1900 that never was, so serials
# from 61, 1 March 1900, on are exact); 2958465 is 9999-12-31, the last day it can show.
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_FIRST_SERIAL, _LAST_SERIAL = 61, 2958465


def read_date(value: object, reader: str = "date") -> dt.date:
    """`value` as a date, or a datetime when it carries a time of day (kept in its own zone).

    A date or datetime is returned as it is; text is read as the module docstring says; an int,
    float or Decimal is an Excel serial date.
    """
    if isinstance(value, dt.date):  # datetime is a subclass: kept as it is
        return value
    if isinstance(value, str):
        return _date_from_text(value, reader)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _date_from_serial(value, reader)
    _surface_undefined(value)
    if value is None:
        raise UnreadableValueError(reader, "no value (None) where a date is needed", None)
    raise UnreadableValueError(reader, f"{value!r} is not a date ({_DATE_FORMS})", value)


def _date_from_text(value: str, reader: str) -> dt.date:
    if len(value) == 10 and value[4] == value[7] == "-" and value[5:7].isdigit():
        # 2026-11-25, what programs write, read in C; anything it refuses gets the error below.
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    if not value or value.isspace():
        raise UnreadableValueError(
            reader, f"an empty value ({value!r}) where a date is needed", value
        )
    found = None
    if len(value) <= _MAX_TEXT:
        found = _ISO.fullmatch(value) or _DAY_FIRST.fullmatch(value)
    if found is None:
        hint = _DATE_FORMS
        if value.strip().replace(".", "", 1).replace(",", "", 1).isdigit():
            hint += "; for an Excel serial date, make it a number first: value|int|date"
        raise UnreadableValueError(reader, f"{value!r} is not a date ({hint})", value)
    try:
        day = dt.date(int(found["year"]), int(found["month"]), int(found["day"]))
        if found["hour"] is None:
            return day
        moment = dt.time(
            int(found["hour"]),
            int(found["minute"]),
            int(found["second"] or 0),
            int((found["micro"] or "0").ljust(6, "0")),
            tzinfo=_zone(found.groupdict().get("zone")),  # day-first forms have no zone
        )
    except ValueError as error:  # 31.11.2026, 25:00, a zone beyond 24 hours
        raise UnreadableValueError(
            reader, f"{value!r} is not a real date or time ({error})", value
        ) from None
    return dt.datetime.combine(day, moment)


def _zone(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text in ("Z", "z"):
        return dt.timezone.utc
    digits = text[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return dt.timezone(-offset if text[0] == "-" else offset)


def _date_from_serial(value: int | float | Decimal, reader: str) -> dt.date:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not (number.is_finite() and _FIRST_SERIAL <= number <= _LAST_SERIAL):
        raise UnreadableValueError(
            reader,
            f"{value!r} is not a date: as an Excel serial date it must be from "
            f"{_FIRST_SERIAL} (1 Mart 1900) to {_LAST_SERIAL} (31 Aralık 9999)",
            value,
        )
    days = int(number)
    seconds = round((number - days) * 86400)  # Excel keeps 14:30 as 0.6041666...
    moment = _EXCEL_EPOCH + dt.timedelta(days=days, seconds=seconds)
    return moment if seconds else moment.date()
