"""Never twice, account-wide: the sent ledger and the state directory, end to end.

Every scenario runs the real CLI against a real sandbox and takes the sandbox's own record as the
truth: no (number, text) is ever accepted twice, whatever folder, journal, run key or edit a
re-run comes with. The texts in these pipelines are the same for every run, so only the ledger
stands between a re-run and a second text.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import CLI, CliResult, env_for, run_cli, summary_of
from helpers.journal import query
from helpers.pipelines import FAST_REPORT, mobile_numbers, people_pipeline, run_pipeline, write
from helpers.sandbox import accepted

from masgsm_notify.sandbox import SandboxConfig, SandboxServer
from masgsm_notify.state import lock as state_lock
from masgsm_notify.state.ledger import ACCEPTED, RELEASED, UNKNOWN, Ledger, account_key, digest

COUNT = 12


def make_pipeline(folder: Path, count: int = COUNT, extra: str = "", name: str = "notice") -> Path:
    return people_pipeline(
        folder,
        mobile_numbers(count),
        name=name,
        csv="people.csv",
        head="# a comment\n",
        text="Sayın {{ name }}, faturanız hazır.",
        send=f"batch_size: 4, concurrency: 2{extra}",
    )


def assert_never_twice(server: SandboxServer) -> None:
    twice = [pair for pair, times in accepted(server).items() if times > 1]
    assert twice == [], twice[:3]


# -- re-runs that used to send everything again -----------------------------------------------


def test_one_row_appended_sends_only_that_row(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path)
    first = run_pipeline(pipeline, cli_env, "--json", journal="default")
    assert first.returncode == 0, first.output
    ledger = tmp_path / "state" / "ledger.sqlite"
    assert query(ledger, "SELECT COUNT(*) FROM pending") == [(0,)]  # folded once sent
    assert query(ledger, "SELECT COUNT(*) FROM sent") == [(COUNT,)]
    with (tmp_path / "people.csv").open("a", encoding="utf-8") as file:
        file.write(f"Yeni Kişi,0{mobile_numbers(1, start=COUNT)[0]}\n")

    second = run_pipeline(
        pipeline, cli_env, "--json", journal="default"
    )  # a derived run key: a new run

    assert second.returncode == 0, second.output
    one, two = summary_of(first), summary_of(second)
    assert one["run_key"] != two["run_key"]
    assert two["already_sent"] == COUNT and two["outcomes"]["delivered"] == 1
    assert two["plan"]["to_send"] == 1 and two["plan"]["already_sent"] == COUNT
    assert len(sandbox.messages()) == COUNT + 1
    assert_never_twice(sandbox)


def test_another_journal_and_a_copy_of_the_folder_send_nothing_again(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path / "project")
    assert run_pipeline(pipeline, cli_env, journal="default").returncode == 0

    elsewhere = run_pipeline(pipeline, cli_env, "--json", journal=tmp_path / "other.sqlite")
    shutil.copytree(tmp_path / "project", tmp_path / "copy")
    copied = run_pipeline(
        tmp_path / "copy" / pipeline.name,
        cli_env,
        "--json",
        cwd=tmp_path / "copy",
        journal="default",
    )

    assert elsewhere.returncode == 0, elsewhere.output
    assert summary_of(elsewhere)["already_sent"] == COUNT
    assert "already had the same text" in elsewhere.stderr  # the plan says why, on stderr
    # The copy resumes the same run: one journal per pipeline name in the state directory.
    assert copied.returncode == 0, copied.output
    assert "Nothing left to send for this run key." in copied.stderr
    assert summary_of(copied)["journal"] == str(
        (tmp_path / "state" / "journals" / "notice.sqlite").resolve()
    )
    assert len(sandbox.messages()) == COUNT
    assert_never_twice(sandbox)


def test_resend_duplicates_sends_again_on_purpose(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=3)
    assert run_pipeline(pipeline, cli_env, "--run-key", "a", journal="default").returncode == 0

    kept = run_pipeline(pipeline, cli_env, "--run-key", "b", "--json", journal="default")
    forced = run_pipeline(
        pipeline, cli_env, "--run-key", "c", "--resend-duplicates", "--json", journal="default"
    )

    assert summary_of(kept)["already_sent"] == 3
    assert summary_of(forced)["already_sent"] == 0
    assert set(accepted(sandbox).values()) == {2}  # a and c; never b


def test_a_pair_older_than_send_dedupe_goes_again(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=3, extra=", dedupe: 500ms")
    first = run_pipeline(pipeline, cli_env, "--run-key", "a", "--json", journal="default")
    assert first.returncode == 0, first.output
    time.sleep(0.6)  # the window is counted from when the first run claimed its texts

    lapsed = run_pipeline(pipeline, cli_env, "--run-key", "b", "--json", journal="default")

    assert summary_of(lapsed)["already_sent"] == 0
    assert set(accepted(sandbox).values()) == {2}


def test_runs_driven_by_an_input_document_page_again_by_default(sandbox, cli_env, tmp_path):
    """An alert that fires again must page again: dedupe is off for --input runs."""
    pipeline = write(
        tmp_path / "alert.yaml",
        """
        name: alert
        recipients: {input: alerts, number: "{{ phone }}"}
        message: {inline: "ALARM {{ name }}"}
        """
        + FAST_REPORT,
    )
    document = '{"alerts": [{"name": "disk", "phone": "05321112233"}]}'
    first = run_cli(["run", str(pipeline), "--input", "-", "--run-key", "1"], cli_env, document)
    again = run_cli(["run", str(pipeline), "--input", "-", "--run-key", "2"], cli_env, document)

    assert first.returncode == again.returncode == 0, again.output
    assert accepted(sandbox) == {("5321112233", "ALARM disk"): 2}


# -- a run killed part-way, then resumed after an edit ------------------------------------------


def kill_while_sending(args: list[str], env: dict[str, str], server: SandboxServer, at: int):
    """Start the CLI and SIGKILL it once the sandbox accepted at least `at` texts."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(server.messages()) < at and process.poll() is None:
        assert time.monotonic() < deadline, "the run never got that far"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)


