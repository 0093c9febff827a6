# Tests of the MASGSM service (apprise/plugins/masgsm.py), written the way
# Apprise tests its built-ins: a table of URLs run through AppriseURLTester,
# then batching, the form encoding, the answer codes and the safety rules,
# with requests mocked.
from contextlib import contextmanager
import logging
import socket
from unittest import mock

from helpers import AppriseURLTester
import pytest
import requests

from apprise import Apprise, LogCapture
from apprise.exception import AppriseImproperlyConfigured
from apprise.plugins.masgsm import NotifyMasGSM

logging.disable(logging.CRITICAL)

# What MASGSM answers to a send it accepted
GOOD = {"code": 1, "message": "OK", "id": "123456"}

# Five numbers of Turkish mobile operators, written the ways people do
NUMBERS = (
    "0532 111 22 33/+905334445566/5051234567/0090 542 111 22 33/5552223344"
)

apprise_url_tests = (
    (
        "masgsm://",
        {
            # No user code or password
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://:@/",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000@MASGSMTEST/5321112233",
        {
            # No password
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/",
        {
            # No numbers
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/12345/02125551122/+441234567890",
        {
            # Not one Turkish mobile number
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@/5321112233",
        {
            # No title (sender ID)
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?title=TWELVECHARSX",
        {
            # A title longer than 11 characters
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?lang=de",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?method=put",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?method=get&lang=tr",
        {
            # The GET API sends plain text only
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?batch=0",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?batch=991",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?batch=many",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?base=ftp://x",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://169.254.169.254/latest",
        {
            # A cloud metadata service is never sent the password
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://2852039166/latest",
        {
            # The same address, written as one number
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://[fd00:ec2::254]/",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://[fe80::1]:8080/",
        {
            # Link-local
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://metadata.google.internal/",
        {
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsms://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://proxy.example/MasApiV2",
        {
            # masgsms:// never sends the password over http
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://user:pw@proxy.example/MasApiV2",
        {
            # Credentials belong to the masgsm:// URL, not the base URL
            "instance": AppriseImproperlyConfigured,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
            # Our expected url(privacy=True) startswith() response:
            "privacy_url": "masgsm://5300000000:****@MASGSMTEST/5321112233",
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/{}?batch=2".format(NUMBERS),
        {
            # Five numbers in three requests
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
            "privacy_url": "masgsm://5300000000:****@MASGSMTEST/5321112233/"
            "5334445566/5051234567/5421112233/5552223344",
        },
    ),
    (
        "masgsms://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
            "privacy_url": "masgsms://5300000000:****@MASGSMTEST/5321112233",
        },
    ),
    (
        "masgsms://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=https://proxy.example/MasApiV2",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@/?to=5321112233,5334445566&title=MY%20FIRM",
        {
            # A title that cannot sit in the host part
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
            "privacy_url": "masgsm://5300000000:****@MY%20FIRM/5321112233",
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@/5321112233?from=ACME",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
            "privacy_url": "masgsm://5300000000:****@ACME/5321112233",
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?lang=tr",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?lang=plain",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?method=get",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://localhost:8080/MasApiV2/",
        {
            "instance": NotifyMasGSM,
            "requests_response_text": GOOD,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            # A bare code is an answer too
            "instance": NotifyMasGSM,
            "requests_response_text": "1",
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            # Wrong user code or password
            "instance": NotifyMasGSM,
            "requests_response_text": {"code": 401},
            "notify_response": False,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233/5334445566",
        {
            # The balance ran out part-way
            "instance": NotifyMasGSM,
            "requests_response_text": {"code": "3", "id": "9"},
            "notify_response": False,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            # An answer MASGSM does not document
            "instance": NotifyMasGSM,
            "requests_response_text": "<html>Bakım çalışması</html>",  # noqa: RUF001
            "notify_response": False,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            "instance": NotifyMasGSM,
            # throw a bizarre code forcing us to fail to look it up
            "response": False,
            "requests_response_code": 999,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            "instance": NotifyMasGSM,
            "response": False,
            "requests_response_code": 500,
        },
    ),
    (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233",
        {
            "instance": NotifyMasGSM,
            # Throws a series of i/o exceptions with this flag
            # is set and tests that we gracefully handle them
            "test_requests_exceptions": True,
        },
    ),
)


def test_plugin_masgsm_urls():
    """NotifyMasGSM() Apprise URLs."""

    # Run our general tests
    AppriseURLTester(tests=apprise_url_tests).run_all()


@contextmanager
def logs(level=logging.DEBUG):
    """What Apprise logs at `level` and above, with logging switched on."""
    disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        with LogCapture(level=level) as captured:
            yield captured
    finally:
        logging.disable(disabled)


def answer(body, status=requests.codes.ok, location=None):
    """A response as requests returns it."""
    response = mock.Mock()
    response.status_code = status
    response.content = body.encode("utf-8") if isinstance(body, str) else body
    response.headers = {"Location": location} if location else {}
    return response


def refused_connection():
    """The exception requests raises for a refused connection."""
    import urllib3

    reason = urllib3.exceptions.NewConnectionError(
        None,
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None, "/MasApiV2/api_post.php", reason
        )
    )


@mock.patch("requests.post")
def test_plugin_masgsm_batches(mock_post):
    """NotifyMasGSM() sends one text to `batch` numbers a request."""
    mock_post.return_value = answer('{"code": 1, "id": "7"}')

    obj = Apprise.instantiate(
        "masgsm://5300000000:P%40ss~1@MASGSMTEST/{}?batch=2".format(NUMBERS)
    )
    assert isinstance(obj, NotifyMasGSM)
    obj.request_rate_per_sec = 0
    assert len(obj) == 3
    assert obj.notify(body="Disk dolu", title="Sunucu") is True

    assert mock_post.call_count == 3
    for call in mock_post.call_args_list:
        assert call[0][0] == "http://masgsm.com.tr/MasApiV2/api_post.php"
        assert call[1]["verify"] is True
        assert call[1]["timeout"] == obj.request_timeout
        assert call[1]["allow_redirects"] is False
        assert call[1]["headers"]["Content-Type"] == (
            "application/x-www-form-urlencoded"
        )

    # The body is what PHP's http_build_query gives: '~' escaped, space '+'
    assert [call[1]["data"] for call in mock_post.call_args_list] == [
        "type=0&u=5300000000&p=P%40ss%7E1&message=Sunucu%0D%0ADisk+dolu"
        "&title=MASGSMTEST&numbers=" + numbers
        for numbers in (
            "5321112233%2C5334445566",
            "5051234567%2C5421112233",
            "5552223344",
        )
    ]


@pytest.mark.parametrize(
    ("lang", "body", "message", "lang_tr"),
    (
        ("auto", "Disk dolu", "Disk+dolu", False),
        ("auto", "Sayın Ömer", "Say%C4%B1n+%C3%96mer", True),  # noqa: RUF001
        # Without lang=tr even ö arrives changed, so it asks for it
        ("auto", "kör", "k%C3%B6r", True),
        ("tr", "Disk dolu", "Disk+dolu", True),
        ("plain", "Sayın Ömer, çğış €", "Sayin+Omer%2C+cgis+%E2%82%AC", False),  # noqa: RUF001
        ("plain", "Uyarı 🔥", "Uyari+%3F", False),  # noqa: RUF001
    ),
)
@mock.patch("requests.post")
def test_plugin_masgsm_lang(mock_post, lang, body, message, lang_tr):
    """lang=tr goes with a text that needs Turkish letters, and only then."""
    mock_post.return_value = answer('{"code": 1, "id": "7"}')
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?lang={}".format(lang)
    )
    assert obj.notify(body=body) is True
    data = mock_post.call_args[1]["data"]
    assert "&message={}&".format(message) in data
    assert data.endswith("&lang=tr") is lang_tr


@mock.patch("requests.get")
@mock.patch("requests.post")
def test_plugin_masgsm_get(mock_post, mock_get):
    """method=get sends plain ASCII through the GET API."""
    mock_get.return_value = answer("1")
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@SANDBOX/5321112233?method=get"
    )
    assert obj.notify(body="Işık: açık kapı") is True  # noqa: RUF001
    assert mock_post.call_count == 0
    assert mock_get.call_count == 1
    assert mock_get.call_args[0][0] == (
        "http://masgsm.com.tr/MasApiV2/api_get.php?u=5300000000&p=s3cr3t"
        "&message=Isik%3A+acik+kapi&title=SANDBOX&numbers=5321112233"
    )
    assert mock_get.call_args[1]["allow_redirects"] is False


@pytest.mark.parametrize(
    ("body", "expected", "level"),
    (
        (
            '{"code": 1, "id": "42"}',
            "Sent MASGSM batch 1 of 1 (1 number): answer 1 (accepted), "
            "message id 42.",
            logging.INFO,
        ),
        (
            '{"code": 0}',
            "did not send batch 1 of 1 (1 number): answer 0 (sending error).",
            logging.ERROR,
        ),
        (
            "2",
            "answer 2 (the balance is too low, nothing was sent).",
            logging.ERROR,
        ),
        (
            '{"code": 3, "id": "43"}',
            "answer 3 (the balance ran out part-way, only some numbers were "
            "sent, message id 43)",
            logging.ERROR,
        ),
        (
            '{"code": "400"}',
            "answer 400 (a parameter is missing",
            logging.ERROR,
        ),
        ("401", "answer 401 (wrong user code or password).", logging.ERROR),
        ("402", "answer 402 (the title (sender ID) is wrong", logging.ERROR),
        (
            "403",
            "answer 403 (the title (sender ID) is banned).",
            logging.ERROR,
        ),
        (
            "405",
            "answer 405 (a number is not in the 5xxxxxxxxx",
            logging.ERROR,
        ),
        (
            '{"code": 7}',
            "has an unknown outcome: the answer code 7 is not one MASGSM "
            "documents.",
            logging.ERROR,
        ),
        (
            "Fatal error",
            "has an unknown outcome: the answer body is not one MASGSM "
            "documents.",
            logging.ERROR,
        ),
    ),
)
@mock.patch("requests.post")
def test_plugin_masgsm_answer_codes(mock_post, body, expected, level):
    """Every answer code is logged with its reason."""
    mock_post.return_value = answer(body)
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
    )
    with logs(level) as captured:
        assert obj.notify(body="Merhaba") is (level == logging.INFO)
    assert expected in captured.getvalue()


@mock.patch("requests.post")
def test_plugin_masgsm_a_refused_batch_stops_the_rest(mock_post):
    """The first batch MASGSM refuses ends the send, saying what is left."""
    mock_post.side_effect = (answer('{"code": 1, "id": "1"}'), answer("2"))
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/{}?batch=2".format(NUMBERS)
    )
    obj.request_rate_per_sec = 0
    with logs(logging.ERROR) as captured:
        assert obj.notify(body="Merhaba") is False
    assert mock_post.call_count == 2
    assert (
        "MASGSM stopped: 1 later batch (1 number) was not sent."
        in captured.getvalue()
    )


@mock.patch("requests.post")
def test_plugin_masgsm_redirects_are_not_followed(mock_post):
    """A redirect would carry the password elsewhere: the send stops."""
    mock_post.return_value = answer(
        "", status=307, location="http://elsewhere.example/api_post.php"
    )
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
    )
    with logs(logging.ERROR) as captured:
        assert obj.notify(body="Merhaba") is False
    assert mock_post.call_count == 1
    assert mock_post.call_args[1]["allow_redirects"] is False
    assert (
        "HTTP 307 redirects to http://elsewhere.example/api_post.php, and "
        "redirects are not followed" in captured.getvalue()
    )


@mock.patch("requests.post")
def test_plugin_masgsm_connection_failures_are_errors(mock_post):
    """A provider out of reach is reported at the level shown by default."""
    mock_post.side_effect = refused_connection()
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://127.0.0.1:9/MasApiV2"
    )
    with logs(logging.ERROR) as captured:
        assert obj.notify(body="Merhaba") is False
    assert (
        "MASGSM batch 1 of 1 (1 number) was not sent: could not connect to "
        "127.0.0.1:9 (Connection refused)." in captured.getvalue()
    )

    mock_post.side_effect = requests.exceptions.ReadTimeout("read timed out")
    with logs(logging.ERROR) as captured:
        assert obj.notify(body="Merhaba") is False
    assert "has an unknown outcome" in captured.getvalue()


@mock.patch("requests.post")
def test_plugin_masgsm_retry_sends_again_only_what_did_not_go(mock_post):
    """retry= repeats a batch that never left, never one that may have."""
    url = (
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233/5334445566"
        "?batch=1&retry=1&wait=0"
    )
    mock_post.side_effect = (
        refused_connection(),
        answer("1"),
        answer("1"),
    )
    apobj = Apprise()
    assert apobj.add(url)
    apobj[0].request_rate_per_sec = 0
    assert apobj.notify(body="Merhaba")
    assert mock_post.call_count == 3

    mock_post.reset_mock()
    mock_post.side_effect = (
        requests.exceptions.ReadTimeout("read timed out"),
        answer("1"),
    )
    apobj = Apprise()
    assert apobj.add(url)
    apobj[0].request_rate_per_sec = 0
    with logs(logging.ERROR) as captured:
        assert not apobj.notify(body="Merhaba")
    # The first batch may have gone: it is not sent again, nor is the second
    assert mock_post.call_count == 1
    assert "is not sent again: its outcome was unknown" in captured.getvalue()


@pytest.mark.parametrize(
    ("base", "expected"),
    (
        (
            "http://169.254.169.254/latest/meta-data",
            "host 169.254.169.254 is a link-local address (169.254.169.254)",
        ),
        (
            "http://0xa9.0xfe.0xa9.0xfe/",
            "is a link-local address (169.254.169.254)",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "is a link-local address (169.254.169.254)",
        ),
        (
            "http://100.100.100.200/",
            "is a cloud metadata address (100.100.100.200)",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1",
            "host metadata.google.internal is a cloud metadata service",
        ),
    ),
)
def test_plugin_masgsm_unsafe_base_hosts(base, expected, monkeypatch):
    """Link-local and metadata hosts only with MASGSM_ALLOW_BASE_HOSTS."""
    monkeypatch.delenv("MASGSM_ALLOW_BASE_HOSTS", raising=False)
    url = "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233?base={}".format(
        base
    )
    with logs(logging.WARNING) as captured:
        assert Apprise.instantiate(url) is None
    assert expected in captured.getvalue()
    assert "Set MASGSM_ALLOW_BASE_HOSTS=" in captured.getvalue()

    host = base.split("/")[2].strip("[]")
    monkeypatch.setenv("MASGSM_ALLOW_BASE_HOSTS", "example.com, " + host)
    assert isinstance(Apprise.instantiate(url), NotifyMasGSM)


@mock.patch("requests.post")
def test_plugin_masgsm_base_host_is_checked_once_resolved(mock_post):
    """A name that resolves to a link-local address is refused at send."""
    mock_post.return_value = answer("1")
    obj = Apprise.instantiate(
        "masgsm://5300000000:s3cr3t@MASGSMTEST/5321112233"
        "?base=http://sms-proxy.example/MasApiV2"
    )
    assert isinstance(obj, NotifyMasGSM)
    resolved = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.1.1", 80))
    ]
    with (
        mock.patch("socket.getaddrinfo", return_value=resolved),
        logs(logging.ERROR) as captured,
    ):
        assert obj.notify(body="Merhaba") is False
    assert mock_post.call_count == 0
    assert (
        "host sms-proxy.example resolves to a link-local address "
        "(169.254.1.1): nothing was sent" in captured.getvalue()
    )


def test_plugin_masgsm_url_round_trip():
    """url() and parse_url() are inverses."""
    obj = Apprise.instantiate(
        "masgsms://5300000000:P%40ss@MY%20FIRM/0532 111 22 33"
        "?to=5334445566&lang=plain&batch=7&rto=12.5"
        "&base=https://proxy.example/MasApiV2/"
    )
    assert isinstance(obj, NotifyMasGSM)
    again = Apprise.instantiate(obj.url())
    assert again.url() == obj.url()
    assert again.url_identifier == obj.url_identifier
    assert (again.title, again.targets, again.lang, again.batch) == (
        "MY FIRM",
        ["5321112233", "5334445566"],
        "plain",
        7,
    )
    assert again.base_url == "https://proxy.example/MasApiV2"
    assert again.socket_read_timeout == 12.5
    assert "P%40ss" not in obj.url(privacy=True)
