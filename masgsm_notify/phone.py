"""Turkish mobile numbers: from the forms people type to the `5xxxxxxxxx` form MASGSM requires.

The provider answers 405 for anything else, after the whole batch was refused, so numbers are
checked here first, where the error can name the input. Which `5xx` ranges are mobile comes from
the `phonenumbers` metadata (kept current by Google's libphonenumber project); the parsing itself
is a few string operations, because it runs once per recipient and must stay far below a
microsecond-scale budget.
"""

from __future__ import annotations

import functools
import re

from .errors import InvalidNumberError


@functools.cache
def _mobile() -> re.Pattern[str]:
    """Which 5xx ranges are mobile, from libphonenumber's metadata: read on first use, since
    loading the metadata costs more than a command that never reads a number should pay."""
    from phonenumbers import PhoneMetadata

    metadata = PhoneMetadata.metadata_for_region("TR")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    assert pattern, "libphonenumber's metadata always describes Turkish mobile numbers"
    return re.compile(pattern, re.ASCII)


# Separators people type between digit groups; removed before anything else is looked at.
_SEPARATORS = str.maketrans("", "", " \t-.()/\u00a0")


def normalize(value: str) -> str:
    """Return `value` as a 10-digit Turkish mobile number, or raise `InvalidNumberError`.

    Accepts `+90 532 111 22 33`, `0090...`, `0532 111 2233`, `(532) 111-22-33`, `905321112233`
    and `5321112233`.
    """
    if type(value) is str:  # the common forms in bulk runs, checked without a rewrite
        if len(value) == 10 and _mobile().fullmatch(value):
            return value
        if len(value) == 11 and value[0] == "0" and _mobile().fullmatch(value, 1):
            return value[1:]
    text = str(value).strip()
    digits = text.translate(_SEPARATORS)
    if digits.startswith("+"):
        if not digits.startswith("+90"):
            raise InvalidNumberError(text, "a foreign number (only +90 numbers can be sent to)")
        digits = digits[3:]
    elif digits.startswith("0090"):
        digits = digits[4:]
    elif len(digits) == 12 and digits.startswith("90"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit():
        raise InvalidNumberError(text, "it contains characters that are not digits")
    if len(digits) != 10:
        raise InvalidNumberError(text, f"it has {len(digits)} digits where 10 are needed")
    if digits[0] != "5":
        raise InvalidNumberError(text, "a landline or service number (mobiles start with 5)")
    if not _mobile().fullmatch(digits):
        raise InvalidNumberError(text, "the 5xx range is not a mobile operator's")
    return digits


def is_valid(value: str) -> bool:
    """True when `normalize(value)` would succeed."""
    try:
        normalize(value)
    except InvalidNumberError:
        return False
    return True


def display(number: str) -> str:
    """Format a number the way Turkish notices print it: `0532 111 22 33`."""
    n = normalize(number)
    return f"0{n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"


def masked(number: str) -> str:
    """A mobile number with its middle hidden, `0532 *** ** 33`: the operator prefix and last two
    digits let a customer recognise their own number; raises `InvalidNumberError` like
    `normalize`."""
    n = normalize(number)
    return f"0{n[:3]} *** ** {n[8:]}"
