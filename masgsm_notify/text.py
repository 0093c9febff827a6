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

import re
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

# A text longer than this many segments is more likely a template mistake than a message.
DEFAULT_MAX_SEGMENTS = 6

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


def _outside(alphabet: frozenset[str]) -> re.Pattern[str]:
    """A pattern matching any character not in `alphabet`: a C-speed scan of a whole text."""
    return re.compile("[^" + "".join(re.escape(ch) for ch in sorted(alphabet)) + "]")


def _inside(alphabet: frozenset[str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(alphabet)) + "]")


_NOT_GSM7 = _outside(GSM7)
_NOT_TURKISH = _outside(TURKISH)
_NOT_KEPT_PLAIN = _outside(_KEPT_PLAIN)
# Characters costing two units, by encoding: two septets (an escape and the character) in the
# 7-bit alphabets, a surrogate pair in UCS-2.
_TWO_UNITS = {
    Encoding.GSM7: _inside(GSM7_EXTENSION),
    Encoding.TURKISH: _inside(TURKISH_SHIFT),
    Encoding.UCS2: re.compile("[\U00010000-\U0010ffff]"),
}


def wants_lang_tr(text: str) -> bool:
    """True when sending without `lang=tr` would change the text.

    Without it the provider sends plain text, so even ö and ü (which GSM 7-bit has) are at risk.
    """
    return _NOT_KEPT_PLAIN.search(text) is not None


def choose_encoding(text: str, lang_tr: bool) -> Encoding:
    """The encoding the text needs: GSM 7-bit if it can, Turkish shift with `lang=tr`, else UCS-2.

    Without `lang=tr` the provider sends plain text, so a text outside GSM 7-bit is first
    transliterated (see `plain`); cost it with `cost(plain(text), False)` in that case.
    """
    if _NOT_GSM7.search(text) is None:
        return Encoding.GSM7
    if lang_tr and _NOT_TURKISH.search(text) is None:
        return Encoding.TURKISH
    return Encoding.UCS2


def cost(text: str, lang_tr: bool = True) -> TextCost:
    """Encoding, length and segment count of one text.

    It runs once per recipient, so every case is C-level scans and counts: a long text that
    holds two-unit characters is cut where they fall, never walked character by character.
    """
    encoding = choose_encoding(text, lang_tr)
    if encoding is Encoding.UCS2:
        length = len(text.encode("utf-16-le")) // 2
    else:
        length = 2 * len(text) - len(_TWO_UNITS[encoding].sub("", text))
    single, part = LIMITS[encoding]
    if length <= single:
        segments = 1
    elif length == len(text):
        segments = -(-length // part)
    else:
        segments = _segments(text, _TWO_UNITS[encoding], part)
    return TextCost(encoding, length, segments)


def _segments(text: str, two_units: re.Pattern[str], part: int) -> int:
    """Parts needed when no two-unit character may straddle two parts.

    A part ends `part` units after it starts, or one unit sooner where a two-unit character
    would be split; only those characters' places need to be known (found in C), so a text is
    never walked character by character.
    """
    # Where each two-unit character starts, in units: its index plus one for each before it.
    starts = [match.start() + before for before, match in enumerate(two_units.finditer(text))]
    total = len(text) + len(starts)
    segments, start, next_pair = 0, 0, 0
    while start < total:
        segments += 1
        end = start + part
        while next_pair < len(starts) and starts[next_pair] < end - 1:
            next_pair += 1
        splits = end < total and next_pair < len(starts) and starts[next_pair] == end - 1
        start = end - 1 if splits else end
    return segments


def plain(text: str) -> str:
    """Turkish letters to their ASCII look-alikes (ç→c, ğ→g, ı→i, İ→I, ö→o, ş→s, ü→u).

    What is left outside GSM 7-bit after that (emoji, other scripts) becomes `?`, as it would on a
    handset that received the text without `lang=tr`.
    """
    text = text.translate(_TRANSLITERATION)
    if _NOT_GSM7.search(text) is None:
        return text
    return "".join(ch if ch in GSM7 else "?" for ch in text)


def ascii_only(text: str) -> str:
    """Strict ASCII transliteration, for the GET method and for users who ask for it."""
    return plain(text).encode("ascii", "replace").decode("ascii")
