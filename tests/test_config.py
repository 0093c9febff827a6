"""Account settings: options, then the environment, then the config file; named accounts.

The resolution itself is a table of cases run in-process; each way a user meets it (one-off
commands, `--account`, MASGSM_ACCOUNT, pipelines with no `service:` or a `service:` mapping, a
config file others can read) runs the real command against a sandbox.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.journal import query
from helpers.pipelines import FAST_REPORT, write
from helpers.sandbox import SANDBOX_PASSWORD, SANDBOX_USER

from masgsm_notify import config
from masgsm_notify.errors import ConfigError, MissingCredentialsError, UsageError
from masgsm_notify.sandbox import SandboxConfig, SandboxServer
from masgsm_notify.service import Service

ACME_PASSWORD = "acme-Pa55"
OPS_PASSWORD = "ops-Pa55"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An XDG_CONFIG_HOME of this test's own, no MASGSM_* variables, no account chosen."""
    for name in (*config.ENVIRONMENT.values(), config.ACCOUNT_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config.choose_account(None)
    yield tmp_path / "xdg" / "masgsm-notify"
    config.choose_account(None)


def write_config(folder: Path, text: str, mode: int = 0o644) -> Path:
    path = write(folder / "config.toml", text)
    path.chmod(mode)
    return path


TWO_ACCOUNTS = """
    account = "acme"                        # the default account
    base = "http://127.0.0.1:9/MasApiV2"    # a default for every account

    [accounts.acme]
    user = "5301111111"
    title = "ACME"
    password_file = "acme.password"

    [accounts.ops]
    user = 5302222222
    title = "OPS"
    base = "http://127.0.0.1:8/MasApiV2"
    password_file = "ops.password"
"""


def test_the_config_file_is_found_where_xdg_says(config_home: Path, monkeypatch) -> None:
    assert config.config_path() == config_home / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/path")  # ignored, as the spec says
    monkeypatch.setenv("HOME", "/home/ayse")
    assert config.config_path() == Path("/home/ayse/.config/masgsm-notify/config.toml")


ACME = ("5301111111", ACME_PASSWORD, "ACME", "http://127.0.0.1:9/MasApiV2")
OPS = ("5302222222", OPS_PASSWORD, "OPS", "http://127.0.0.1:8/MasApiV2")


@pytest.mark.parametrize(
    ("environment", "chosen", "given", "expected"),
    [
        ({}, None, {}, ACME),  # the file's default account, over its top-level base
        ({"MASGSM_ACCOUNT": "ops"}, None, {}, OPS),
        ({"MASGSM_ACCOUNT": "acme"}, "ops", {}, OPS),  # --account over MASGSM_ACCOUNT
        ({"MASGSM_TITLE": "ENVTITLE"}, None, {}, (*ACME[:2], "ENVTITLE", ACME[3])),
        ({"MASGSM_TITLE": "ENVTITLE"}, None, {"title": "OPTION"}, (*ACME[:2], "OPTION", ACME[3])),
        ({"MASGSM_PASSWORD": "from-env"}, "ops", {}, (OPS[0], "from-env", *OPS[2:])),
        ({}, "ops", {"password": "from-option"}, (OPS[0], "from-option", *OPS[2:])),
        (  # a service mapping's password_file comes before MASGSM_PASSWORD
            {"MASGSM_PASSWORD": "from-env"},
            None,
            {"password_file": "{home}/acme.password"},
            ACME,
        ),
        (
            {"MASGSM_USER": "5309999999", "MASGSM_BASE_URL": "http://127.0.0.1:7/MasApiV2"},
            None,
            {},
            ("5309999999", ACME_PASSWORD, "ACME", "http://127.0.0.1:7/MasApiV2"),
        ),
    ],
)
def test_options_then_environment_then_config(
    config_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    chosen: str | None,
    given: dict[str, str],
    expected: tuple[str, str, str, str],
) -> None:
    write_config(config_home, TWO_ACCOUNTS)
    write(config_home / "acme.password", ACME_PASSWORD + "\n")
    write(config_home / "ops.password", OPS_PASSWORD + "\n")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config.choose_account(chosen)
    given = {key: value.format(home=config_home) for key, value in given.items()}
    account = config.resolve(given)
    assert (account.user, account.password, account.title, account.base) == expected
    assert ACME_PASSWORD not in repr(account) and OPS_PASSWORD not in repr(account)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user = \n", r"config\.toml: invalid TOML: .*line 1"),
        (
            "[accounts.a]\ntitel = 'ACME'\n",
            r"\[accounts\.a\]: unknown key 'titel'; did you mean 'title'\?",
        ),
        ("acount = 'a'\n", r"the top level: unknown key 'acount'; did you mean 'account'\?"),
        (
            "account = 'nope'\n[accounts.a]\nuser = '1'\n",
            r"account = 'nope', but there is no \[accounts\.nope\] \(accounts: a\)",
        ),
        ("[accounts.a]\nuser = true\n", r"\[accounts\.a\]: user should be text, not True"),
        ("accounts = 'a'\n", r"accounts should be tables"),
    ],
)
def test_config_file_errors_name_the_file_and_the_place(
    config_home: Path, text: str, expected: str
) -> None:
    write_config(config_home, text)
    with pytest.raises(ConfigError, match=expected) as raised:
        config.resolve(required=False)
    assert str(raised.value).startswith(str(config_home / "config.toml"))


