"""One exception family for everything that can go wrong talking to MASGSM.

Callers catch `MasgsmError` for "anything", or a subclass for what they must do next: fix the
credentials, fix the title, top up the balance, fix the numbers, retry later. Every error has a
message a person can act on and an `exit_code` the CLI uses (2: the user's input or settings are
wrong and nothing was sent; 1: a runtime failure; 4: the send window is closed, try later).
"""

from __future__ import annotations

from collections.abc import Iterable


class MasgsmError(Exception):
    """Base of every error raised by masgsm_notify."""

    exit_code = 1

    def __init__(self, message: str, *, code: int | None = None, raw: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.raw = raw

    def __reduce__(self) -> tuple:
        """Pickled with every attribute (a worker process hands back a row's RenderError):
        the subclasses' own `__init__` signatures differ, so it is not called again."""
        return (_restore, (type(self), self.args, self.__dict__.copy()))

    def __str__(self) -> str:
        if self.raw is None:
            return self.message
        shown = self.raw if len(self.raw) <= 500 else self.raw[:500] + "..."
        return f"{self.message} Raw answer: {shown!r}"


def _restore(cls: type[MasgsmError], args: tuple, state: dict) -> MasgsmError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class UsageError(MasgsmError):
    """The caller's input or settings are wrong; nothing was sent."""

    exit_code = 2


class InvalidNumberError(UsageError, ValueError):
    """A phone number is not a Turkish mobile number."""

    def __init__(self, value: str, reason: str):
        super().__init__(f"{value!r} is not a Turkish mobile number: {reason}.", code=405)
        self.value = value
        self.reason = reason


class UnreadableValueError(UsageError, ValueError):
    """A filter could not read a value as a number or a date (`money`, `float`, `int`, `date`).

    Raised while a template renders; it carries the filter's name and the value itself, so the
    row's error can name the field that held it.
    """

    def __init__(self, reader: str, problem: str, value: object):
        super().__init__(f"{reader}: {problem}")
        self.reader = reader
        self.value = value


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


class EmptyReportError(MasgsmError):
    """A delivery report lists no numbers at all: no send of this account has that id (or the
    provider has not listed it yet). Not the caller's syntax, so a runtime failure (exit 1)."""


class SettingError(UsageError, ValueError):
    """A service setting (of a masgsm:// URL or the environment) is invalid; the message names
    the part, never the password."""


class ConfigError(UsageError):
    """The config file (or a password file it names) is wrong; the message names the file."""


class MissingCredentialsError(UsageError):
    """No user code or no password from any source: options, the environment, the config file
    (or the password file named is not there). A dry run may go on without them. `unset` names
    the settings nothing gave ("user", "password"), so a command can add its own options."""

    def __init__(self, message: str, unset: tuple[str, ...] = ()):
        super().__init__(message)
        self.unset = unset


class YamlError(UsageError):
    """A YAML file could not be read or parsed."""


class PipelineError(UsageError):
    """The pipeline file is wrong; the message starts with file:line:column."""


class SourceError(UsageError):
    """Recipients could not be read; the message names the file and line."""


class RenderError(UsageError):
    """A template failed to compile or to render; `where` names the template line and the row.

    `without_data` is the message without anything taken from the row's values (a filter's
    complaint quotes the value it got), for callers that must not show a file's content.
    """

    def __init__(self, message: str, where: str = "", *, without_data: str | None = None):
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        hidden = message if without_data is None else without_data
        self.without_data = f"{where}: {hidden}" if where else hidden


class TemplateLimitError(UsageError):
    """A render would go past one of its limits (`limits:` of a pipeline). Raised inside Jinja,
    before the oversized text is built; `render` turns it into a RenderError naming the row and
    the template line."""


class JournalBusyError(MasgsmError):
    """Another process holds the journal: two senders must never share one."""


class PluginError(MasgsmError):
    """A plugin hook failed before a batch left; nothing of that batch was sent."""


class StorageError(MasgsmError):
    """A file the project keeps (a journal, the sent ledger, an export, a log) could not be
    read or written: a full disk, a lock held too long, a read-only file or folder, a denied
    permission. The message names the file and what to do; `problem` names the cause in a word
    or two ("full", "busy", "read-only", "permission", "io", ...), for callers that react."""

    def __init__(self, message: str, *, path: str = "", problem: str = "other"):
        super().__init__(message)
        self.path = path
        self.problem = problem


class RunStoppedError(MasgsmError):
    """A run stopped before it sent everything it planned; a later run of the same run key
    resumes it. The runner adds where the run stands and the command that resumes it."""


class ProviderDownError(RunStoppedError):
    """MASGSM could not be reached for `send.give_up_after` in a row, across every request."""


class SpendingLimitError(RunStoppedError, UsageError):
    """The plan, or the next batch, would take the run past `send.max_credits`."""


class InterruptedRunError(RunStoppedError):
    """SIGINT or SIGTERM stopped a run that had begun to send (exit 128 + the signal)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM before anything was sent: raised wherever the run is, like
    KeyboardInterrupt (so no `except Exception` on the way mistakes it for a failure)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.message = message
        self.exit_code = 128 + signum


class TransportError(MasgsmError):
    """The request did not get a usable answer (network failure, HTTP error, timeout)."""

    #: True when the provider may have recorded the send: re-sending could duplicate it.
    ambiguous = True


class SafeToRetryError(TransportError):
    """The provider cannot have recorded the request (connection refused, HTTP 503).

    `reason` says why in a few words ("connection refused", "HTTP 503") and `where` names the
    host and port, for a person told that the provider is unreachable.
    """

    ambiguous = False

    def __init__(self, message: str, *, reason: str = "", where: str = "", raw: str | None = None):
        super().__init__(message, raw=raw)
        self.reason = reason
        self.where = where


class OutcomeUnknownError(TransportError):
    """The request left, but no answer came back: the send may or may not have happened."""


class UnreadableSendAnswerError(OutcomeUnknownError, UnexpectedAnswerError):
    """A send was answered with something unreadable: an HTML error page, an empty or truncated
    body, an unknown code. The provider may have recorded the send (`{"code":1,"id":"12` was
    cut short after it did), so, like a lost answer, its outcome is unknown: never re-send it
    silently."""


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


def did_you_mean(key: str, choices: Iterable[str], otherwise: str) -> str:
    """The end of an "unknown key" message: the likely key when `key` looks like a typo of one,
    else `otherwise` (the keys to choose from). `difflib` is imported here, so only a mistake
    pays for loading it."""
    import difflib

    close = difflib.get_close_matches(key, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else otherwise


def error_for_code(code: int, raw: str | None = None) -> MasgsmError:
    """The exception that an answer code stands for (codes 1 and 3 are not errors)."""
    cls, message = _BY_CODE.get(
        code, (UnexpectedAnswerError, f"MASGSM answered with unknown code {code}.")
    )
    return cls(message, code=code, raw=raw)


class SendWindowClosedError(MasgsmError):
    """The pipeline's `send.window` is closed: nothing (more) is sent now, and a re-run inside
    the window sends the rest. Not a failure of the run, a "try later" (exit 4)."""

    exit_code = 4
