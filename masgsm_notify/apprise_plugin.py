"""MASGSM as an Apprise service: `masgsm://USER:PASSWORD@TITLE/N1/N2?lang=tr`.

`NotifyMasGSM` is written the way Apprise's own SMS services are (BulkSMS, ClickSend): the URL's
shape is declared as data (`templates`, `template_tokens`, `template_args`), from which Apprise
derives its `--details` listing; `__init__` validates once; `send()` only sends; `url()` and
`parse_url()` are inverses. The HTTP work is done by `MasgsmClient`, so Apprise and the rest of
the project speak to MASGSM in exactly one way.

URL forms (the title is the sender ID, "başlık"):

    masgsm://USER:PASSWORD@TITLE/N1/N2/...     numbers in the path, any common Turkish form
    masgsm://USER:PASSWORD@/N1/N2              no title: MASGSM_TITLE from the environment
    masgsm://USER:PASSWORD@/N1?title=MY%20FIRM  a title that cannot sit in the host slot
    masgsm://USER:PASSWORD@TITLE/?contacts=customers.csv   personalised (see below)

`masgsm://` talks to `http://masgsm.com.tr/MasApiV2` (the provider's documented URL),
`masgsms://` to the same over https; `base=` overrides either (the sandbox, a proxy).

Personalised mode is the reason this project exists: with `contacts=` (a CSV or JSON-lines file,
one recipient a row, `number=` naming the number field) the Apprise body is a Jinja template,
rendered once per row in the same sandboxed, `StrictUndefined` environment the pipelines use, and
the texts go out as type-1 batches. Every row is rendered and checked before the first request,
so a template error or a bad number in row 4,711 stops the send while nothing has gone out.

Importing `masgsm_notify` calls `register()`, which maps both schemas to `NotifyMasGSM` in
Apprise's plugin manager. Programs that do not import the package (the `apprise` command,
apprise-api) find it through a loader file that `masgsm-notify apprise install` writes into an
Apprise plugin directory; `install_loader` and `uninstall_loader` below do that work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from apprise.common import NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.locale import gettext_lazy as _
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase
from apprise.url import PrivacyMode
from apprise.utils.parse import parse_phone_no

from . import numbers as phone
from .client import DEFAULT_BASE_URL, LANGS, MAX_BATCH, MasgsmClient, SendResult
from .errors import (
    InvalidNumberError,
    MasgsmError,
    TransportError,
    UnexpectedAnswerError,
    UsageError,
    redact,
)
from .logs import RedactSecrets, remember_secret

SCHEMAS = ("masgsm", "masgsms")
DEFAULT_HTTPS_BASE_URL = "https://" + DEFAULT_BASE_URL.split("://", 1)[1]
METHODS = ("post", "get")
PROJECT_URL = "https://pypi.org/project/masgsm-notify/"

DEFAULT_BATCH = 500

# An alphanumeric sender ID is at most 11 characters (GSM 03.40); the provider checks the rest.
TITLE_RE = re.compile(r"^[\w .&'-]{1,11}$")
CONTACT_FIELD_RE = re.compile(r"^[^\s]+$")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")

# How many problem rows a refused personalised send lists before summarising the rest.
SHOWN_PROBLEMS = 10


class SettingError(ValueError):
    """A service setting is invalid; the message names the part (never the password)."""


# -- settings shared by the Apprise service and `service.Service` ------------------------------


def default_base_url(secure: bool) -> str:
    """The API base URL a schema stands for: http for masgsm://, https for masgsms://."""
    return DEFAULT_HTTPS_BASE_URL if secure else DEFAULT_BASE_URL


