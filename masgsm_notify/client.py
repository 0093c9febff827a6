"""A typed client of every MASGSM function: V2 POST types 0-4, V2 GET, and the older apiNo API.

One `requests.Session` is reused (keep-alive matters when a run posts hundreds of batches), each
request has explicit connect and read timeouts, and the password is kept out of every `repr`,
log line and error. Transport failures are split by what they mean for a send: `SafeToRetryError`
when the provider cannot have recorded it, `OutcomeUnknownError` when it may have.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

from . import phone
from . import text as sms_text
from .api import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, LANGS
from .errors import (
    ERROR_CODES,
    OutcomeUnknownError,
    SafeToRetryError,
    SendError,
    UnexpectedAnswerError,
    UnreadableSendAnswerError,
    UsageError,
    error_for_code,
)
from .logs import redact, remember_secret, scrub
from .wire import (
    Escaped,
    Fields,
    answer_code,
    http_build_query,
    load_json,
    php_urlencode,
    require_success,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """An accepted send. `partial` is answer 3: the balance ran out part-way."""

    message_id: str | None
    code: int
    raw: str = field(repr=False)

    @property
    def partial(self) -> bool:
        return self.code == 3


@dataclass(frozen=True)
class DeliveryReport:
    """Type 2: which numbers of a send were delivered, failed, or are still pending."""

    delivered: list[str]
    failed: list[str]
    pending: list[str]
    raw: str = field(repr=False)


@dataclass(frozen=True)
class LegacyReportEntry:
    """One row of the older API's report (apiNo 4)."""

    number: str
    state: str
    date: str


@dataclass(frozen=True)
class PreparedSend:
    """An encoded send, ready to post: lets callers encode in one place and post in another."""

    body: bytes = field(repr=False)  # it holds the password
    count: int


