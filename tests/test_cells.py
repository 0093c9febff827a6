"""Amounts and dates as Turkish exports write them (masgsm_notify.cells), form by form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import jinja2
import pytest

from masgsm_notify.cells import read_amount, read_date
from masgsm_notify.errors import UnreadableValueError

# (text, reading with locale tr, reading with locale en): only the ambiguous forms differ.
AMOUNTS = [
    ("1.250,50", "1250.50", "1250.50"),
    ("1250,50", "1250.50", "1250.50"),
    ("733,57", "733.57", "733.57"),
    ("1,250.50", "1250.50", "1250.50"),
    ("1250.50", "1250.50", "1250.50"),
    ("1250.5", "1250.5", "1250.5"),
    ("1250", "1250", "1250"),
    ("-12,5", "-12.5", "-12.5"),
    ("-12.5", "-12.5", "-12.5"),
    ("+7", "7", "7"),
    ("\u22127,25", "-7.25", "-7.25"),  # the minus sign Excel sometimes writes
    ("₺1.250,50", "1250.50", "1250.50"),
    ("₺ 1.250,50", "1250.50", "1250.50"),
    ("1.250,50 ₺", "1250.50", "1250.50"),
    ("1.250,50 TL", "1250.50", "1250.50"),
    ("1.250,50TL", "1250.50", "1250.50"),
    ("1.250,50 tl", "1250.50", "1250.50"),
    ("TL 1.250,50", "1250.50", "1250.50"),
    ("1250,50 TRY", "1250.50", "1250.50"),
    ("-₺1.250,50", "-1250.50", "-1250.50"),
    ("₺-1.250,50", "-1250.50", "-1250.50"),
    ("  1.250,50\u00a0TL ", "1250.50", "1250.50"),  # no-break space, as Excel pastes it
    ("1.250.000", "1250000", "1250000"),
    ("1.250.000,75", "1250000.75", "1250000.75"),
    ("1,250,000", "1250000", "1250000"),
    ("1,250,000.75", "1250000.75", "1250000.75"),
    ("12.345.678,9", "12345678.9", "12345678.9"),
    ("0,250", "0.250", "0.250"),  # a leading 0 never starts a thousands group
    ("0.250", "0.250", "0.250"),
    ("1250,500", "1250.500", "1250.500"),  # four digits before: no thousands group
    ("1.2345", "1.2345", "1.2345"),  # four digits after: no thousands group either
    (",5", "0.5", "0.5"),
    ("0", "0", "0"),
    ("-0,00", "-0.00", "-0.00"),
    # The ambiguous forms: 1 to 3 digits, one separator, exactly 3 digits. The locale decides.
    ("1.250", "1250", "1.250"),
    ("1,250", "1.250", "1250"),
    ("999.999", "999999", "999.999"),
    ("12,345", "12.345", "12345"),
    ("-1.250", "-1250", "-1.250"),
    ("₺1,250", "1.250", "1250"),
]


@pytest.mark.parametrize(("text", "tr", "en"), AMOUNTS)
def test_amount_forms_in_both_locales(text: str, tr: str, en: str) -> None:
    assert read_amount(text, "tr") == Decimal(tr)
    assert read_amount(text, "en") == Decimal(en)
    assert read_amount(text) == Decimal(tr)  # tr is the default


@pytest.mark.parametrize(
    "text",
    [
        "1.234,56,7",
        "1.25.000",  # a thousands group of two
        "1,25.50",
        "12.",
        "12,",
        ".",
        "1 234",  # a space is not a thousands separator here: it may part two numbers
        "1'234",
        "1e3",
        "1_000",
        "0x1F",
        "٣",  # Arabic-Indic three: digits are 0-9 only
        "abc",
        "12 TL TL",
        "₺1.250,50 TL",  # two lira marks
        "+-5",
        "--5",
        "$12",
        "12 USD",
        "5-",
        "(12,50)",
        "nan",
        "Infinity",
        "1" * 31,  # more integer digits than any amount
        "1" * 65,
    ],
)
def test_unreadable_amounts_are_refused_naming_the_value(text: str) -> None:
    for locale in ("tr", "en"):
        with pytest.raises(UnreadableValueError) as excinfo:
            read_amount(text, locale, "money")
        assert excinfo.value.value == text
        assert str(excinfo.value).startswith("money: ")
        assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("text", ["", " ", "\t", "\u00a0"])
def test_an_empty_cell_is_not_zero(text: str) -> None:
    with pytest.raises(UnreadableValueError, match=r"an empty value .* where a number is needed"):
        read_amount(text, "tr", "float")


def test_the_error_says_how_amounts_are_written() -> None:
    with pytest.raises(UnreadableValueError) as excinfo:
        read_amount("12,5x", "tr", "int")
    assert str(excinfo.value) == (
        "int: '12,5x' is not a number (write it like 1.250,50, 1250,50, 1,250.50 or 1250.50, "
        "optionally with ₺ or TL)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1250, Decimal(1250)),
        (-3, Decimal(-3)),
        (1250.5, Decimal("1250.5")),
        (1.005, Decimal("1.005")),  # through repr, not the binary expansion
        (Decimal("1250.50"), Decimal("1250.50")),
    ],
)
def test_numbers_are_taken_as_they_are(value: object, expected: Decimal) -> None:
    assert read_amount(value) == expected
    assert read_amount(value, "en") == expected


@pytest.mark.parametrize(
    "value", [None, True, False, float("nan"), float("inf"), Decimal("-Infinity"), [1], {}]
)
def test_values_that_are_not_numbers_are_refused(value: object) -> None:
    with pytest.raises(UnreadableValueError) as excinfo:
        read_amount(value)
    assert excinfo.value.value is value


def test_an_undefined_variable_raises_its_own_error() -> None:
    with pytest.raises(jinja2.UndefinedError, match="'tutar' is undefined"):
        read_amount(jinja2.StrictUndefined(name="tutar"))


def test_an_unknown_locale_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="locale 'de' is not one of tr, en"):
        read_amount("1.250", "de")


# --- Dates -----------------------------------------------------------------------------------

NOON = dt.time(12, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25.11.2026", dt.date(2026, 11, 25)),
        ("25/11/2026", dt.date(2026, 11, 25)),
        ("25-11-2026", dt.date(2026, 11, 25)),
        ("5.1.2026", dt.date(2026, 1, 5)),
        ("05.01.2026", dt.date(2026, 1, 5)),
        ("01/02/2026", dt.date(2026, 2, 1)),  # day first, always
        (" 25.11.2026 ", dt.date(2026, 11, 25)),
        ("25.11.2026 14:30", dt.datetime(2026, 11, 25, 14, 30)),
        ("25.11.2026 14:30:15", dt.datetime(2026, 11, 25, 14, 30, 15)),
        ("25/11/2026 9:05", dt.datetime(2026, 11, 25, 9, 5)),
        ("2026-11-25", dt.date(2026, 11, 25)),
        ("2026-11-25T14:30", dt.datetime(2026, 11, 25, 14, 30)),
        ("2026-11-25 14:30:00", dt.datetime(2026, 11, 25, 14, 30)),
        ("2026-11-25T14:30:00.5", dt.datetime(2026, 11, 25, 14, 30, 0, 500000)),
        (
            "2026-11-25T14:30:00Z",
            dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.timezone.utc),
        ),
        (
            "2026-11-25T14:30:00+03:00",
            dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        ),
        (
            "2026-11-25T14:30:00-0330",
            dt.datetime(
                2026, 11, 25, 14, 30, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30))
            ),
        ),
        ("29.02.2024", dt.date(2024, 2, 29)),
        # Excel serial dates, when the value is a number.
        (46351, dt.date(2026, 11, 25)),
        (46351.0, dt.date(2026, 11, 25)),  # no fraction: no time of day is invented
        (46351.5, dt.datetime.combine(dt.date(2026, 11, 25), NOON)),
        (46351.604166666664, dt.datetime(2026, 11, 25, 14, 30)),  # how Excel keeps 14:30
        (Decimal("46351.75"), dt.datetime(2026, 11, 25, 18, 0)),
        (61, dt.date(1900, 3, 1)),
        (45658, dt.date(2025, 1, 1)),
        (2958465, dt.date(9999, 12, 31)),
        (dt.date(2026, 11, 25), dt.date(2026, 11, 25)),
        (dt.datetime(2026, 11, 25, 14, 30), dt.datetime(2026, 11, 25, 14, 30)),
    ],
)
def test_date_forms(value: object, expected: dt.date) -> None:
    found = read_date(value)
    assert found == expected
    assert type(found) is type(expected)  # a date stays a date: no midnight is invented


@pytest.mark.parametrize(
    "value",
    [
        "31.11.2026",
        "29.02.2025",
        "25.13.2026",
        "25.11.26",  # two-digit years: which century?
        "25.11/2026",  # mixed separators
        "2026/11/25",
        "11-25-2026",  # month first
        "25.11.2026 25:00",
        "2026-11-25T14:30:00+25:00",
        "46351",  # a serial date as text: `|int|date` makes it one
        "yarın",
        "",
        "  ",
        None,
        True,
        60,  # Excel's 29 February 1900, which never was
        0,
        -1,
        2958466,
        20261125,
        float("nan"),
        [2026, 11, 25],
    ],
)
def test_unreadable_dates_are_refused_naming_the_value(value: object) -> None:
    with pytest.raises(UnreadableValueError) as excinfo:
        read_date(value)
    assert excinfo.value.value is value
    assert repr(value) in str(excinfo.value)


def test_a_serial_date_as_text_gets_a_hint() -> None:
    with pytest.raises(UnreadableValueError, match=r"make it a number first: value\|int\|date"):
        read_date("46351")
