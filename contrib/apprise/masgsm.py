# MASGSM: SMS to Turkish mobile numbers (https://www.masgsm.com.tr/).
#
# You need a MASGSM account: its user code (the phone number the account was
# opened with), its password, and a title (the sender ID) that is registered
# to the account.  Build your Apprise URL from them:
#
#     masgsm://{user}:{password}@{title}/{phone_no}
#     masgsm://{user}:{password}@{title}/{phone_no1}/{phone_no2}/{phone_noN}
#     masgsms://...    the same, over https
#
# Numbers may be written in any common Turkish form (+90 532 111 22 33,
# 0532 111 2233, 5321112233).  A title that cannot sit in the host part of a
# URL goes in ?title= instead (masgsm://{user}:{password}@/{phone_no}?title=).
#
# One text reaches up to `batch` numbers a request (type 0 of the MasApiV2
# POST API, form encoded as PHP's http_build_query encodes it).  Turkish
# letters (such as ç, ğ, ş) only arrive when the request asks for them with
# lang=tr, which lang=auto (the default) adds when the text needs it;
# lang=plain writes them as plain letters instead.  method=get uses the GET
# API, which sends plain ASCII only and carries the password in the URL.
#
# base= points the service at another copy of the API (a proxy, a test
# server).  A base URL on a link-local or cloud metadata address is refused
# unless the MASGSM_ALLOW_BASE_HOSTS environment variable lists it, and
# masgsms:// refuses an http:// base: the password travels with every request.
# Redirects are never followed, for the same reason.
#
# The API (MasApiV2, documented in Turkish by the provider):
#     http://masgsm.com.tr/MasApiV2/api_post.php   form-encoded POST
#     http://masgsm.com.tr/MasApiV2/api_get.php    GET
import ipaddress
import json
import os
import re
import socket
from urllib.parse import quote, quote_plus, urlsplit

import requests

from apprise.common import NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.locale import gettext_lazy as _
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase
from apprise.url import PrivacyMode
from apprise.utils.parse import is_phone_no, parse_phone_no

# The provider's documented API, and the same over https
MASGSM_HTTP_URL = "http://masgsm.com.tr/MasApiV2"
MASGSM_HTTPS_URL = "https://masgsm.com.tr/MasApiV2"

# auto: ask for Turkish letters when the text has some; tr: always;
# plain: write them as plain letters and never ask
MASGSM_LANGS = ("auto", "tr", "plain")

MASGSM_METHODS = ("post", "get")

# The provider is PHP, which reads at most `max_input_vars` (1000) form
# fields of a request and silently drops the rest.  A request of one text per
# number (type 1) carries a field per number, so no batch of any type holds
# more than 990 numbers.
MASGSM_MAX_BATCH = 990
MASGSM_DEFAULT_BATCH = 500

# An alphanumeric sender ID is at most 11 characters (GSM 03.40)
MASGSM_TITLE_RE = re.compile(r"^[\w .&'-]{1,11}$")

# What each documented answer code means
MASGSM_ANSWERS = {
    0: "sending error",
    1: "accepted",
    2: "the balance is too low, nothing was sent",
    3: "the balance ran out part-way, only some numbers were sent",
    400: "a parameter is missing (user, password, message, title or numbers)",
    401: "wrong user code or password",
    402: "the title (sender ID) is wrong or not registered to the account",
    403: "the title (sender ID) is banned",
    405: "a number is not in the 5xxxxxxxxx form",
}

# Base URL hosts that are never sent the password unless this environment
# variable lists them (names, addresses or networks, comma separated)
MASGSM_ALLOW_BASE_HOSTS = "MASGSM_ALLOW_BASE_HOSTS"

# Cloud instance metadata services, by name
METADATA_HOSTS = frozenset(
    (
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    )
)

# Link-local networks (where every cloud's metadata service lives, at
# 169.254.169.254 and fd00:ec2::254) and Alibaba Cloud's metadata address
REFUSED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)

# NAT64 prefixes carry an IPv4 address in their last 32 bits
NAT64_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)

# GSM 03.38: the basic character set and the extension table
GSM7_CHARS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "\f^{}\\[~]|€"
)

