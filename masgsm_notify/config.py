"""Where a MASGSM account's settings come from: options, then the environment, then a config file.

This is the one place that reads MASGSM_USER, MASGSM_PASSWORD, MASGSM_TITLE, MASGSM_BASE_URL and
MASGSM_ACCOUNT, and the config file `$XDG_CONFIG_HOME/masgsm-notify/config.toml` (by default
`~/.config/masgsm-notify/config.toml`):

    account = "acme"                  # the account used when none is chosen
    base = "https://masgsm.com.tr/MasApiV2"   # top-level keys are defaults for every account

    [accounts.acme]
    user = "5321112233"
    title = "ACME"
    password_file = "acme.password"   # relative to this folder; or MASGSM_PASSWORD

An account is chosen with `--account NAME` (`choose_account`), else MASGSM_ACCOUNT, else the
file's `account =`. Each setting is taken from the first of: what the caller was given (options,
a pipeline's `service:` mapping), the environment, the chosen account, the file's top level. A
password may sit in the file itself only when no one else can read the file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingCredentialsError, did_you_mean
from .logs import remember_secret

log = logging.getLogger(__name__)

ENVIRONMENT = {
    "user": "MASGSM_USER",
    "password": "MASGSM_PASSWORD",
    "title": "MASGSM_TITLE",
    "base": "MASGSM_BASE_URL",
}
ACCOUNT_VARIABLE = "MASGSM_ACCOUNT"
# What an account (or the file's top level) may hold.
ACCOUNT_KEYS = ("user", "title", "base", "password_file", "password")

_chosen: str | None = None  # by --account, for this process


def choose_account(name: str | None) -> None:
    """The account `--account NAME` names, for everything this process resolves from now on."""
    global _chosen
    _chosen = name.strip() if name and name.strip() else None


def chosen_account() -> str | None:
    """The account `--account NAME` chose for this process, if it did (for a command that
    repeats this one)."""
    return _chosen


def config_path() -> Path:
    """`$XDG_CONFIG_HOME/masgsm-notify/config.toml`, else under `~/.config` (a relative
    XDG_CONFIG_HOME is ignored, as the XDG specification says)."""
    home = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(home) if home and Path(home).is_absolute() else Path.home() / ".config"
    return base / "masgsm-notify" / "config.toml"


@dataclass(frozen=True)
class Account:
    """Resolved account settings; None where nothing gave one. The password is left out of
    `repr`; `account` and `config` say where gaps were filled from, for messages."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    title: str | None = None
    base: str | None = None
    account: str | None = None  # the config account that filled gaps, if one did
    config: Path | None = None  # the config file read, if there is one


def setting(name: str) -> str | None:
    """One setting ("title" or "base") from the environment, else the config file's account
    (no password is read for it)."""
    found = _text(os.environ.get(ENVIRONMENT[name]))
    if found:
        return found
    chosen, how = _chosen_account()
    return _load().account(chosen, how)[1].get(name)


def resolve(
    given: Mapping[str, Any] | None = None, *, required: bool = True, where: str = ""
) -> Account:
    """The account settings from `given` (user, password, password_file, title, base; None or
    absent = not given), then the environment, then the config file. A `password_file` given
    comes before MASGSM_PASSWORD: it was named for this service.

    With `required`, a missing user or password raises `MissingCredentialsError`, saying where
    each could come from; `where` (a pipeline's `service:` location) prefixes errors.
    """
    given = {key: value for key, value in (given or {}).items() if value not in (None, "")}
    found: dict[str, str | None] = {
        key: _text(given.get(key)) or _text(os.environ.get(variable))
        for key, variable in ENVIRONMENT.items()
        if key != "password"
    }
    # A password is taken as it is: spaces at either end may be part of it.
    found["password"] = given.get("password")
    if not found["password"] and given.get("password_file"):
        named = f"{where}: service: password_file" if where else "password_file"
        found["password"] = _read_password_file(Path(given["password_file"]), named, required)
    found["password"] = found["password"] or os.environ.get(ENVIRONMENT["password"]) or None
    chosen, how = _chosen_account()
    sources: dict[str, Any] = {}
    if chosen or not all(found.values()):
        config = _load()
        name, table = config.account(chosen, how)
        sources = {"account": name, "config": config.path if config.exists else None}
        if chosen and found["user"] and table.get("user") not in (None, found["user"]):
            _warn_once(
                f"{'The user given' if given.get('user') else ENVIRONMENT['user']} "
                f"({found['user']}) "
                f"overrides the user of account {chosen!r} ({table['user']}): options come "
                "first, then the environment, then the config file."
            )
        for key in ("user", "title", "base"):
            found[key] = found[key] or table.get(key)
        if not found["password"]:
            found["password"] = config.password(table, required)
    account = Account(
        user=found["user"],
        password=found["password"],
        title=found["title"],
        base=found["base"],
        **sources,
    )
    if account.password:
        remember_secret(account.password)
    if required and not (account.user and account.password):
        unset = tuple(key for key in ("user", "password") if not getattr(account, key))
        raise MissingCredentialsError(_missing(account, unset, given, where), unset)
    return account


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _chosen_account() -> tuple[str | None, str]:
    """The chosen account's name and how it was chosen (for messages), if any."""
    if _chosen:
        return _chosen, f"--account {_chosen}"
    named = _text(os.environ.get(ACCOUNT_VARIABLE))
    return (named, f"{ACCOUNT_VARIABLE}={named}") if named else (None, "")