class MasgsmClient:
    """Talks to one MASGSM account.

    `lang` is `auto` (add `lang=tr` when a text needs it), `tr` (always) or `plain`
    (transliterate to plain text and never ask for Turkish characters).
    """

    def __init__(
        self,
        user: str,
        password: str,
        *,
        title: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        lang: str = "auto",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_size: int = 10,
        session: requests.Session | None = None,
    ):
        if not user or not password:
            raise UsageError("A MASGSM user code and password are both required.")
        if lang not in LANGS:
            raise UsageError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}.")
        self.user = user
        self._password = password
        remember_secret(password)
        self.title = title
        self.base_url = base_url.rstrip("/")
        self._plain_http = _plain_http_host(self.base_url)
        self.lang = lang
        self.timeout = timeout
        self.session = session or _own_session(self.base_url)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "masgsm-notify"

    def __repr__(self) -> str:
        return f"MasgsmClient(user={self.user!r}, title={self.title!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> MasgsmClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------------

    def send(
        self,
        numbers: Sequence[str],
        message: str,
        *,
        title: str | None = None,
        lang: str | None = None,
    ) -> SendResult:
        """Type 0: one text to one or many numbers."""
        texts, lang_tr = self._texts([message], lang)
        fields = {
            "type": "0",
            **self._auth(),
            "message": texts[0],
            "title": self._title(title),
            "numbers": ",".join(self._numbers(numbers)),
        }
        return self._send_answer(self._post("api_post.php", _with_lang(fields, lang_tr)))

    def prepare_personalised(
        self,
        numbers: Sequence[str],
        messages: Sequence[str],
        *,
        title: str | None = None,
        lang: str | None = None,
        escaped: Sequence[str | None] = (),
    ) -> PreparedSend:
        """Encode a type-1 send (text i to number i) without posting it.

        `escaped` may give texts already escaped for the body (`wire.php_urlencode`), None
        where not: a pipeline escapes them while planning, so its one sending thread need not.
        They are not used with lang plain, whose texts are made plain here first.
        """
        if len(numbers) != len(messages):
            raise UsageError(
                f"{len(numbers):,} numbers but {len(messages):,} messages: they must pair up."
            )
        lang = lang or self.lang
        texts, lang_tr = self._texts(messages, lang)
        wire: list[str] = texts
        if escaped and lang != "plain":
            wire = Escaped(
                known if known is not None else php_urlencode(text)
                for known, text in zip(escaped, texts, strict=True)
            )
        fields = {
            "type": "1",
            **self._auth(),
            "message": wire,
            "title": self._title(title),
            "numbers": ",".join(self._numbers(numbers)),
        }
        return PreparedSend(http_build_query(_with_lang(fields, lang_tr)).encode(), len(texts))

    def submit(self, prepared: PreparedSend) -> SendResult:
        """Post a prepared type-1 send."""
        return self._send_answer(self._post_body("api_post.php", prepared.body))

    def send_personalised(
        self,
        numbers: Sequence[str],
        messages: Sequence[str],
        *,
        title: str | None = None,
        lang: str | None = None,
    ) -> SendResult:
        """Type 1: text i goes to number i."""
        return self.submit(self.prepare_personalised(numbers, messages, title=title, lang=lang))

    def send_get(
        self, numbers: Sequence[str], message: str, *, title: str | None = None
    ) -> SendResult:
        """V2 GET: plain text only, and the password travels in the URL (prefer `send`)."""
        log.warning("The GET method puts the password in the request URL; prefer POST.")
        fields = {
            **self._auth(),
            "title": self._title(title),
            "message": sms_text.ascii_only(message),
            "numbers": ",".join(self._numbers(numbers)),
        }
        url = f"{self.base_url}/api_get.php?{http_build_query(fields)}"
        return self._send_answer(self._request("GET", url, None))

    # -- reading -------------------------------------------------------------------------------

    def report(self, message_id: str) -> DeliveryReport:
        """Type 2: the delivery report of one send."""
        body = self._post("api_post.php", {"type": "2", **self._auth(), "id": str(message_id)})
        data = load_json(body.strip() or "null") if not body.strip().isdigit() else None
        if not isinstance(data, dict) or not {"Iletilen", "Hatali", "Bekleyen"} & data.keys():
            code, _ = answer_code(body)
            raise (
                error_for_code(code, raw=body)
                if code != 1
                else UnexpectedAnswerError(
                    "MASGSM answered a report request without a report.", raw=body
                )
            )
        lists = {
            key: [str(n) for n in data.get(key) or []] for key in ("Iletilen", "Hatali", "Bekleyen")
        }
        return DeliveryReport(lists["Iletilen"], lists["Hatali"], lists["Bekleyen"], raw=body)

    def balance(self) -> int:
        """Type 4: the account balance in credits."""
        body = self._post("api_post.php", {"type": "4", **self._auth()})
        _, data = require_success(body)
        return _int_field(data, "balance", body)

    def register(self, username: str, password: str, fullname: str, email: str, phone: str) -> int:
        """Type 3: a reseller registers a sub-member. Returns the answer code (1)."""
        remember_secret(password)
        fields = {
            "type": "3",
            **self._auth(),
            "register": {
                "username": username,
                "password": password,
                "fullname": fullname,
                "email": email,
                "phone": phone,
            },
        }
        body = self._post("api_post.php", fields, secrets=(password,))
        try:
            code, _ = require_success(body)
        except SendError as error:
            raise SendError(
                f"MASGSM refused to register the sub-member {username!r} (answer 0): the user "
                "name may already be taken, or this account is not a reseller.",
                code=error.code,
                raw=error.raw,
            ) from None
        return code

    # -- the older apiNo API ---------------------------------------------------------------------

    def titles(self) -> list[str]:
        """apiNo 3: the titles registered to the account."""
        body = self._legacy({"apiNo": "3"})
        data = _legacy_json(body)
        if isinstance(data, dict) and "code" in data:
            raise error_for_code(answer_code(body)[0], raw=body)
        if not isinstance(data, list):
            raise UnexpectedAnswerError("The titles answer is not a list.", raw=body)
        return [
            str(_first(item, ("baslik", "title", "BASLIK")) if isinstance(item, dict) else item)
            for item in data
        ]

    def legacy_send(self, numbers: Sequence[str], message: str, *, title: str | None = None) -> str:
        """apiNo 1: one text to many numbers; returns the message id."""
        return _legacy_id(
            self._legacy(
                {
                    "apiNo": "1",
                    "mesaj": message,
                    "numaralar": self._numbers(numbers),
                    "baslik": self._title(title),
                }
            )
        )

    def legacy_balance(self) -> int:
        """apiNo 2: the credit balance."""
        body = self._legacy({"apiNo": "2"})
        data = _legacy_json(body)
        return _int_field(data if isinstance(data, dict) else {}, "ORJINLI", body)

    def legacy_report(self, message_id: str) -> list[LegacyReportEntry]:
        """apiNo 4: the older report, one entry per number."""
        if not str(message_id).isdigit():
            raise UsageError(f"The older report needs a numeric message id, not {message_id!r}.")
        body = self._legacy({"apiNo": "4", "id": str(message_id)})
        data = _legacy_json(body)
        if not isinstance(data, list):
            raise (
                error_for_code(answer_code(body)[0], raw=body)
                if isinstance(data, dict)
                else UnexpectedAnswerError("The older report answer is not a list.", raw=body)
            )
        return [
            LegacyReportEntry(
                str(e.get("numara", "")), str(e.get("durum", "")), str(e.get("tarih", ""))
            )
            for e in data
            if isinstance(e, dict)
        ]

    def legacy_send_personalised(
        self, numbers: Sequence[str], messages: Sequence[str], *, title: str | None = None
    ) -> str:
        """apiNo 5: a different text per number; returns the message id."""
        return _legacy_id(
            self._legacy(
                {
                    "apiNo": "5",
                    "mesaj": list(messages),
                    "numaralar": self._numbers(numbers),
                    "baslik": self._title(title),
                    "islem": "kayit",
                }
            )
        )

    # -- plumbing --------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"u": self.user, "p": self._password}

    def _title(self, title: str | None) -> str:
        chosen = title or self.title
        if not chosen:
            raise UsageError("No title (sender ID) given: pass one or set MASGSM_TITLE.")
        return chosen

    @staticmethod
    def _numbers(numbers: Sequence[str]) -> list[str]:
        if isinstance(numbers, str):
            numbers = [numbers]
        if not numbers:
            raise UsageError("No numbers to send to.")
        return [phone.normalize(n) for n in numbers]

    def _texts(self, messages: Sequence[str], lang: str | None) -> tuple[list[str], bool]:
        lang = lang or self.lang
        if lang not in LANGS:
            raise UsageError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}.")
        if any(not m for m in messages):
            raise UsageError("A message is empty; MASGSM would refuse it (answer 400).")
        if lang == "plain":
            return [sms_text.plain(m) for m in messages], False
        return list(messages), lang == "tr" or any(map(sms_text.wants_lang_tr, messages))

    def _legacy(self, fields: Fields) -> str:
        return self._post("", {**fields, "user": self.user, "pass": self._password})

    def _post(self, path: str, fields: Fields, secrets: tuple[str, ...] = ()) -> str:
        body = self._post_body(path, http_build_query(fields).encode())
        for secret in secrets:
            body = redact(body, secret)
        return body

    def _post_body(self, path: str, body: bytes) -> str:
        return self._request("POST", f"{self.base_url}/{path}", body)

    def _request(self, method: str, url: str, body: bytes | None) -> str:
        """Send one request; return the answer text with the password removed."""
        if self._plain_http:
            _warn_plain_http(self._plain_http, self.base_url)
            self._plain_http = None
        shown_url = redact(url, self._password)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s",
                method,
                shown_url,
                scrub(redact(body.decode(), self._password))[:2000] if body else "",
            )
        headers = (
            {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else None
        )
        try:
            response = self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,  # a redirect would carry the password on
            )
        except requests.RequestException as exc:
            if _never_connected(exc):
                reason = _connect_failure(exc)
                raise SafeToRetryError(
                    f"Could not connect to {shown_url} ({reason}): nothing was sent.",
                    reason=reason,
                    where=_host_port(url),
                ) from None
            raise OutcomeUnknownError(
                f"The request to {shown_url} got no answer ({type(exc).__name__}): "
                "MASGSM may or may not have acted on it."
            ) from None
        if "charset" not in response.headers.get("Content-Type", "").lower():
            # Not ISO-8859-1 (requests' guess for text/*): a UTF-8 password would escape redact.
            response.encoding = "utf-8"
        text = redact(response.text, self._password)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answer HTTP %s: %s", response.status_code, scrub(text)[:2000])
        if response.status_code == 503:
            raise SafeToRetryError(
                f"MASGSM is unavailable (HTTP 503) at {shown_url}; the request was not processed.",
                reason="HTTP 503",
                where=_host_port(url),
                raw=text,
            )
        if response.status_code >= 500:
            raise OutcomeUnknownError(
                f"MASGSM failed with HTTP {response.status_code} at {shown_url}: "
                "it may or may not have acted on the request.",
                raw=text,
            )
        if 300 <= response.status_code < 400:
            raise UsageError(
                f"MASGSM answered HTTP {response.status_code} at {shown_url}, a redirect to "
                f"{redact(response.headers.get('Location') or 'elsewhere', self._password)}: "
                "redirects are not followed, since the password would go along. Set the base "
                "URL (MASGSM_BASE_URL or base=) to the address that answers.",
                raw=text,
            )
        if response.status_code >= 400:
            raise UsageError(
                f"MASGSM answered HTTP {response.status_code} at {shown_url}: "
                "check the base URL (MASGSM_BASE_URL or base=).",
                raw=text,
            )
        return text

    def _send_answer(self, body: str) -> SendResult:
        try:
            code, data = require_success(body)
        except UnexpectedAnswerError as error:
            raise UnreadableSendAnswerError(error.message, code=error.code, raw=error.raw) from None
        message_id = _first(data, ("id", "ID", "message_id", "messageId"))
        return SendResult(str(message_id) if message_id not in (None, "") else None, code, body)


