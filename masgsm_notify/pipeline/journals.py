"""Which journal a run writes, and which journal holds a run key when someone asks about it.

By default a pipeline's journal lives in the state directory under the pipeline's name, so the
same pipeline run from another folder, or from a copy of its folder, resumes the same run.
Versions before the state directory kept `PIPELINE.journal.sqlite` beside the pipeline: such a
journal is still used where it is (and its sent pairs are seeded into the ledger once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import MasgsmError, UsageError
from ..state import paths
from ..state.ledger import existing_ledger
from .journal import Journal
from .spec import Pipeline

LEGACY_SUFFIX = ".journal.sqlite"


@dataclass(frozen=True)
class JournalChoice:
    path: Path
    legacy: bool = False  # beside the pipeline, where earlier versions kept it


def legacy_journal(pipeline: Pipeline) -> Path:
    """Where versions before the state directory kept the pipeline's journal."""
    return pipeline.path.with_name(pipeline.path.stem + LEGACY_SUFFIX)


def choose_journal(pipeline: Pipeline, explicit: Path | None) -> JournalChoice:
    if explicit is not None:
        return JournalChoice(explicit)
    legacy = legacy_journal(pipeline)
    if legacy.is_file():
        return JournalChoice(legacy, legacy=True)
    return JournalChoice(paths.default_journal(pipeline.name))


def known_journals(folder: Path) -> list[Path]:
    """Every journal a reader may look in: the state directory's, those the ledger remembers
    (`--journal` choices and old ones beside pipelines), and old ones in and below `folder`."""
    found = sorted(paths.journals_dir().glob("*.sqlite")) if paths.journals_dir().is_dir() else []
    ledger = existing_ledger()
    if ledger is not None:
        with ledger:
            found += ledger.journals()
    found += sorted([*folder.glob("*" + LEGACY_SUFFIX), *folder.glob("*/*" + LEGACY_SUFFIX)])
    unique = {path.resolve(): path for path in found if path.is_file()}
    return list(unique.values())


def find_journal(run_key: str, folder: Path) -> Path:
    """The one journal holding `run_key`; two holding it is a question only the user can
    answer (exit 2, naming both)."""
    candidates = known_journals(folder)
    holders = []
    for path in candidates:
        try:
            with Journal(path) as journal:
                if journal.find_run(run_key):
                    holders.append(path)
        except MasgsmError:
            continue  # another version's journal, or not a journal at all
    if len(holders) > 1:
        raise UsageError(
            f"Run key {run_key!r} is in more than one journal: "
            f"{', '.join(str(p) for p in holders)}; name the one you mean with --journal."
        )
    if not holders:
        looked = ", ".join(str(p) for p in candidates) or f"none in {paths.journals_dir()}"
        raise UsageError(
            f"No journal holds run key {run_key!r} (looked at: {looked}); name it with --journal."
        )
    return holders[0]