# Turkish letters and their plain look-alikes
TURKISH_LETTERS = "çÇğĞıİöÖşŞüÜâÂîÎûÛ"
PLAIN_LETTERS = "cCgGiIoOsSuUaAiIuU"
PLAIN_TRANSLATION = str.maketrans(TURKISH_LETTERS, PLAIN_LETTERS)

# Without lang=tr the provider sends plain text: these characters are the
# ones that arrive unchanged (even ö and ü, which GSM 7-bit has, do not)
PLAIN_SAFE_CHARS = GSM7_CHARS - frozenset(TURKISH_LETTERS)

# The shorter IPv4 forms a connection accepts: decimal, octal or hex parts
NUMERIC_HOST_RE = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)

# The reason a connection failed, as the socket or TLS layer worded it
CONNECTION_REASON_RE = re.compile(r"\[(?:Errno -?\d+|SSL: \w+)\] ([^'\"()]+)")


def needs_lang_tr(text):
    """True when sending the text without lang=tr would change it."""
    return not PLAIN_SAFE_CHARS.issuperset(text)


def plain_text(text):
    """The text as it arrives without lang=tr.

    Turkish letters become their plain look-alikes (ç to c, ş to s); what is
    still outside GSM 7-bit (emoji, other scripts) becomes '?'.
    """
    text = text.translate(PLAIN_TRANSLATION)
    return "".join(ch if ch in GSM7_CHARS else "?" for ch in text)


def ascii_text(text):
    """The text reduced to ASCII, as the GET API requires."""
    return plain_text(text).encode("ascii", "replace").decode("ascii")


def php_form(fields):
    """Fields encoded as PHP's http_build_query encodes them.

    UTF-8, space as '+', and nothing but letters, digits and '-_.' left
    bare ('~' too is escaped, unlike Python's quote_plus).
    """
    return "&".join(
        "{}={}".format(
            quote_plus(key, safe="").replace("~", "%7E"),
            quote_plus(value, safe="").replace("~", "%7E"),
        )
        for key, value in fields.items()
    )


def read_answer(content):
    """The code of a MASGSM answer and the answer itself as a dict.

    MASGSM answers {"code": 1, "id": "..."}, a code as a string, or a bare
    code; anything else gives (None, {}).
    """
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = str(content or "").strip()
    if re.match(r"^-?\d{1,9}$", text):
        return int(text), {}
    try:
        data = json.loads(text)
    except ValueError:
        return None, {}
    if isinstance(data, int) and not isinstance(data, bool):
        return data, {}
    if isinstance(data, dict):
        code = str(data.get("code", "")).strip()
        if re.match(r"^-?\d{1,9}$", code):
            return int(code), data
    return None, {}


def hide(text, secret):
    """The text with the secret (raw or percent-encoded) replaced by ****."""
    if not secret:
        return text
    encoded = {quote(secret, safe=""), quote_plus(secret, safe="")}
    forms = {secret} | encoded | {e.replace("~", "%7E") for e in encoded}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "****")
    return text


def count(n, one, many=None):
    """'1 number', '3 numbers'."""
    return "{} {}".format(n, one if n == 1 else many or one + "s")