def _plain_http_host(base_url: str) -> str | None:
    """The host a password would reach over plain http, unless it is this machine."""
    parts = urlsplit(base_url)
    host = parts.hostname
    if parts.scheme != "http" or not host or host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else host
    except ValueError:  # a name, not an address
        return host


# Taken by the first warning and never released: whichever thread gets it warns, once.
_PLAIN_HTTP_WARNING = threading.Lock()


def _warn_plain_http(host: str, base_url: str) -> None:
    """Once per process: the password is about to cross the network unencrypted."""
    if not _PLAIN_HTTP_WARNING.acquire(blocking=False):
        return
    secure = "https://" + base_url.split("://", 1)[1]
    log.warning(
        f"The MASGSM password goes to {host} over plain http, readable on the way. Use https: "
        f"a masgsms:// URL, or the base URL {secure} (MASGSM_BASE_URL, base in a pipeline's "
        "service: or the config file, or ?base= in a masgsm:// URL)."
    )


def _with_lang(fields: dict, lang_tr: bool) -> dict:
    if lang_tr:
        fields["lang"] = "tr"
    return fields


def _first(data: dict, keys: Sequence[str]):
    return next((data[k] for k in keys if k in data), None)


def _int_field(data: dict, key: str, body: str) -> int:
    value = str(data.get(key, "")).strip()
    if not value.isdigit():
        raise UnexpectedAnswerError(f"MASGSM's answer has no numeric {key!r}.", raw=body)
    return int(value)


