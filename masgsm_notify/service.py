"""A MASGSM account and how to reach it, from a masgsm:// URL or from the environment.

Pipelines name their service as Apprise does (`service: "masgsm://USER:PASSWORD@ACME/?lang=tr"`)
or leave it to MASGSM_USER, MASGSM_PASSWORD, MASGSM_TITLE and MASGSM_BASE_URL. Both paths end in
this one value object. A URL is parsed by `NotifyMasGSM.parse_url` and checked by the same
`check_settings` as the Apprise service, so a URL means the same thing wherever it is pasted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .apprise_plugin import (
    SCHEMAS,
    NotifyMasGSM,
    SettingError,
    assemble_url,
    check_settings,
    default_base_url,
)
from .client import DEFAULT_BASE_URL, MasgsmClient
from .errors import UsageError, redact


@dataclass(frozen=True)
class Service:
    """The account settings a run sends with. The password is left out of `repr`."""

    user: str
    password: str = field(repr=False)
    title: str | None
    base_url: str
    lang: str = "auto"
    method: str = "post"

    @classmethod
    def from_url(cls, url: str) -> Service:
        """Parse a masgsm:// or masgsms:// URL; numbers in it, if any, are ignored here.

        A missing title falls back to MASGSM_TITLE, as in Apprise. Raises `UsageError` naming
        the bad part; the message never contains the password.
        """
        text = str(url or "").strip()
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme not in SCHEMAS:
            shown = f"{scheme}://..." if scheme else "a text without a scheme"
            raise UsageError(
                f"The service must be a masgsm:// or masgsms:// URL, not {shown} "
                "(e.g. masgsm://USER:PASSWORD@TITLE/?lang=tr)."
            )
        results = NotifyMasGSM.parse_url(text)
        if not results:
            raise UsageError(
                f"The service URL {scheme}://... cannot be parsed: "
                "expected masgsm://USER:PASSWORD@TITLE/?lang=tr (percent-encode @ : / in values)."
            )
        password = NotifyMasGSM.unquote(results.get("password") or "")
        try:
            settings = check_settings(
                user=NotifyMasGSM.unquote(results.get("user") or ""),
                password=password,
                title=results.get("title"),
                base=results.get("base"),
                lang=results.get("lang"),
                method=results.get("method"),
                secure=scheme == SCHEMAS[1],
            )
        except SettingError as error:
            raise UsageError(redact(str(error), password)) from None
        return cls(**settings)

    @classmethod
    def from_env(cls) -> Service:
        """MASGSM_USER, MASGSM_PASSWORD (both required), MASGSM_TITLE, MASGSM_BASE_URL."""
        missing = [name for name in ("MASGSM_USER", "MASGSM_PASSWORD") if not os.environ.get(name)]
        if missing:
            raise UsageError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the "
                "MASGSM account comes from MASGSM_USER and MASGSM_PASSWORD when no service URL "
                "is given."
            )
        password = os.environ["MASGSM_PASSWORD"]
        try:
            settings = check_settings(
                user=os.environ["MASGSM_USER"],
                password=password,
                title=os.environ.get("MASGSM_TITLE"),
                base=os.environ.get("MASGSM_BASE_URL") or DEFAULT_BASE_URL,
                lang=None,
                method=None,
                secure=False,
            )
        except SettingError as error:
            raise UsageError(f"From the environment: {redact(str(error), password)}") from None
        return cls(**settings)

    def client(self, **kwargs: Any) -> MasgsmClient:
        """A client for this account; keyword arguments go to `MasgsmClient` (timeout, ...)."""
        settings: dict[str, Any] = {
            "title": self.title,
            "base_url": self.base_url,
            "lang": self.lang,
        }
        settings.update(kwargs)
        return MasgsmClient(self.user, self.password, **settings)

    def url(self, privacy: bool = True) -> str:
        """The masgsm:// URL of this service (password as `****` unless `privacy=False`).

        `Service.from_url(service.url(privacy=False)) == service`.
        """
        secure = self.base_url.startswith("https://")
        params = {"lang": self.lang, "method": self.method}
        if self.base_url != default_base_url(secure):
            params["base"] = self.base_url
        return assemble_url(
            secure=secure,
            user=self.user,
            password=self.password,
            title=self.title,
            targets=(),
            params=params,
            privacy=privacy,
        )
