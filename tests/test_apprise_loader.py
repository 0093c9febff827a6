"""The loader's folder choice (APPRISE_PLUGIN_PATH, read once) and its file errors (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from masgsm_notify import apprise_loader
from masgsm_notify.apprise_loader import (
    LOADER_NAME,
    default_plugin_dir,
    install_loader,
    plugin_path_override,
    scanned_by_default,
    uninstall_loader,
)
from masgsm_notify.errors import MasgsmError, UsageError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("APPRISE_PLUGIN_PATH", raising=False)
    return tmp_path / "home"


def test_without_the_variable_the_defaults_apply(home: Path) -> None:
    assert plugin_path_override() is None
    assert default_plugin_dir() == home / ".config" / "apprise" / "plugins"
    assert scanned_by_default(home / ".config" / "apprise" / "plugins")
    assert scanned_by_default(home / ".apprise" / "plugins")
    assert not scanned_by_default(home / "elsewhere")


def test_the_variable_replaces_the_defaults(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINE", str(tmp_path / "mine"))
    monkeypatch.setenv("APPRISE_PLUGIN_PATH", " $MINE;\n~/second\r\n;")
    assert plugin_path_override() == [tmp_path / "mine", home / "second"]
    assert default_plugin_dir() == tmp_path / "mine"
    assert scanned_by_default(tmp_path / "mine")
    assert scanned_by_default(Path("~/second"))
    assert not scanned_by_default(home / ".config" / "apprise" / "plugins")


def test_an_empty_variable_scans_nothing_as_in_apprise(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPRISE_PLUGIN_PATH", "  ")
    assert plugin_path_override() == []
    assert default_plugin_dir() == home / ".config" / "apprise" / "plugins"
    assert not scanned_by_default(home / ".config" / "apprise" / "plugins")
    message = install_loader().message
    assert "Apprise reads this folder only when told: apprise -P" in message


def test_a_folder_that_cannot_be_made_is_a_runtime_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(MasgsmError) as raised:
        install_loader(blocker / "plugins")
    assert not isinstance(raised.value, UsageError)
    assert raised.value.exit_code == 1
    assert f"Could not write the MASGSM loader to {blocker / 'plugins' / LOADER_NAME}" in str(
        raised.value
    )


def test_a_loader_that_cannot_be_removed_is_a_runtime_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plugins"
    install_loader(folder)

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(apprise_loader.Path, "unlink", refuse)
    with pytest.raises(MasgsmError) as raised:
        uninstall_loader(folder)
    assert not isinstance(raised.value, UsageError)
    assert raised.value.exit_code == 1
    assert str(raised.value).startswith(f"Could not remove {folder / LOADER_NAME}: ")


def test_an_unreadable_loader_path_is_a_runtime_failure(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    (folder / LOADER_NAME).mkdir(parents=True)  # a folder where the file should be
    for action in (install_loader, uninstall_loader):
        with pytest.raises(MasgsmError) as raised:
            action(folder)
        assert raised.value.exit_code == 1
        assert str(raised.value).startswith(f"Could not read {folder / LOADER_NAME}: ")
