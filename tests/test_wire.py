"""Wire format (`masgsm_notify.wire`), the error family (`masgsm_notify.errors`), redaction.

Expected strings are what PHP's `urlencode` / `http_build_query` produce (RFC 1738: letters,
digits and `-_.` bare, space as `+`, everything else as upper-case `%XX` of its UTF-8 bytes).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, quote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from masgsm_notify.errors import (
    ERROR_CODES,
    BannedTitleError,
    CredentialsError,
    InsufficientBalanceError,
    MasgsmError,
    MissingParameterError,
    NumberFormatError,
    SendError,
    TitleError,
    UnexpectedAnswerError,
    UsageError,
    error_for_code,
)
from masgsm_notify.logs import redact
from masgsm_notify.wire import (
    answer_code,
    http_build_query,
    load_json,
    php_urlencode,
    require_success,
)

# --- php_urlencode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("", ""),
        ("AZaz09", "AZaz09"),
        ("-_.", "-_."),
        ("a b", "a+b"),
        ("~", "%7E"),
        ("*", "%2A"),
        ("+", "%2B"),
        ("&=", "%26%3D"),
        ("/?#", "%2F%3F%23"),
        ("!'()", "%21%27%28%29"),
        ("%", "%25"),
        (",", "%2C"),
        ("[]", "%5B%5D"),
        ("\n\r\t", "%0A%0D%09"),
        ("ı", "%C4%B1"),
        ("Ö", "%C3%96"),
        ("ş", "%C5%9F"),
        ("€", "%E2%82%AC"),
        ("\U0001f600", "%F0%9F%98%80"),
        ("a~b c*d", "a%7Eb+c%2Ad"),
    ],
)
def test_php_urlencode(value: str, encoded: str) -> None:
    assert php_urlencode(value) == encoded


# --- http_build_query -------------------------------------------------------------------------

TYPE_1_BODY = (
    "type=1&u=5320000000&p=PAROLA&message%5B0%5D=MESAJ+1&message%5B1%5D=Say%C4%B1n+%C3%96mer"
    "&title=MASGSMTEST&numbers=5321111111%2C5322222222"
)


def test_type_1_body_is_byte_for_byte_what_php_sends() -> None:
    fields = {
        "type": 1,
        "u": "5320000000",
        "p": "PAROLA",
        "message": ["MESAJ 1", "Sayın Ömer"],
        "title": "MASGSMTEST",
        "numbers": "5321111111,5322222222",
    }
    assert http_build_query(fields) == TYPE_1_BODY
    assert http_build_query(fields).encode("ascii") == TYPE_1_BODY.encode("ascii")


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({}, ""),
        ({"a": "1"}, "a=1"),
        ({"a": 1, "b": 0}, "a=1&b=0"),
        ({"a": ""}, "a="),  # PHP keeps empty strings
        ({"a": None}, ""),  # and leaves nulls out
        ({"a": None, "b": "x"}, "b=x"),
        ({"a": "x", "b": None, "c": "y"}, "a=x&c=y"),
        ({"a": True, "b": False}, "a=1&b=0"),  # PHP writes booleans as 1 and 0
        ({"a": []}, ""),  # PHP leaves empty arrays out
        ({"a": {}, "b": 2}, "b=2"),
        ({"a": ["x", "y"]}, "a%5B0%5D=x&a%5B1%5D=y"),
        ({"a": ("x", "y")}, "a%5B0%5D=x&a%5B1%5D=y"),
        ({"a": [None, "y"]}, "a%5B1%5D=y"),  # the index of a null is skipped, not reused
        ({"a": {"b": ["x", "y"]}}, "a%5Bb%5D%5B0%5D=x&a%5Bb%5D%5B1%5D=y"),
        ({"a": {"k ~": "v"}}, "a%5Bk+%7E%5D=v"),
        ({"a b": "c d"}, "a+b=c+d"),
        ({"lang": "tr"}, "lang=tr"),
        ({"t": "~*-_. +"}, "t=%7E%2A-_.+%2B"),
        ({"m": "a&b=c"}, "m=a%26b%3Dc"),
    ],
)
def test_http_build_query(fields: dict, query: str) -> None:
    assert http_build_query(fields) == query


def test_http_build_query_nested_register_fields() -> None:
    fields = {
        "type": 3,
        "u": "5320000000",
        "p": "PAROLA",
        "register": {
            "username": "bayi1",
            "password": "gizli şifre~",
            "fullname": "Ayşe Yılmaz",
            "email": "ayse@example.com",
            "phone": "5321111111",
        },
    }
    assert http_build_query(fields) == (
        "type=3&u=5320000000&p=PAROLA"
        "&register%5Busername%5D=bayi1"
        "&register%5Bpassword%5D=gizli+%C5%9Fifre%7E"
        "&register%5Bfullname%5D=Ay%C5%9Fe+Y%C4%B1lmaz"
        "&register%5Bemail%5D=ayse%40example.com"
        "&register%5Bphone%5D=5321111111"
    )


@given(
    st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8),
        st.text(max_size=30).filter(lambda s: "\r" not in s),
        max_size=6,
    )
)
def test_http_build_query_round_trips_through_a_form_parser(fields: dict[str, str]) -> None:
    query = http_build_query(fields)
    assert query.isascii()
    assert "~" not in query
    assert " " not in query
    assert parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)) == list(
        fields.items()
    )


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "data"),
    [
        (
            '{"code":1,"message":"ok","id":"123456"}',
            1,
            {"code": 1, "message": "ok", "id": "123456"},
        ),
        ('{"code":"1","id":"9"}', 1, {"code": "1", "id": "9"}),
        ('{"code":" 3 "}', 3, {"code": " 3 "}),
        ('{"code":3,"id":"7"}', 3, {"code": 3, "id": "7"}),
        (
            '{"code":1,"message":"Hesap Bakiyesi","balance":"000000"}',
            1,
            {"code": 1, "message": "Hesap Bakiyesi", "balance": "000000"},
        ),
        ('{"code":401}', 401, {"code": 401}),
        ('{"code":"405"}', 405, {"code": "405"}),
        ("401", 401, {}),
        ("1", 1, {}),
        ("0", 0, {}),
        ("2", 2, {}),
        ("-1", -1, {}),
        ("  401\n", 401, {}),
        ("\r\n1\r\n", 1, {}),
        ('\t{"code": 2}\r\n', 2, {"code": 2}),
        (' {"code":1} ', 1, {"code": 1}),
    ],
)
def test_answer_code(body: str, code: int, data: dict) -> None:
    assert answer_code(body) == (code, data)


UNEXPECTED = [
    "",
    "   \n",
    "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>\n",
    "<!DOCTYPE html>\n<html><body>Bad Gateway</body></html>",
    '{"code":1',  # truncated
    '{"code":1,"message":"Hes',
    "[" * 100_000,  # truncated and deeply nested
    "{",
    "OK",
    "401 Unauthorized",
    "1 2",
    "+1",
    "--1",
    "-",
    "1.0",
    "1e3",
    "true",
    "null",
    '"1"',
    "[1]",
    "{}",
    '{"message":"no code"}',
    '{"Iletilen":["5321111111"],"Hatali":[],"Bekleyen":[]}',
    '{"code":null}',
    '{"code":true}',
    '{"code":1.5}',
    '{"code":"abc"}',
    '{"code":""}',
    '{"code":"--1"}',
    "²",  # a digit to str.isdigit, not to int()
    "١",  # Arabic-Indic one
    '{"code":"١"}',
    '{"code":"²"}',
    "9" * 5000,  # more digits than int() converts
    "NaN",
]


@pytest.mark.parametrize("body", UNEXPECTED)
def test_answer_code_rejects_with_the_raw_body(body: str) -> None:
    with pytest.raises(UnexpectedAnswerError) as caught:
        answer_code(body)
    assert caught.value.raw == body
    assert caught.value.exit_code == 1


@pytest.mark.parametrize("body", UNEXPECTED)
def test_require_success_rejects_with_the_raw_body(body: str) -> None:
    with pytest.raises(UnexpectedAnswerError) as caught:
        require_success(body)
    assert caught.value.raw == body


@given(st.text(max_size=60))
@example("²")
@example("--1")
@example("[" * 10_000)
def test_answer_code_returns_a_code_or_raises_unexpected_answer(body: str) -> None:
    try:
        code, data = answer_code(body)
    except UnexpectedAnswerError as error:
        assert error.raw == body
    else:
        assert type(code) is int
        assert isinstance(data, dict)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"code":1,"id":"123"}', 1),
        ('{"code":3,"id":"123"}', 3),  # partial send: still a send with an id
        ("1", 1),
        ("3", 3),
    ],
)
def test_require_success_passes_codes_1_and_3(body: str, code: int) -> None:
    assert require_success(body)[0] == code


ERROR_CLASSES = [
    (0, SendError, 1),
    (2, InsufficientBalanceError, 1),
    (400, MissingParameterError, 2),
    (401, CredentialsError, 2),
    (402, TitleError, 2),
    (403, BannedTitleError, 2),
    (405, NumberFormatError, 2),
    (4, UnexpectedAnswerError, 1),
    (404, UnexpectedAnswerError, 1),
    (500, UnexpectedAnswerError, 1),
    (-1, UnexpectedAnswerError, 1),
]


@pytest.mark.parametrize(("code", "cls", "exit_code"), ERROR_CLASSES)
@pytest.mark.parametrize("spelling", ['{{"code":{code}}}', '{{"code":"{code}"}}', "{code}"])
def test_require_success_raises_the_class_for_the_code(
    code: int, cls: type[MasgsmError], exit_code: int, spelling: str
) -> None:
    body = spelling.format(code=code)
    with pytest.raises(MasgsmError) as caught:
        require_success(body)
    error = caught.value
    assert type(error) is cls
    assert error.code == code
    assert error.raw == body
    assert error.exit_code == exit_code
    assert repr(body) in str(error)


@pytest.mark.parametrize(("code", "cls", "exit_code"), ERROR_CLASSES)
def test_error_for_code(code: int, cls: type[MasgsmError], exit_code: int) -> None:
    error = error_for_code(code, raw="raw body")
    assert type(error) is cls
    assert error.code == code
    assert error.raw == "raw body"
    assert isinstance(error, UsageError) is (exit_code == 2)
    assert str(code) in error.message


def test_error_codes_are_the_documented_failures() -> None:
    assert frozenset({0, 2, 400, 401, 402, 403, 405}) == ERROR_CODES


def test_banned_title_is_caught_as_a_title_error() -> None:
    with pytest.raises(TitleError):
        require_success('{"code":403}')


def test_load_json() -> None:
    assert load_json('{"Iletilen":["5321111111"],"Hatali":[],"Bekleyen":[]}') == {
        "Iletilen": ["5321111111"],
        "Hatali": [],
        "Bekleyen": [],
    }
    with pytest.raises(UnexpectedAnswerError) as caught:
        load_json("<html>")
    assert caught.value.raw == "<html>"


# --- MasgsmError ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (None, "Something failed."),
        ("", "Something failed. Raw answer: ''"),
        ("<html>", "Something failed. Raw answer: '<html>'"),
        ("x" * 500, "Something failed. Raw answer: '" + "x" * 500 + "'"),
        ("x" * 501, "Something failed. Raw answer: '" + "x" * 500 + "...'"),
    ],
)
def test_error_str_shows_the_raw_answer_cut_at_500(raw: str | None, shown: str) -> None:
    assert str(MasgsmError("Something failed.", raw=raw)) == shown


# --- redact -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "redacted"),
    [
        ("p=PAROLA", "PAROLA", "p=***"),
        ("u=1&p=PAROLA&x=PAROLA", "PAROLA", "u=1&p=***&x=***"),
        ("p=gizli şifre", "gizli şifre", "p=***"),  # plain
        ("p=gizli+%C5%9Fifre", "gizli şifre", "p=***"),  # quote_plus (form body)
        ("p=gizli%20%C5%9Fifre", "gizli şifre", "p=***"),  # quote (URL path or query)
        ("p=a%2Bb%26c", "a+b&c", "p=***"),
        ("p=a+b&c", "a+b&c", "p=***"),
        ("p=a~b", "a~b", "p=***"),  # quote leaves ~ bare
        ("p=a%7Eb", "a~b", "p=***"),  # PHP's urlencode (our form bodies) does not
        ("p=a%7Eb+c", "a~b c", "p=***"),
        ("p=a%7Eb%20c", "a~b c", "p=***"),
        ("p=%2525", "%25", "p=***"),  # the secret is inside its own spelling: longest goes first
        ("p=%25", "%25", "p=***"),
        ('{"p": "w\\u00f6rd"}', "wörd", '{"p": "***"}'),  # JSON, ensure_ascii
        ('{"p": "w\\u00F6rd"}', "wörd", '{"p": "***"}'),  # either case of hex
        ('{"p": "a\\/b"}', "a/b", '{"p": "***"}'),  # PHP's json_encode escapes /
        ('{"p": "\\u0061\\/\\"q"}', 'a/"q', '{"p": "***"}'),  # every character escaped
        ('{"p": "\\ud83d\\ude00x"}', "\U0001f600x", '{"p": "***"}'),  # a surrogate pair
        ('{"p": "w\\u00f6rdx"}', "wörd", '{"p": "***x"}'),
        ("a\\b", "a\\b", "***"),  # a backslash in the secret itself
        ("nothing here", "PAROLA", "nothing here"),
        ("p=PAROLA", None, "p=PAROLA"),
        ("p=PAROLA", "", "p=PAROLA"),
        ("", "PAROLA", ""),
    ],
)
def test_redact(text: str, secret: str | None, redacted: str) -> None:
    assert redact(text, secret) == redacted


def test_redact_removes_the_password_from_a_whole_form_body() -> None:
    password = "P@ss w~rd*ş"
    body = http_build_query({"type": 4, "u": "5320000000", "p": password})
    assert body == "type=4&u=5320000000&p=P%40ss+w%7Erd%2A%C5%9F"
    assert redact(body, password) == "type=4&u=5320000000&p=***"


secrets = st.text(min_size=1, max_size=20).filter(lambda s: "*" not in s)


@given(secrets, st.text(max_size=20), st.text(max_size=20), st.data())
def test_redact_leaves_no_spelling_of_the_secret(
    secret: str, before: str, after: str, data: st.DataObject
) -> None:
    spellings = [
        secret,
        quote_plus(secret, safe=""),
        quote(secret, safe=""),
        php_urlencode(secret),
        quote(secret, safe="").replace("~", "%7E"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    ]
    spelling = data.draw(st.sampled_from(spellings))
    result = redact(before + spelling + after, secret)
    for form in spellings:
        assert form not in result
