"""`masgsm-notify apprise install|uninstall`: masgsm:// for programs that do not import us.

The `apprise` command, apprise-api and other tools built on Apprise load Python files from
Apprise's plugin folders. `install` writes a small loader there that registers the masgsm:// and
masgsms:// schemas (`masgsm_notify.apprise_plugin.register()`); `uninstall` removes it.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..apprise_loader import LoaderChange, install_loader, uninstall_loader

path_option = click.option(
    "--path",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Apprise plugin folder [default: the first of APPRISE_PLUGIN_PATH if set, else "
    "~/.config/apprise/plugins, which the apprise command scans].",
)


def _report(change: LoaderChange) -> None:
    click.echo(change.message)


@click.group("apprise")
def apprise_group() -> None:
    """Make masgsm:// URLs work in the apprise command and other Apprise-based tools.

    \b
    Examples:
      masgsm-notify apprise install
      apprise -b "Disk dolu" "masgsm://5300000000:sandbox@MASGSMTEST/05321112233"
    """


@apprise_group.command()
@path_option
def install(directory: Path | None) -> None:
    """Write the MASGSM loader into an Apprise plugin folder.

    \b
    Examples:
      masgsm-notify apprise install
      masgsm-notify apprise install --path /etc/apprise/plugins
    """
    _report(install_loader(directory))


@apprise_group.command()
@path_option
def uninstall(directory: Path | None) -> None:
    """Remove the MASGSM loader from an Apprise plugin folder.

    \b
    Examples:
      masgsm-notify apprise uninstall
      masgsm-notify apprise uninstall --path /etc/apprise/plugins
    """
    _report(uninstall_loader(directory))


COMMANDS = (apprise_group,)
