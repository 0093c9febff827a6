"""Logging set-up for the command line, with secrets scrubbed from every record.

The client already keeps the password out of what it logs, but other libraries log too (urllib3
prints request URLs at debug level, and the GET method carries the password in its URL). A filter
on the handler is the one place that sees every record, whoever wrote it. Secrets are registered
process-wide by whatever learns them (a client when it is built), so the filter knows a password
even when it came from a pipeline file read after logging was set up.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

from .privacy import mask_numbers_in
from .state.paths import private_file

_SECRETS: set[str] = set()
_masking_numbers = False


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text in every spelling a URL, a form body or JSON could give it."""
    if not secret or not text:
        return text
    if "\\" in text:  # every JSON escape has a backslash: most texts skip the pattern
        text = _json_spellings(secret).sub("***", text)
    encoded = {quote_plus(secret, safe=""), quote(secret, safe="")}
    # PHP's urlencode (the form bodies, see wire.php_urlencode) also escapes `~` as `%7E`.
    forms = {secret} | encoded | {form.replace("~", "%7E") for form in encoded}
    # Longest first, so a spelling that contains another is removed whole, whatever the set order.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


# The short escapes JSON has besides \uXXXX; PHP's json_encode also writes `/` as `\/`.
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


@functools.lru_cache(maxsize=64)
def _json_spellings(secret: str) -> re.Pattern[str]:
    """A pattern for the secret as a JSON answer may echo it: any character as itself, as
    `\\uXXXX` in either case (a surrogate pair beyond U+FFFF), or as its short escape."""
    parts = []
    for char in secret:
        code = ord(char)
        if code > 0xFFFF:
            high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
            escaped = rf"\\u(?i:{high:04x})\\u(?i:{low:04x})"
        else:
            escaped = rf"\\u(?i:{code:04x})"
        options = [re.escape(char), escaped]
        if char in _JSON_ESCAPES:
            options.append(re.escape(_JSON_ESCAPES[char]))
        parts.append(f"(?:{'|'.join(options)})")
    return re.compile("".join(parts))


def remember_secret(secret: str | None) -> None:
    """Have every log handler set up here scrub `secret` from now on."""
    if secret:
        _SECRETS.add(secret)


def mask_numbers(on: bool = True) -> None:
    """Have every log record and error shown from now on mask phone numbers (`privacy: mask`,
    `--mask`): a log is read by more people than the journal."""
    global _masking_numbers
    _masking_numbers = on


def scrub(text: str) -> str:
    """`text` with every remembered secret replaced by `***` (and numbers masked, if asked)."""
    for secret in _SECRETS:
        text = redact(text, secret)
    return mask_numbers_in(text) if _masking_numbers else text


class RedactSecrets(logging.Filter):
    """Replace each remembered secret in a record's final message (and traceback) with `***`,
    and mask phone numbers when `mask_numbers` was asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_HANDLER_NAME = "masgsm-notify"  # the handler set up here, closed when it is replaced


def configure_logging(verbosity: int, log_file: Path | None = None, quiet: bool = False) -> None:
    """Warnings by default, info with -v, debug with -vv, errors only with -q (and no -v); to
    stderr, or to a file if given (owner-only: a log at debug level holds numbers and texts).
    Called again when options after the command add to them."""
    level = {0: logging.ERROR if quiet else logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG
    )
    handler: logging.Handler = (
        logging.FileHandler(private_file(log_file), encoding="utf-8")
        if log_file
        else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in root.handlers:
        if old.get_name() == _HANDLER_NAME:
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
