"""Tests for the Jinja filters of Turkish notices (masgsm_notify.filters)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.sandbox import SandboxedEnvironment

from masgsm_notify.errors import UnreadableValueError
from masgsm_notify.filters import (
    DAYS,
    DAYS_SHORT,
    FILTERS,
    MONTHS,
    MONTHS_SHORT,
    mask_phone,
    money,
    phone,
    to_ascii,
    to_float,
    to_int,
    tr_date,
    tr_lower,
    tr_title,
    tr_upper,
    truncate_sms,
)
from masgsm_notify.render import make_environment
from masgsm_notify.text import Encoding, cost

TURKISH_LETTERS = "abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZ"


def assert_names_value(excinfo: pytest.ExceptionInfo[ValueError], value: object) -> None:
    """The error must let a person find the bad input: its repr is in the message."""
    assert repr(value) in str(excinfo.value)


# --- Case ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i", "İ"),
        ("ı", "I"),
        ("I", "I"),
        ("İ", "İ"),
        ("", ""),
        ("istanbul", "İSTANBUL"),
        ("ışık", "IŞIK"),
        ("çğıöşü", "ÇĞIÖŞÜ"),
        ("Iğdır ili", "IĞDIR İLİ"),
        ("abc 123!?", "ABC 123!?"),
        ("i\u0307", "İ"),  # what Python's "İ".lower() returns
        ("I\u0307", "İ"),  # İ decomposed
        ("İSTANBUL", "İSTANBUL"),
    ],
)
def test_tr_upper(text: str, expected: str) -> None:
    assert tr_upper(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I", "ı"),
        ("İ", "i"),
        ("i", "i"),
        ("ı", "ı"),
        ("", ""),
        ("İSTANBUL", "istanbul"),
        ("IŞIK", "ışık"),
        ("ÇĞIİÖŞÜ", "çğıiöşü"),
        ("IĞDIR İLİ", "ığdır ili"),
        ("ABC 123!?", "abc 123!?"),
        ("I\u0307ZMİR", "izmir"),  # İ decomposed
        ("i\u0307stanbul", "istanbul"),  # Python's own lower() of "İstanbul"
    ],
)
def test_tr_lower(text: str, expected: str) -> None:
    assert tr_lower(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ışık izmir", "Işık İzmir"),
        ("İSTANBUL", "İstanbul"),
        ("ISPARTA", "Isparta"),
        ("ığdır", "Iğdır"),
        ("ılık ılık akar", "Ilık Ilık Akar"),
        ("çağrı ÖZTÜRK", "Çağrı Öztürk"),
        ("izmir'de", "İzmir'de"),
        ("ankara’ya", "Ankara’ya"),
        ("ayşe-nur", "Ayşe-Nur"),
        ("(ali) veli", "(Ali) Veli"),
        ("3 ilçe", "3 İlçe"),
        ("  iki  boşluk  ", "  İki  Boşluk  "),
        ("s\u0327ule", "S\u0327ule"),  # decomposed ş: the combining mark does not split the word
        ("", ""),
    ],
)
def test_tr_title(text: str, expected: str) -> None:
    assert tr_title(text) == expected


@pytest.mark.parametrize("func", [tr_upper, tr_lower, tr_title])
def test_case_filters_accept_non_strings(func) -> None:
    assert func(42) == "42"


@given(st.text(alphabet=TURKISH_LETTERS + " '-", max_size=40))
def test_case_round_trips_keep_length_and_letters(text: str) -> None:
    # Python's own mapping fails both: "İ".lower() has two code points, "ı".upper().lower() is i.
    upper, lower = tr_upper(text), tr_lower(text)
    assert len(upper) == len(lower) == len(tr_title(text)) == len(text)
    assert tr_lower(upper) == lower
    assert tr_upper(lower) == upper
    assert upper.count("İ") == text.count("i") + text.count("İ")
    assert lower.count("ı") == text.count("ı") + text.count("I")


# --- Money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234.5, "1.234,50 TL"),
        (-1234.5, "-1.234,50 TL"),
        (0, "0,00 TL"),
        (7, "7,00 TL"),
        (999, "999,00 TL"),
        (1000, "1.000,00 TL"),
        (0.005, "0,01 TL"),  # half up, not half even
        (0.004, "0,00 TL"),
        (0.015, "0,02 TL"),
        (0.025, "0,03 TL"),  # round-half-even would give 0,02
        (-0.005, "-0,01 TL"),
        (-0.001, "0,00 TL"),  # no negative zero
        (1.005, "1,01 TL"),  # the float's repr, not its binary expansion 1.00499...
        (2.675, "2,68 TL"),
        (999.995, "1.000,00 TL"),  # rounding carries into a new thousands group
        (1234567.89, "1.234.567,89 TL"),
        (-1234567.89, "-1.234.567,89 TL"),
        (Decimal("1234567.885"), "1.234.567,89 TL"),
        (Decimal("-0.00"), "0,00 TL"),
        (10**12, "1.000.000.000.000,00 TL"),
        ("1234.5", "1.234,50 TL"),
        (" 42 ", "42,00 TL"),
        ("-0.5", "-0,50 TL"),
        ("1.234,56", "1.234,56 TL"),  # as a Turkish export writes it (more forms in test_cells)
        ("12,5", "12,50 TL"),
        ("₺1.250,50", "1.250,50 TL"),
    ],
)
def test_money(value: object, expected: str) -> None:
    assert money(value) == expected


@pytest.mark.parametrize(
    ("value", "currency", "decimals", "expected"),
    [
        (1234.5, "", 2, "1.234,50"),
        (1234.5, "₺", 2, "1.234,50 ₺"),
        (1234.5, "USD", 2, "1.234,50 USD"),
        (1234.5, "TL", 0, "1.235 TL"),
        (1234.4, "TL", 0, "1.234 TL"),
        (0.5, "TL", 0, "1 TL"),  # Python's round(0.5) is 0
        (2.5, "", 0, "3"),
        (-2.5, "", 0, "-3"),
        (1234.5, "TL", 3, "1.234,500 TL"),
        (Decimal("0.0005"), "TL", 3, "0,001 TL"),
    ],
)
def test_money_currency_and_decimals(
    value: object, currency: str, decimals: int, expected: str
) -> None:
    assert money(value, currency, decimals) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1 234",
        "1.234,56,7",
        "1e3",  # Python's notation, not a spreadsheet's
        "1_000",
        "abc",
        "",
        "  ",
        "nan",
        "Infinity",
        float("nan"),
        float("inf"),
        Decimal("-Infinity"),
        None,
        True,
        [1],
        1e40,
    ],
)
def test_money_rejects_junk(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        money(value)
    assert_names_value(excinfo, value)


@pytest.mark.parametrize("decimals", [-1, 11, 1.5, True, "2"])
def test_money_rejects_bad_decimals(decimals: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        money(1, decimals=decimals)
    assert_names_value(excinfo, decimals)


@given(st.decimals(min_value=-(10**15), max_value=10**15, places=4))
def test_money_reads_back_as_the_rounded_amount(value: Decimal) -> None:
    text = money(value, currency="")
    integer, _, fraction = text.partition(",")
    groups = integer.lstrip("-").split(".")
    assert all(len(group) == 3 for group in groups[1:]) and 1 <= len(groups[0]) <= 3
    assert len(fraction) == 2
    back = Decimal(text.replace(".", "").replace(",", "."))
    assert abs(back - value) <= Decimal("0.005")
    assert back == value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


@pytest.mark.parametrize(
    ("value", "as_float", "as_int"),
    [
        ("1.250,50", 1250.5, 1250),
        ("733,57", 733.57, 733),
        ("1,250.50", 1250.5, 1250),
        ("-12,5", -12.5, -12),  # cut toward zero, as Jinja's int does
        ("12,9", 12.9, 12),
        ("₺1.250,50", 1250.5, 1250),
        ("1.250", 1250.0, 1250),  # tr: a thousands dot
        ("15", 15.0, 15),
        (15, 15.0, 15),
        (2.75, 2.75, 2),
        (Decimal("3.5"), 3.5, 3),
    ],
)
def test_float_and_int_read_what_money_reads(value: object, as_float: float, as_int: int) -> None:
    assert to_float(value) == as_float and type(to_float(value)) is float
    assert to_int(value) == as_int and type(to_int(value)) is int


@pytest.mark.parametrize("value", ["", "  ", "abc", "12,5x", None, True, float("nan"), "1e3"])
@pytest.mark.parametrize("function", [to_float, to_int])
def test_float_and_int_refuse_what_jinja_turns_into_0(function, value: object) -> None:
    with pytest.raises(UnreadableValueError) as excinfo:
        function(value)
    assert excinfo.value.value is value


@pytest.mark.parametrize("function", [to_float, to_int])
def test_float_and_int_give_the_default_when_asked(function) -> None:
    assert function("", default=0) == 0
    assert function("abc", 7) == 7  # Jinja's positional default
    assert function("", default=None) is None
    assert function("12,5", default=0) == function("12,5")  # a readable value ignores it


def test_int_in_another_base_reads_as_python_does() -> None:
    assert to_int("ff", base=16) == 255
    assert to_int("0x1A", base=16) == 26
    assert to_int("0b101", 0, 2) == 5
    with pytest.raises(UnreadableValueError, match="'zz' is not a whole number in base 16"):
        to_int("zz", base=16)
    assert to_int("zz", default=-1, base=16) == -1


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("tr", "1.250,00 TL|1250.0|1,25 TL"), ("en", "1,25 TL|1.25|1.250,00 TL")],
)
def test_the_environment_locale_decides_the_ambiguous_forms(locale: str, expected: str) -> None:
    env = make_environment(locale=locale)
    source = "{{ a|money }}|{{ a|float }}|{{ b|money }}"
    assert env.from_string(source).render(a="1.250", b="1,250") == expected


def test_a_template_may_name_the_locale_of_one_value() -> None:
    env = make_environment()  # tr
    rendered = env.from_string("{{ a|money(locale='en') }} {{ a|int(locale='en') }} {{ a|int }}")
    assert rendered.render(a="1,250") == "1.250,00 TL 1250 1"


def test_jinja_float_and_int_are_replaced_in_the_projects_environment() -> None:
    env = make_environment()
    assert env.from_string("{{ '1.250,50'|float }}").render() == "1250.5"
    with pytest.raises(UnreadableValueError, match="float: 'x' is not a number"):
        env.from_string("{{ 'x'|float }}").render()
    with pytest.raises(UnreadableValueError, match="int: an empty value"):
        env.from_string("{{ ''|int > 0 }}").render()
    assert env.from_string("{{ ''|int(default=0) > 0 }}").render() == "False"


def test_an_unknown_locale_is_refused_by_the_environment() -> None:
    with pytest.raises(ValueError, match="locale 'fr'"):
        make_environment(locale="fr")


# --- Dates -----------------------------------------------------------------------------------

MOMENT = dt.datetime(2026, 11, 25, 14, 30)


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        ("short", "25.11.2026"),
        ("long", "25 Kasım 2026"),
        ("full", "25 Kasım 2026 Çarşamba"),
        ("time", "14:30"),
        ("datetime", "25.11.2026 14:30"),
        ("%d %B %Y", "25 Kasım 2026"),
        ("%A, %d %b", "Çarşamba, 25 Kas"),
        ("%a %d.%m.%Y %H:%M", "Çar 25.11.2026 14:30"),
        ("%Y-%m-%d", "2026-11-25"),
        ("%%B = %B", "%B = Kasım"),  # an escaped percent stays literal
        ("%%%B", "%Kasım"),
    ],
)
def test_date_formats(format: str, expected: str) -> None:
    assert tr_date(MOMENT, format) == expected


def test_date_default_format_is_short() -> None:
    assert tr_date(MOMENT) == "25.11.2026"


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2026, 11, 25),
        MOMENT,
        "2026-11-25",
        " 2026-11-25 ",
        "2026-11-25T14:30:00",
        "2026-11-25T14:30",
        "2026-11-25 14:30:00",
        "2026-11-25T14:30:00Z",
        "2026-11-25T14:30:00+03:00",
        "25.11.2026",
        "25/11/2026",
        "25-11-2026 14:30",
        46351,  # an Excel serial date
        46351.604166666664,
    ],
)
def test_date_inputs(value: object) -> None:
    assert tr_date(value, "full") == "25 Kasım 2026 Çarşamba"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-25T14:30:00",
        "2026-11-25T14:30:00Z",
        "2026-11-25T14:30:00+03:00",
        "25.11.2026 14:30",
        46351.604166666664,
    ],
)
def test_date_times_are_not_converted(value: str) -> None:
    assert tr_date(value, "datetime") == "25.11.2026 14:30"


@pytest.mark.parametrize(
    ("month", "name", "short"),
    [
        (1, "Ocak", "Oca"),
        (2, "Şubat", "Şub"),
        (3, "Mart", "Mar"),
        (4, "Nisan", "Nis"),
        (5, "Mayıs", "May"),
        (6, "Haziran", "Haz"),
        (7, "Temmuz", "Tem"),
        (8, "Ağustos", "Ağu"),
        (9, "Eylül", "Eyl"),
        (10, "Ekim", "Eki"),
        (11, "Kasım", "Kas"),
        (12, "Aralık", "Ara"),
    ],
)
def test_every_month_name(month: int, name: str, short: str) -> None:
    day = dt.date(2026, month, 1)
    assert tr_date(day, "long") == f"1 {name} 2026"
    assert tr_date(day, "%B|%b") == f"{name}|{short}"
    assert tr_date(day, "short") == f"01.{month:02d}.2026"
    assert MONTHS[month - 1] == name and MONTHS_SHORT[month - 1] == short


@pytest.mark.parametrize(
    ("day", "name", "short"),
    [
        (23, "Pazartesi", "Pzt"),
        (24, "Salı", "Sal"),
        (25, "Çarşamba", "Çar"),
        (26, "Perşembe", "Per"),
        (27, "Cuma", "Cum"),
        (28, "Cumartesi", "Cmt"),
        (29, "Pazar", "Paz"),
    ],
)
def test_every_day_name(day: int, name: str, short: str) -> None:
    value = dt.date(2026, 11, day)
    assert tr_date(value, "full") == f"{day} Kasım 2026 {name}"
    assert tr_date(value, "%A/%a") == f"{name}/{short}"
    assert DAYS[value.weekday()] == name and DAYS_SHORT[value.weekday()] == short


@pytest.mark.parametrize(
    ("value", "format", "expected"),
    [
        ("2024-02-29", "full", "29 Şubat 2024 Perşembe"),
        (dt.date(2024, 2, 29), "short", "29.02.2024"),
        ("2000-02-29", "long", "29 Şubat 2000"),  # divisible by 400: a leap year
        ("2026-01-05", "long", "5 Ocak 2026"),  # no leading zero in the long form
        ("2026-01-05", "short", "05.01.2026"),
        ("2026-12-31T23:59:59", "datetime", "31.12.2026 23:59"),
        ("2026-01-01T00:00:00", "time", "00:00"),  # a datetime at midnight does have a time
        ("0999-01-01", "short", "01.01.0999"),
    ],
)
def test_date_edge_cases(value: object, format: str, expected: str) -> None:
    assert tr_date(value, format) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2025-02-29",  # not a leap year
        "1900-02-29",  # divisible by 100 but not 400
        "2026-13-01",
        "2026-11-31",
        "31.11.2026",
        "25.11.26",  # which century?
        "46351",  # a serial date as text: |int|date makes it one
        "yarın",
        "",
        None,
        20261125,
        1.5,
    ],
)
def test_date_rejects_junk(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        tr_date(value)
    assert_names_value(excinfo, value)


@pytest.mark.parametrize(
    ("value", "format"),
    [
        ("2026-11-25", "time"),
        (dt.date(2026, 11, 25), "datetime"),
        (dt.date(2026, 11, 25), "%d.%m.%Y %H:%M"),
        ("2026-11-25", "%I %p"),
    ],
)
def test_date_without_time_refuses_time_formats(value: object, format: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        tr_date(value, format)
    assert_names_value(excinfo, value)


@pytest.mark.parametrize("format", ["lng", "", "Short", None])
def test_date_rejects_unknown_formats(format: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        tr_date(MOMENT, format)
    assert_names_value(excinfo, format)


# --- ASCII and phone numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Işık Şahin", "Isik Sahin"),
        ("ÇĞİÖŞÜ çğıöşü", "CGIOSU cgiosu"),
        ("İstanbul'da", "Istanbul'da"),
        ("", ""),
        ("Fatura 1.234,50 ₺", "Fatura 1.234,50 ?"),
    ],
)
def test_to_ascii(text: str, expected: str) -> None:
    result = to_ascii(text)
    assert result == expected
    assert result.isascii()


NUMBER_FORMS = [
    "5321112233",
    "05321112233",
    "+90 532 111 22 33",
    "0090 532 111 22 33",
    "905321112233",
    "(532) 111-22-33",
    "0532 111 2233",
    5321112233,
]


@pytest.mark.parametrize("number", NUMBER_FORMS)
def test_phone(number: object) -> None:
    assert phone(number) == "0532 111 22 33"


@pytest.mark.parametrize("number", NUMBER_FORMS)
def test_mask_phone(number: object) -> None:
    masked = mask_phone(number)
    assert masked == "0532 *** ** 33"
    assert "111" not in masked and "22" not in masked


@pytest.mark.parametrize("func", [phone, mask_phone])
@pytest.mark.parametrize(
    "number", ["123", "+1 555 123 4567", "0212 111 22 33", "0532 111 22 3x", "not a number"]
)
def test_phone_filters_reject_junk(func, number: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        func(number)
    assert_names_value(excinfo, number)


# --- Length ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length", "end", "expected"),
    [
        ("kısa", 10, "…", "kısa"),
        ("", 5, "…", ""),
        ("12345", 5, "…", "12345"),  # exactly fits: untouched
        ("123456", 5, "…", "1234…"),  # one over, no space: hard cut
        ("Sayın müşterimiz faturanız hazır", 20, "…", "Sayın müşterimiz…"),
        ("bir iki üç", 8, "…", "bir iki…"),  # the cut falls exactly on a space
        ("bir iki üç", 9, "…", "bir iki…"),  # the cut falls just after a space
        ("Sayın Ali, borcunuz var", 11, "…", "Sayın Ali…"),  # no "Ali,…"
        ("a çokuzunbirkelime", 10, "…", "a çokuzun…"),  # dropping the word loses too much
        ("bir iki üç dört", 10, "...", "bir iki..."),
        ("bir iki üç", 5, "", "bir"),
        ("satır bir\nsatır iki", 12, "…", "satır bir…"),
        ("abc", 1, "…", "…"),
        ("abc", 0, "", ""),
    ],
)
def test_truncate_sms(text: str, length: int, end: str, expected: str) -> None:
    result = truncate_sms(text, length, end)
    assert result == expected
    assert len(result) <= length


@pytest.mark.parametrize(
    ("length", "end"), [(0, "…"), (2, "..."), (-1, ""), ("10", "…"), (2.5, "…"), (True, "")]
)
def test_truncate_sms_rejects_bad_lengths(length: object, end: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        truncate_sms("uzun bir metin", length, end)
    assert_names_value(excinfo, length)


@given(
    st.text(alphabet=TURKISH_LETTERS + " ,.\n", max_size=80),
    st.integers(min_value=3, max_value=90),
    st.sampled_from(["…", "...", ""]),
)
def test_truncate_sms_never_exceeds_and_keeps_a_prefix(text: str, length: int, end: str) -> None:
    result = truncate_sms(text, length, end)
    assert len(result) <= length
    if len(text) <= length:
        assert result == text
    else:
        assert result.endswith(end)
        assert text.startswith(result[: len(result) - len(end)])


def test_truncate_sms_default_end_keeps_one_segment() -> None:
    # "…" is outside GSM 7-bit and would turn the whole text into UCS-2 (70 a segment).
    text = "Sayin musterimiz, " + "faturaniz hazirdir ve odeme bekliyor " * 10
    short = truncate_sms(text, 160)
    assert short.endswith("...")
    assert cost(short, lang_tr=False).encoding is Encoding.GSM7
    assert cost(short, lang_tr=False).segments == 1
    assert cost(truncate_sms(text, 160, end="…"), lang_tr=False).segments > 1


# --- Jinja -----------------------------------------------------------------------------------


@pytest.fixture
def env() -> SandboxedEnvironment:
    environment = SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    environment.filters.update(FILTERS)
    return environment


def test_filters_registry() -> None:
    assert set(FILTERS) == {
        "tr_upper",
        "tr_lower",
        "tr_title",
        "money",
        "float",
        "int",
        "date",
        "ascii",
        "phone",
        "mask_phone",
        "truncate_sms",
        "fit_sms",
    }
    assert FILTERS["date"] is tr_date
    assert all(callable(func) and func.__doc__ for func in FILTERS.values())


def test_notice_renders_through_sandboxed_jinja(env: SandboxedEnvironment) -> None:
    template = env.from_string(
        "Sayın {{ name|tr_upper }}, {{ amount|money }} tutarındaki faturanızın son ödeme "
        "tarihi {{ due|date('long') }}. Hat: {{ gsm|mask_phone }}"
    )
    rendered = template.render(
        name="ışıl çiçek", amount=Decimal("1234.5"), due="2026-11-25", gsm="+905321112233"
    )
    assert rendered == (
        "Sayın IŞIL ÇİÇEK, 1.234,50 TL tutarındaki faturanızın son ödeme tarihi "
        "25 Kasım 2026. Hat: 0532 *** ** 33"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ name|tr_title }}", "Işıl Çiçek"),
        ("{{ name|tr_lower }}", "ışıl çiçek"),
        ("{{ name|ascii }}", "isil cicek"),
        ("{{ amount|money('₺', 0) }}", "1.235 ₺"),
        ("{{ amount|money(currency='') }}", "1.234,50"),
        ("{{ due|date(format='full') }}", "25 Kasım 2026 Çarşamba"),
        ("{{ due|date('%d %b') }}", "25 Kas"),
        ("{{ gsm|phone }}", "0532 111 22 33"),
        ("{{ note|truncate_sms(14, end='...') }}", "Yarın saat..."),
    ],
)
def test_each_filter_from_jinja(env: SandboxedEnvironment, source: str, expected: str) -> None:
    context = {
        "name": "ışıl çiçek",
        "amount": 1234.5,
        "due": dt.date(2026, 11, 25),
        "gsm": "05321112233",
        "note": "Yarın saat 10'da randevunuz var",
    }
    assert env.from_string(source).render(context) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ missing|money }}",
        "{{ missing|date }}",
        "{{ missing|tr_upper }}",
        "{{ missing|float }}",
        "{{ missing|int(default=0) }}",  # a default is for unreadable values, not missing ones
    ],
)
def test_missing_variable_is_reported_by_name(env: SandboxedEnvironment, source: str) -> None:
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        env.from_string(source).render()


def test_filter_errors_reach_the_caller_from_jinja(env: SandboxedEnvironment) -> None:
    with pytest.raises(ValueError, match="'yarın'"):
        env.from_string("{{ due|date }}").render(due="yarın")
