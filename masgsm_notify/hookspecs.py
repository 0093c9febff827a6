"""Everything a plugin can do, one hook each.

Plugins are modules or objects with functions marked `@hookimpl`, loaded from the entry-point
group `masgsm_notify` (see `plugins.py`). The built-in recipient sources and template filters are
plugins too, registered through these same hooks, and so is the İYS consent CSV reader.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("masgsm_notify")
hookimpl = pluggy.HookimplMarker("masgsm_notify")


@hookspec
def register_sources(register: Any) -> None:
    """Add recipient sources: call `register(name, source_class)` for each.

    `name` is the key a pipeline uses under `recipients:` (e.g. `csv`); see `sources.Source` for
    what the class provides.
    """


@hookspec
def register_filters(register: Any) -> None:
    """Add Jinja filters for message templates: call `register(name, function)` for each.

    A filter that reads numbers can follow the pipeline's `locale:` ("tr" or "en"): decorated
    with Jinja's `pass_environment`, it finds it as `env.locale`.
    """


@hookspec
def register_globals(register: Any) -> None:
    """Add Jinja globals (functions or values) for message templates: `register(name, value)`."""


@hookspec
def consent_status(numbers: list[str], source: Any) -> Any:
    """Answer İYS consent for `numbers` (5xxxxxxxxx) in bulk, for `compliance.consent: plugin:NAME`.

    Return a mapping of number to its status (`"ONAY"`, `"RET"`, or a `(status, recipientType)`
    pair: a `"TACIR"` needs no ONAY, only no RET); a number left out has no consent. `source` is
    NAME (the built-in reader gets the pipeline's İYS records instead).
    """


@hookspec
def before_batch(run: Any, batch: Any) -> None:
    """Called just before a batch is posted. `batch.numbers` and `batch.texts` are final.

    Raising an exception stops the run before this batch leaves (nothing of it is sent).
    """


@hookspec
def after_batch(run: Any, batch: Any, outcome: Any) -> None:
    """Called after a batch's answer: `outcome.state` is sent, partial, rejected or unknown."""


@hookspec
def after_report(run: Any, summary: Any) -> None:
    """Called once the delivery reports are checked, with the run's final summary.

    The place for sinks: write results to a database, post them to a chat, and so on.
    """
