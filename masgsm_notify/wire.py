"""The bytes MASGSM expects, and the answers it gives back.

The provider's sample client builds bodies with PHP's `http_build_query`, so that is the wire
format: UTF-8, RFC 1738 escaping (space as `+`, only letters, digits and `-_.` left bare), nested
arrays as `key[0]=` / `key[name]=` with the brackets escaped. Answers are parsed tolerantly (a code
as a number, a string, or the whole body) because the document does not pin them down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote_plus

from .errors import UnexpectedAnswerError, error_for_code

Fields = Mapping[str, Any]


_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _escape(char: str) -> str:
    if char in _BARE:
        return char
    return "+" if char == " " else "".join(f"%{byte:02X}" for byte in char.encode())


# Escapes for every character up to Latin Extended-B (all of Turkish), for str.translate.
_LATIN_ESCAPES = [_escape(chr(code)) for code in range(0x250)]


def php_urlencode(value: str) -> str:
    """PHP's `urlencode`: like `quote_plus`, but `~` is escaped too.

    It runs once per message of every batch, so the common case is one C-level `translate`;
    characters beyond the table are left as they are by `translate`, which `isascii` notices.
    """
    encoded = value.translate(_LATIN_ESCAPES)
    if encoded.isascii():
        return encoded
    return quote_plus(value, safe="").replace("~", "%7E")


class Escaped(list):
    """Texts already written as `php_urlencode` writes them (a pipeline escapes its texts while
    planning, on every core): `http_build_query` puts them in the body as they are."""


def _pairs(key: str, value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for sub, item in value.items():
            yield from _pairs(f"{key}[{sub}]", item)
    elif isinstance(value, (list, tuple)):
        # A type-1 send's `message[i]`, 500 texts a batch: the key is encoded once (`[` and `]`
        # are `%5B` and `%5D`, digits stay bare) instead of once per text.
        escaped = php_urlencode(key)
        escape = str if isinstance(value, Escaped) else php_urlencode
        for index, item in enumerate(value):
            if type(item) is str:
                yield f"{escaped}%5B{index}%5D={escape(item)}"
            else:
                yield from _pairs(f"{key}[{index}]", item)
    elif isinstance(value, bool):  # PHP writes true and false as 1 and 0
        yield f"{php_urlencode(key)}={int(value)}"
    elif value is not None:
        yield f"{php_urlencode(key)}={php_urlencode(str(value))}"


def http_build_query(fields: Fields) -> str:
    """Encode fields exactly as PHP's `http_build_query` does (None values are left out)."""
    return "&".join(pair for key, value in fields.items() for pair in _pairs(key, value))


def load_json(body: str) -> Any:
    """Parse a JSON answer, or raise an error that carries the body."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested (e.g. truncated) JSON
        raise UnexpectedAnswerError(
            "MASGSM answered with something that is not JSON.", raw=body
        ) from None


def _as_code(text: str) -> int | None:
    """`text` as an integer when it is ASCII digits with an optional leading minus, else None."""
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than int() accepts
        return None


def answer_code(body: str) -> tuple[int, dict[str, Any]]:
    """The code of an answer and the rest of it: `{"code": 1, ...}`, `{"code": "1"}` or `1`."""
    text = body.strip()
    code = _as_code(text)
    if code is not None:
        return code, {}
    try:
        data = load_json(text) if text else None
    except UnexpectedAnswerError as exc:
        raise UnexpectedAnswerError(exc.message, raw=body) from None
    if isinstance(data, int) and not isinstance(data, bool):
        return data, {}
    if isinstance(data, dict) and "code" in data:
        code = _as_code(str(data["code"]).strip())
        if code is not None:
            return code, data
    raise UnexpectedAnswerError("MASGSM answered without the code this request expects.", raw=body)


def require_success(body: str) -> tuple[int, dict[str, Any]]:
    """Like `answer_code`, but an error code raises its exception."""
    code, data = answer_code(body)
    if code not in (1, 3):
        raise error_for_code(code, raw=body)
    return code, data