def refused_address(address):
    """Why an address may not be a base URL's host, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:
            for network in NAT64_NETWORKS:
                if address in network:
                    address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
                    break
    for network in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            if address.is_link_local:
                return "a link-local address ({})".format(address)
            return "a cloud metadata address ({})".format(address)
    return None


def host_allowed(host, address=None):
    """True when MASGSM_ALLOW_BASE_HOSTS lists the host, or the address."""
    name = host.lower().rstrip(".")
    for entry in re.split(
        r"[\s,]+", os.environ.get(MASGSM_ALLOW_BASE_HOSTS, "")
    ):
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry == name:
            return True
        if address is None:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return True
    return False


def numeric_address(host):
    """The address a numeric host stands for, without asking DNS.

    Covers every form a connection would accept: 169.254.169.254 and
    fe80::1, but also 2852039166 and 0xa9.0xfe.0xa9.0xfe.  A name gives None.
    """
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not NUMERIC_HOST_RE.match(host):
        return None
    try:
        found = socket.getaddrinfo(
            host, None, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(found[0][4][0].split("%", 1)[0])


def check_base_host(host):
    """Raise ValueError when a base URL's host is refused.

    Link-local and cloud metadata hosts are refused, by name or by a numeric
    address, unless MASGSM_ALLOW_BASE_HOSTS lists them.  Names are resolved
    and checked again before each send (see resolved_refusal).
    """
    name = host.lower().rstrip(".")
    address = numeric_address(name)
    if address is not None:
        why = refused_address(address)
    elif name in METADATA_HOSTS:
        why = "a cloud metadata service"
    else:
        why = None
    if why and not host_allowed(host, address):
        raise ValueError(
            "The MASGSM base URL host {} is {}: MASGSM would never answer "
            "there, and the password would be sent to it. Set {}={} to "
            "allow it.".format(host, why, MASGSM_ALLOW_BASE_HOSTS, host)
        )


def resolved_refusal(host, port):
    """Why the addresses a host resolves to are refused, or None.

    A name that does not resolve gives None: the request then fails on its
    own, saying so.
    """
    try:
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    for entry in found:
        address = ipaddress.ip_address(entry[4][0].split("%", 1)[0])
        why = refused_address(address)
        if why and not host_allowed(host, address):
            return (
                "The MASGSM base URL host {} resolves to {}: nothing was "
                "sent, since the password would go there. Set {}={} to "
                "allow it.".format(host, why, MASGSM_ALLOW_BASE_HOSTS, host)
            )
    return None


def check_base_url(base, secure):
    """The base URL, checked to be one the password may be sent to.

    Raises ValueError naming what is wrong.
    """
    base = (base or "").strip()
    parts = urlsplit(base)
    scheme = parts.scheme.lower()
    try:
        parts.port  # noqa: B018  (a port that is not a number raises)
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "The MASGSM base URL ({}) is invalid: it must look like "
            "{}.".format(base, MASGSM_HTTP_URL)
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "The MASGSM base URL must not hold a user or password: MASGSM "
            "reads them from the masgsm:// URL."
        )
    if secure and scheme != "https":
        raise ValueError(
            "A masgsms:// URL sends over https only, but its base URL is "
            "http://{}: use an https:// base URL, or masgsm:// to send over "
            "http on purpose.".format(parts.netloc)
        )
    check_base_host(parts.hostname)
    return base.rstrip("/")


def check_settings(user, password, title, base, lang, method, secure):
    """The account settings of a masgsm:// URL, checked and normalised.

    Raises ValueError naming the part that is wrong.  The title may be
    missing (None); the base URL defaults to the provider's.
    """
    if not user or not password:
        raise ValueError(
            "A MASGSM user code and password are both required: "
            "masgsm://USER:PASSWORD@TITLE/NUMBER."
        )
    title = (title or "").strip() or None
    if title is not None and not MASGSM_TITLE_RE.match(title):
        raise ValueError(
            "The MASGSM title (sender ID) {!r} is invalid: it must be 1 to 11 "
            "letters, digits, spaces or . & ' - _ characters.".format(title)
        )
    lang = (lang or MASGSM_LANGS[0]).strip().lower()
    if lang not in MASGSM_LANGS:
        raise ValueError(
            "The MASGSM lang ({}) is invalid: use one of {}.".format(
                lang, ", ".join(MASGSM_LANGS)
            )
        )
    method = (method or MASGSM_METHODS[0]).strip().lower()
    if method not in MASGSM_METHODS:
        raise ValueError(
            "The MASGSM method ({}) is invalid: use one of {}.".format(
                method, ", ".join(MASGSM_METHODS)
            )
        )
    if method == "get" and lang == "tr":
        raise ValueError(
            "The MASGSM GET method sends plain text only, so lang=tr needs "
            "method=post."
        )
    base = check_base_url(
        base or (MASGSM_HTTPS_URL if secure else MASGSM_HTTP_URL), secure
    )
    return {
        "user": user,
        "password": password,
        "title": title,
        "base_url": base,
        "lang": lang,
        "method": method,
    }


def check_batch(value):
    """Numbers per request, 1 to MASGSM_MAX_BATCH; ValueError otherwise."""
    if value is None or value == "":
        return MASGSM_DEFAULT_BATCH
    try:
        batch = int(str(value).strip())
    except ValueError:
        raise ValueError(
            "The MASGSM batch ({}) is not a whole number.".format(value)
        ) from None
    if not 1 <= batch <= MASGSM_MAX_BATCH:
        raise ValueError(
            "The MASGSM batch ({}) must be between 1 and {}.".format(
                value, MASGSM_MAX_BATCH
            )
        )
    return batch


def masgsm_url(secure, user, password, title, targets, params, privacy):
    """A masgsm:// URL; the password shows as **** when privacy is set."""
    return "{schema}://{user}:{password}@{title}/{targets}{query}".format(
        schema=NotifyMasGSM.secure_protocol
        if secure
        else NotifyMasGSM.protocol,
        user=NotifyBase.quote(user, safe=""),
        password=NotifyBase.pprint(
            password, privacy, mode=PrivacyMode.Secret, safe=""
        ),
        title=NotifyBase.quote(title or "", safe=""),
        targets="/".join(NotifyBase.quote(t, safe="") for t in targets),
        query="?" + NotifyBase.urlencode(params) if params else "",
    )


