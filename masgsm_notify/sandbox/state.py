"""What the sandbox MASGSM knows and how it answers, with no HTTP in sight.

Every request arrives here as the decoded form fields of the provider's document and leaves as
the body text the provider would send back. Keeping the API's rules in one plain object makes them
easy to read against `MASGSM_API.md` and lets the HTTP layer stay a thin shell.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import text as sms_text
from .store import MessageStore

NUMBER_FORMAT = re.compile(r"5\d{9}")

ANSWER_TEXT = {
    0: "Gönderim Hatası",
    1: "Başarılı",
    2: "Yetersiz Bakiye",
    3: "Yetersiz Bakiye, Parça gönderim sağlandı",
    400: "Eksik Parametre",
    401: "Kullanıcı Adı Şifre Hatası",
    402: "Hatalı veya Geçersiz Başlık",
    403: "Yasaklı Başlık",
    405: "Geçersiz Numara Biçimi, Geçerli Numara Biçimi: 5xxxxxxxxx",
}


@dataclass
class SandboxConfig:
    """The sandbox's starting state. The defaults are the documented contract."""

    user: str = "5300000000"
    password: str = "sandbox"
    titles: tuple[str, ...] = ("MASGSMTEST", "SANDBOX")
    banned_titles: tuple[str, ...] = ("BANNED",)
    balance: int = 1_000_000
    settle_ms: int = 200
    fail_suffixes: tuple[str, ...] = ("99",)
    bare_codes: bool = False  # answer error codes as a bare number instead of JSON


@dataclass
class Account:
    password: str
    balance: int
    titles: set[str]
    banned_titles: set[str]
    reseller: bool = True
    profile: dict[str, str] = field(default_factory=dict)