def test_a_password_in_the_file_needs_a_file_no_one_else_can_read(config_home: Path) -> None:
    path = write_config(config_home, "[accounts.a]\nuser = '5301111111'\npassword = 'S3cret!'\n")
    config.choose_account("a")
    with pytest.raises(ConfigError) as raised:
        config.resolve()
    assert "holds a password but others can read it (mode 644): run chmod 600" in str(raised.value)
    assert "S3cret!" not in str(raised.value)
    path.chmod(0o600)
    assert config.resolve().password == "S3cret!"


def test_password_files(config_home: Path) -> None:
    write_config(config_home, "[accounts.a]\nuser = '5301111111'\npassword_file = 'a.pw'\n")
    config.choose_account("a")
    with pytest.raises(MissingCredentialsError, match=r"password_file .*a\.pw was not found"):
        config.resolve()
    assert config.resolve(required=False).password is None  # a dry run goes on without it
    write(config_home / "a.pw", "\n")
    with pytest.raises(ConfigError, match=r"a\.pw is empty"):
        config.resolve()
    write(config_home / "a.pw", " spaces kept \r\nsecond line ignored\n")
    assert config.resolve().password == " spaces kept "


def test_naming_an_account_needs_a_config_file(config_home: Path, monkeypatch) -> None:
    config.choose_account("acme")
    with pytest.raises(ConfigError, match=r"--account acme: there is no config file at .*"):
        config.resolve(required=False)
    config.choose_account(None)
    monkeypatch.setenv("MASGSM_ACCOUNT", "acme")
    with pytest.raises(ConfigError, match=r"MASGSM_ACCOUNT=acme: there is no config file"):
        config.resolve(required=False)


