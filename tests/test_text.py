"""Encoding choice, segment counting and transliteration (`masgsm_notify.text`).

Every expected value below was worked out by hand from 3GPP TS 23.038: GSM 7-bit holds 160
septets in one segment and 153 per concatenated part; the Turkish single-shift header leaves
155 / 149; UCS-2 holds 70 / 67 UTF-16 units. Extension and Turkish-shift characters cost two
septets, characters outside the BMP two UTF-16 units, and neither may be split across parts.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from masgsm_notify import text as sms_text
from masgsm_notify.text import (
    LIMITS,
    Encoding,
    TextCost,
    ascii_only,
    choose_encoding,
    cost,
    plain,
    wants_lang_tr,
)

GSM7, TURKISH, UCS2 = Encoding.GSM7, Encoding.TURKISH, Encoding.UCS2

# The GSM 03.38 default alphabet, row by row as the spec prints it (0x1B, the escape, left out).
SPEC_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The default extension table: form feed ^ { } \ [ ~ ] | €.
SPEC_EXTENSION = "\f^{}\\[~]|€"
# What the Turkish single-shift table adds to the extension table.
SPEC_TURKISH_ONLY = "ĞİŞçğış"

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: two code points, both outside the BMP
HEART = "\u2764\ufe0f"  # ❤️: two code points inside the BMP
ZHE = "ж"  # Cyrillic: outside every GSM table


def test_alphabets_match_the_spec_tables() -> None:
    assert len(SPEC_BASIC) == 127
    assert frozenset(SPEC_BASIC) == sms_text.GSM7_BASIC
    assert frozenset(SPEC_EXTENSION) == sms_text.GSM7_EXTENSION
    assert frozenset(SPEC_TURKISH_ONLY) == sms_text.TURKISH_SHIFT_ONLY
    assert frozenset(SPEC_EXTENSION + SPEC_TURKISH_ONLY) == sms_text.TURKISH_SHIFT


# --- encoding choice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "lang_tr", "encoding"),
    [
        ("", False, GSM7),
        ("", True, GSM7),
        ("Hello", False, GSM7),
        ("Hello", True, GSM7),
        ("€ [x] {y} ~ | ^ \\", False, GSM7),
        ("Güle güle, Çağ", False, UCS2),  # ğ is not in the basic table
        ("Güle güle, Çağ", True, TURKISH),
        ("ÇÖÜçöü", False, UCS2),  # Ç is GSM basic, ç is not
        ("ÇÖÜ öü", False, GSM7),
        ("ç", False, UCS2),
        ("ç", True, TURKISH),
        ("ı", True, TURKISH),
        ("İ", True, TURKISH),
        ("ş€", True, TURKISH),
        ("şâ", True, UCS2),  # â is in no Turkish table
        ("â", True, UCS2),
        ("ş" + EMOJI, True, UCS2),
        (EMOJI, True, UCS2),
        (EMOJI, False, UCS2),
        ("Привет", True, UCS2),
        ("ΔΦΓΛΩΠΨΣΘΞ", False, GSM7),  # Greek capitals that are in the GSM alphabet
        ("α", False, UCS2),  # but no Greek small letters
        ("`", False, UCS2),  # the backtick is not GSM (0x60 is ¿)
        ("ú", False, UCS2),  # ù is GSM, ú is not
    ],
)
def test_choose_encoding(message: str, lang_tr: bool, encoding: Encoding) -> None:
    assert choose_encoding(message, lang_tr) is encoding
    assert cost(message, lang_tr).encoding is encoding


def test_cost_defaults_to_lang_tr() -> None:
    assert cost("ş").encoding is TURKISH
    assert cost("ş", False).encoding is UCS2


def test_encoding_values_are_the_wire_names() -> None:
    assert [e.value for e in Encoding] == ["gsm7", "turkish", "ucs2"]
    assert Encoding.GSM7 == "gsm7"


# --- length of short texts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "lang_tr", "encoding", "length"),
    [
        ("", True, GSM7, 0),
        ("Hello", True, GSM7, 5),
        ("@£$¥èéùìòÇ", False, GSM7, 10),
        ("ΔΦΓΛΩΠΨΣΘΞ", False, GSM7, 10),
        ("ÄÖÑÜ§¿äöñüà", False, GSM7, 11),
        ("\r\n", False, GSM7, 2),
        # Extension characters: two septets each.
        ("€", False, GSM7, 2),
        ("{}", False, GSM7, 4),
        ("[~]", False, GSM7, 6),
        ("\\|^", False, GSM7, 6),
        ("\f", False, GSM7, 2),
        ("Fiyat: 5€", False, GSM7, 10),  # 8 basic + 2
        # Turkish single shift: ç ğ ı İ ş Ş Ğ cost two, ö ü Ç Ö Ü (basic) cost one.
        ("ş", True, TURKISH, 2),
        ("ç", True, TURKISH, 2),
        ("Sayın Ömer", True, TURKISH, 11),  # 10 characters, ı costs 2
        ("ığüşöçİĞŞÇÖÜ", True, TURKISH, 19),  # 2+2+1+2+1+2+2+2+2+1+1+1
        ("İstanbul'da €5", True, TURKISH, 16),  # İ 2 + 11 basic + € 2 + 1
        ("çok", True, TURKISH, 4),
        ("Çok", True, GSM7, 3),
        # UCS-2: one unit per BMP character, two per character outside it.
        ("ş", False, UCS2, 1),
        ("Sayın Ömer", False, UCS2, 10),
        ("€ş", False, UCS2, 2),  # € is one unit in UCS-2
        ("Привет", True, UCS2, 6),
        (EMOJI, True, UCS2, 2),
        ("a" + EMOJI + "b", True, UCS2, 4),
        (THUMBS_MEDIUM, True, UCS2, 4),
        (HEART, True, UCS2, 2),
    ],
)
def test_length(message: str, lang_tr: bool, encoding: Encoding, length: int) -> None:
    result = cost(message, lang_tr)
    assert result == TextCost(encoding, length, 1)


# --- segment boundaries -----------------------------------------------------------------------

A, EURO, S_CEDILLA, DOTLESS_I = "a", "€", "ş", "ı"

SEGMENTS = [
    # id, text, lang_tr, encoding, length, segments
    # GSM 7-bit, basic characters only: 160 alone, 153 per part.
    ("gsm 1", A, False, GSM7, 1, 1),
    ("gsm 160", A * 160, False, GSM7, 160, 1),
    ("gsm 161", A * 161, False, GSM7, 161, 2),
    ("gsm 306", A * 306, False, GSM7, 306, 2),
    ("gsm 307", A * 307, False, GSM7, 307, 3),
    ("gsm 459", A * 459, False, GSM7, 459, 3),
    ("gsm 460", A * 460, False, GSM7, 460, 4),
    ("gsm 160 lang_tr", A * 160, True, GSM7, 160, 1),  # lang=tr does not shrink GSM text
    ("gsm 161 lang_tr", A * 161, True, GSM7, 161, 2),
    # GSM 7-bit with extension characters (2 septets).
    ("80 euro", EURO * 80, False, GSM7, 160, 1),
    ("80 euro + a", EURO * 80 + A, False, GSM7, 161, 2),
    ("158a + euro", A * 158 + EURO, False, GSM7, 160, 1),
    ("159a + euro", A * 159 + EURO, False, GSM7, 161, 2),  # 153 | 6 + 2
    ("153a + euro", A * 153 + EURO, False, GSM7, 155, 1),  # 155 <= 160: still one
    ("81 euro", EURO * 81, False, GSM7, 162, 2),  # 76 euros (152) | 5 euros
    ("153 euro", EURO * 153, False, GSM7, 306, 3),  # 76 | 76 | 1: 306 septets, not 2 parts
    # An extension character at position 153 cannot straddle: it opens the next part.
    ("euro at 153, 305", A * 152 + EURO + A * 151, False, GSM7, 305, 2),  # 152 | 2 + 151
    ("euro at 153, 306", A * 152 + EURO + A * 152, False, GSM7, 306, 3),  # 152 | 153 | 1
    ("euro at 152, 306", A * 151 + EURO + A * 153, False, GSM7, 306, 2),  # 153 | 153
    ("euro at 152, 307", A * 151 + EURO + A * 154, False, GSM7, 307, 3),  # 153 | 153 | 1
    ("euro at 306", A * 305 + EURO, False, GSM7, 307, 3),  # 153 | 152 | 2
    # Turkish single shift (lang=tr): 155 alone, 149 per part.
    ("tr 155", S_CEDILLA + A * 153, True, TURKISH, 155, 1),
    ("tr 156", S_CEDILLA + A * 154, True, TURKISH, 156, 2),
    ("tr 298", S_CEDILLA + A * 296, True, TURKISH, 298, 2),  # 149 | 149
    ("tr 299", S_CEDILLA + A * 297, True, TURKISH, 299, 3),  # 149 | 149 | 1
    ("tr 447", S_CEDILLA + A * 445, True, TURKISH, 447, 3),
    ("tr 448", S_CEDILLA + A * 446, True, TURKISH, 448, 4),
    ("77 dotless i + a", DOTLESS_I * 77 + A, True, TURKISH, 155, 1),
    ("78 dotless i", DOTLESS_I * 78, True, TURKISH, 156, 2),  # 74 (148) | 4
    ("149 s-cedilla", S_CEDILLA * 149, True, TURKISH, 298, 3),  # 74 | 74 | 1
    ("tr ş at 149, 297", A * 148 + S_CEDILLA + A * 147, True, TURKISH, 297, 2),  # 148 | 149
    ("tr ş at 149, 298", A * 148 + S_CEDILLA + A * 148, True, TURKISH, 298, 3),  # 148|149|1
    ("tr ş at 148, 298", A * 147 + S_CEDILLA + A * 149, True, TURKISH, 298, 2),  # 149 | 149
    ("tr ş and euro", S_CEDILLA + A * 152 + EURO, True, TURKISH, 156, 2),  # 149 | 7
    ("tr 70 ş", S_CEDILLA * 70, True, TURKISH, 140, 1),
    # UCS-2: 70 alone, 67 per part.
    ("ucs2 70", ZHE * 70, False, UCS2, 70, 1),
    ("ucs2 71", ZHE * 71, False, UCS2, 71, 2),
    ("ucs2 134", ZHE * 134, False, UCS2, 134, 2),
    ("ucs2 135", ZHE * 135, False, UCS2, 135, 3),
    ("ucs2 201", ZHE * 201, False, UCS2, 201, 3),
    ("ucs2 202", ZHE * 202, False, UCS2, 202, 4),
    ("69a + zhe", A * 69 + ZHE, False, UCS2, 70, 1),
    ("70a + zhe", A * 70 + ZHE, False, UCS2, 71, 2),
    ("69 euro + zhe", EURO * 69 + ZHE, False, UCS2, 70, 1),  # € is one unit in UCS-2
    ("70 ş no lang_tr", S_CEDILLA * 70, False, UCS2, 70, 1),
    ("71 ş no lang_tr", S_CEDILLA * 71, False, UCS2, 71, 2),
    ("ş + zhe", S_CEDILLA + ZHE, True, UCS2, 2, 1),
    # Surrogate pairs: two units, never split.
    ("35 emoji", EMOJI * 35, True, UCS2, 70, 1),
    ("35 emoji + a", EMOJI * 35 + A, True, UCS2, 71, 2),
    ("69 zhe + emoji", ZHE * 69 + EMOJI, True, UCS2, 71, 2),  # 67 | 2 + 2
    ("68 zhe + emoji", ZHE * 68 + EMOJI, True, UCS2, 70, 1),
    ("67 emoji", EMOJI * 67, True, UCS2, 134, 3),  # 33 (66) | 33 | 1
    ("emoji at 67, 133", ZHE * 66 + EMOJI + ZHE * 65, True, UCS2, 133, 2),  # 66 | 2 + 65
    ("emoji at 67, 134", ZHE * 66 + EMOJI + ZHE * 66, True, UCS2, 134, 3),  # 66 | 67 | 1
    ("emoji at 66, 134", ZHE * 65 + EMOJI + ZHE * 67, True, UCS2, 134, 2),  # 67 | 67
    # 👍🏽 is two surrogate pairs: the pairs stay whole, but they may go to different parts.
    ("thumbs at 66", ZHE * 65 + THUMBS_MEDIUM + ZHE * 65, True, UCS2, 134, 2),  # 65+2 | 2+65
    ("thumbs at 67", ZHE * 66 + THUMBS_MEDIUM + ZHE * 64, True, UCS2, 134, 3),  # 66 | 2+2+63 | 1
]


@pytest.mark.parametrize(
    ("message", "lang_tr", "encoding", "length", "segments"),
    [pytest.param(*row[1:], id=row[0]) for row in SEGMENTS],
)
def test_segments(
    message: str, lang_tr: bool, encoding: Encoding, length: int, segments: int
) -> None:
    assert cost(message, lang_tr) == TextCost(encoding, length, segments)


# --- credits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "numbers", "credits"),
    [
        ("Hello", 1, 1),
        ("Hello", 250, 250),
        (A * 161, 1, 2),
        (A * 161, 3, 6),
        (A * 161, 0, 0),
        (ZHE * 135, 1000, 3000),
        (S_CEDILLA * 149, 2, 6),
    ],
)
def test_credits(message: str, numbers: int, credits: int) -> None:
    assert cost(message).credits(numbers) == credits


def test_credits_default_to_one_number() -> None:
    assert cost(A * 307).credits() == 3
    assert TextCost(UCS2, 140, 3).credits() == 3
    assert TextCost(UCS2, 140, 3).credits(5) == 15


# --- lang=tr ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("", False),
        ("Hello", False),
        ("€ {x}", False),
        ("é", False),
        ("Ä ñ à", False),  # GSM letters that plain text keeps
        # GSM has ö ü Ç Ö Ü, but without lang=tr the provider sends them transliterated.
        ("Güle güle", True),
        ("ÇÖÜ", True),
        ("ö", True),
        ("â", True),
        ("ç", True),
        ("Sayın Ömer", True),
        ("İstanbul", True),
        ("Ağaç", True),
        ("ş", True),
        (EMOJI, True),
        ("Привет", True),
        ("`", True),
    ],
)
def test_wants_lang_tr(message: str, wanted: bool) -> None:
    assert wants_lang_tr(message) is wanted


# --- transliteration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", ""),
        ("Hello", "Hello"),
        ("Şişli Çarşı", "Sisli Carsi"),
        ("İĞDIR ığdır", "IGDIR igdir"),
        ("Öğüş", "Ogus"),
        ("Üsküdar", "Uskudar"),
        ("Sayın Ömer", "Sayin Omer"),
        ("âîû ÂÎÛ", "aiu AIU"),
        ("Fiyat: 5€ [indirim] {x}", "Fiyat: 5€ [indirim] {x}"),  # GSM extension is kept
        ("café £5", "café £5"),  # é and £ are GSM
        ("Ñandú", "Ñand?"),  # ú is not
        ("Merhaba " + EMOJI, "Merhaba ?"),
        (THUMBS_MEDIUM, "??"),
        ("Привет", "??????"),
        ("a`b", "a?b"),
        ("\r\n\f", "\r\n\f"),
    ],
)
def test_plain(message: str, expected: str) -> None:
    assert plain(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", ""),
        ("Hello", "Hello"),
        ("Şişli Çarşı", "Sisli Carsi"),
        ("Ağaç {x} [y]", "Agac {x} [y]"),
        ("café", "caf?"),
        ("5€", "5?"),
        ("£10", "?10"),
        ("ΔΦ", "??"),
        ("Merhaba " + EMOJI, "Merhaba ?"),
        ("Ñandú", "?and?"),
    ],
)
def test_ascii_only(message: str, expected: str) -> None:
    assert ascii_only(message) == expected


# --- properties -------------------------------------------------------------------------------

gsm_texts = st.text(alphabet=SPEC_BASIC + SPEC_EXTENSION, max_size=500)
turkish_texts = st.text(alphabet=SPEC_BASIC + SPEC_EXTENSION + SPEC_TURKISH_ONLY, max_size=500)
any_texts = st.text(max_size=400)


@given(gsm_texts)
def test_gsm_text_length_is_septets(message: str) -> None:
    result = cost(message, False)
    assert result.encoding is GSM7
    assert result.length == len(message) + sum(ch in SPEC_EXTENSION for ch in message)


@given(turkish_texts)
def test_turkish_text_length_is_septets(message: str) -> None:
    result = cost(message, True)
    two = SPEC_EXTENSION + SPEC_TURKISH_ONLY
    assert result.length == len(message) + sum(ch in two for ch in message)
    if any(ch in SPEC_TURKISH_ONLY for ch in message):
        assert result.encoding is TURKISH
    else:
        assert result.encoding is GSM7


@given(st.text(alphabet=SPEC_BASIC, max_size=700))
def test_basic_gsm_segments(message: str) -> None:
    expected = 1 if len(message) <= 160 else math.ceil(len(message) / 153)
    assert cost(message, False).segments == expected


@given(any_texts, st.booleans())
@example(A * 152 + EURO + A * 152, False)
@example(ZHE * 66 + EMOJI + ZHE * 66, True)
def test_segments_sit_between_the_packing_bounds(message: str, lang_tr: bool) -> None:
    # Greedy packing wastes at most one septet or unit per part (a 2-wide character that does
    # not fit), so the count lies between ceil(length / part) and ceil(length / (part - 1)).
    result = cost(message, lang_tr)
    single, part = {GSM7: (160, 153), TURKISH: (155, 149), UCS2: (70, 67)}[result.encoding]
    if result.length <= single:
        assert result.segments == 1
    else:
        assert math.ceil(result.length / part) <= result.segments
        assert result.segments <= math.ceil(result.length / (part - 1))


@given(gsm_texts)
def test_segments_never_decrease_as_a_gsm_text_grows(message: str) -> None:
    counts = [cost(message[:end], False).segments for end in range(len(message) + 1)]
    assert counts == sorted(counts)


@given(any_texts, st.booleans())
def test_segments_never_decrease_as_any_text_grows(message: str, lang_tr: bool) -> None:
    costs = [cost(message[:end], lang_tr) for end in range(0, len(message) + 1, 7)]
    costs.append(cost(message, lang_tr))
    segments = [c.segments for c in costs]
    assert segments == sorted(segments)


@given(any_texts)
@example("Şişli Çarşı " + EMOJI)
def test_plain_is_always_gsm7(message: str) -> None:
    result = plain(message)
    assert set(result) <= set(SPEC_BASIC + SPEC_EXTENSION)
    assert len(result) == len(message)
    assert plain(result) == result
    assert cost(result, False).encoding is GSM7
    assert not wants_lang_tr(result)


@given(any_texts)
def test_ascii_only_is_always_ascii(message: str) -> None:
    result = ascii_only(message)
    assert result.isascii()
    assert len(result) == len(message)
    assert ascii_only(result) == result


def packed_by_hand(units: list[int], part: int) -> int:
    """The 3GPP rule walked one character at a time: a part is closed when the next character
    would not fit whole."""
    parts, used = 1, 0
    for unit in units:
        if used + unit > part:
            parts, used = parts + 1, 0
        used += unit
    return parts


@given(
    st.text(alphabet=SPEC_BASIC + SPEC_EXTENSION + SPEC_TURKISH_ONLY + "😀𝄞ж", max_size=1200),
    st.booleans(),
)
@example("a" * 152 + "€" + "b", False)  # the euro sign would straddle parts 1 and 2
@example("a" * 132 + "ş" * 2, True)
@example("ж" * 66 + "😀", True)  # a surrogate pair would straddle
def test_segments_match_the_rule_walked_character_by_character(message: str, lang_tr: bool) -> None:
    result = cost(message, lang_tr)
    single, part = LIMITS[result.encoding]
    if result.encoding is UCS2:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in message]
    else:
        two = SPEC_EXTENSION + (SPEC_TURKISH_ONLY if result.encoding is TURKISH else "")
        units = [2 if ch in two else 1 for ch in message]
    assert result.length == sum(units)
    expected = 1 if result.length <= single else packed_by_hand(units, part)
    assert result.segments == expected
