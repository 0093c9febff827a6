"""One exception family for everything that can go wrong talking to MASGSM.

Callers catch `MasgsmError` for "anything", or a subclass for what they must do next: fix the
credentials, fix the title, top up the balance, fix the numbers, retry later. Every error has a
message a person can act on and an `exit_code` the CLI uses (2: the user's input or settings are
wrong and nothing was sent; 1: a runtime failure).
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus


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


class MasgsmError(Exception):
    """Base of every error raised by masgsm_notify."""

    exit_code = 1

    def __init__(self, message: str, *, code: int | None = None, raw: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.raw = raw

    def __str__(self) -> str:
        if self.raw is None:
            return self.message
        shown = self.raw if len(self.raw) <= 500 else self.raw[:500] + "..."
        return f"{self.message} Raw answer: {shown!r}"


class UsageError(MasgsmError):
    """The caller's input or settings are wrong; nothing was sent."""

    exit_code = 2


class InvalidNumberError(UsageError, ValueError):
    """A phone number is not a Turkish mobile number."""

    def __init__(self, value: str, reason: str):
        super().__init__(f"{value!r} is not a Turkish mobile number: {reason}.", code=405)
        self.value = value
        self.reason = reason


class MissingParameterError(UsageError):
    """Answer 400: the request lacked the user, password, message, title or numbers."""


class CredentialsError(UsageError):
    """Answer 401: the user code or password is wrong. No further request can succeed."""


class TitleError(UsageError):
    """Answer 402: the title (sender ID) is not registered to the account."""


class BannedTitleError(TitleError):
    """Answer 403: the title is banned."""


class NumberFormatError(UsageError):
    """Answer 405: the provider rejected the format of a number."""


class SendError(MasgsmError):
    """Answer 0: the provider refused to send."""


class InsufficientBalanceError(MasgsmError):
    """Answer 2, or a pre-flight check: the balance does not cover the send."""


class UnexpectedAnswerError(MasgsmError):
    """The provider answered something this client does not understand."""


class TransportError(MasgsmError):
    """The request did not get a usable answer (network failure, HTTP error, timeout)."""

    #: True when the provider may have recorded the send: re-sending could duplicate it.
    ambiguous = True


class SafeToRetryError(TransportError):
    """The provider cannot have recorded the request (connection refused, HTTP 503)."""

    ambiguous = False


class OutcomeUnknownError(TransportError):
    """The request left, but no answer came back: the send may or may not have happened."""


_BY_CODE: dict[int, tuple[type[MasgsmError], str]] = {
    0: (SendError, "MASGSM refused to send the message (answer 0, sending error)."),
    2: (
        InsufficientBalanceError,
        "The account balance is too low for this send; nothing was sent (answer 2). "
        "Top up the account, then send again.",
    ),
    400: (
        MissingParameterError,
        "MASGSM says a parameter is missing (answer 400): the user, password, message, "
        "title or numbers were empty.",
    ),
    401: (
        CredentialsError,
        "MASGSM rejected the user code or password (answer 401). Check MASGSM_USER and "
        "MASGSM_PASSWORD (or the service URL).",
    ),
    402: (
        TitleError,
        "MASGSM rejected the title (sender ID) as wrong or unregistered (answer 402). "
        "Use a title registered to the account (`masgsm-notify titles` lists them).",
    ),
    403: (
        BannedTitleError,
        "MASGSM says the title (sender ID) is banned (answer 403). Use another registered title.",
    ),
    405: (
        NumberFormatError,
        "MASGSM rejected a number format (answer 405); numbers must look like 5xxxxxxxxx.",
    ),
}


ERROR_CODES = frozenset(_BY_CODE)


def error_for_code(code: int, raw: str | None = None) -> MasgsmError:
    """The exception that an answer code stands for (codes 1 and 3 are not errors)."""
    cls, message = _BY_CODE.get(
        code, (UnexpectedAnswerError, f"MASGSM answered with unknown code {code}.")
    )
    return cls(message, code=code, raw=raw)