class Answer(Exception):
    """Stops handling a request with an answer code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class SandboxState:
    """Accounts, balance, titles and messages, guarded by one lock."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        c = self.config
        with self.lock:
            self.accounts = {
                c.user: Account(c.password, c.balance, set(c.titles), set(c.banned_titles))
            }
            self.store = MessageStore()
            # Wall-clock times (time.time()) of the first API request and the first accepted
            # send, for a benchmark asking how soon a run starts talking.
            self.first_request_at: float | None = None
            self.first_send_at: float | None = None

    # -- inspection ----------------------------------------------------------------------------

    def messages(self, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Accepted (number, text) pairs, oldest first, as the inspection endpoint lists them."""
        with self.lock:
            return self.store.listed(offset, limit)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "messages": len(self.store),
                "sends": self.store.sends(),
                "balances": {user: a.balance for user, a in self.accounts.items()},
                "first_request_at": self.first_request_at,
                "first_send_at": self.first_send_at,
            }

    # -- the V2 API ------------------------------------------------------------------------------

    def handle_v2(self, fields: Mapping[str, Any]) -> str:
        """Answer one V2 POST request (types 0-4)."""
        try:
            account = self._login(fields.get("u"), fields.get("p"))
            kind = str(fields.get("type", ""))
            if kind == "0":
                return self._send(account, fields, lambda n: [_text(fields, "message")] * n)
            if kind == "1":
                return self._send(account, fields, lambda n: _text_list(fields, n))
            if kind == "2":
                return self._report(_required(fields, "id"))
            if kind == "3":
                return self._register(account, fields.get("register"))
            if kind == "4":
                return _json(
                    {"code": 1, "message": "Hesap Bakiyesi", "balance": f"{account.balance:06d}"}
                )
            raise Answer(400)
        except Answer as answer:
            return self._code(answer.code)

    def handle_get(self, fields: Mapping[str, Any]) -> str:
        """Answer the V2 GET method: plain text, one text to one or many numbers."""
        try:
            account = self._login(fields.get("u"), fields.get("p"))
            plain = {key: value for key, value in fields.items() if key != "lang"}
            return self._send(account, plain, lambda n: [_text(plain, "message")] * n)
        except Answer as answer:
            return self._code(answer.code)

    def _login(self, user: Any, password: Any) -> Account:
        if self.first_request_at is None:
            self.first_request_at = time.time()
        if not user or not password:
            raise Answer(400)
        account = self.accounts.get(str(user))
        if account is None or account.password != password:
            raise Answer(401)
        return account

    def _send(self, account: Account, fields: Mapping[str, Any], texts_for) -> str:
        """Validate, price and record a send; `texts_for(n)` gives one text per number."""
        title = _required(fields, "title")
        numbers = [n.strip() for n in str(_required(fields, "numbers")).split(",")]
        texts = texts_for(len(numbers))
        if title in account.banned_titles:
            raise Answer(403)
        if title not in account.titles:
            raise Answer(402)
        if not all(NUMBER_FORMAT.fullmatch(n) for n in numbers):
            raise Answer(405)
        lang_tr = fields.get("lang") == "tr"
        delivered = texts if lang_tr else [sms_text.plain(t) for t in texts]
        costs = [sms_text.cost(t, lang_tr).segments for t in delivered]
        with self.lock:
            affordable, spent = 0, 0
            for segments in costs:
                if spent + segments > account.balance:
                    break
                affordable, spent = affordable + 1, spent + segments
            if affordable == 0:
                raise Answer(2)
            account.balance -= spent
            if self.first_send_at is None:
                self.first_send_at = time.time()
            message_id = self.store.add(
                title,
                numbers[:affordable],
                delivered[:affordable],
                costs[:affordable],
                time.monotonic(),
            )
        code = 1 if affordable == len(numbers) else 3
        return _json({"code": code, "message": ANSWER_TEXT[code], "id": message_id})

    def _report(self, message_id: str) -> str:
        lists = self.delivery(message_id)
        return _json({"Iletilen": lists[0], "Hatali": lists[1], "Bekleyen": lists[2]})

    def delivery(self, message_id: str) -> tuple[list[str], list[str], list[str]]:
        """(delivered, failed, pending) numbers of one send, as of now."""
        with self.lock:
            sent = self.store.send(str(message_id))
        if sent is None:
            return [], [], []
        numbers, accepted_at = sent
        if (time.monotonic() - accepted_at) * 1000 < self.config.settle_ms:
            return [], [], numbers
        failed = [n for n in numbers if n.endswith(self.config.fail_suffixes)]
        failed_set = set(failed)
        return [n for n in numbers if n not in failed_set], failed, []

    def _register(self, account: Account, form: Any) -> str:
        if not account.reseller:
            raise Answer(0)
        keys = ("username", "password", "fullname", "email", "phone")
        if not isinstance(form, Mapping) or not all(form.get(k) for k in keys):
            raise Answer(400)
        with self.lock:
            if form["username"] in self.accounts:
                raise Answer(0)
            self.accounts[form["username"]] = Account(
                form["password"],
                0,
                set(),
                set(),
                reseller=False,
                profile={k: form[k] for k in ("fullname", "email", "phone")},
            )
        return self._code(1)

    def _code(self, code: int) -> str:
        if self.config.bare_codes and code != 1:
            return str(code)
        return _json({"code": code, "message": ANSWER_TEXT[code]})

    # -- the older apiNo API ---------------------------------------------------------------------

    def handle_legacy(self, fields: Mapping[str, Any]) -> str:
        """Answer the older API (`apiNo` 1-5) in the shapes its public clients read."""
        try:
            account = self._login(fields.get("user"), fields.get("pass"))
            api = str(fields.get("apiNo", ""))
            if api in ("1", "5"):
                numbers = fields.get("numaralar")
                numbers = list(numbers.values()) if isinstance(numbers, Mapping) else numbers
                v2 = {
                    "title": fields.get("baslik"),
                    "numbers": ",".join(numbers or []),
                    "message": fields.get("mesaj"),
                }
                texts = (
                    (lambda n: [_text(v2, "message")] * n)
                    if api == "1"
                    else (lambda n: _text_list(v2, n))
                )
                message_id = json.loads(self._send(account, v2, texts))["id"]
                return f"DONUS|OK:{message_id}" if api == "1" else message_id
            if api == "2":
                return _json({"ORJINLI": str(account.balance)})
            if api == "3":
                return _json(sorted(account.titles))
            if api == "4":
                return self._legacy_report(_required(fields, "id"))
            raise Answer(400)
        except Answer as answer:
            return str(answer.code)

    def _legacy_report(self, message_id: str) -> str:
        delivered, failed, pending = self.delivery(message_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        states = (("Iletildi", delivered), ("Hatali", failed), ("Bekliyor", pending))
        return _json(
            [
                {"tarih": stamp, "durum": state, "numara": number}
                for state, numbers in states
                for number in numbers
            ]
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _required(fields: Mapping[str, Any], key: str) -> Any:
    value = fields.get(key)
    if value in (None, "", [], {}):
        raise Answer(400)
    return value


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = _required(fields, key)
    if not isinstance(value, str):
        raise Answer(400)
    return value


def _text_list(fields: Mapping[str, Any], count: int) -> list[str]:
    """Type 1's `message[0..n-1]`: exactly one non-empty text per number."""
    value = _required(fields, "message")
    if isinstance(value, Mapping):
        value = [value.get(str(i)) for i in range(len(value))]
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(t, str) and t for t in value)
    ):
        raise Answer(400)
    return value
