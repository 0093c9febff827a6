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


def php_urlencode(value: str) -> str:
    """PHP's `urlencode`: like `quote_plus`, but `~` is escaped too."""
    return quote_plus(value, safe="").replace("~", "%7E")


def _pairs(key: str, value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for sub, item in value.items():
            yield from _pairs(f"{key}[{sub}]", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _pairs(f"{key}[{index}]", item)
    elif value is not None:
        yield f"{php_urlencode(key)}={php_urlencode(str(value))}"


def http_build_query(fields: Fields) -> str:
    """Encode fields exactly as PHP's `http_build_query` does (None values are left out)."""
    return "&".join(pair for key, value in fields.items() for pair in _pairs(key, value))


def load_json(body: str) -> Any:
    """Parse a JSON answer, or raise an error that carries the body."""
    try:
        return json.loads(body)
    except ValueError:
        raise UnexpectedAnswerError(
            "MASGSM answered with something that is not JSON.", raw=body
        ) from None


def answer_code(body: str) -> tuple[int, dict[str, Any]]:
    """The code of an answer and the rest of it: `{"code": 1, ...}`, `{"code": "1"}` or `1`."""
    text = body.strip()
    if text.lstrip("-").isdigit():
        return int(text), {}
    data = load_json(text) if text else None
    if isinstance(data, int) and not isinstance(data, bool):
        return data, {}
    if isinstance(data, dict) and "code" in data:
        code = str(data["code"]).strip()
        if code.lstrip("-").isdigit():
            return int(code), data
    raise UnexpectedAnswerError("MASGSM answered without the code this request expects.", raw=body)


def require_success(body: str) -> tuple[int, dict[str, Any]]:
    """Like `answer_code`, but an error code raises its exception."""
    code, data = answer_code(body)
    if code not in (1, 3):
        raise error_for_code(code, raw=body)
    return code, data