def check_settings(
    *,
    user: str | None,
    password: str | None,
    title: str | None,
    base: str | None,
    lang: str | None,
    method: str | None,
    secure: bool,
) -> dict[str, Any]:
    """Validate the account settings of a masgsm:// URL; raise `SettingError` naming the bad part.

    One function for the Apprise service and for pipelines (`Service.from_url`), so a URL means
    the same thing in both. A missing title falls back to MASGSM_TITLE, then to None (the caller
    decides whether that is acceptable).
    """
    if not user or not password:
        raise SettingError(
            "A MASGSM user code and password are both required: "
            "masgsm://USER:PASSWORD@TITLE/NUMBER."
        )
    remember_secret(password)
    title = (title or "").strip() or os.environ.get("MASGSM_TITLE", "").strip() or None
    if title is not None and not TITLE_RE.match(title):
        raise SettingError(
            f"The MASGSM title (sender ID) {title!r} is invalid: it must be 1 to 11 letters, "
            "digits, spaces or . & ' - _ characters."
        )
    lang = (lang or "auto").strip().lower()
    if lang not in LANGS:
        raise SettingError(f"The MASGSM lang ({lang}) is invalid: use one of {', '.join(LANGS)}.")
    method = (method or "post").strip().lower()
    if method not in METHODS:
        raise SettingError(
            f"The MASGSM method ({method}) is invalid: use one of {', '.join(METHODS)}."
        )
    if method == "get" and lang == "tr":
        raise SettingError(
            "The MASGSM GET method sends plain text only, so lang=tr needs method=post."
        )
    base_url = (base or "").strip() or default_base_url(secure)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(
            f"The MASGSM base URL ({redact(base_url, password)}) is invalid: it must look like "
            f"{DEFAULT_BASE_URL}."
        )
    return {
        "user": user,
        "password": password,
        "title": title,
        "base_url": base_url.rstrip("/"),
        "lang": lang,
        "method": method,
    }


def check_batch(value: Any) -> int:
    """Numbers per request, 1 to MAX_BATCH."""
    if value is None or value == "":
        return DEFAULT_BATCH
    try:
        batch = int(str(value).strip())
    except ValueError:
        raise SettingError(f"The MASGSM batch ({value}) is not a whole number.") from None
    if not 1 <= batch <= MAX_BATCH:
        raise SettingError(f"The MASGSM batch ({value}) must be between 1 and {MAX_BATCH}.")
    return batch


def assemble_url(
    *,
    secure: bool,
    user: str,
    password: str,
    title: str | None,
    targets: Sequence[str],
    params: Mapping[str, str],
    privacy: bool,
) -> str:
    """Build a masgsm:// URL; the password shows as `****` when `privacy` is set."""
    return "{schema}://{user}:{password}@{title}/{targets}{query}".format(
        schema=SCHEMAS[1] if secure else SCHEMAS[0],
        user=NotifyBase.quote(user, safe=""),
        password=NotifyBase.pprint(password, privacy, mode=PrivacyMode.Secret, safe=""),
        title=NotifyBase.quote(title or "", safe=""),
        targets="/".join(NotifyBase.quote(t, safe="") for t in targets),
        query="?" + NotifyBase.urlencode(params) if params else "",
    )


def parse_service_url(url: str) -> dict[str, Any] | None:
    """Apprise's parse of a masgsm:// URL, with this service's parts picked out.

    Returns None when the URL cannot be parsed at all. The title comes from `?title=` (or
    `?from=`), else the host slot; targets from the path and `?to=`.
    """
    results = NotifyBase.parse_url(url, verify_host=False)
    if not results:
        return results
    qsd = results.get("qsd") or {}
    if results.get("password"):
        # Known before Apprise logs the parsed URL at trace level, so that record is scrubbed.
        remember_secret(NotifyBase.unquote(results["password"]))
        protect_apprise_log()
    results["title"] = (
        NotifyBase.unquote(qsd.get("title") or qsd.get("from") or results.get("host") or "") or None
    )
    results["targets"] = NotifyBase.split_path(results.get("fullpath"))
    if qsd.get("to"):
        results["targets"] += NotifyBase.parse_phone_no(qsd["to"])
    for key in ("lang", "method", "base", "batch", "contacts", "number"):
        if qsd.get(key):
            results[key] = NotifyBase.unquote(qsd[key])
    return results


_PROTECTED = False


