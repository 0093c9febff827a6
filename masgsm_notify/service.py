"""A MASGSM account and how to reach it, from a masgsm:// URL or from settings.

Pipelines name their service as Apprise does (`service: "masgsm://USER:PASSWORD@ACME/?lang=tr"`),
as a mapping (`service: {title: ACME, lang: tr}`, the password from MASGSM_PASSWORD or a
`password_file`), or leave it to the settings `config.resolve` finds (the environment, then the
config file). Every path ends in this one value object, and the Apprise service
(`apprise_plugin.NotifyMasGSM`) holds one too.

A URL is read and checked by the Apprise built-in's own code (`apprise_builtin`: its `parse_url`
and `check_settings`), so a URL means the same thing in a pipeline, in this project's Apprise
service and in Apprise itself, and is refused for the same reasons (a base URL on a link-local
or cloud metadata host, an http base for masgsms://). That module imports Apprise, so it is
imported here only when settings are read: a command that needs no account (`--version`,
`plugins`, `sandbox serve`) does not pay for loading Apprise. `Service.client` is the
one place a `MasgsmClient` is built from settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from . import config
from .api import DEFAULT_BASE_URL
from .client import MasgsmClient
from .errors import ConfigError, MasgsmError, MissingCredentialsError, SettingError, UsageError
from .logs import RedactSecrets, redact, remember_secret

SCHEMAS = ("masgsm", "masgsms")
DEFAULT_HTTPS_BASE_URL = "https://" + DEFAULT_BASE_URL.split("://", 1)[1]


def _setting(name: str) -> str:
    """A fallback setting (MASGSM_TITLE or MASGSM_BASE_URL, else the config file's)."""
    try:
        return (config.setting(name) or "").strip()
    except ConfigError as error:
        raise SettingError(str(error)) from None


def provider_base_url(secure: bool) -> str:
    """The provider's own API base URL: http for masgsm://, https for masgsms://."""
    return DEFAULT_HTTPS_BASE_URL if secure else DEFAULT_BASE_URL


def default_base_url(secure: bool) -> str:
    """The API base URL a URL without `base=` talks to: MASGSM_BASE_URL (else the config file's
    base) when there is one, as the title falls back to MASGSM_TITLE; else the provider's.

    A masgsms:// URL with an http base configured is refused rather than sent elsewhere: over
    http the password would leave in clear, and the provider's https API instead would send
    real texts where a sandbox or proxy was meant.
    """
    configured = _setting("base").rstrip("/")
    if not configured:
        return provider_base_url(secure)
    if secure and not configured.lower().startswith("https://"):
        raise SettingError(
            f"A masgsms:// URL sends over https only, but the base URL configured "
            f"(MASGSM_BASE_URL, else the config file's base) is {configured!r}: set an https:// "
            "base URL, give the URL its own base=, or use masgsm:// to send over http on purpose."
        )
    return configured


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

    The Apprise built-in's check, with this project's defaults: a missing title falls back to
    MASGSM_TITLE (else the config file's), then to None (the caller decides whether that is
    acceptable), a missing base URL to MASGSM_BASE_URL (else the config file's). The result is
    the keyword arguments of `Service`.
    """
    from .apprise_builtin import check_settings as check

    remember_secret(password)
    title = (title or "").strip() or _setting("title") or None
    base = (base or "").strip() or default_base_url(secure)
    try:
        return check(user, password, title, base, lang, method, secure)
    except ValueError as error:
        raise SettingError(redact(str(error), password)) from None


def credentials_missing(given: Mapping[str, Any] | None = None) -> bool:
    """True when `Service.from_settings(given)` fails only for want of a user or password (a
    dry run may go on without them); False when it succeeds or fails for another reason."""
    try:
        Service.from_settings(given)
    except MissingCredentialsError:
        return True
    except MasgsmError:
        return False
    return False


def parse_service_url(url: str) -> dict[str, Any] | None:
    """The Apprise built-in's parse of a masgsm:// URL, with this project's parts picked out.

    Returns None when the URL cannot be parsed at all. The title comes from `?title=` (or
    `?from=`), else the host slot; targets from the path and `?to=`; `contacts=` and `number=`
    are for the Apprise service's personalised mode.
    """
    from .apprise_builtin import NotifyMasGSM

    results = NotifyMasGSM.parse_url(url)
    if not results:
        return results
    if results.get("password"):
        # Known before Apprise logs the parsed URL at trace level, so that record is scrubbed.
        remember_secret(NotifyMasGSM.unquote(results["password"]))
        protect_apprise_log()
    for key in ("contacts", "number"):
        if results["qsd"].get(key):
            results[key] = NotifyMasGSM.unquote(results["qsd"][key])
    return results


_PROTECTED = False


def protect_apprise_log() -> None:
    """Scrub remembered passwords from everything Apprise logs (idempotent).

    At `-vvvv` Apprise logs each URL it parses, raw, before any plugin sees it; a filter on its
    logger (the one every Apprise module logs through) replaces the password with `***`.
    """
    global _PROTECTED
    if not _PROTECTED:
        from apprise.plugins.base import NotifyBase

        NotifyBase.logger.addFilter(RedactSecrets())
        _PROTECTED = True


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
        from .apprise_builtin import NotifyMasGSM

        results = parse_service_url(text)
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
    def from_settings(
        cls, given: Mapping[str, Any] | None = None, *, where: str = "", stand_ins: bool = False
    ) -> Service:
        """The account from `given` (a pipeline's `service:` mapping, or a command's options:
        user, password, password_file, title, base, lang, method), then the environment, then
        the config file (`config.resolve`).

        Raises `MissingCredentialsError` when nothing gives the user or the password (unless
        `stand_ins`, which fills them in to read the other settings without the secrets), and
        `UsageError` naming any other bad part; `where` (the pipeline's `service:`) prefixes
        them. The messages never contain the password.
        """
        where = where if given else ""  # no mapping: nothing in the pipeline to point at
        given = dict(given or {})
        lang, method = given.pop("lang", None), given.pop("method", None)
        account = config.resolve(given, required=not stand_ins, where=where)
        if stand_ins:
            account = config.with_stand_ins(account)
        try:
            settings = check_settings(
                user=account.user,
                password=account.password,
                title=account.title,
                base=account.base,
                lang=lang,
                method=method,
                secure=False,
            )
        except SettingError as error:
            prefix = f"{where}: service: " if where else ""
            raise UsageError(prefix + redact(str(error), account.password)) from None
        return cls(**settings)

    def client(self, *, verify: bool = True, **kwargs: Any) -> MasgsmClient:
        """A client for this account; keyword arguments go to `MasgsmClient` (timeout, ...).

        `verify=False` turns off TLS certificate checks (Apprise's `verify=no`) on a session of
        the client's own; a `session=` given is used as it is.
        """
        settings: dict[str, Any] = {
            "title": self.title,
            "base_url": self.base_url,
            "lang": self.lang,
        }
        settings.update(kwargs)
        if not verify and settings.get("session") is None:
            session = requests.Session()
            session.verify = False
            settings["session"] = session
        return MasgsmClient(self.user, self.password, **settings)

    def url(self, privacy: bool = True) -> str:
        """The masgsm:// URL of this service (password as `****` unless `privacy=False`).

        `Service.from_url(service.url(privacy=False)) == service`.
        """
        secure = self.base_url.startswith("https://")
        from .apprise_builtin import masgsm_url

        params = {"lang": self.lang, "method": self.method}
        if self.base_url != provider_base_url(secure):
            params["base"] = self.base_url
        return masgsm_url(secure, self.user, self.password, self.title, (), params, privacy)