def _legacy_json(body: str):
    """An older-API JSON answer; that API reports errors as a bare code (`401`), raised here."""
    text = body.strip()
    if text.isdigit() and int(text) in ERROR_CODES:
        raise error_for_code(int(text), raw=body)
    return load_json(body)


def _legacy_id(body: str) -> str:
    """`DONUS|OK:<id>` or a bare id is success; anything else is the provider's error text."""
    text = body.strip()
    if "DONUS" in text.upper() and ":" in text:
        return text.rsplit(":", 1)[1].strip()
    if text.isdigit() and int(text) in ERROR_CODES:
        raise error_for_code(int(text), raw=body)
    if text.isdigit():
        return text
    raise SendError("The older MASGSM API refused the send.", raw=body)


def _own_session(base_url: str) -> requests.Session:
    """A session that reads the environment's proxy settings and CA bundle once, here, instead
    of on every request (requests would scan them, and ~/.netrc, per request)."""
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


def _never_connected(exc: requests.RequestException) -> bool:
    """True for failures before a connection existed (refused, unresolvable, connect timeout).

    requests wraps them as ConnectionError around urllib3's MaxRetryError, whose `reason` is a
    ConnectTimeoutError (NewConnectionError and NameResolutionError are subclasses of it).
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ConnectTimeoutError)


def _connect_failure(exc: requests.RequestException) -> str:
    """Why a connection could not be made, in a few words: "connection refused", "name or
    service not known", "connect timed out"."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timed out"
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    cause = getattr(reason, "__cause__", None)
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return "connect timed out" if "timed out" in str(reason) else "could not connect"


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"