def _missing(account: Account, unset: tuple[str, ...], given: Mapping[str, Any], where: str) -> str:
    names = [ENVIRONMENT[key] for key in unset]
    verb = "is" if len(names) == 1 else "are"
    if account.account:
        source = (
            f"account {account.account!r} of {account.config} does not give them either "
            "(user, and password_file or password)"
        )
    elif account.config:
        source = (
            f"{account.config} names no account (choose one with --account NAME or "
            f"{ACCOUNT_VARIABLE}, or set account = NAME there)"
        )
    else:
        source = f"there is no config file at {config_path()} with an account to give them"
    text = f"MASGSM credentials are missing: {' and '.join(names)} {verb} not set, and {source}."
    return f"{where}: service: {text}" if where and given else text


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


def _read_password_file(path: Path, named: str, required: bool) -> str | None:
    """The first line of a password file; a missing file is missing credentials."""
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if not required:
            return None
        raise MissingCredentialsError(f"{named} {path} was not found.") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{named} {path} cannot be read: {reason}.") from None
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        raise ConfigError(f"{named} {path} is empty: its first line is the password.")
    return password


@dataclass
class _Config:
    """A parsed, checked config file (empty when there is none)."""

    path: Path
    top: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    default: str | None = None
    exists: bool = False

    def account(self, chosen: str | None, how: str) -> tuple[str | None, dict[str, str]]:
        """The chosen (or default) account's name, and its settings over the top-level ones."""
        name = chosen or self.default
        if name is None:
            return None, dict(self.top)
        if not self.exists:
            raise ConfigError(f"{how}: there is no config file at {self.path} to name accounts.")
        if name not in self.accounts:
            known = ", ".join(self.accounts) or "none"
            missing = f"[accounts.{name}] (accounts: {known})"
            if how:
                raise ConfigError(f"{how}: {self.path} has no {missing}.")
            raise ConfigError(f"{self.path}: account = {name!r}, but there is no {missing}.")
        return name, {**self.top, **self.accounts[name]}

    def password(self, table: dict[str, str], required: bool) -> str | None:
        if table.get("password_file"):
            named = f"{self.path}: password_file"
            return _read_password_file(
                self.path.parent / Path(table["password_file"]).expanduser(), named, required
            )
        return table.get("password")


def _load() -> _Config:
    path = config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _Config(path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror}.") from None
    if sys.version_info >= (3, 11):  # a TOML parser only for those who have a config file
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}).") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}.") from None
    config = _Config(path, exists=True)
    accounts = data.pop("accounts", {})
    default = data.pop("account", None)
    config.top = _table(data, "the top level", path, extra=("account", "accounts"))
    if not isinstance(accounts, dict):
        raise ConfigError(f"{path}: accounts should be tables, [accounts.NAME].")
    config.accounts = {
        name: _table(table, f"[accounts.{name}]", path) for name, table in accounts.items()
    }
    if default is not None:
        if not isinstance(default, str) or not default.strip():
            raise ConfigError(f"{path}: account should be the name of an [accounts.NAME].")
        config.default = default.strip()
    _refuse_readable_password(config)
    return config


def _table(data: Any, label: str, path: Path, extra: tuple[str, ...] = ()) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {label} should be a table of keys ({', '.join(ACCOUNT_KEYS)}).")
    checked = {}
    for key, value in data.items():
        if key not in ACCOUNT_KEYS:
            hint = did_you_mean(key, (*ACCOUNT_KEYS, *extra), f"; known: {', '.join(ACCOUNT_KEYS)}")
            raise ConfigError(f"{path}: {label}: unknown key {key!r}{hint}")
        if isinstance(value, int) and not isinstance(value, bool) and key == "user":
            value = str(value)  # user = 5321112233 written without quotes
        if not isinstance(value, str) or not value.strip():
            shown = "a value" if key == "password" else repr(value)
            raise ConfigError(f"{path}: {label}: {key} should be text, not {shown}.")
        checked[key] = value if key == "password" else value.strip()
    return checked


def _refuse_readable_password(config: _Config) -> None:
    """A password written into the file is safe only in a file no one else can read."""
    tables = [config.top, *config.accounts.values()]
    if os.name != "posix" or not any("password" in table for table in tables):
        return
    for table in tables:
        if table.get("password"):
            remember_secret(table["password"])
    mode = config.path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"{config.path} holds a password but others can read it (mode {mode & 0o777:o}): "
            f"run chmod 600 {config.path}, or move the password to a password_file or "
            "MASGSM_PASSWORD."
        )


def with_stand_ins(account: Account) -> Account:
    """The account with stand-ins for a missing user or password, to read its other settings
    where the secrets are not needed (a dry run, a sandbox run)."""
    return dataclasses.replace(
        account, user=account.user or "stand-in", password=account.password or "stand-in"
    )