def never_connected(error):
    """True when a request failed before it could reach the provider.

    Refused connections, names that do not resolve, connect timeouts and
    TLS handshakes that failed: nothing was sent, so sending again is safe.
    requests wraps the first three around urllib3's ConnectTimeoutError,
    found here by name so that this file needs nothing beyond requests.
    """
    if isinstance(
        error,
        (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError),
    ):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return any(
        kind.__name__ == "ConnectTimeoutError" for kind in type(reason).__mro__
    )


def connection_reason(error):
    """The reason a request failed, as the socket or TLS layer gave it."""
    found = CONNECTION_REASON_RE.search(str(error))
    reason = found.group(1).strip() if found else type(error).__name__
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS: " + reason
    return reason


class NotifyMasGSM(NotifyBase):
    """A wrapper for MASGSM Notifications."""

    # The default descriptive name associated with the Notification
    service_name = "MASGSM"

    # The services URL
    service_url = "https://www.masgsm.com.tr/"

    # masgsm:// talks to the provider over http (its documented URL),
    # masgsms:// over https
    protocol = "masgsm"
    secure_protocol = "masgsms"

    # A URL that takes you to the setup/help of the specific protocol
    setup_url = "https://appriseit.com/services/masgsm/"

    # One request per batch of numbers; a short pause between them is polite
    request_rate_per_sec = 0.2

    # The provider's sample client waits 30 seconds for an answer.  Giving
    # up sooner does not stop a send, it only leaves its outcome unknown.
    socket_read_timeout = 30.0

    # A title can not be used for SMS Messages.  Setting this to zero will
    # cause any title (if defined) to get placed into the message body.
    title_maxlen = 0

    # Six concatenated GSM 7-bit segments (6 x 153 characters): long enough
    # for any notice, short enough that overflow=split never asks for a
    # message costing more than six credits a number
    body_maxlen = 918

    # Define object templates
    templates = (
        "{schema}://{user}:{password}@{title}/{targets}",
        "{schema}://{user}:{password}@/{targets}",
    )

    # Define our template tokens
    template_tokens = dict(
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
                "regex": (MASGSM_TITLE_RE.pattern, "i"),
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
                "required": True,
            },
        },
    )

    # Define our template arguments
    template_args = dict(
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
                "values": MASGSM_LANGS,
                "default": MASGSM_LANGS[0],
            },
            "method": {
                "name": _("Method"),
                "type": "choice:string",
                "values": MASGSM_METHODS,
                "default": MASGSM_METHODS[0],
            },
            "base": {
                "name": _("API Base URL"),
                "type": "string",
                "default": MASGSM_HTTP_URL,
            },
            "batch": {
                "name": _("Numbers per Request"),
                "type": "int",
                "min": 1,
                "max": MASGSM_MAX_BATCH,
                "default": MASGSM_DEFAULT_BATCH,
            },
        },
    )

    def __init__(
        self,
        targets=None,
        title=None,
        lang=None,
        method=None,
        base=None,
        batch=None,
        **kwargs,
    ):
        """Initialize MASGSM Object."""
        super().__init__(**kwargs)
        try:
            settings = check_settings(
                self.user,
                self.password,
                title,
                base or self.default_base_url(),
                lang,
                method,
                self.secure,
            )
            if not settings["title"]:
                raise ValueError(
                    "No MASGSM title (sender ID): put it after the @ "
                    "(masgsm://USER:PASSWORD@TITLE/NUMBER) or add ?title=."
                )
            self.title = settings["title"]
            self.base_url = settings["base_url"]
            self.lang = settings["lang"]
            self.method = settings["method"]
            self.batch = check_batch(batch)

            # Parse our targets: invalid ones are dropped by name, and a
            # number given twice is sent once
            self.targets = []
            for target in parse_phone_no(targets):
                try:
                    number = self.mobile_number(target)
                except ValueError as error:
                    self.logger.warning(
                        "Dropped invalid MASGSM number: {}".format(error)
                    )
                    continue
                if number not in self.targets:
                    self.targets.append(number)

            self.check_recipients()

        except ValueError as error:
            msg = hide(str(error), self.password)
            self.logger.warning(msg)
            raise AppriseImproperlyConfigured(msg) from None

    def default_base_url(self):
        """The API base URL of a URL without base=."""
        return MASGSM_HTTPS_URL if self.secure else MASGSM_HTTP_URL

    def mobile_number(self, target):
        """The target as MASGSM wants it (5xxxxxxxxx); ValueError if not."""
        result = is_phone_no(target)
        digits = result["full"] if result else ""
        for prefix, length in (("0090", 14), ("90", 12), ("0", 11)):
            if len(digits) == length and digits.startswith(prefix):
                digits = digits[len(prefix) :]
                break
        if len(digits) != 10 or not digits.startswith("5"):
            raise ValueError(
                "{!r} is not a Turkish mobile number (5xx xxx xx xx).".format(
                    target
                )
            )
        return digits

    def check_recipients(self):
        """Raise ValueError when there is nobody to send to."""
        if not self.targets:
            raise ValueError("There are no valid MASGSM numbers to send to.")

    def send(self, body, title="", notify_type=NotifyType.INFO, **kwargs):
        """Perform MASGSM Notification.

        The first batch MASGSM does not accept stops the send; the log says
        what went, what did not, and why.
        """
        if self.method == "get":
            self.logger.warning(
                "The MASGSM GET method puts the password in the request URL; "
                "prefer method=post."
            )
            text, lang_tr = ascii_text(body), False
        elif self.lang == "plain":
            text, lang_tr = plain_text(body), False
        else:
            text = body
            lang_tr = self.lang == "tr" or needs_lang_tr(body)

        def form(numbers):
            fields = {
                "type": "0",
                "u": self.user,
                "p": self.password,
                "message": text,
                "title": self.title,
                "numbers": ",".join(numbers),
            }
            if self.method == "get":
                del fields["type"]
            elif lang_tr:
                fields["lang"] = "tr"
            return php_form(fields)

        return self.send_batches(
            [
                (numbers, form)
                for numbers in (
                    self.targets[index : index + self.batch]
                    for index in range(0, len(self.targets), self.batch)
                )
            ]
        )

    def send_batches(self, batches):
        """Send (numbers, encode) batches, where encode(numbers) is the body.

        True only when MASGSM accepted every batch.
        """
        # A base URL someone else wrote must not lead to a metadata service
        # by way of DNS: its host is resolved and checked before each send
        host = urlsplit(self.base_url)
        if host.hostname != urlsplit(MASGSM_HTTP_URL).hostname:
            refusal = resolved_refusal(host.hostname, host.port)
            if refusal:
                self.logger.error(refusal)
                return False

        for index, (numbers, encode) in enumerate(batches, start=1):
            shown = "batch {} of {} ({})".format(
                index, len(batches), count(len(numbers), "number")
            )
            if not self._send_batch(
                ("masgsm-batch", index), shown, numbers, encode
            ):
                rest = batches[index:]
                if rest:
                    self.logger.error(
                        "MASGSM stopped: {} ({}) {} not sent.".format(
                            count(len(rest), "later batch", "later batches"),
                            count(sum(len(n) for n, _ in rest), "number"),
                            "was" if len(rest) == 1 else "were",
                        )
                    )
                return False
        return True

    def _send_batch(self, key, shown, numbers, encode):
        """Send one batch; True when MASGSM accepted all of it.

        A batch that went out, even partly or perhaps, is remembered, so that
        Apprise's retry= sends again only what certainly did not go.
        """
        if self.is_delivered(key):
            state = self.recall(key)
            if state == "accepted":
                return True
            self.logger.error(
                "MASGSM {} is not sent again: {}.".format(shown, state)
            )
            return False

        # Prepare our headers
        headers = {
            "User-Agent": self.app_id,
            "Content-Type": "application/x-www-form-urlencoded",
        }

        if self.method == "get":
            url = "{}/api_get.php".format(self.base_url)
        else:
            url = "{}/api_post.php".format(self.base_url)
        data = encode(numbers)

        # Some Debug Logging
        self.logger.debug(
            "MASGSM {} URL: {} (cert_verify={!r})".format(
                self.method.upper(), url, self.verify_certificate
            )
        )
        self.logger.debug(
            "MASGSM Payload: {}".format(
                hide(
                    data.decode("utf-8") if isinstance(data, bytes) else data,
                    self.password,
                )[:2000]
            )
        )

        # Always call throttle before any remote server i/o is made
        self.throttle()
        try:
            if self.method == "get":
                r = requests.get(
                    "{}?{}".format(url, data),
                    headers=headers,
                    verify=self.verify_certificate,
                    timeout=self.request_timeout,
                    allow_redirects=False,
                )
            else:
                r = requests.post(
                    url,
                    data=data,
                    headers=headers,
                    verify=self.verify_certificate,
                    timeout=self.request_timeout,
                    allow_redirects=False,
                )

        except requests.RequestException as error:
            where = urlsplit(self.base_url).netloc
            if never_connected(error):
                self.logger.error(
                    "MASGSM {} was not sent: could not connect to {} "
                    "({}).".format(shown, where, connection_reason(error))
                )
            else:
                self.logger.error(
                    "MASGSM {} has an unknown outcome: the request to {} got "
                    "no answer ({}). It is not sent again automatically, so "
                    "nobody gets it twice.".format(
                        shown, where, connection_reason(error)
                    )
                )
                self._remember(key, "its outcome was unknown")
            self.logger.debug(
                "Socket Exception: {}".format(hide(str(error), self.password))
            )
            return False

        return self._judge_answer(key, shown, numbers, r)

    def _judge_answer(self, key, shown, numbers, r):
        """Judge the provider's answer to a batch; True when accepted."""
        status = r.status_code
        if not 200 <= status < 300:
            status_str = NotifyBase.http_response_code_lookup(status)
            self.logger.debug(
                "Response Details:\r\n{!r}".format(
                    hide(str(r.content or b"")[:2000], self.password)
                )
            )
            if 300 <= status < 400:
                self.logger.error(
                    "MASGSM did not send {}: HTTP {} redirects to {}, and "
                    "redirects are not followed, since the password would go "
                    "along. Set base= to the address that answers.".format(
                        shown, status, r.headers.get("Location") or "elsewhere"
                    )
                )
            elif status == 503:
                self.logger.error(
                    "MASGSM did not send {}: HTTP 503, the service is "
                    "unavailable and processed nothing.".format(shown)
                )
            elif status >= 500:
                self.logger.error(
                    "MASGSM {} has an unknown outcome: HTTP {}{}{}. It is "
                    "not sent again automatically, so nobody gets it "
                    "twice.".format(
                        shown, status, ", " if status_str else "", status_str
                    )
                )
                self._remember(key, "its outcome was unknown")
            else:
                self.logger.error(
                    "MASGSM did not send {}: HTTP {}{}{} from {}; check the "
                    "base URL.".format(
                        shown,
                        status,
                        ", " if status_str else "",
                        status_str,
                        self.base_url,
                    )
                )
            return False

        code, answer = read_answer(r.content)
        if code is None or code not in MASGSM_ANSWERS:
            self.logger.error(
                "MASGSM {} has an unknown outcome: the answer {} is not one "
                "MASGSM documents. It is not sent again automatically, so "
                "nobody gets it twice.".format(
                    shown,
                    "code {}".format(code) if code is not None else "body",
                )
            )
            self.logger.debug(
                "Response Details:\r\n{!r}".format(
                    hide(str(r.content or b"")[:2000], self.password)
                )
            )
            self._remember(key, "its outcome was unknown")
            return False

        message_id = answer.get("id")
        reason = MASGSM_ANSWERS[code]
        if code == 1:
            self.logger.info(
                "Sent MASGSM {}: answer 1 ({}), message id {}.".format(
                    shown, reason, message_id
                )
            )
            self._remember(key, "accepted")
            return True

        if code == 3:
            went = self._delivered_count(message_id)
            self.logger.error(
                "MASGSM sent only {} of {} messages of {}: answer 3 ({}, "
                "message id {}). Top up the account.".format(
                    "some" if went is None else went,
                    len(numbers),
                    shown,
                    reason,
                    message_id,
                )
            )
            self._remember(key, "it was partly sent (answer 3)")
            return False

        self.logger.error(
            "MASGSM did not send {}: answer {} ({}).".format(
                shown, code, reason
            )
        )
        return False

    def _remember(self, key, state):
        """Keep a batch's outcome for later attempts of this notification."""
        self.mark_delivered(key)
        self.remember(key, state)

    def _delivered_count(self, message_id):
        """How many numbers a partial send reached, from its delivery report.

        The report (type 2) lists each number as delivered, failed or
        pending; None when it cannot be read.
        """
        if not message_id:
            return None
        data = php_form(
            {
                "type": "2",
                "u": self.user,
                "p": self.password,
                "id": str(message_id),
            }
        )
        self.throttle()
        try:
            r = requests.post(
                "{}/api_post.php".format(self.base_url),
                data=data,
                headers={
                    "User-Agent": self.app_id,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                verify=self.verify_certificate,
                timeout=self.request_timeout,
                allow_redirects=False,
            )
            report = json.loads(r.content)
        except (requests.RequestException, ValueError, TypeError):
            return None
        if not isinstance(report, dict):
            return None
        lists = [report.get(k) for k in ("Iletilen", "Hatali", "Bekleyen")]
        if not all(isinstance(entry, list) for entry in lists):
            return None
        return sum(len(entry) for entry in lists)

    def url_arguments(self):
        """The ?key= arguments this object's URL carries."""
        params = {
            "lang": self.lang,
            "method": self.method,
            "batch": str(self.batch),
        }
        if self.base_url != (
            MASGSM_HTTPS_URL if self.secure else MASGSM_HTTP_URL
        ):
            params["base"] = self.base_url
        return params

    def url(self, privacy=False, *args, **kwargs):
        """Returns the URL built dynamically based on specified arguments."""
        params = self.url_arguments()

        # Extend our parameters
        params.update(self.url_parameters(privacy=privacy, *args, **kwargs))

        # This service's own read timeout is not an override
        if params.get("rto") == str(type(self).socket_read_timeout):
            del params["rto"]

        return masgsm_url(
            self.secure,
            self.user,
            self.password,
            self.title,
            self.targets,
            params,
            privacy,
        )

    @property
    def url_identifier(self):
        """Returns all of the identifiers that make this URL unique from
        another simliar one.

        Targets or end points should never be identified here.
        """
        return (self.secure_protocol, self.user, self.password, self.base_url)

    def __len__(self):
        """Returns the number of requests a notification makes."""
        return max(1, -(-len(self.targets) // self.batch))

    @staticmethod
    def parse_url(url):
        """Parses the URL and returns enough arguments that can allow us to re-
        instantiate this object."""
        results = NotifyBase.parse_url(url, verify_host=False)
        if not results:
            # We're done early as we couldn't load the results
            return results

        # The title (sender ID) is the host, unless ?title= or ?from= gives
        # one that could not sit there
        qsd = results["qsd"]
        results["title"] = NotifyMasGSM.unquote(
            qsd.get("title") or qsd.get("from") or results["host"] or ""
        )

        # Get our entries; split_path() looks after unquoting content for us
        # by default
        results["targets"] = NotifyMasGSM.split_path(results["fullpath"])

        # Support the 'to' variable so that we can support targets this way
        # too; the 'to' makes it easier to use yaml configuration
        if qsd.get("to"):
            results["targets"] += NotifyMasGSM.parse_phone_no(qsd["to"])

        for key in ("lang", "method", "base", "batch"):
            if qsd.get(key):
                results[key] = NotifyMasGSM.unquote(qsd[key])

        return results


# In Apprise's own plugins package this class is found by its name.  Loaded
# from a plugin folder (such as ~/.config/apprise/plugins), nothing scans the
# file for classes, so it registers its schemas itself, unless a MASGSM
# service is already registered.
if __name__.startswith("apprise.custom."):
    N_MGR = NotificationManager()
    if not any(schema in N_MGR for schema in ("masgsm", "masgsms")):
        N_MGR.add(NotifyMasGSM)
