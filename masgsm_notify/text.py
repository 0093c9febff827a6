"""What a text costs: its encoding, its segments, its credits; and plain-ASCII transliteration.

MASGSM bills one credit per segment per number, and how many characters fit in a segment depends
on the encoding the text forces (3GPP TS 23.038):

- GSM 7-bit: 160 septets alone, 153 per part when concatenated; the extension characters
  (`^{}\\[~]|€` and form feed) cost two septets each.
- Turkish, when sent with `lang=tr`: the Turkish single-shift table adds ç ğ ı İ ş Ş Ğ at two
  septets each, and its header leaves 155 septets alone, 149 per part.
- UCS-2 for anything else: 70 UTF-16 units alone, 67 per part.

A multi-unit character never straddles two parts, so counting is exact rather than a division.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Encoding(str, Enum):
    GSM7 = "gsm7"
    TURKISH = "turkish"
    UCS2 = "ucs2"


GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
TURKISH_SHIFT_ONLY = frozenset("ĞİŞçğış")
TURKISH_SHIFT = GSM7_EXTENSION | TURKISH_SHIFT_ONLY
GSM7 = GSM7_BASIC | GSM7_EXTENSION
TURKISH = GSM7_BASIC | TURKISH_SHIFT

# (septets or units in a single segment, per part when concatenated)
LIMITS = {Encoding.GSM7: (160, 153), Encoding.TURKISH: (155, 149), Encoding.UCS2: (70, 67)}

_TRANSLITERATION = str.maketrans(
    {"ç": "c", "Ç": "C", "ğ": "g", "Ğ": "G", "ı": "i", "İ": "I", "ö": "o", "Ö": "O",
     "ş": "s", "Ş": "S", "ü": "u", "Ü": "U", "â": "a", "Â": "A", "î": "i", "Î": "I",
     "û": "u", "Û": "U"}
)  # fmt: skip


# Characters that survive a send without `lang=tr` unchanged.
_KEPT_PLAIN = GSM7 - {chr(code) for code in _TRANSLITERATION}


@dataclass(frozen=True, slots=True)
class TextCost:
    """The encoding a text goes out in, its length in septets or units, and its segments."""

    encoding: Encoding
    length: int
    segments: int

    def credits(self, numbers: int = 1) -> int:
        return self.segments * numbers


def wants_lang_tr(text: str) -> bool:
    """True when sending without `lang=tr` would change the text.

    Without it the provider sends plain text, so even ö and ü (which GSM 7-bit has) are at risk.
    """
    return not _KEPT_PLAIN.issuperset(text)


def choose_encoding(text: str, lang_tr: bool) -> Encoding:
    """The encoding the text needs: GSM 7-bit if it can, Turkish shift with `lang=tr`, else UCS-2.

    Without `lang=tr` the provider sends plain text, so a text outside GSM 7-bit is first
    transliterated (see `plain`); cost it with `cost(plain(text), False)` in that case.
    """
    if GSM7.issuperset(text):
        return Encoding.GSM7
    if lang_tr and TURKISH.issuperset(text):
        return Encoding.TURKISH
    return Encoding.UCS2


def cost(text: str, lang_tr: bool = True) -> TextCost:
    """Encoding, length and segment count of one text."""
    encoding = choose_encoding(text, lang_tr)
    if encoding is Encoding.UCS2:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    elif encoding is Encoding.GSM7:
        units = (
            None if GSM7_BASIC.issuperset(text) else [1 if ch in GSM7_BASIC else 2 for ch in text]
        )
    else:
        units = [1 if ch in GSM7_BASIC else 2 for ch in text]
    single, part = LIMITS[encoding]
    if units is None:
        length = len(text)
        return TextCost(encoding, length, 1 if length <= single else -(-length // part))
    length = sum(units)
    return TextCost(encoding, length, _segments(units, length, single, part))


def _segments(units: list[int], length: int, single: int, part: int) -> int:
    if length <= single:
        return 1
    segments, used = 1, 0
    for unit in units:
        if used + unit > part:
            segments += 1
            used = 0
        used += unit
    return segments


def plain(text: str) -> str:
    """Turkish letters to their ASCII look-alikes (ç→c, ğ→g, ı→i, İ→I, ö→o, ş→s, ü→u).

    What is left outside GSM 7-bit after that (emoji, other scripts) becomes `?`, as it would on a
    handset that received the text without `lang=tr`.
    """
    text = text.translate(_TRANSLITERATION)
    if GSM7.issuperset(text):
        return text
    return "".join(ch if ch in GSM7 else "?" for ch in text)


def ascii_only(text: str) -> str:
    """Strict ASCII transliteration, for the GET method and for users who ask for it."""
    return plain(text).encode("ascii", "replace").decode("ascii")
