"""`masgsm-notify init`: a starter folder that runs at once with `--sandbox`.

The files (`files/`: a commented pipeline, a CSV of Turkish sample appointments, the template
they render with) ship as package data, so an installed masgsm-notify can write them anywhere.
Nothing is ever overwritten: a folder that exists and holds anything is refused, and each file
is created exclusively.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

DEFAULT_FOLDER = Path("masgsm-starter")
PIPELINE = "pipeline.yaml"


@dataclass(frozen=True)
class Written:
    folder: Path
    files: list[Path]  # relative to the folder, in the order written

    @property
    def pipeline(self) -> Path:
        return self.folder / PIPELINE


def write_starter(folder: Path = DEFAULT_FOLDER) -> Written:
    """Copy the starter files into `folder` (created if need be); refuse one that holds
    anything, so nobody's files are overwritten."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(
            f"{folder} already exists and is not an empty folder; nothing was written. "
            "Name a new folder: masgsm-notify init DIR."
        )
    written: list[Path] = []
    try:
        for relative, source in _files(resources.files(__name__) / "files", Path()):
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as file:  # exclusive: never over a file made meanwhile
                file.write(source.read_bytes())
            written.append(relative)
    except OSError as error:
        raise UsageError(f"{folder}: cannot write the starter files: {error}") from None
    return Written(folder, written)


def _files(folder: Traversable, relative: Path) -> list[tuple[Path, Traversable]]:
    """Every file under `folder`, the pipeline first, then by path."""
    found: list[tuple[Path, Traversable]] = []
    for item in folder.iterdir():
        if item.is_dir():
            found += _files(item, relative / item.name)
        elif not item.name.startswith((".", "__")):
            found.append((relative / item.name, item))
    return sorted(found, key=lambda pair: (pair[0] != Path(PIPELINE), str(pair[0])))
