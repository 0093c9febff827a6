"""`Service`: the account settings pipelines send with, from a masgsm:// URL or the environment."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
from helpers.cli import checked_verify

from masgsm_notify.client import DEFAULT_BASE_URL
from masgsm_notify.errors import MissingCredentialsError, UsageError
from masgsm_notify.sandbox import SandboxServer
from masgsm_notify.service import Service

PASSWORD = "Gizli:P@ss/w0rd+%~ş"
QUOTED = quote(PASSWORD, safe="")


@pytest.fixture(autouse=True)
def no_masgsm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MASGSM_USER", "MASGSM_PASSWORD", "MASGSM_TITLE", "MASGSM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_from_url_reads_every_part() -> None:
    service = Service.from_url(
        f"masgsm://5320000000:{QUOTED}@ACME/?lang=tr&base=http%3A%2F%2F127.0.0.1%3A9%2FMasApiV2"
    )
    assert service == Service(
        user="5320000000",
        password=PASSWORD,
        title="ACME",
        base_url="http://127.0.0.1:9/MasApiV2",
        lang="tr",
        method="post",
    )
    assert PASSWORD not in repr(service)


def test_from_url_defaults_follow_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Service.from_url(f"masgsm://5320000000:{QUOTED}@ACME/5321112233")
    assert (plain.base_url, plain.lang, plain.method) == (DEFAULT_BASE_URL, "auto", "post")
    secure = Service.from_url(f"masgsms://5320000000:{QUOTED}@ACME")
    assert secure.base_url == "https://masgsm.com.tr/MasApiV2"
    assert Service.from_url(f"masgsm://5320000000:{QUOTED}@/").title is None
    monkeypatch.setenv("MASGSM_TITLE", "SANDBOX")
    assert Service.from_url(f"masgsm://5320000000:{QUOTED}@/").title == "SANDBOX"


@pytest.mark.parametrize(
    "url",
    [
        f"masgsm://5320000000:{QUOTED}@ACME/?lang=tr&method=post",
        f"masgsms://5320000000:{QUOTED}@MY%20FIRM/?method=get&lang=plain",
        f"masgsm://5320000000:{QUOTED}@/?base=https%3A%2F%2Fproxy.example%2Fmas",
    ],
)
def test_url_round_trips_and_hides_the_password(url: str) -> None:
    service = Service.from_url(url)
    assert Service.from_url(service.url(privacy=False)) == service
    shown = service.url()
    assert ":****@" in shown
    assert PASSWORD not in shown and QUOTED not in shown


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://5320000000:{QUOTED}@ACME", "must be a masgsm:// or masgsms:// URL, not http://"),
        ("5320000000", "not a text without a scheme"),
        ("masgsm://5320000000@ACME", "user code and password are both required"),
        (f"masgsm://5320000000:{QUOTED}@ACME/?lang=de", "The MASGSM lang (de) is invalid"),
        (f"masgsm://5320000000:{QUOTED}@ACME/?method=put", "The MASGSM method (put) is invalid"),
        (f"masgsm://5320000000:{QUOTED}@ACME/?method=get&lang=tr", "lang=tr needs method=post"),
        (f"masgsm://5320000000:{QUOTED}@ACME/?base=ftp%3A%2F%2Fx", "base URL (ftp://x)"),
        (f"masgsm://5320000000:{QUOTED}@TWELVECHARSX", "title (sender ID) 'TWELVECHARSX'"),
    ],
)
def test_bad_urls_name_the_part_and_never_the_password(url: str, expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        Service.from_url(url)
    assert expected in str(raised.value)
    assert PASSWORD not in str(raised.value) and QUOTED not in str(raised.value)


def test_a_password_in_the_base_url_is_not_echoed() -> None:
    with pytest.raises(UsageError) as raised:
        Service.from_url(f"masgsm://5320000000:{QUOTED}@ACME/?base={QUOTED}")
    assert PASSWORD not in str(raised.value) and QUOTED not in str(raised.value)


def test_from_settings_takes_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASGSM_USER", "5320000000")
    monkeypatch.setenv("MASGSM_PASSWORD", PASSWORD)
    assert Service.from_settings() == Service("5320000000", PASSWORD, None, DEFAULT_BASE_URL)
    monkeypatch.setenv("MASGSM_TITLE", "ACME")
    monkeypatch.setenv("MASGSM_BASE_URL", "http://127.0.0.1:9/MasApiV2/")
    assert Service.from_settings() == Service(
        "5320000000", PASSWORD, "ACME", "http://127.0.0.1:9/MasApiV2"
    )


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({}, "missing: MASGSM_USER and MASGSM_PASSWORD are not set, and there is no config"),
        ({"MASGSM_USER": "5320000000"}, "missing: MASGSM_PASSWORD is not set"),
        ({"MASGSM_PASSWORD": PASSWORD}, "missing: MASGSM_USER is not set"),
    ],
)
def test_from_settings_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], expected: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MissingCredentialsError) as raised:
        Service.from_settings()
    assert expected in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_client_talks_to_the_account(sandbox: SandboxServer) -> None:
    service = Service.from_url(
        f"masgsm://5300000000:sandbox@MASGSMTEST/?base={quote(sandbox.base_url, safe='')}"
    )
    with service.client(timeout=(5.0, 5.0)) as masgsm:
        assert masgsm.title == "MASGSMTEST"
        result = masgsm.send(["5321112233"], "Merhaba")
    assert result.code == 1
    assert [(m["number"], m["title"]) for m in sandbox.messages()] == [("5321112233", "MASGSMTEST")]


def test_client_checks_certificates_unless_told_not_to(sandbox: SandboxServer) -> None:
    service = Service.from_url(
        f"masgsm://5300000000:sandbox@MASGSMTEST/?base={quote(sandbox.base_url, safe='')}"
    )
    with service.client() as checked, service.client(verify=False) as unchecked:
        assert checked.session.verify == checked_verify()
        assert unchecked.session.verify is False
        assert unchecked.balance() == 1_000_000
        assert (unchecked.title, unchecked.base_url) == ("MASGSMTEST", sandbox.base_url)
    session = requests.Session()
    with service.client(verify=False, session=session) as given:
        assert given.session is session and session.verify is True


def test_a_url_without_base_takes_masgsm_base_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("MASGSM_BASE_URL", "http://127.0.0.1:9/MasApiV2/")
    from_env = Service.from_url("masgsm://5300000000:pw@ACME/")
    explicit = Service.from_url("masgsm://5300000000:pw@ACME/?base=http://127.0.0.1:8/MasApiV2")
    monkeypatch.delenv("MASGSM_BASE_URL")
    plain = Service.from_url("masgsm://5300000000:pw@ACME/")
    secure = Service.from_url("masgsms://5300000000:pw@ACME/")
    assert from_env.base_url == "http://127.0.0.1:9/MasApiV2"
    assert explicit.base_url == "http://127.0.0.1:8/MasApiV2"
    assert plain.base_url == "http://masgsm.com.tr/MasApiV2"
    assert secure.base_url == "https://masgsm.com.tr/MasApiV2"


def test_an_https_url_refuses_an_http_base_from_the_environment(monkeypatch):
    """Neither over http nor, in silence, to the provider's real API instead."""
    monkeypatch.setenv("MASGSM_BASE_URL", "http://127.0.0.1:9/MasApiV2")
    with pytest.raises(UsageError, match=r"masgsms:// URL sends over https only.*MASGSM_BASE"):
        Service.from_url("masgsms://5300000000:pw@ACME/")
    monkeypatch.setenv("MASGSM_BASE_URL", "https://proxy.example/MasApiV2")
    assert Service.from_url("masgsms://5300000000:pw@ACME/").base_url == (
        "https://proxy.example/MasApiV2"
    )
