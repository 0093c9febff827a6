"""MASGSM as an Apprise service, with this project's personalised sends.

`NotifyMasGSM` is the upstream-ready built-in (`apprise_builtin.NotifyMasGSM`, the file
`contrib/apprise/masgsm.py` that Apprise itself can ship) with what only this project has:

- personalised mode: with `contacts=` (one recipient a row: CSV with a header, `.jsonl` /
  `.ndjson` JSON lines, or a `.json` array of objects; `number=` names the number field, any
  header such as `Telefon%20No`) the Apprise body is a Jinja template, and each row is planned
  exactly as a pipeline plans it (`contacts.py`). The texts go out as type-1 batches, never two
  to one number in the same batch. Every row is rendered and checked before the first request,
  so a template error or a bad number in row 4,711 stops the send while nothing has gone out;
- numbers checked as pipelines check them (`phone.normalize`, which knows the operators' ranges);
- MASGSM_TITLE and MASGSM_BASE_URL as defaults for a URL without a title or `base=`;
- passwords scrubbed from Apprise's own log (it logs each URL it parses at trace level).

Plain sends (one text to the numbers in the URL) and every request, personalised or not, are the
built-in's code: what Apprise users get upstream and what this project sends are one thing.

Importing this module registers masgsm:// and masgsms:// with Apprise (`register()`). Importing
`masgsm_notify` does not: it would load every Apprise plugin into programs that never use one.
Programs that do not import this module (the `apprise` command, apprise-api) find it through a
loader file that `masgsm-notify apprise install` writes into an Apprise plugin folder
(`apprise_loader.py`), which calls `register()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar

from apprise.common import NotifyType
from apprise.locale import gettext_lazy as _
from apprise.manager_plugins import NotificationManager

from . import apprise_builtin, phone
from .apprise_builtin import masgsm_url as assemble_url
from .batching import distinct_batches
from .client import MasgsmClient
from .errors import MasgsmError, SettingError
from .service import SCHEMAS, Service, check_settings, default_base_url, parse_service_url
from .text import DEFAULT_MAX_SEGMENTS

PROJECT_URL = "https://pypi.org/project/masgsm-notify/"

# A field name: no surrounding blanks, but a spreadsheet header such as "Telefon No" is fine.
CONTACT_FIELD_RE = re.compile(r"^\S(?:.*\S)?$")

# How many problem rows a refused personalised send lists before summarising the rest.
SHOWN_PROBLEMS = 10


class NotifyMasGSM(apprise_builtin.NotifyMasGSM):
    """SMS through MASGSM: one text to many numbers, or one rendered text per contact.

    In personalised mode a rendered text longer than `max_segments` segments
    (`text.DEFAULT_MAX_SEGMENTS`, 6: the same default as a pipeline's `send.max_segments`, and
    the `body_maxlen` of the built-in) refuses the send, naming the row; so does a bad number or
    a template error. Rows with the same number and text are sent once; two different texts to
    one number go in different requests.
    """

    # A URL that takes you to the setup/help of the specific protocol
    setup_url = PROJECT_URL

    # Loaded from outside Apprise's own plugin folder
    category = "custom"

    # The most segments one personalised text may cost (text.py counts them exactly).
    max_segments = DEFAULT_MAX_SEGMENTS

    # The built-in sets its tables in Apprise's unannotated style, so their types are read off
    # its values (two templates; instance variables): the `type: ignore`s below are for that.

    # Define object templates
    templates = (  # type: ignore[assignment]
        *apprise_builtin.NotifyMasGSM.templates,
        "{schema}://{user}:{password}@{title}",
    )

    # Define our template tokens: numbers are optional when a contacts file names them
    template_tokens: ClassVar[dict[str, dict[str, Any]]] = dict(  # type: ignore[misc]
        apprise_builtin.NotifyMasGSM.template_tokens,
        targets={**apprise_builtin.NotifyMasGSM.template_tokens["targets"], "required": False},
    )

    # Define our template arguments
    template_args: ClassVar[dict[str, dict[str, Any]]] = dict(  # type: ignore[misc]
        apprise_builtin.NotifyMasGSM.template_args,
        **{
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
        contacts: str | None = None,
        number: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Validate everything once; a bad part is logged by name, then refused."""
        self.contacts = (contacts or "").strip() or None
        self.number = (number or "").strip() or self.template_args["number"]["default"]
        self.contacts_path: Path | None = None
        title = (title or "").strip() or os.environ.get("MASGSM_TITLE", "").strip() or None
        super().__init__(targets=targets, title=title, **kwargs)
        self.service = Service(
            self.user, self.password, self.title, self.base_url, self.lang, self.method
        )

    def default_base_url(self) -> str:
        """MASGSM_BASE_URL when it is set (and https for masgsms://), else the provider's."""
        return default_base_url(self.secure)

    def mobile_number(self, target: str) -> str:
        """The number as pipelines read it; `InvalidNumberError` (a ValueError) says why not."""
        return phone.normalize(target)

    def check_recipients(self) -> None:
        """Numbers or a contacts file the URL may name; `SettingError` (a ValueError) if not."""
        if not CONTACT_FIELD_RE.match(self.number):
            raise SettingError(f"The MASGSM number field ({self.number!r}) is invalid.")
        if not self.contacts:
            super().check_recipients()
            return
        if self.targets:
            raise SettingError(
                "A MASGSM URL takes numbers or a contacts file, not both: move the numbers "
                "into the contacts file."
            )
        if self.method == "get":
            raise SettingError(
                "MASGSM personalised sends (contacts=) use type 1, which only the POST "
                "method has: drop method=get."
            )
        from .contacts import allowed_contacts_path

        self.contacts_path = allowed_contacts_path(self.contacts)

    # -- sending ---------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> MasgsmClient:
        """The MASGSM client these settings describe (keyword arguments override them)."""
        kwargs.setdefault("timeout", self.request_timeout)
        return self.service.client(verify=self.verify_certificate, **kwargs)

    def send(
        self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any
    ) -> bool:
        """Send the text to the URL's numbers (type 0), or each contact's text (type 1).

        True only when MASGSM accepted every batch. A send that certainly did not go out, or
        may not have, is logged as an error, so the `apprise` command shows it without `-v`.
        """
        if self.contacts_path is None:
            return super().send(body, title, notify_type, **kwargs)
        if int(kwargs.get("total") or 1) > 1:
            self.logger.error(
                "MASGSM personalised send refused: the message template was split by "
                "overflow=split, which would cut it apart; use overflow=upstream."
            )
            return False
        messages = self._plan_contacts(body)
        if messages is None:
            return False
        batches = list(distinct_batches(messages, self.batch, key=itemgetter(0)))
        with self.client() as masgsm:  # it encodes each batch as PHP's http_build_query does

            def encoder(texts: list[str]) -> Any:
                return lambda numbers: masgsm.prepare_personalised(numbers, texts).body

            return self.send_batches(
                [([n for n, _t in batch], encoder([t for _n, t in batch])) for batch in batches]
            )

    def _plan_contacts(self, template: str) -> list[tuple[str, str]] | None:
        """Render and check every contact before anything is sent; None (logged) if any fails.

        Problems name rows by number, never by their content: the file may not be the URL
        writer's to read.
        """
        from .contacts import plan_contacts  # Jinja and the composer only when contacts are used

        path = self.contacts_path
        assert path is not None
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
                f"MASGSM sends {apprise_builtin.count(len(plan.merged), 'repeated contact')} "
                f"of {path} once (same number and text): {', '.join(repeats)}."
            )
        self.logger.debug(f"MASGSM planned {len(plan.messages):,} texts from {path}.")
        return [(contact.number, contact.text) for contact in plan.messages]

    # -- URLs ------------------------------------------------------------------------------------

    def url_arguments(self) -> dict[str, str]:
        """The built-in's arguments, and the contacts file with its number field."""
        params = super().url_arguments()
        if self.contacts:
            params["contacts"] = self.contacts
            params["number"] = self.number
        return params

    def __len__(self) -> int:
        """Requests a send makes: one per batch of numbers (or, estimated, of contact rows)."""
        if self.contacts_path is None:
            return super().__len__()
        from .contacts import contact_rows

        try:
            rows = sum(1 for _ in contact_rows(self.contacts_path))
        except (MasgsmError, OSError):
            rows = 1
        return max(1, -(-rows // self.batch))

    # Apprise calls a plugin's parse_url with the URL alone; like its own plugins, this one
    # takes none of the base class's parsing options.
    @staticmethod
    def parse_url(url: str) -> dict[str, Any] | None:  # type: ignore[override]
        """Parses the URL and returns enough arguments that can allow us to re-
        instantiate this object."""
        return parse_service_url(url)


# -- registration ------------------------------------------------------------------------------


def register() -> bool:
    """Map masgsm:// and masgsms:// to `NotifyMasGSM` in Apprise's plugin manager.

    Idempotent, and it replaces whatever held the schemas before (an older copy of the class, a
    built-in MASGSM service of Apprise) rather than refusing it. Returns False if Apprise
    refused the schemas.
    """
    manager = NotificationManager()
    if all(schema in manager and manager[schema] is NotifyMasGSM for schema in SCHEMAS):
        return True
    return bool(manager.add(NotifyMasGSM, schemas=list(SCHEMAS), force=True))


register()

__all__ = [
    "NotifyMasGSM",
    "assemble_url",
    "check_settings",
    "parse_service_url",
    "register",
]
