"""Logging set-up for the command line, with secrets scrubbed from every record.

The client already keeps the password out of what it logs, but other libraries log too (urllib3
prints request URLs at debug level, and the GET method carries the password in its URL). A filter
on the handler is the one place that sees every record, whoever wrote it. Secrets are registered
process-wide by whatever learns them (a client when it is built), so the filter knows a password
even when it came from a pipeline file read after logging was set up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, quote_plus

from .state.paths import private_file

_SECRETS: set[str] = set()


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text in every spelling a URL or form body could give it."""
    if not secret or not text:
        return text
    encoded = {quote_plus(secret, safe=""), quote(secret, safe="")}
    # PHP's urlencode (the form bodies, see wire.php_urlencode) also escapes `~` as `%7E`.
    forms = {secret} | encoded | {form.replace("~", "%7E") for form in encoded}
    # Longest first, so a spelling that contains another is removed whole, whatever the set order.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def remember_secret(secret: str | None) -> None:
    """Have every log handler set up here scrub `secret` from now on."""
    if secret:
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    """`text` with every remembered secret replaced by `***`."""
    for secret in _SECRETS:
        text = redact(text, secret)
    return text


class RedactSecrets(logging.Filter):
    """Replace each remembered secret in a record's final message (and traceback) with `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(verbosity: int, log_file: Path | None = None) -> None:
    """Warnings by default, info with -v, debug with -vv; to stderr, or to a file if given
    (owner-only: a log at debug level holds numbers and texts)."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler: logging.Handler = (
        logging.FileHandler(private_file(log_file), encoding="utf-8")
        if log_file
        else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
