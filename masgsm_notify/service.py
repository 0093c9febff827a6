"""A MASGSM account and how to reach it, from a masgsm:// URL or from settings.

Pipelines name their service as Apprise does (`service: "masgsm://USER:PASSWORD@ACME/?lang=tr"`),
as a mapping (`service: {title: ACME, lang: tr}`, the password from MASGSM_PASSWORD or a
`password_file`), or leave it to the settings `config.resolve` finds (the environment, then the
config file). Every path ends in this one value object, and the Apprise service
(`apprise_plugin.NotifyMasGSM`) holds one too.

The settings helpers live here, below the Apprise service: `parse_service_url` and
`check_settings` read and check a masgsm:// URL the same way for pipelines and for Apprise, so a
URL means the same thing wherever it is pasted, and `Service.client` is the one place a
`MasgsmClient` is built from settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from apprise.plugins.base import NotifyBase
from apprise.url import PrivacyMode

from . import config
from .client import DEFAULT_BASE_URL, LANGS, MAX_BATCH, MasgsmClient
from .errors import ConfigError, MasgsmError, MissingCredentialsError, SettingError, UsageError
from .logs import RedactSecrets, redact, remember_secret

SCHEMAS = ("masgsm", "masgsms")
DEFAULT_HTTPS_BASE_URL = "https://" + DEFAULT_BASE_URL.split("://", 1)[1]
METHODS = ("post", "get")

DEFAULT_BATCH = 500

# An alphanumeric sender ID is at most 11 characters (GSM 03.40); the provider checks the rest.
TITLE_RE = re.compile(r"^[\w .&'-]{1,11}$")


def provider_base_url(secure: bool) -> str:
    """The provider's own API base URL: http for masgsm://, https for masgsms://."""
    return DEFAULT_HTTPS_BASE_URL if secure else DEFAULT_BASE_URL


def _setting(name: str) -> str:
    """A fallback setting (MASGSM_TITLE or MASGSM_BASE_URL, else the config file's)."""
    try:
        return (config.setting(name) or "").strip()
    except ConfigError as error:
        raise SettingError(str(error)) from None


def default_base_url(secure: bool) -> str:
    """The API base URL a URL without `base=` talks to: MASGSM_BASE_URL (else the config file's
    base) when there is one, as the title falls back to MASGSM_TITLE; else the provider's. A
    masgsms:// URL takes it only when it is https too: the password must not leave over plain
    http by surprise."""
    configured = _setting("base").rstrip("/")
    if configured and (not secure or configured.lower().startswith("https://")):
        return configured
    return provider_base_url(secure)


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
    the same thing in both. A missing title falls back to MASGSM_TITLE (else the config file's),
    then to None (the caller decides whether that is acceptable). The result is the keyword
    arguments of `Service`.
    """
    if not user or not password:
        raise SettingError(
            "A MASGSM user code and password are both required: "
            "masgsm://USER:PASSWORD@TITLE/NUMBER."
        )
    remember_secret(password)
    title = (title or "").strip() or _setting("title") or None
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
        results = parse_service_url(text)
        if not results:
            raise UsageError(
                f"The service URL {scheme}://... cannot be parsed: "
                "expected masgsm://USER:PASSWORD@TITLE/?lang=tr (percent-encode @ : / in values)."
            )
        password = NotifyBase.unquote(results.get("password") or "")
        try:
            settings = check_settings(
                user=NotifyBase.unquote(results.get("user") or ""),
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
        params = {"lang": self.lang, "method": self.method}
        if self.base_url != provider_base_url(secure):
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
