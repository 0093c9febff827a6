"""A masgsm:// URL written by someone else (a shared configuration file, apprise-api) can read
only the contacts files it is allowed to, learns nothing of the files it may not read, and
cannot send the password to a metadata service, over plain http, or along a redirect."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import apprise
import pytest
from helpers.http import QuietHandler, serving

from masgsm_notify import MasgsmClient
from masgsm_notify.apprise_plugin import NotifyMasGSM
from masgsm_notify.errors import UsageError
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.service import Service

ACCOUNT = "masgsm://5300000000:sandbox@MASGSMTEST"
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
)


@pytest.fixture(autouse=True)
def no_safety_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MASGSM_CONTACTS_DIR", "MASGSM_ALLOW_BASE_HOSTS", "MASGSM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def load(url: str) -> tuple[NotifyMasGSM | None, str]:
    """Apprise's instance for the URL (None when refused) and what it logged."""
    with apprise.LogCapture(level=logging.DEBUG) as logs:
        service = apprise.Apprise.instantiate(url)
    assert service is None or isinstance(service, NotifyMasGSM)
    return service, logs.getvalue()


def notify(url: str, body: str) -> tuple[bool, str]:
    with apprise.LogCapture(level=logging.DEBUG) as logs:
        notifier = apprise.Apprise()
        assert notifier.add(url), logs.getvalue()
        ok = bool(notifier.notify(body=body))
    return ok, logs.getvalue()


def contacts_url(path: str, base_url: str = "http://127.0.0.1:9/MasApiV2") -> str:
    return f"{ACCOUNT}/?contacts={quote(path, safe='')}&base={quote(base_url, safe='')}"


# -- contacts= ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/etc/passwd", "/etc/no-such-file", "~/.ssh/id_rsa"])
def test_an_absolute_contacts_path_is_refused_alike_whether_or_not_it_exists(name: str) -> None:
    service, logged = load(contacts_url(name))
    assert service is None
    assert (
        f"The MASGSM contacts file ({name}) is refused: a URL may name a file by a relative "
        "path inside the working directory, or one under a folder listed in "
        "MASGSM_CONTACTS_DIR (not set)." in logged
    )
    assert "not found" not in logged and "daemon" not in logged


def test_a_relative_path_may_not_leave_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.csv").write_text("phone\n5321112233\n", encoding="utf-8")
    (work / "link.csv").symlink_to(tmp_path / "secret.csv")
    (work / "customers.csv").write_text("phone\n5321112233\n", encoding="utf-8")
    monkeypatch.chdir(work)
    for name in ("../secret.csv", "link.csv", "sub/../../secret.csv"):
        service, logged = load(contacts_url(name))
        assert service is None
        assert f"The MASGSM contacts file ({name}) is refused" in logged
    service, _ = load(contacts_url("customers.csv"))
    assert service is not None and service.contacts_path == work / "customers.csv"
    assert service.url().count("contacts=customers.csv") == 1
    service, logged = load(contacts_url("missing.csv"))
    assert service is None
    assert "The MASGSM contacts file (missing.csv) was not found." in logged


def test_masgsm_contacts_dir_allows_its_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "c.csv").write_text("phone\n5321112233\n", encoding="utf-8")
    monkeypatch.setenv("MASGSM_CONTACTS_DIR", f"{first}:{second}")
    assert load(contacts_url(str(second / "c.csv")))[0] is not None
    assert load(contacts_url(str(first / "c.csv")))[0] is not None
    service, logged = load(contacts_url(str(tmp_path / "c.csv")))
    assert service is None
    assert f"or one under {first}:{second} (MASGSM_CONTACTS_DIR)." in logged
    service, logged = load(contacts_url(str(first / "gone.csv")))
    assert service is None and "was not found" in logged


def test_a_file_that_is_not_a_contacts_file_is_reported_by_rows_never_by_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    """As if /etc/passwd were in an allowed folder: nothing of it reaches the log."""
    monkeypatch.setenv("MASGSM_CONTACTS_DIR", str(tmp_path))
    path = tmp_path / "passwd"
    path.write_text(PASSWD, encoding="utf-8")
    header = PASSWD.splitlines()[0]
    for number_field, template in (("phone", "{{ x }}"), (header, "{{ row|money }}")):
        url = contacts_url(str(path), sandbox.base_url) + f"&number={quote(number_field)}"
        ok, logged = notify(url, template)
        assert not ok
        assert "personalised send refused, nothing was sent" in logged
        assert f"{path}:2: " in logged and f"{path}:3: " in logged
        assert "daemon" not in logged and "nologin" not in logged
    assert sandbox.messages() == []


def test_a_filters_complaint_names_the_row_not_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    monkeypatch.setenv("MASGSM_CONTACTS_DIR", str(tmp_path))
    path = tmp_path / "c.csv"
    path.write_text("phone,amount\n5321112233,gizli-tutar\n", encoding="utf-8")
    ok, logged = notify(contacts_url(str(path), sandbox.base_url), "{{ amount|money }}")
    assert not ok
    assert (
        f"{path}:2: template message line 1: field 'amount': money: a value it cannot read (not "
        "shown: it is the row's)" in logged
    )
    assert "gizli-tutar" not in logged