def test_killed_then_an_edited_comment_and_send_timeout_resume_the_same_run(cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=40)
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=60) as server:
        env = env_for(server, cli_env)
        kill_while_sending([*CLI, "run", str(pipeline)], env, server, at=12)
        text = pipeline.read_text(encoding="utf-8")
        text = text.replace("# a comment", "# another comment").replace(
            "concurrency: 2", "concurrency: 2, timeout: 45s"
        )
        pipeline.write_text(text, encoding="utf-8")
        server.latency_ms = 0

        resumed = run_pipeline(pipeline, env, "--json", journal="default")

        assert resumed.returncode in (0, 3), resumed.output
        assert "Resuming run" in resumed.stderr
        summary = summary_of(resumed)
        assert summary["already_sent"] == 0  # the run's own unknowns are never "already sent"
        outcomes = summary["outcomes"]
        assert outcomes["delivered"] + outcomes["unknown"] == 40
        # Every delivered text was accepted; an unknown one perhaps (its answer was lost).
        assert outcomes["delivered"] <= len(server.messages()) <= 40
        assert_never_twice(server)


def test_a_crashed_claim_is_unknown_for_its_run_and_already_sent_for_others(cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=8, extra="")
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=1500) as server:
        env = env_for(server, cli_env)
        journal = tmp_path / "first.sqlite"
        args = [*CLI, "run", str(pipeline), "--journal", str(journal)]
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _in_flight(journal):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        process.kill()  # its first batches are out, their answers never recorded
        process.wait(timeout=30)
        time.sleep(1.6)  # the sandbox finishes what was in flight
        server.latency_ms = 0
        ledger = tmp_path / "state" / "ledger.sqlite"
        assert query(ledger, "SELECT COUNT(*) FROM pending") != [(0,)]  # never folded

        own = summary_of(run_pipeline(pipeline, env, "--json", journal=journal))
        other = summary_of(run_pipeline(pipeline, env, "--json", journal=tmp_path / "b.sqlite"))

    assert own["outcomes"]["unknown"] > 0 and own["already_sent"] == 0
    assert other["already_sent"] == 8 and other["outcomes"]["delivered"] == 0
    assert_never_twice(server)


def _in_flight(journal: Path) -> bool:
    try:
        return bool(query(journal, "SELECT 1 FROM batches WHERE state = 'in_flight'"))
    except sqlite3.OperationalError:
        return False


