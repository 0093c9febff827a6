"""`masgsm-notify sandbox serve` stops cleanly on Ctrl-C or SIGTERM, however it was started."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import requests
from helpers.cli import CLI, clean_env


@pytest.mark.parametrize(
    ("stop", "ignored_at_start"),
    [
        (signal.SIGINT, False),
        (signal.SIGTERM, False),
        # A shell starts a background job with SIGINT ignored, and Python keeps it ignored.
        (signal.SIGINT, True),
    ],
    ids=["sigint", "sigterm", "sigint-ignored-by-the-parent"],
)
def test_sandbox_serve_stops_on_a_signal(
    stop: signal.Signals, ignored_at_start: bool, tmp_path: Path
) -> None:
    def start_as_a_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--port", "0"],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=start_as_a_background_job if ignored_at_start else None,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert requests.get(f"{base_url.rsplit('/MasApiV2', 1)[0]}/_sandbox/state", timeout=10).ok
        process.send_signal(stop)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
