"""Validating a pipeline: every check a dry run makes that needs neither the network nor state.

`masgsm-notify validate` is a dry run with the network and the state directory taken away, run by
the same code as every run: the YAML and its keys; every row read, filtered by `when:`, rendered,
numbered and costed against `send.max_segments`; `send.on_invalid`; the verdict's expression,
the export path and the notify templates; and whatever else loading and planning check. A check
added there (the compliance keys, say) is made by `run` and `validate` alike, so there is no
second list to keep in step.

The service settings are read, so a malformed service is caught, but never contacted: no balance,
no titles, no connection at all. The plan goes to a throwaway journal and the sent ledger is not
read, so the result depends on the files alone: a pipeline kept in a repository can be checked in
CI with no account. It exits 0 (valid) or 2 (not).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .context import UI, RunOptions
from .runner import Runner
from .spec import load_pipeline
from .summary import Summary


def validate(path: Path, options: RunOptions | None = None, ui: UI | None = None) -> Summary:
    """Check the pipeline at `path` as a run would, offline; bad input raises (exit 2)."""
    offline = dataclasses.replace(
        options or RunOptions(), dry_run=True, offline=True, sandbox=False, journal=None
    )
    return Runner(load_pipeline(path), offline, ui).run()
