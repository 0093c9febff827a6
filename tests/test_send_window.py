"""Send windows: the rule for any moment, and runs that meet a closed or closing window.

The runs set MASGSM_NOW, where the clock of the run starts (it then runs at the real pace), so a
test can start a few seconds before a window opens or closes instead of waiting for 21:00.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import assert_no_traceback, env_for, run_cli, summary_of
from helpers.pipelines import FAST_REPORT, write

from masgsm_notify import clock
from masgsm_notify.pipeline import UI, Runner, RunOptions, load_pipeline
from masgsm_notify.sandbox import SandboxConfig, SandboxServer
from masgsm_notify.window import parse_window, when


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "moment", "is_open", "change"),
    [
        ("09:00-21:00", "2026-03-02T08:59:59+03:00", False, "2026-03-02T09:00:00+03:00"),
        ("09:00-21:00", "2026-03-02T09:00:00+03:00", True, "2026-03-02T21:00:00+03:00"),
        ("09:00-21:00", "2026-03-02T20:59:59+03:00", True, "2026-03-02T21:00:00+03:00"),
        ("09:00-21:00", "2026-03-02T21:00:00+03:00", False, "2026-03-03T09:00:00+03:00"),
        # The moment given in another offset is judged in the window's zone.
        ("09:00-21:00", "2026-03-02T05:30:00+00:00", False, "2026-03-02T09:00:00+03:00"),
        ("09:00-21:00", "2026-03-02T06:30:00+00:00", True, "2026-03-02T21:00:00+03:00"),
        # Wrapping midnight.
        ("22:00-02:00", "2026-03-02T23:00:00+03:00", True, "2026-03-03T02:00:00+03:00"),
        ("22:00-02:00", "2026-03-03T01:59:00+03:00", True, "2026-03-03T02:00:00+03:00"),
        ("22:00-02:00", "2026-03-03T02:00:00+03:00", False, "2026-03-03T22:00:00+03:00"),
        ("22:00-02:00", "2026-03-02T12:00:00+03:00", False, "2026-03-02T22:00:00+03:00"),
        ("9:30-00:00", "2026-03-02T23:59:00+03:00", True, "2026-03-03T00:00:00+03:00"),
    ],
)
def test_whether_a_window_is_open_and_when_that_changes(window, moment, is_open, change):
    state = parse_window(window).state(at(moment))

    assert state.open is is_open
    assert (state.closes_at if is_open else state.opens_at) == at(change)
    assert (state.opens_at if is_open else state.closes_at) is None


def test_a_window_keeps_local_hours_across_a_clock_change():
    berlin = parse_window("09:00-21:00", "Europe/Berlin")

    before = berlin.state(at("2026-03-28T22:00:00+01:00"))  # summer time starts that night

    assert before.opens_at == at("2026-03-29T09:00:00+02:00")
    assert when(before.opens_at) == "2026-03-29 09:00 +02"


@pytest.mark.parametrize(
    ("window", "zone", "problem"),
    [
        ("9-21", "Europe/Istanbul", "expected HH:MM-HH:MM"),
        ("09:00-24:00", "Europe/Istanbul", "hours run from 00 to 23"),
        ("09:00-09:00", "Europe/Istanbul", "opens and closes at the same minute"),
        ("09:00-21:00", "Europe/Ankara", "unknown timezone 'Europe/Ankara'"),
    ],
)
def test_a_bad_window_is_bad_input_naming_its_place(tmp_path, cli_env, window, zone, problem):
    pipeline = write(
        tmp_path / "p.yaml",
        f"""
        name: p
        recipients: {{inline: [{{phone: "05321112233"}}]}}
        message: {{inline: hi}}
        send:
          window: "{window}"
          timezone: {zone}
        """,
    )

    result = run_cli(["run", str(pipeline), "--dry-run"], cli_env)

    assert result.returncode == 2, result.output
    assert problem in result.stderr
    assert "p.yaml:5:" in result.stderr or "p.yaml:6:" in result.stderr


# -- runs ----------------------------------------------------------------------------------------


def notices(folder: Path, count: int, send: str = "") -> Path:
    people = [f"05321113{i:03d}" for i in range(count)]
    write(
        folder / "people.csv", "name,phone\n" + "".join(f"K{i},{n}\n" for i, n in enumerate(people))
    )
    return write(
        folder / "reminder.yaml",
        """
        name: reminder
        recipients: {csv: people.csv}
        message: {inline: "Randevunuz yarın, {{ name }}", title: MASGSMTEST}
        send: {window: "09:00-21:00", batch_size: 2, concurrency: 1}
        """
        + FAST_REPORT,
    )


def run(args: list[str], env: dict[str, str], now: str):
    result = run_cli(["run", *args], {**env, "MASGSM_NOW": now})
    assert_no_traceback(result)
    return result


def test_outside_the_window_nothing_is_sent_and_the_run_exits_4(sandbox, cli_env, tmp_path):
    pipeline = notices(tmp_path, 4)

    result = run([str(pipeline), "--json"], cli_env, "2026-03-02T22:15:00+03:00")

    assert result.returncode == 4, result.output
    assert sandbox.messages() == []
    assert "is closed: nothing was sent now. It opens at 2026-03-03 09:00 +03" in result.stderr
    assert "--wait-for-window" in result.stderr
    summary = summary_of(result)
    assert summary["exit_code"] == 4 and summary["failing"] is False
    assert summary["outcomes"]["not_sent"] == 4
    assert summary["plan"]["window"] == {
        "window": "09:00-21:00",
        "timezone": "Europe/Istanbul",
        "open": False,
        "opens_at": "2026-03-03T09:00:00+03:00",
        "closes_at": None,
    }
    assert summary["resume_command"].endswith(f"--run-key {summary['run_key']}")


def test_a_dry_run_reports_a_closed_window_without_failing(sandbox, cli_env, tmp_path):
    pipeline = notices(tmp_path, 4)

    result = run([str(pipeline), "--dry-run"], cli_env, "2026-03-02T06:00:00+03:00")

    assert result.returncode == 0, result.output
    assert "send window 09:00-21:00 (Europe/Istanbul): CLOSED until 2026-03-02 09:00 +03" in (
        result.stdout
    )
    assert "a real run now sends nothing and exits 4" in result.stdout
    assert sandbox.messages() == []


def test_wait_for_window_waits_for_it_to_open_then_sends(sandbox, cli_env, tmp_path):
    pipeline = notices(tmp_path, 4)

    result = run([str(pipeline), "--wait-for-window"], cli_env, "2026-03-02T08:59:57+03:00")

    assert result.returncode == 0, result.output
    assert "waiting until it opens at 2026-03-02 09:00 +03" in result.stdout
    assert len(sandbox.messages()) == 4


def test_a_run_that_meets_the_end_of_the_window_stops_and_resumes_inside_the_next(
    cli_env, tmp_path
):
    count = 50  # 25 batches of 2, each answered after 0.5 s: 12.5 s, with 10 s to go
    pipeline = notices(tmp_path, count)
    with SandboxServer(SandboxConfig(settle_ms=50), latency_ms=500) as slow:
        env = env_for(slow, cli_env)

        stopped = run([str(pipeline), "--json"], env, "2026-03-02T20:59:50+03:00")

        assert stopped.returncode == 4, stopped.output
        first = Counter(m["number"] for m in slow.messages())
        assert 0 < len(first) < count
        assert "closed with texts left to send" in stopped.stderr
        summary = summary_of(stopped)
        assert summary["outcomes"]["not_sent"] == count - len(first)
        assert summary["failing"] is False
        resume = shlex.split(summary["resume_command"])
        assert resume[:2] == ["masgsm-notify", "run"]
        assert f"Resume inside the send window with:\n  {summary['resume_command']}" in (
            stopped.stderr
        )

        resumed = run_cli(resume[1:], {**env, "MASGSM_NOW": "2026-03-03T09:00:00+03:00"})

        assert_no_traceback(resumed)
        assert resumed.returncode == 0, resumed.output
        assert f"Resuming run {summary['run_key']!r}" in resumed.output
        everyone = Counter(m["number"] for m in slow.messages())
        assert len(everyone) == count and set(everyone.values()) == {1}


class Notes(UI):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


class SteppingClock:
    """A clock one minute later at every reading, whose sleeps end at once, at their end."""

    def __init__(self, start: str):
        self.moment = at(start)
        self.slept_until: list[dt.datetime] = []

    def now(self) -> dt.datetime:
        self.moment += dt.timedelta(minutes=1)
        return self.moment

    def sleep_until(self, moment: dt.datetime, step: float = 30.0) -> None:
        self.slept_until.append(moment)
        self.moment = max(self.moment, moment)


def test_wait_for_window_past_the_end_of_the_window_sends_the_rest_in_the_next(
    sandbox, tmp_path, monkeypatch
):
    pipeline = notices(tmp_path, 8)
    fake = SteppingClock("2026-03-02T20:56:30+03:00")
    monkeypatch.setattr(clock, "now", fake.now)
    monkeypatch.setattr(clock, "sleep_until", fake.sleep_until)
    for key, value in {
        "MASGSM_USER": "5300000000",
        "MASGSM_PASSWORD": "sandbox",
        "MASGSM_BASE_URL": sandbox.base_url,
    }.items():
        monkeypatch.setenv(key, value)
    notes = Notes()

    summary = Runner(load_pipeline(pipeline), RunOptions(wait_for_window=True), notes).run()

    assert summary.exit_code == 0, summary.error
    assert Counter(m["number"] for m in sandbox.messages()) == Counter(
        f"5321113{i:03d}" for i in range(8)
    )
    # Sending began inside the window, met its end after a batch or more, and went on at 09:00.
    assert fake.slept_until == [at("2026-03-03T09:00:00+03:00")]
    waiting = [n for n in notes.notes if "waiting until it opens" in n]
    assert waiting == [
        "The send window 09:00-21:00 (Europe/Istanbul) is closed; waiting until it opens at "
        "2026-03-03 09:00 +03 (Ctrl-C stops the wait; nothing more goes out until then)."
    ]
    sent = [n.split(" in ")[0] for n in notes.notes if n.startswith("Sent ")]
    assert sent == ["Sent 2 message(s)", "Sent 6 message(s)"]
