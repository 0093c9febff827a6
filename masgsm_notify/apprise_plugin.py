"""MASGSM as an Apprise service: `masgsm://USER:PASSWORD@TITLE/N1/N2?lang=tr`.

`NotifyMasGSM` is written the way Apprise's own SMS services are (BulkSMS, ClickSend): the URL's
shape is declared as data (`templates`, `template_tokens`, `template_args`), from which Apprise
derives its `--details` listing; `__init__` validates once; `send()` only sends; `url()` and
`parse_url()` are inverses. The settings are read and checked by `service.py`, the same code
pipelines use, and the HTTP work is done by the `MasgsmClient` that `Service.client` builds, so
Apprise and the rest of the project speak to MASGSM in exactly one way.

URL forms (the title is the sender ID, "başlık"):

    masgsm://USER:PASSWORD@TITLE/N1/N2/...     numbers in the path, any common Turkish form
    masgsm://USER:PASSWORD@/N1/N2              no title: MASGSM_TITLE from the environment
    masgsm://USER:PASSWORD@/N1?title=MY%20FIRM  a title that cannot sit in the host slot
    masgsm://USER:PASSWORD@TITLE/?contacts=customers.csv   personalised (see below)

`masgsm://` talks to `http://masgsm.com.tr/MasApiV2` (the provider's documented URL),
`masgsms://` to the same over https; `base=` overrides either (the sandbox, a proxy).

Personalised mode is the reason this project exists: with `contacts=` (one recipient a row:
CSV with a header, `.jsonl`/`.ndjson` JSON lines, or a `.json` array of objects; `number=`
naming the number field, any header such as `Telefon%20No`) the Apprise body is a Jinja
template, and each row is planned exactly as a pipeline plans it (see `contacts.py`). The texts
go out as type-1 batches, never two to one number in the same batch. Every row is rendered and
checked before the first request, so a template error or a bad number in row 4,711 stops the
send while nothing has gone out.

Importing `masgsm_notify` calls `register()`, which maps both schemas to `NotifyMasGSM` in
Apprise's plugin manager. Programs that do not import the package (the `apprise` command,
apprise-api) find it through a loader file that `masgsm-notify apprise install` writes into an
Apprise plugin directory (see `apprise_loader.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar

from apprise.common import NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.locale import gettext_lazy as _
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase
from apprise.utils.parse import parse_phone_no

from . import phone
from .batching import distinct_batches
from .client import DEFAULT_BASE_URL, LANGS, MAX_BATCH, MasgsmClient, SendResult
from .errors import InvalidNumberError, MasgsmError, TransportError, UnexpectedAnswerError
from .service import (
    DEFAULT_BATCH,
    METHODS,
    SCHEMAS,
    TITLE_RE,
    Service,
    SettingError,
    assemble_url,
    check_batch,
    check_settings,
    parse_service_url,
    provider_base_url,
)
from .text import DEFAULT_MAX_SEGMENTS

PROJECT_URL = "https://pypi.org/project/masgsm-notify/"

# A field name: no surrounding blanks, but a spreadsheet header such as "Telefon No" is fine.
CONTACT_FIELD_RE = re.compile(r"^\S(?:.*\S)?$")

# How many problem rows a refused personalised send lists before summarising the rest.
SHOWN_PROBLEMS = 10

# One batch to send: (number, its own text) in personalised mode, (number, None) otherwise.
Message = tuple[str, str | None]


class NotifyMasGSM(NotifyBase):
    """SMS through MASGSM: one text to many numbers, or one rendered text per contact.

    In personalised mode (`contacts=`) a rendered text longer than `max_segments` segments
    (`text.DEFAULT_MAX_SEGMENTS`, 6: the same default as a pipeline's `send.max_segments`, and
    the `body_maxlen` below) refuses the send, naming the row; so does a bad number or a
    template error. Rows with the same number and text are sent once; two different texts to one
    number go in different requests.
    """

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

    # The most segments one personalised text may cost (text.py counts them exactly).
    max_segments = DEFAULT_MAX_SEGMENTS

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
                "name": _("Contacts File (CSV, JSON lines or JSON array)"),
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

        self.service = Service(**settings)
        self.title = self.service.title
        self.base_url = self.service.base_url
        self.lang = self.service.lang
        self.method = self.service.method

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
        kwargs.setdefault("timeout", self.request_timeout)
        return self.service.client(verify=self.verify_certificate, **kwargs)

    def send(
        self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any
    ) -> bool:
        """Send the text (type 0) or the per-contact texts (type 1) in batches.

        True only when MASGSM accepted every batch. The first refused batch stops the send,
        and the log says what went, what did not, and what to do. A send that certainly did not
        go out is logged as an error, so the `apprise` command shows it without `-v`.
        """
        messages: list[Message] | None
        if self.contacts:
            if int(kwargs.get("total") or 1) > 1:
                self.logger.error(
                    "MASGSM personalised send refused: the message template was split by "
                    "overflow=split, which would cut it apart; use overflow=upstream."
                )
                return False
            messages = self._plan_contacts(body)
            if messages is None:
                return False
        else:
            messages = [(number, None) for number in self.targets]

        batches = list(distinct_batches(messages, self.batch, key=itemgetter(0)))
        with self.client() as masgsm:
            for index, batch in enumerate(batches, start=1):
                if not self._send_batch(masgsm, index, len(batches), batch, body):
                    self._log_unsent(batches[index:])
                    return False
        return True

    def _send_batch(
        self, masgsm: MasgsmClient, index: int, count: int, batch: list[Message], body: str
    ) -> bool:
        """Send one batch; True when MASGSM accepted all of it.

        A batch that went out, even partly or perhaps, is remembered, so Apprise's `retry=`
        sends only the batches that certainly did not go.
        """
        key = ("masgsm-batch", index)
        shown = f"batch {index:,} of {count:,} ({_count(len(batch), 'number')})"
        if self.is_delivered(key):
            state = self.recall(key)
            if state == "accepted":
                return True
            self.logger.warning(f"MASGSM {shown} is not sent again: {state}.")
            return False
        numbers = [number for number, _text in batch]
        personalised = bool(self.contacts)
        kind = "type 1" if personalised else ("GET" if self.method == "get" else "type 0")
        self.logger.debug(f"MASGSM {shown}, {kind}, to {self.base_url}")
        self.throttle()
        try:
            if personalised:
                result = masgsm.send_personalised(numbers, [text or "" for _n, text in batch])
            elif self.method == "get":
                result = masgsm.send_get(numbers, body)
            else:
                result = masgsm.send(numbers, body)
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
                f"MASGSM sent only {went} of {len(batch):,} messages of {shown}: the balance ran "
                f"out (answer 3, message id {result.message_id}). Top up the account; "
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
        return f"{len(report.delivered) + len(report.failed) + len(report.pending):,}"

    def _log_unsent(self, rest: Sequence[list[Message]]) -> None:
        if rest:
            left = sum(len(batch) for batch in rest)
            self.logger.warning(
                f"MASGSM stopped: {_count(len(rest), 'later batch', 'later batches')} "
                f"({_count(left, 'number')}) {'was' if len(rest) == 1 else 'were'} not sent."
            )

    # -- personalised mode -----------------------------------------------------------------------

    def _plan_contacts(self, template: str) -> list[Message] | None:
        """Render and check every contact before anything is sent; None (logged) if any fails."""
        from .contacts import plan_contacts  # Jinja and the composer only when contacts are used

        path = Path(self.contacts).expanduser()
        plan = plan_contacts(
            path,
            self.number,
            template,
            plain=self.lang == "plain",
            max_segments=self.max_segments,
            limit_name="the MASGSM limit for one text",
        )
        if plan.problems:
            shown = plan.problems[:SHOWN_PROBLEMS]
            if len(plan.problems) > SHOWN_PROBLEMS:
                more = len(plan.problems) - SHOWN_PROBLEMS
                shown.append(f"... and {more:,} more contacts like these.")
            self.logger.error(
                "MASGSM personalised send refused, nothing was sent:\n  " + "\n  ".join(shown)
            )
            return None
        if plan.merged:
            at = f"{path}:"  # every location is FILE:LINE
            repeats = [
                f"line {where.removeprefix(at)} repeats line {first.removeprefix(at)}"
                for where, first in plan.merged[:SHOWN_PROBLEMS]
            ]
            if len(plan.merged) > SHOWN_PROBLEMS:
                repeats.append(f"{len(plan.merged) - SHOWN_PROBLEMS:,} more")
            self.logger.info(
                f"MASGSM sends {_count(len(plan.merged), 'repeated contact')} of {path} once "
                f"(same number and text): {', '.join(repeats)}."
            )
        self.logger.debug(f"MASGSM planned {len(plan.messages):,} texts from {self.contacts}.")
        return [(contact.number, contact.text) for contact in plan.messages]

    def _contact_count(self) -> int:
        from .contacts import contact_rows

        try:
            return sum(1 for _ in contact_rows(Path(self.contacts).expanduser()))
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
        if self.base_url != provider_base_url(self.secure):
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
        """Requests a send makes: one per batch of numbers (or, estimated, of contact rows)."""
        count = self._contact_count() if self.contacts else len(self.targets)
        return max(1, -(-count // self.batch))

    @staticmethod
    def parse_url(url: str) -> dict[str, Any] | None:
        """Parses the URL and returns enough arguments that can allow us to re-
        instantiate this object."""
        return parse_service_url(url)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


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
