"""Turkish mobile number normalisation: `phone.normalize`, `is_valid` and `display`."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from masgsm_notify.errors import InvalidNumberError, UsageError
from masgsm_notify.phone import display, is_valid, normalize

# --- accepted forms ---------------------------------------------------------------------------

ACCEPTED = [
    # (what a person typed, the national form MASGSM wants)
    ("+90 532 111 22 33", "5321112233"),
    ("+905321112233", "5321112233"),
    ("+90-532-111-22-33", "5321112233"),
    ("+90 (532) 111 22 33", "5321112233"),
    ("(+90) 532 111 22 33", "5321112233"),
    ("0090 532 111 22 33", "5321112233"),
    ("00905321112233", "5321112233"),
    ("0532 111 2233", "5321112233"),
    ("0532 111 22 33", "5321112233"),
    ("05321112233", "5321112233"),
    ("0 (532) 111 22 33", "5321112233"),
    ("(532) 111-22-33", "5321112233"),
    ("(0532) 111-22-33", "5321112233"),
    ("905321112233", "5321112233"),
    ("90 532 111 22 33", "5321112233"),
    ("5321112233", "5321112233"),
    ("532.111.22.33", "5321112233"),
    ("532/111 22 33", "5321112233"),
    ("532\t111\t22\t33", "5321112233"),
    ("532\u00a0111\u00a022\u00a033", "5321112233"),  # no-break spaces from a spreadsheet
    ("  0532 111 22 33\n", "5321112233"),  # surrounding whitespace
    # Other operators and ranges that are mobile.
    ("0505 123 45 67", "5051234567"),
    ("0542 765 43 21", "5427654321"),
    ("0555 000 00 00", "5550000000"),
    ("0516 123 45 67", "5161234567"),
    ("0594 123 45 67", "5941234567"),
]


@pytest.mark.parametrize(("typed", "national"), ACCEPTED)
def test_normalize_accepts(typed: str, national: str) -> None:
    assert normalize(typed) == national


@pytest.mark.parametrize(("typed", "national"), ACCEPTED)
def test_is_valid_accepts(typed: str, national: str) -> None:
    assert is_valid(typed) is True


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("5321112233", "0532 111 22 33"),
        ("+90 532 111 22 33", "0532 111 22 33"),
        ("0090 505 123 4567", "0505 123 45 67"),
        ("(542) 765-43-21", "0542 765 43 21"),
        ("905550000000", "0555 000 00 00"),
    ],
)
def test_display(typed: str, shown: str) -> None:
    assert display(typed) == shown


def test_normalize_accepts_a_non_string() -> None:
    assert normalize(5321112233) == "5321112233"  # type: ignore[arg-type]


# --- rejected inputs --------------------------------------------------------------------------

REJECTED = [
    # (input, a word the reason must contain)
    ("0212 123 45 67", "landline"),  # Istanbul landline
    ("+90 212 123 45 67", "landline"),
    ("02121234567", "landline"),
    ("0312 123 45 67", "landline"),  # Ankara landline
    ("0850 123 45 67", "landline"),  # non-geographic service number
    ("0800 123 45 67", "landline"),  # toll free
    ("+44 20 7946 0958", "foreign"),
    ("+1 202 555 0143", "foreign"),
    ("+9 532 111 22 33", "foreign"),
    ("+", "foreign"),
    ("00 44 7911 123456", "digits"),  # a foreign 00-number ends up with the wrong length
    ("447911123456", "digits"),
    ("hello", "not digits"),
    ("0532 111 22 3x", "not digits"),
    ("0532-111-22-33 ext 5", "not digits"),
    ("532_111_22_33", "not digits"),
    ("532,111,22,33", "not digits"),
    ("90+5321112233", "not digits"),
    ("+90 532 111 22 33 +", "not digits"),
    ("", "not digits"),
    ("   ", "not digits"),
    ("532111223", "9 digits"),
    ("53211122334", "11 digits"),
    ("053211122", "9 digits"),
    ("+90 532 111 22 3", "9 digits"),
    ("+90 532 111 22 333", "11 digits"),
    ("+90 0532 111 22 33", "11 digits"),  # trunk 0 after +90 is not accepted
    ("0090 532 111 22 3", "9 digits"),
    ("90532111223", "11 digits"),
    ("5111112233", "not a mobile"),  # 511: not a mobile range
    ("5201112233", "not a mobile"),
    ("5121112233", "not a mobile"),  # 512: pager
    ("5801112233", "not a mobile"),
    ("5901112233", "not a mobile"),
    ("5991112233", "not a mobile"),
    ("0511 111 22 33", "not a mobile"),
    ("+90 599 111 22 33", "not a mobile"),
    ("4321112233", "landline"),  # 10 digits, but not a 5
    ("1234567890", "landline"),
    # Digits that are not ASCII: Arabic-Indic, Extended Arabic-Indic, full width, superscripts.
    ("٥٣٢١١١٢٢٣٣", "not digits"),
    ("٠٥٣٢١١١٢٢٣٣", "not digits"),
    ("۵۳۲۱۱۱۲۲۳۳", "not digits"),
    ("５３２１１１２２３３", "not digits"),
    ("532111223³", "not digits"),
    ("+90 ٥٣٢ ١١١ ٢٢ ٣٣", "not digits"),
    ("＋90 532 111 22 33", "not digits"),  # full-width plus sign
]


@pytest.mark.parametrize(("value", "reason"), REJECTED)
def test_normalize_rejects(value: str, reason: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        normalize(value)
    error = caught.value
    assert reason in error.reason
    # The error names what the user typed (without surrounding whitespace).
    assert error.value == value.strip()
    assert repr(value.strip()) in str(error)
    assert "not a Turkish mobile number" in str(error)


@pytest.mark.parametrize(("value", "reason"), REJECTED)
def test_is_valid_rejects(value: str, reason: str) -> None:
    assert is_valid(value) is False


@pytest.mark.parametrize("value", ["0212 123 45 67", "", "+44 20 7946 0958", "5111112233"])
def test_display_rejects_what_normalize_rejects(value: str) -> None:
    with pytest.raises(InvalidNumberError):
        display(value)


def test_invalid_number_error_is_a_usage_error_and_a_value_error() -> None:
    with pytest.raises(InvalidNumberError) as caught:
        normalize("0212 123 45 67")
    error = caught.value
    assert isinstance(error, UsageError)
    assert isinstance(error, ValueError)
    assert error.exit_code == 2
    assert error.code == 405  # what the provider would have answered
    assert error.raw is None


def test_error_names_the_input_inside_the_message() -> None:
    with pytest.raises(InvalidNumberError, match=r"^'\+44 20 7946 0958' is not a Turkish mobile"):
        normalize(" +44 20 7946 0958 ")


# --- properties -------------------------------------------------------------------------------

# Ranges that are mobile whatever the seven digits after them are (from the TR numbering plan).
MOBILE_PREFIXES = [
    "501", "505", "506", "507", "510", "516", "524", "530", "532", "533", "535", "536", "539",
    "541", "542", "543", "544", "545", "546", "549", "551", "552", "553", "554", "555", "559",
    "562", "564", "572", "574", "575", "594", "596",
]  # fmt: skip

mobile_numbers = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(MOBILE_PREFIXES),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
)


@given(st.text())
@example("")
@example("+90")
@example("0090")
@example("٥٣٢١١١٢٢٣٣")
@example("\ud800")
def test_any_string_normalises_to_a_mobile_or_raises_invalid_number(value: str) -> None:
    try:
        national = normalize(value)
    except InvalidNumberError as error:
        assert error.value == value.strip()
        assert is_valid(value) is False
    else:
        assert len(national) == 10
        assert national.isascii()
        assert national.isdigit()
        assert national.startswith("5")
        assert is_valid(value) is True


@given(st.text(alphabet="0123456789+()- ", max_size=20))
def test_digit_like_strings_normalise_or_raise_invalid_number(value: str) -> None:
    try:
        national = normalize(value)
    except InvalidNumberError:
        return
    assert len(national) == 10
    assert national.startswith("5")
    assert national in "".join(ch for ch in value if ch.isdigit())


@given(mobile_numbers, st.data())
def test_every_accepted_form_of_a_mobile_gives_it_back(national: str, data: st.DataObject) -> None:
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    forms = [
        national,
        f"0{national}",
        f"90{national}",
        f"+90{national}",
        f"0090{national}",
        f"+90 {a} {b} {c} {d}",
        f"0090 {a} {b} {c} {d}",
        f"0{a} {b} {c}{d}",
        f"({a}) {b}-{c}-{d}",
    ]
    typed = data.draw(st.sampled_from(forms))
    assert normalize(typed) == national
    assert display(typed) == f"0{a} {b} {c} {d}"
    assert normalize(display(typed)) == national


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_is_valid_agrees_with_phonenumbers_on_the_5xx_plan(rest: str) -> None:
    national = "5" + rest
    parsed = phonenumbers.parse(national, "TR")
    is_mobile = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
    assert is_valid(national) is is_mobile
