"""Checking on its own: what report polling does when the provider refuses it."""

from __future__ import annotations

import threading
import time

import pytest

from masgsm_notify.errors import CredentialsError
from masgsm_notify.pipeline import checking


class RefusingClient:
    """Every report request is refused as a wrong password would be, after a moment."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def report(self, message_id: str) -> None:
        with self._lock:
            self.requests += 1
        time.sleep(0.05)
        raise CredentialsError("MASGSM refused the user code and password (answer 401).")


class ManyBatches:
    """A run with 100 answered batches awaiting their reports."""

    def batches_to_check(self, partial_only: bool = False) -> list[tuple[int, str]]:
        return [(i, str(1000 + i)) for i in range(100)]

    def apply_report(self, *args: object) -> None:
        raise AssertionError("no report was read")


class NoPollLog:
    def __init__(self, records: object) -> None: ...
    def after_round(self, reports: int) -> None: ...
    def close(self) -> None: ...


def test_refused_credentials_stop_the_report_requests_at_once(monkeypatch):
    """A 401 ends the checking; the requests queued behind the refused one are not made, so a
    wrong password is not tried dozens more times (providers lock accounts for less)."""
    monkeypatch.setattr(checking, "PollLog", NoPollLog)
    client = RefusingClient()
    with pytest.raises(CredentialsError):
        checking.check_reports(
            ManyBatches(),
            client,
            wait=10,
            poll_every=1,
            concurrency=4,  # type: ignore[arg-type]
        )
    assert 1 <= client.requests <= 2 * 4  # those already out, none of the 96 others