def test_the_environment_overriding_a_chosen_accounts_user_is_said(
    config_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write_config(config_home, TWO_ACCOUNTS)
    write(config_home / "ops.password", OPS_PASSWORD)
    monkeypatch.setenv("MASGSM_USER", "5309999999")
    config.choose_account("ops")
    with caplog.at_level(logging.WARNING, logger="masgsm_notify.config"):
        assert config.resolve().user == "5309999999"
    assert "MASGSM_USER (5309999999) overrides the user of account 'ops' (5302222222)" in (
        caplog.text
    )


def test_a_masgsm_url_without_title_or_base_falls_back_to_the_config_file(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        config_home,
        'account = "a"\n[accounts.a]\ntitle = "ACME"\nbase = "http://127.0.0.1:9/MasApiV2"\n'
        'password_file = "absent"\n',  # not read: only the title and base are wanted
    )
    service = Service.from_url("masgsm://5301111111:pw@/")
    assert (service.title, service.base_url) == ("ACME", "http://127.0.0.1:9/MasApiV2")
    with pytest.raises(UsageError, match="sends over https only"):  # an http base configured
        Service.from_url("masgsms://5301111111:pw@/")
    monkeypatch.setenv("MASGSM_TITLE", "ENV")
    assert Service.from_url("masgsm://5301111111:pw@/").title == "ENV"
    assert Service.from_url("masgsm://5301111111:pw@URL/").title == "URL"


# -- where a user meets it: the commands ------------------------------------------------------


def account_env(cli_env: dict[str, str], folder: Path, **extra: str) -> dict[str, str]:
    """`cli_env` without MASGSM_* account variables, its config home in `folder`."""
    kept = {k: v for k, v in cli_env.items() if k not in config.ENVIRONMENT.values()}
    return {**kept, "XDG_CONFIG_HOME": str(folder), **extra}


@pytest.fixture
def acme_config(sandbox: SandboxServer, tmp_path: Path) -> Path:
    """A config file whose account `acme` is the sandbox's, with title SANDBOX."""
    home = tmp_path / "xdg"
    write_config(
        home / "masgsm-notify",
        f"""
        [accounts.acme]
        user = "{SANDBOX_USER}"
        title = "SANDBOX"
        base = "{sandbox.base_url}"
        password_file = "acme.password"
        """,
    )
    write(home / "masgsm-notify" / "acme.password", SANDBOX_PASSWORD + "\n")
    return home


def test_one_off_commands_take_a_named_account(
    sandbox: SandboxServer, cli_env: dict[str, str], acme_config: Path
) -> None:
    env = account_env(cli_env, acme_config)
    send = ["send", "--to", "5321112233", "-m"]
    by_option = run_cli(["--account", "acme", *send, "a"], env)
    by_variable = run_cli([*send, "b"], {**env, "MASGSM_ACCOUNT": "acme"})
    env_title = run_cli(
        [*send, "c"], {**env, "MASGSM_ACCOUNT": "acme", "MASGSM_TITLE": "MASGSMTEST"}
    )
    option_title = run_cli(
        [*send, "d", "--title", "SANDBOX"],
        {**env, "MASGSM_ACCOUNT": "acme", "MASGSM_TITLE": "MASGSMTEST"},
    )
    unknown = run_cli(["--account", "acme2", "balance"], env)
    none_chosen = run_cli(["balance"], env)

    for result in (by_option, by_variable, env_title, option_title):
        assert result.returncode == 0, result.output
    assert [(m["text"], m["title"]) for m in sandbox.messages()] == [
        ("a", "SANDBOX"),
        ("b", "SANDBOX"),
        ("c", "MASGSMTEST"),  # the environment over the config file
        ("d", "SANDBOX"),  # an option over the environment
    ]
    assert unknown.returncode == 2
    assert "--account acme2:" in unknown.stderr and "has no [accounts.acme2] (accounts: acme)" in (
        unknown.stderr
    )
    assert none_chosen.returncode == 2
    assert "names no account (choose one with --account NAME" in none_chosen.stderr
    for result in (by_option, unknown, none_chosen):
        assert SANDBOX_PASSWORD not in result.output and "Traceback" not in result.output


def test_a_readable_config_file_with_a_password_is_refused(
    sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "xdg" / "masgsm-notify"
    path = write_config(
        folder,
        f'account = "a"\n[accounts.a]\nuser = "{SANDBOX_USER}"\npassword = "{SANDBOX_PASSWORD}"\n'
        f'base = "{sandbox.base_url}"\ntitle = "SANDBOX"\n',
    )
    env = account_env(cli_env, tmp_path / "xdg")
    refused = run_cli(["send", "--to", "5321112233", "-m", "x"], env)
    assert refused.returncode == 2
    assert f"{path} holds a password but others can read it (mode 644)" in refused.stderr
    assert SANDBOX_PASSWORD not in refused.output
    assert sandbox.messages() == []
    os.chmod(path, 0o600)
    accepted = run_cli(["send", "--to", "5321112233", "-m", "x"], env)
    assert accepted.returncode == 0, accepted.output
    assert [m["title"] for m in sandbox.messages()] == ["SANDBOX"]


def test_a_pipeline_without_service_takes_the_named_account(
    sandbox: SandboxServer, cli_env: dict[str, str], acme_config: Path, tmp_path: Path
) -> None:
    write(
        tmp_path / "p.yaml",
        "name: acct\nrecipients: {inline: [{phone: '05321112201'}]}\n"
        "message: {inline: Merhaba}\n" + FAST_REPORT,
    )
    env = account_env(cli_env, acme_config)
    result = run_cli(
        ["--account", "acme", "run", "p.yaml", "--journal", "j.sqlite"], env, cwd=tmp_path
    )
    assert result.returncode == 0, result.output
    assert [(m["number"], m["title"]) for m in sandbox.messages()] == [("5321112201", "SANDBOX")]
    assert "delivered 1" in result.stdout


# -- the service: mapping ---------------------------------------------------------------------

# The password that broke the URL form: `p@ssSECRET` became password `p` and title `ssSECRET`.
HARD_PASSWORD = "p@ss:w/r#d?SECRET"


@pytest.fixture
def hard_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(password=HARD_PASSWORD, settle_ms=50)) as server:
        yield server


def test_a_service_mapping_takes_any_password(
    hard_sandbox: SandboxServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(tmp_path / "secret.txt", HARD_PASSWORD + "\n")
    write(
        tmp_path / "p.yaml",
        f"""
        name: mapped
        service:
          user: {SANDBOX_USER}
          title: SANDBOX
          base: "{hard_sandbox.base_url}"
          lang: tr
          password_file: secret.txt
        recipients: {{inline: [{{phone: '05321112201', name: Ayşe}}]}}
        message: {{inline: "Sayın {{{{ name }}}}"}}
        """
        + FAST_REPORT,
    )
    env = account_env(cli_env, tmp_path / "xdg")
    from_file = run_cli(["run", "p.yaml", "--journal", "j.sqlite"], env, cwd=tmp_path)
    assert from_file.returncode == 0, from_file.output
    assert [(m["text"], m["title"]) for m in hard_sandbox.messages()] == [("Sayın Ayşe", "SANDBOX")]
    # From MASGSM_PASSWORD, when the mapping names no file.
    text = (tmp_path / "p.yaml").read_text().replace("  password_file: secret.txt\n", "")
    text = text.replace("name: mapped", "name: mapped2").replace("Sayın", "Merhaba")
    write(tmp_path / "q.yaml", text)  # another text: the sent ledger would hold the same one
    from_env = run_cli(
        ["run", "q.yaml", "--journal", "k.sqlite"],
        {**env, "MASGSM_PASSWORD": HARD_PASSWORD},
        cwd=tmp_path,
    )
    assert from_env.returncode == 0, from_env.output
    assert len(hard_sandbox.messages()) == 2
    for result in (from_file, from_env):
        assert HARD_PASSWORD not in result.output and "SECRET" not in result.output
    for journal in ("j.sqlite", "k.sqlite"):
        dump = "\n".join(map(str, query(tmp_path / journal, "SELECT * FROM runs")))
        assert "SECRET" not in dump and "SANDBOX" in dump


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (
            "service:\n  title: ACME\n  password: hunter2-secret\n",
            r"p\.yaml:4:3: service: the password never goes in a pipeline file: set "
            r"MASGSM_PASSWORD, or name a file that holds it with password_file",
        ),
        (
            "service:\n  titel: ACME\n",
            r"p\.yaml:3:3: service: unknown key 'titel'; did you mean 'title'\?",
        ),
        ("service: {lang: english}\n", r"service: lang: expected one of auto, tr, plain"),
        ("service: [a, b]\n", r"p\.yaml:2:10: service should be text or a mapping"),
        (
            "service: {password_file: nowhere.txt}\n",
            r"p\.yaml:2:10: service: password_file .*nowhere\.txt was not found",
        ),
    ],
)
def test_a_bad_service_mapping_is_refused_naming_the_place(
    sandbox: SandboxServer,
    cli_env: dict[str, str],
    tmp_path: Path,
    service: str,
    expected: str,
) -> None:
    write(
        tmp_path / "p.yaml",
        "name: bad\n" + service + "recipients: {inline: [{phone: '05321112201'}]}\n"
        "message: {inline: Merhaba}\n",
    )
    result = run_cli(["run", "p.yaml", "--journal", "j.sqlite"], cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert re.search(expected, result.stderr), result.stderr
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert sandbox.messages() == []


def test_a_dry_run_of_a_mapping_goes_on_without_the_password(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    write(
        tmp_path / "p.yaml",
        "name: dry\nservice: {title: ACME, password_file: /run/secrets/none}\n"
        "recipients: {inline: [{phone: '05321112201'}]}\nmessage: {inline: Merhaba}\n",
    )
    env = account_env(cli_env, tmp_path / "xdg")
    result = run_cli(["run", "p.yaml", "-n"], env, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "No MASGSM service configured: the dry run skips balance and title." in result.stdout
    assert "Dry run: nothing was sent." in result.stdout