def protect_apprise_log() -> None:
    """Scrub remembered passwords from everything Apprise logs (idempotent).

    At `-vvvv` Apprise logs each URL it parses, raw, before any plugin sees it; a filter on its
    logger (the one every Apprise module logs through) replaces the password with `***`.
    """
    global _PROTECTED
    if not _PROTECTED:
        NotifyBase.logger.addFilter(RedactSecrets())
        _PROTECTED = True


# -- the Apprise service -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Contact:
    where: str
    number: str
    text: str


class NotifyMasGSM(NotifyBase):
    """SMS through MASGSM: one text to many numbers, or one rendered text per contact."""

    # The default descriptive name associated with the Notification
    service_name = "MASGSM"

    # The services URL
    service_url = "https://www.masgsm.com.tr/"

    # masgsm:// talks to the provider over http (its documented URL), masgsms:// over https
    protocol = SCHEMAS[0]
    secure_protocol = SCHEMAS[1]

    # A URL that takes you to the setup/help of the specific protocol
    setup_url = PROJECT_URL

    # Loaded from outside Apprise's own plugin folder
    category = "custom"

    # One request per batch; a short pause between batches is polite to the provider
    request_rate_per_sec = 0.2

    # The provider's sample client waits 30 s for an answer. Giving up sooner does not stop a
    # send, it only makes its outcome unknown, so the longer wait is the safer one.
    socket_read_timeout = 30.0

    # A title can not be used for SMS Messages.  Setting this to zero will
    # cause any title (if defined) to get placed into the message body.
    title_maxlen = 0

    # Six concatenated GSM 7-bit segments (6 x 153): long enough for any notice, short enough
    # that `overflow=split` never asks MASGSM for a message that costs more than six credits a
    # number (Turkish-shift and UCS-2 text fit fewer characters; text.py counts exactly).
    body_maxlen = 918

    # Define object templates
    templates = (
        "{schema}://{user}:{password}@{title}/{targets}",
        "{schema}://{user}:{password}@/{targets}",
        "{schema}://{user}:{password}@{title}",
    )

    # Define our template tokens
    template_tokens: ClassVar[dict[str, dict[str, Any]]] = dict(
        NotifyBase.template_tokens,
        **{
            "user": {
                "name": _("User Code"),
                "type": "string",
                "required": True,
            },
            "password": {
                "name": _("Password"),
                "type": "string",
                "private": True,
                "required": True,
            },
            "title": {
                "name": _("Title (Sender ID)"),
                "type": "string",
                "regex": (TITLE_RE.pattern, "i"),
            },
            "target_phone": {
                "name": _("Target Phone No"),
                "type": "string",
                "regex": (r"^[0-9\s)(+-]+$", "i"),
                "map_to": "targets",
            },
            "targets": {
                "name": _("Targets"),
                "type": "list:string",
            },
        },
    )

    # Define our template arguments
    template_args: ClassVar[dict[str, dict[str, Any]]] = dict(
        NotifyBase.template_args,
        **{
            "to": {
                "alias_of": "targets",
            },
            "title": {
                "alias_of": "title",
            },
            "from": {
                "alias_of": "title",
            },
            "lang": {
                "name": _("Language"),
                "type": "choice:string",
                "values": LANGS,
                "default": "auto",
            },
            "method": {
                "name": _("Method"),
                "type": "choice:string",
                "values": METHODS,
                "default": "post",
            },
            "base": {
                "name": _("API Base URL"),
                "type": "string",
                "default": DEFAULT_BASE_URL,
            },
            "batch": {
                "name": _("Numbers per Request"),
                "type": "int",
                "min": 1,
                "max": MAX_BATCH,
                "default": DEFAULT_BATCH,
            },
            "contacts": {
                "name": _("Contacts File (CSV or JSON lines)"),
                "type": "string",
            },
            "number": {
                "name": _("Contact Number Field"),
                "type": "string",
                "regex": (CONTACT_FIELD_RE.pattern, "i"),
                "default": "phone",
            },
        },
    )

    def __init__(
        self,
        targets: Sequence[str] | str | None = None,
        title: str | None = None,
        lang: str | None = None,
        method: str | None = None,
        base: str | None = None,
        batch: int | str | None = None,
        contacts: str | None = None,
        number: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Validate everything once; a bad part is logged by name, then refused."""
        super().__init__(**kwargs)
        try:
            settings = check_settings(
                user=self.user,
                password=self.password,
                title=title,
                base=base,
                lang=lang,
                method=method,
                secure=self.secure,
            )
            if settings["title"] is None:
                raise SettingError(
                    "No MASGSM title (sender ID): put it after the @ "
                    "(masgsm://USER:PASSWORD@TITLE/NUMBER), add ?title=, or set MASGSM_TITLE."
                )
            self.batch = check_batch(batch)
            self.contacts = (contacts or "").strip() or None
            self.number = (number or "").strip() or self.template_args["number"]["default"]
            if not CONTACT_FIELD_RE.match(self.number):
                raise SettingError(f"The MASGSM number field ({self.number!r}) is invalid.")
            if self.contacts and settings["method"] == "get":
                raise SettingError(
                    "MASGSM personalised sends (contacts=) use type 1, which only the POST "
                    "method has: drop method=get."
                )
            if self.contacts and not Path(self.contacts).expanduser().is_file():
                raise SettingError(f"The MASGSM contacts file ({self.contacts}) was not found.")
        except SettingError as error:
            self.logger.warning(str(error))
            raise AppriseImproperlyConfigured(str(error)) from None

        self.title = settings["title"]
        self.base_url = settings["base_url"]
        self.lang = settings["lang"]
        self.method = settings["method"]

        # Parse our targets: normalised, invalid ones dropped by name, duplicates sent once
        self.targets: list[str] = []
        for target in parse_phone_no(targets):
            try:
                number = phone.normalize(target)
            except InvalidNumberError as error:
                self.logger.warning(f"Dropped invalid MASGSM number: {error.message}")
                continue
            if number not in self.targets:
                self.targets.append(number)

        if self.contacts and self.targets:
            msg = (
                "A MASGSM URL takes numbers or a contacts file, not both: move the numbers "
                "into the contacts file."
            )
            self.logger.warning(msg)
            raise AppriseImproperlyConfigured(msg)
        if not self.contacts and not self.targets:
            msg = "There are no valid MASGSM numbers to send to."
            self.logger.warning(msg)
            raise AppriseImproperlyConfigured(msg)

    # -- sending ---------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> MasgsmClient:
        """The MASGSM client these settings describe (keyword arguments override them)."""
        session = requests.Session()
        session.verify = self.verify_certificate
        settings: dict[str, Any] = {
            "title": self.title,
            "base_url": self.base_url,
            "lang": self.lang,
            "timeout": self.request_timeout,
            "session": session,
        }
        settings.update(kwargs)
        return MasgsmClient(self.user, self.password, **settings)

    def send(
        self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any
    ) -> bool:
        """Send the text (type 0) or the per-contact texts (type 1) in batches.

        True only when MASGSM accepted every batch. The first refused batch stops the send,
        and the log says what went, what did not, and what to do. A send that certainly did not
        go out is logged as an error, so the `apprise` command shows it without `-v`.
        """
        if self.contacts:
            if int(kwargs.get("total") or 1) > 1:
                self.logger.error(
                    "MASGSM personalised send refused: the message template was split by "
                    "overflow=split, which would cut it apart; use overflow=upstream."
                )
                return False
            contacts = self._render_contacts(body)
            if contacts is None:
                return False
            numbers = [c.number for c in contacts]
            texts: list[str] | None = [c.text for c in contacts]
        else:
            numbers, texts = self.targets, None

        batches = [
            range(start, min(start + self.batch, len(numbers)))
            for start in range(0, len(numbers), self.batch)
        ]
        with self.client() as masgsm:
            for index, rows in enumerate(batches, start=1):
                if not self._send_batch(masgsm, index, len(batches), rows, numbers, texts, body):
                    self._log_unsent(batches[index:])
                    return False
        return True

    def _send_batch(
        self,
        masgsm: MasgsmClient,
        index: int,
        count: int,
        rows: range,
        numbers: Sequence[str],
        texts: Sequence[str] | None,
        body: str,
    ) -> bool:
        """Send one batch; True when MASGSM accepted all of it.

        A batch that went out, even partly or perhaps, is remembered, so Apprise's `retry=`
        sends only the batches that certainly did not go.
        """
        key = ("masgsm-batch", rows.start)
        shown = f"batch {index} of {count} ({_count(len(rows), 'number')})"
        if self.is_delivered(key):
            state = self.recall(key)
            if state == "accepted":
                return True
            self.logger.warning(f"MASGSM {shown} is not sent again: {state}.")
            return False
        batch_numbers = list(numbers[rows.start : rows.stop])
        kind = "type 1" if texts is not None else ("GET" if self.method == "get" else "type 0")
        self.logger.debug(f"MASGSM {shown}, {kind}, to {self.base_url}")
        self.throttle()
        try:
            if texts is not None:
                result = masgsm.send_personalised(batch_numbers, texts[rows.start : rows.stop])
            elif self.method == "get":
                result = masgsm.send_get(batch_numbers, body)
            else:
                result = masgsm.send(batch_numbers, body)
        except (TransportError, UnexpectedAnswerError) as error:
            self.logger.debug(f"MASGSM answer: {error.raw!r}")
            if isinstance(error, TransportError) and not error.ambiguous:
                # Certainly not recorded: worth a retry (Apprise's retry= does one).
                self.logger.warning(f"MASGSM did not send {shown}: {error.message}")
                return False
            self.logger.warning(
                f"MASGSM {shown} has an unknown outcome: {error.message} "
                "It is not sent again automatically, so nobody gets it twice."
            )
            self._remember(key, "its outcome was unknown")
            return False
        except MasgsmError as error:
            # Nothing of this batch went out; the user has to act (credentials, title, balance).
            self.logger.debug(f"MASGSM answer: {error.raw!r}")
            self.logger.error(f"MASGSM did not send {shown}: {error.message}")
            return False

        if result.partial:
            went = self._accepted_count(masgsm, result)
            self.logger.warning(
                f"MASGSM sent only {went} of {len(rows)} messages of {shown}: the balance ran out "
                f"(answer 3, message id {result.message_id}). Top up the account; "
                f"`masgsm-notify report {result.message_id}` lists the numbers that got it."
            )
            self._remember(key, "it was partly sent (answer 3)")
            return False
        self.logger.info(f"Sent MASGSM {shown}: message id {result.message_id}.")
        self._remember(key, "accepted")
        return True

    def _remember(self, key: tuple[str, int], state: str) -> None:
        self.mark_delivered(key)
        self.remember(key, state)

    def _accepted_count(self, masgsm: MasgsmClient, result: SendResult) -> str:
        """How many numbers of a partial send went, from its delivery report (type 2)."""
        if not result.message_id:
            return "some"
        try:
            report = masgsm.report(result.message_id)
        except MasgsmError as error:
            self.logger.debug(f"MASGSM report of {result.message_id} failed: {error.message}")
            return "some"
        return str(len(report.delivered) + len(report.failed) + len(report.pending))

    def _log_unsent(self, rest: Sequence[range]) -> None:
        if rest:
            left = sum(len(rows) for rows in rest)
            self.logger.warning(
                f"MASGSM stopped: {_count(len(rest), 'later batch', 'later batches')} "
                f"({_count(left, 'number')}) {'was' if len(rest) == 1 else 'were'} not sent."
            )

    # -- personalised mode -----------------------------------------------------------------------

    def _contact_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The contacts file's rows with their `file:line` locations, streamed."""
        from .sources import CsvSource, JsonLinesSource, SourceContext

        path = Path(self.contacts).expanduser()
        source_class = JsonLinesSource if path.suffix.lower() in JSON_LINES_SUFFIXES else CsvSource
        context = SourceContext(base_dir=Path.cwd(), input=None, where="contacts=")
        yield from source_class(str(path), {}, context).rows()

    def _render_contacts(self, template: str) -> list[_Contact] | None:
        """Render and check every contact before anything is sent; None (logged) if any fails."""
        from .render import RenderError, compile_text, make_environment, render

        problems: list[str] = []
        contacts: list[_Contact] = []
        try:
            renderer = compile_text(make_environment(), template, "message")
            for where, row in self._contact_rows():
                try:
                    value = row.get(self.number)
                    if value in (None, ""):
                        raise UsageError(f"{where}: no {self.number!r} field (the number).")
                    number = phone.normalize(str(value))
                    text = render(renderer, row, where)
                    if not text.strip():
                        raise UsageError(f"{where}: the message renders empty.")
                except InvalidNumberError as error:
                    problems.append(f"{where}: {error.message}")
                except (RenderError, UsageError) as error:
                    problems.append(error.message)
                else:
                    contacts.append(_Contact(where, number, text))
        except UsageError as error:  # the template's syntax, or an unreadable file
            problems.append(error.message)
        except OSError as error:
            problems.append(f"{self.contacts}: {error.strerror or error}")
        if not problems and not contacts:
            problems.append(f"{self.contacts}: the contacts file has no contacts.")
        if problems:
            shown = problems[:SHOWN_PROBLEMS]
            if len(problems) > SHOWN_PROBLEMS:
                shown.append(f"... and {len(problems) - SHOWN_PROBLEMS} more contacts like these.")
            self.logger.error(
                "MASGSM personalised send refused, nothing was sent:\n  " + "\n  ".join(shown)
            )
            return None
        self.logger.debug(f"MASGSM rendered {len(contacts)} contacts from {self.contacts}.")
        return contacts

    def _contact_count(self) -> int:
        try:
            return sum(1 for _ in self._contact_rows())
        except (MasgsmError, OSError):
            return 1

    # -- URLs ------------------------------------------------------------------------------------

    def url(self, privacy: bool = False, *args: Any, **kwargs: Any) -> str:
        """Returns the URL built dynamically based on specified arguments."""
        params = {
            "lang": self.lang,
            "method": self.method,
            "batch": str(self.batch),
        }
        if self.base_url != default_base_url(self.secure):
            params["base"] = self.base_url
        if self.contacts:
            params["contacts"] = self.contacts
            params["number"] = self.number
        params.update(self.url_parameters(privacy=privacy, *args, **kwargs))  # noqa: B026
        if params.get("rto") == str(NotifyMasGSM.socket_read_timeout):
            del params["rto"]  # this service's own default, not an override
        return assemble_url(
            secure=self.secure,
            user=self.user,
            password=self.password,
            title=self.title,
            targets=self.targets,
            params=params,
            privacy=privacy,
        )

    @property
    def url_identifier(self) -> tuple[str, str, str, str]:
        """The account and the API it talks to; targets never identify a URL."""
        return (self.secure_protocol, self.user, self.password, self.base_url)

    def __len__(self) -> int:
        """Requests a send makes: one per batch of numbers (or of contacts)."""
        count = self._contact_count() if self.contacts else len(self.targets)
        return max(1, -(-count // self.batch))

    @staticmethod
    def parse_url(url: str) -> dict[str, Any] | None:
        """Parses the URL and returns enough arguments that can allow us to re-
        instantiate this object."""
        return parse_service_url(url)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


# -- registration ------------------------------------------------------------------------------


def register() -> bool:
    """Map masgsm:// and masgsms:// to `NotifyMasGSM` in Apprise's plugin manager.

    Idempotent, and it replaces an older copy of the class (a re-imported module) rather than
    refusing it. Returns False if Apprise refused the schemas.
    """
    manager = NotificationManager()
    if all(schema in manager and manager[schema] is NotifyMasGSM for schema in SCHEMAS):
        return True
    return bool(manager.add(NotifyMasGSM, schemas=list(SCHEMAS), force=True))


__all__ = [
    "NotifyMasGSM",
    "assemble_url",
    "check_settings",
    "parse_service_url",
    "register",
]