# -- base= ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "host", "why"),
    [
        ("http://169.254.169.254/latest", "169.254.169.254", "a link-local address"),
        ("http://169.254.169.254./latest", "169.254.169.254.", "a link-local address"),
        ("http://2852039166/", "2852039166", "a link-local address (169.254.169.254)"),
        ("http://[fe80::1%25eth0]/", "fe80::1%eth0", "a link-local address (fe80::1)"),
        ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe", "a link-local address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "a link-local address"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254", "a cloud metadata address"),
        ("http://METADATA.google.internal/", "metadata.google.internal", "a cloud metadata"),
    ],
)
def test_link_local_and_metadata_hosts_are_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, base: str, host: str, why: str
) -> None:
    url = f"{ACCOUNT}/5321112233?base={quote(base, safe='')}"
    service, logged = load(url)
    assert service is None
    assert f"is {why}" in logged and "MASGSM_ALLOW_BASE_HOSTS=" in logged
    with pytest.raises(UsageError) as raised:  # pipelines read service URLs the same way
        Service.from_url(url)
    assert f"is {why}" in str(raised.value)

    monkeypatch.setenv("MASGSM_ALLOW_BASE_HOSTS", host.split("%")[0].rstrip(".").lower())
    assert load(url)[0] is not None
    assert Service.from_url(url).base_url == unquote(base).rstrip("/")


def test_masgsm_allow_base_hosts_takes_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{ACCOUNT}/5321112233?base=http://169.254.10.20/MasApiV2"
    monkeypatch.setenv("MASGSM_ALLOW_BASE_HOSTS", "proxy.example, 169.254.10.0/24")
    assert load(url)[0] is not None
    monkeypatch.setenv("MASGSM_ALLOW_BASE_HOSTS", "169.254.11.0/24")
    assert load(url)[0] is None


def test_loopback_private_and_named_hosts_are_fine() -> None:
    for base in (
        "http://127.0.0.1:8765/MasApiV2",
        "http://[::1]:8765/MasApiV2",
        "http://10.1.2.3/MasApiV2",
        "https://sms-proxy.internal.example/MasApiV2",
    ):
        assert load(f"{ACCOUNT}/5321112233?base={quote(base, safe='')}")[0] is not None


def test_masgsms_never_takes_an_http_base(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "masgsms://5300000000:sandbox@MASGSMTEST/5321112233?base=http://127.0.0.1:9/MasApiV2"
    service, logged = load(url)
    assert service is None
    assert "A masgsms:// URL sends over https only, but its base URL is http://127.0.0.1:9" in (
        logged
    )
    with pytest.raises(UsageError, match="sends over https only"):
        Service.from_url(url)
    # An http base configured is refused too: not sent in clear, nor to the real API instead.
    monkeypatch.setenv("MASGSM_BASE_URL", "http://127.0.0.1:9/MasApiV2")
    service, logged = load("masgsms://5300000000:sandbox@MASGSMTEST/5321112233")
    assert service is None
    assert "sends over https only, but the base URL configured (MASGSM_BASE_URL" in logged


# -- redirects --------------------------------------------------------------------------------


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """A server that answers every request with a 307 to itself; its base URL and its log."""
    seen: list[str] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.body()
            seen.append(self.path)
            self.reply(307, Location=f"http://127.0.0.1:{port}/followed{self.path}")

    with serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/MasApiV2", seen


def test_the_apprise_service_never_follows_a_redirect(
    redirecting: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, seen = redirecting
    ok, logged = notify(f"{ACCOUNT}/5321112233?base={quote(base_url, safe='')}", "Merhaba")
    assert not ok
    assert seen == ["/MasApiV2/api_post.php"]
    followed = base_url.replace("/MasApiV2", "/followed/MasApiV2/api_post.php")
    assert f"HTTP 307 redirects to {followed}, and redirects are not followed" in logged

    monkeypatch.setenv("MASGSM_CONTACTS_DIR", str(tmp_path))
    (tmp_path / "c.csv").write_text("phone\n5334445566\n", encoding="utf-8")
    ok, logged = notify(contacts_url(str(tmp_path / "c.csv"), base_url), "Merhaba")
    assert not ok
    assert seen == ["/MasApiV2/api_post.php"] * 2
    assert "redirects are not followed, since the password would go along" in logged


def test_the_client_never_follows_a_redirect(redirecting: tuple[str, list[str]]) -> None:
    base_url, seen = redirecting
    with (
        MasgsmClient("5300000000", "sandbox", title="MASGSMTEST", base_url=base_url) as masgsm,
        pytest.raises(UsageError) as raised,
    ):
        masgsm.balance()
    assert seen == ["/MasApiV2/api_post.php"]
    assert "a redirect to http://127.0.0.1:" in str(raised.value)
    assert "redirects are not followed, since the password would go along" in str(raised.value)