def test_two_runs_racing_on_different_journals_send_each_text_once(cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=60, extra="")
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=25) as server:
        env = env_for(server, cli_env)
        racers = [
            subprocess.Popen(
                [*CLI, "run", str(pipeline), "--journal", str(tmp_path / f"{i}.sqlite"), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        results = [p.communicate(timeout=120) for p in racers]

    summaries = [
        summary_of(CliResult(p.returncode, *r)) for p, r in zip(racers, results, strict=True)
    ]
    assert all(p.returncode == 0 for p in racers), results
    delivered = sum(s["outcomes"]["delivered"] for s in summaries)
    skipped_as_sent = sum(s["already_sent"] for s in summaries)
    assert delivered == 60 and skipped_as_sent == 60
    assert len(server.messages()) == 60
    assert_never_twice(server)


# -- one writer, whatever the path ---------------------------------------------------------------


def hold_journal(pipeline: Path, journal: Path, env: dict[str, str], server: SandboxServer):
    """A run that holds `journal` while the sandbox answers slowly; returns the process."""
    process = subprocess.Popen(
        [*CLI, "run", str(pipeline), "--journal", str(journal)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not server.messages() and not _in_flight(journal):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    return process


@pytest.mark.parametrize("route", ["symlink", "relative path", "side files deleted"])
def test_a_second_writer_is_refused_however_it_reaches_the_journal(route, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=30)
    journal = tmp_path / "real" / "j.sqlite"
    journal.parent.mkdir()
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=400) as server:
        env = env_for(server, cli_env)
        holder = hold_journal(pipeline, journal, env, server)
        if route == "symlink":
            other = tmp_path / "link.sqlite"
            other.symlink_to(journal)
        elif route == "relative path":
            other = Path("..") / "real" / "j.sqlite"
        else:
            for path in journal.parent.iterdir():  # nothing beside the journal holds the lock
                if path.suffix not in (".sqlite", ".sqlite-wal", ".sqlite-shm"):
                    path.unlink()
            other = journal
        cwd = tmp_path / "real" if route == "relative path" else None
        second = run_pipeline(pipeline, env, cwd=cwd, journal=other)
        holder.kill()
        holder.wait(timeout=30)

    assert second.returncode == 1, second.output
    assert f"is in use by pid {holder.pid}" in second.stderr
    assert_never_twice(server)


def test_a_hard_linked_journal_is_refused(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=2)
    journal = tmp_path / "j.sqlite"
    assert run_pipeline(pipeline, cli_env, journal=journal).returncode == 0
    os.link(journal, tmp_path / "hard.sqlite")

    again = run_pipeline(pipeline, cli_env, journal=tmp_path / "hard.sqlite")

    assert again.returncode == 2, again.output
    assert "more than one hard link" in again.stderr
    assert len(sandbox.messages()) == 2


def test_a_journal_on_a_network_filesystem_is_refused(tmp_path, monkeypatch):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"36 35 0:40 / {tmp_path} rw,relatime shared:1 - nfs4 server:/export rw\n"
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    )
    monkeypatch.setattr(state_lock, "MOUNTINFO", mountinfo)
    journal = tmp_path / "j.sqlite"
    journal.touch()

    with pytest.raises(Exception, match=r"network filesystem \(nfs4\)"):
        state_lock.WriterLock(journal).acquire()
    assert state_lock.filesystem_type(Path("/")) == "ext4"


# -- readers, the state directory and its files --------------------------------------------------


def test_check_finds_the_run_from_any_folder_and_asks_when_two_journals_hold_it(
    sandbox, cli_env, tmp_path
):
    pipeline = make_pipeline(tmp_path / "project", count=2)
    first = run_pipeline(pipeline, cli_env, "--run-key", "monday", journal="default")
    assert first.returncode == 0, first.output

    found = run_cli(["check", "monday", "--wait", "1s"], cli_env, cwd=tmp_path)
    assert found.returncode == 0, found.output
    assert "delivered 2" in found.stdout

    second = run_pipeline(pipeline, cli_env, "--run-key", "monday", journal=tmp_path / "b.sqlite")
    assert second.returncode == 0, second.output
    ambiguous = run_cli(["check", "monday"], cli_env, cwd=tmp_path)
    assert ambiguous.returncode == 2, ambiguous.output
    assert "more than one journal" in ambiguous.stderr
    assert "notice.sqlite" in ambiguous.stderr and "b.sqlite" in ambiguous.stderr


def test_check_reads_while_the_run_holds_the_journal(cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=30)
    journal = tmp_path / "j.sqlite"
    with SandboxServer(SandboxConfig(settle_ms=20), latency_ms=300) as server:
        env = env_for(server, cli_env)
        holder = hold_journal(pipeline, journal, env, server)
        run_key = query(journal, "SELECT run_key FROM runs")[0][0]
        reader = run_cli(["check", run_key, "--journal", str(journal), "--wait", "0s"], env)
        holder.kill()
        holder.wait(timeout=30)
    assert "in use" not in reader.output
    assert reader.returncode in (0, 3), reader.output


def test_dry_runs_and_sandbox_runs_never_write_the_ledger(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=2)
    assert run_pipeline(pipeline, cli_env, "--dry-run", journal="default").returncode == 0
    assert run_pipeline(pipeline, cli_env, "--sandbox", journal="default").returncode == 0
    assert not (tmp_path / "state" / "ledger.sqlite").exists()
    assert sandbox.messages() == []


def test_every_file_the_project_writes_is_owner_only(sandbox, cli_env, tmp_path):
    pipeline = make_pipeline(tmp_path, count=2)
    text = pipeline.read_text(encoding="utf-8").replace(
        "report: {wait: 5s, poll_every: 100ms}",
        "report: {wait: 5s, poll_every: 100ms, export: out/results.csv}",
    )
    pipeline.write_text(text, encoding="utf-8")
    log = tmp_path / "logs" / "run.log"
    log.parent.mkdir()
    old = os.umask(0o022)
    try:
        result = run_cli(["--log-file", str(log), "-v", "run", str(pipeline)], cli_env)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.output

    state = tmp_path / "state"
    written = [
        state / "ledger.sqlite",
        state / "journals" / "notice.sqlite",
        tmp_path / "out" / "results.csv",
        log,
    ]
    written += [p for p in state.rglob("*-wal")] + [p for p in state.rglob("*-shm")]
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert set(modes.values()) == {0o600}, modes
    folders = [state, state / "journals"]
    assert {stat.S_IMODE(f.stat().st_mode) for f in folders} == {0o700}


# -- upgrading from a journal beside the pipeline --------------------------------------------


VERSION_2_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, run_key TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    pipeline TEXT NOT NULL, fingerprint TEXT NOT NULL, account TEXT, created_at REAL NOT NULL,
    planned_at REAL, rows INTEGER NOT NULL DEFAULT 0, filtered INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, row TEXT NOT NULL,
    number TEXT NOT NULL, text TEXT NOT NULL, encoding TEXT NOT NULL, segments INTEGER NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1, batch_id INTEGER, state TEXT NOT NULL DEFAULT 'planned');
CREATE TABLE skipped (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, row TEXT NOT NULL,
    value TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE batches (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, state TEXT NOT NULL,
    size INTEGER NOT NULL, credits INTEGER NOT NULL, message_id TEXT, code INTEGER, error TEXT,
    started_at REAL NOT NULL, answered_at REAL);
PRAGMA user_version = 2;
"""


def test_a_journal_beside_the_pipeline_is_used_and_seeds_the_ledger_once(
    sandbox, cli_env, tmp_path
):
    """What the previous version left behind: `notice.journal.sqlite` beside the pipeline, whose
    run sent the first half of the texts (delivered) and lost the answer of one (unknown)."""
    pipeline = make_pipeline(tmp_path, count=6)
    legacy = tmp_path / "notice.journal.sqlite"
    db = sqlite3.connect(legacy)
    db.executescript(VERSION_2_SCHEMA)
    account = f"5300000000 at {sandbox.base_url}, title MASGSMTEST"
    hour_ago = time.time() - 3600
    db.execute(
        "INSERT INTO runs VALUES (1, 'old-key', 'notice', ?, 'old', ?, ?, ?, 6, 0)",
        (str(pipeline), account, hour_ago, hour_ago),
    )
    db.execute(
        "INSERT INTO batches VALUES (1, 1, 'sent', 3, 3, '77', 1, NULL, ?, ?)",
        (hour_ago, hour_ago),
    )
    db.execute(
        "INSERT INTO batches VALUES (2, 1, 'unknown', 1, 1, NULL, NULL, 'lost', ?, NULL)",
        (hour_ago,),
    )
    for i, number in enumerate(mobile_numbers(6)):
        state, batch = (
            ("delivered", 1) if i < 3 else ("unknown", 2) if i == 3 else ("planned", None)
        )
        db.execute(
            "INSERT INTO messages (run_id, row, number, text, encoding, segments, batch_id, state)"
            " VALUES (1, ?, ?, ?, 'turkish', 1, ?, ?)",
            (f"people.csv:{i + 2}", number, f"Sayın Kişi {i}, faturanız hazır.", batch, state),
        )
    db.commit()
    db.close()

    first = run_pipeline(pipeline, cli_env, "--json", journal="default")
    again = run_pipeline(pipeline, cli_env, "--run-key", "another", "--json", journal="default")

    assert first.returncode == 0, first.output
    assert "Using the journal beside the pipeline" in first.stderr
    assert "Recorded 4 text(s) sent from" in first.stderr
    assert summary_of(first)["journal"] == str(legacy.resolve())
    assert summary_of(first)["already_sent"] == 4
    assert sorted(m["number"] for m in sandbox.messages()) == mobile_numbers(6)[4:]
    assert summary_of(again)["already_sent"] == 6 and "Recorded" not in again.stderr
    assert len(sandbox.messages()) == 2


# -- the ledger itself -------------------------------------------------------------------------


def _folding(ledger: Ledger, folded: bool) -> Ledger:
    """The ledger, folding its pending claims into `sent` after every claim when `folded`: the
    answers must be the same wherever a claim's pairs are stored."""
    if folded:
        claim = ledger.claim

        def claim_then_fold(*args, **kwargs):
            claims = claim(*args, **kwargs)
            ledger.fold()
            return claims

        ledger.claim = claim_then_fold  # type: ignore[method-assign]
    return ledger


@pytest.mark.parametrize("folded", [False, True], ids=["pending", "folded"])
def test_ledger_claims_exclude_other_owners_within_the_window(tmp_path, folded):
    account = account_key("http://127.0.0.1:8080/MasApiV2", "5300000000")
    pairs = [("5321112233", digest("a")), ("5321112234", digest("b"))]
    with _folding(Ledger(tmp_path / "ledger.sqlite"), folded) as ledger:
        first = ledger.claim(account, pairs, owner="one", run_key="k", since=0)
        assert first.taken_by_others == set()
        taken = ledger.claim(account, pairs[:1], owner="two", run_key="k2", since=0)
        assert taken.taken_by_others == {pairs[0]}
        again = ledger.claim(account, pairs, owner="one", run_key="k", since=0)  # its own
        assert again.taken_by_others == set()
        time.sleep(0.01)
        after_one = time.time()
        time.sleep(0.01)
        later = ledger.claim(account, pairs, owner="two", run_key="k2", since=after_one)
        assert later.taken_by_others == set()  # one's claims are older than the window
        assert ledger.seen(account, pairs, 0) == set(pairs)
        assert ledger.seen(account, pairs, after_one) == set(pairs)
        ledger.settle(later.id, RELEASED)  # nothing went: the pairs are free again
        assert ledger.seen(account, pairs, after_one) == set()
        assert ledger.seen(account, pairs, 0) == set(pairs)  # but one's claims still hold them
        assert (
            ledger.claim(
                account, pairs, owner="three", run_key="k3", since=after_one
            ).taken_by_others
            == set()
        )
    assert account_key("https://Masgsm.com.tr/MasApiV2", "5") == "masgsm.com.tr:443/5"
    assert account_key("http://masgsm.com.tr/x", "5") == "masgsm.com.tr:80/5"


@pytest.mark.parametrize("folded", [False, True], ids=["pending", "folded"])
@pytest.mark.parametrize("first_answer", [UNKNOWN, ACCEPTED, "unsettled"])
def test_a_pair_tried_again_by_its_own_run_stays_taken_when_the_retry_is_released(
    tmp_path, first_answer, folded
):
    """A send whose answer was lost (unknown), or whose process died before it settled, is
    tried again with --resend-unknown, and the retry is rejected: the first attempt may have
    sent the text, so the retry's release must not free it for other runs."""
    account = account_key("http://127.0.0.1:8080/MasApiV2", "5300000000")
    pairs = [("5321112233", digest("Kargonuz yolda"))]
    with _folding(Ledger(tmp_path / "ledger.sqlite"), folded) as ledger:
        first = ledger.claim(account, pairs, owner="one", run_key="k", since=0)
        if first_answer != "unsettled":
            ledger.settle(first.id, first_answer)
        retry = ledger.claim(account, pairs, owner="one", run_key="k", since=0)
        assert retry.taken_by_others == set()
        ledger.settle(retry.id, RELEASED)  # the retry was rejected: nothing went this time
        assert ledger.seen(account, pairs, 0) == set(pairs)
        other = ledger.claim(account, pairs, owner="two", run_key="k2", since=0)
        assert other.taken_by_others == set(pairs)
