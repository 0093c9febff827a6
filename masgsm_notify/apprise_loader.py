"""The loader that makes masgsm:// work in Apprise tools that never import masgsm_notify.

The `apprise` command and apprise-api import every Python file in their plugin folders. This
module writes (and removes) a small file there that registers this project's MASGSM service
(`apprise_plugin.register()`); `masgsm-notify apprise install|uninstall` call it. A tool whose
Python does not have masgsm-notify installed can load the single-file service the same way
(`apprise_builtin.py`, also `contrib/apprise/masgsm.py`, copied in as `masgsm.py`): everything
but personalised sends.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import MasgsmError, UsageError

LOADER_NAME = "masgsm_notify_loader.py"
LOADER_MARK = "# Written by `masgsm-notify apprise install`"
LOADER_SOURCE = f'''\
"""Makes masgsm:// and masgsms:// URLs work in Apprise (the apprise command, apprise-api).

Apprise imports every Python file in its plugin folders; this one registers the MASGSM service
of the installed masgsm-notify. Remove it with `masgsm-notify apprise uninstall`.
"""

{LOADER_MARK}
import logging
import sys

try:
    from masgsm_notify.apprise_plugin import register
except ImportError as error:
    logging.getLogger("apprise").warning(
        "masgsm:// is unavailable: masgsm-notify is not installed for %s (%s). "
        "Install it there (pip install masgsm-notify) or remove %s.",
        sys.executable,
        error,
        __file__,
    )
else:
    register()
'''


PLUGIN_PATH_VARIABLE = "APPRISE_PLUGIN_PATH"


def plugin_path_override() -> list[Path] | None:
    """The folders APPRISE_PLUGIN_PATH names, or None when it is not set.

    Read as the `apprise` command reads it: when set (even empty) it replaces the default
    folders, and it is split on newlines and semicolons; `~` and `$VARS` are expanded.
    """
    if PLUGIN_PATH_VARIABLE not in os.environ:
        return None
    entries = re.split(r"[\r\n;]+", os.environ[PLUGIN_PATH_VARIABLE].strip())
    return [_expand(entry) for entry in entries if entry.strip()]


def default_plugin_dir() -> Path:
    """The per-user folder the `apprise` command scans for plugins.

    The first entry of APPRISE_PLUGIN_PATH when that names one (Apprise then scans only it),
    else `~/.config/apprise/plugins` (`%APPDATA%\\Apprise\\plugins` on Windows).
    """
    override = plugin_path_override()
    if override:
        return override[0]
    if sys.platform == "win32":
        return _expand("%APPDATA%") / "Apprise" / "plugins"
    return _expand("~/.config/apprise/plugins")


def scanned_by_default(directory: Path) -> bool:
    """True when the `apprise` command looks in `directory` without `-P`."""
    from apprise.cli import DEFAULT_PLUGIN_PATHS

    override = plugin_path_override()
    paths = override if override is not None else [_expand(p) for p in DEFAULT_PLUGIN_PATHS]
    wanted = directory.expanduser().resolve()
    return any(path.resolve() == wanted for path in paths)


def _expand(entry: str) -> Path:
    return Path(os.path.expandvars(entry.strip())).expanduser()


@dataclass(frozen=True)
class LoaderChange:
    """What `install_loader` or `uninstall_loader` did, for the command to report."""

    path: Path
    changed: bool
    message: str


def install_loader(directory: Path | None = None) -> LoaderChange:
    """Write the loader into an Apprise plugin folder (created if needed)."""
    folder = (directory or default_plugin_dir()).expanduser().absolute()
    target = folder / LOADER_NAME
    current = _read_existing(target)
    if current is not None:
        if LOADER_MARK not in current:
            raise UsageError(f"{target} exists and was not written by masgsm-notify; left alone.")
        if current == LOADER_SOURCE:
            return LoaderChange(target, False, f"The MASGSM loader is already in {target}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".tmp")
        partial.write_text(LOADER_SOURCE, encoding="utf-8")
        partial.replace(target)
    except OSError as error:
        raise MasgsmError(f"Could not write the MASGSM loader to {target}: {error}") from None
    message = f"Installed the MASGSM loader for Apprise: {target}"
    if not scanned_by_default(folder):
        message += (
            f"\nApprise reads this folder only when told: apprise -P {folder} ... "
            f"(or APPRISE_PLUGIN_PATH={folder})."
        )
    return LoaderChange(target, True, message)


def uninstall_loader(directory: Path | None = None) -> LoaderChange:
    """Remove the loader (and the bytecode Python cached for it) from a plugin folder."""
    folder = (directory or default_plugin_dir()).expanduser().absolute()
    target = folder / LOADER_NAME
    current = _read_existing(target)
    if current is None:
        return LoaderChange(target, False, f"No MASGSM loader in {folder}; nothing to remove.")
    if LOADER_MARK not in current:
        raise UsageError(f"{target} was not written by masgsm-notify; left alone.")
    try:
        target.unlink()
        cache = folder / "__pycache__"
        for compiled in cache.glob(f"{target.stem}.*.pyc"):
            compiled.unlink()
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
    except OSError as error:
        raise MasgsmError(f"Could not remove {target}: {error}") from None
    return LoaderChange(target, True, f"Removed the MASGSM loader: {target}")


def _read_existing(target: Path) -> str | None:
    """The text of the file at `target`, or None when there is none.

    Failing to read it is a runtime failure (exit 1), like failing to write or remove it.
    """
    try:
        if not target.exists():
            return None
        return target.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise MasgsmError(f"Could not read {target}: {error}") from None
