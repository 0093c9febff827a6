"""Showing phone numbers under KVKK: whole, or masked the way the `mask_phone` filter masks them.

A phone number is personal data. With `privacy: mask` in a pipeline, or `--mask` on a command,
every place a person or another program reads numbers (the plan, the summary, `--json`, logs,
exports, notify messages, the HTML report) shows `0532 *** ** 33`. The journal and the sent
ledger keep whole numbers: resuming and reports need them; they are owner-only and `purge`
empties them. Every such place calls `shown_number` (or `mask_numbers_in` for free text), so
"masked" means the same everywhere.
"""

from __future__ import annotations

import re

from .errors import InvalidNumberError
from .phone import masked as mask_mobile

# A Turkish mobile number in the forms people and the API write it, inside any text: 5321112233,
# 05321112233, 905321112233, +90 532 111 22 33, 0532 111 22 33.
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+90 ?|0090 ?|90|0)?5\d\d ?\d{3} ?\d\d ?\d\d(?!\d)")


def shown_number(number: str, masked: bool) -> str:
    """`number` as output shows it: as it is, or masked (`0532 *** ** 33`).

    A value that is not a mobile number (an invalid row's) keeps its first three and last two
    digits when masked, so a person can still find the row.
    """
    if not masked or not number:
        return number
    try:
        return mask_mobile(number)
    except InvalidNumberError:
        return _mask_digits(number)


def mask_numbers_in(text: str) -> str:
    """Free text (a log line, an error) with every mobile number in it masked."""
    return _MOBILE_IN_TEXT.sub(lambda match: mask_mobile(match.group()), text) if text else text


def _mask_digits(value: str) -> str:
    digits = [i for i, char in enumerate(value) if char.isdigit()]
    hidden = set(digits[3:-2] if len(digits) > 5 else digits)
    return "".join("*" if i in hidden else char for i, char in enumerate(value))
