"""Sending lawfully: who may not be sent to, when texts may go, and how numbers are shown.

- `Screen` sets recipients aside while planning, a chunk at a time: numbers on the opt-out list
  (`opted_out`, when the pipeline honours it) and, with `compliance.consent`, numbers whose İYS
  consent does not allow a commercial text (`no_consent`). A resumed run is screened again
  before it sends, so a refusal recorded since the plan was made is honoured.
- `WindowGate` keeps sending inside `send.window`: closed, a run sends nothing and stops with
  exit 4 (or waits, with --wait-for-window); reaching the window's end, it stops before the
  next batch.
- `mask_plan` and `mask_summary` show numbers masked in everything a run prints or leaves
  behind, for `privacy: mask` and `--mask`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .. import clock, phone
from ..consent import ConsentRecords, allows
from ..errors import InvalidNumberError, MasgsmError, PluginError, SendWindowClosedError
from ..plugins import get_plugin_manager
from ..privacy import mask_numbers_in, shown_number
from ..state.optouts import OptOutList, existing_optouts
from ..states import MessageState
from ..window import WindowState, state_of, when
from .context import RunContext
from .records import RunRecords
from .spec import BUILT_IN_CONSENT, CONSENT_PLUGIN, Pipeline
from .summary import PlanReport, Summary

SCREENED_PER_PAGE = 2000


class ConsentCheck:
    """The pipeline's consent source, asked through the `consent_status` hook of the one plugin
    it names (the built-in reader for a records file)."""

    def __init__(self, pipeline: Pipeline):
        spec = pipeline.compliance
        assert spec.consent is not None
        source: Any
        if spec.consent.startswith(CONSENT_PLUGIN):
            self.plugin = spec.consent[len(CONSENT_PLUGIN) :].strip()
            source = self.plugin
        else:
            self.plugin = BUILT_IN_CONSENT
            source = ConsentRecords(spec.consent, pipeline.base_dir, spec.consent_where)
        self.source = source
        manager = get_plugin_manager()
        others = [p for p in manager.get_plugins() if manager.get_name(p) != self.plugin]
        self._call = manager.subset_hook_caller("consent_status", remove_plugins=others)

    def refused(self, numbers: list[str]) -> set[str]:
        """The numbers that may not get a commercial text."""
        try:
            results = self._call(numbers=numbers, source=self.source)
        except MasgsmError:
            raise
        except Exception as error:  # a plugin's failure, whatever it is
            raise PluginError(
                f"The consent plugin {self.plugin!r} failed ({type(error).__name__}: {error}); "
                "nothing was sent."
            ) from error
        answers = results[0] if results else {}
        if not isinstance(answers, Mapping):
            raise PluginError(
                f"The consent plugin {self.plugin!r} answered {type(answers).__name__}, not a "
                "mapping of numbers to statuses; nothing was sent."
            )
        known = _by_number(answers, set(numbers))
        try:
            return {number for number in numbers if not allows(known.get(number))}
        except ValueError as error:
            raise PluginError(
                f"The consent plugin {self.plugin!r} answered {error}; nothing was sent."
            ) from None


def _by_number(answers: Mapping[Any, Any], wanted: set[str]) -> dict[str, Any]:
    """A plugin's answers keyed the journal's way (5xxxxxxxxx), whatever form it used."""
    found = {}
    for key, answer in answers.items():
        if key in wanted:
            found[key] = answer
            continue
        try:
            found[phone.normalize(str(key))] = answer
        except InvalidNumberError:
            continue
    return found


class Screen:
    """Which of a chunk's recipients are set aside, and why: opted out first, then no consent."""

    def __init__(self, optouts: OptOutList | None, consent: ConsentCheck | None):
        self.optouts = optouts
        self.consent = consent

    def __call__(self, numbers: Sequence[str]) -> dict[int, MessageState]:
        """Position in `numbers` -> the state it is set aside as."""
        if self.optouts is None and self.consent is None:
            return {}
        distinct = list(dict.fromkeys(numbers))
        out = self.optouts.listed(distinct) if self.optouts is not None else set()
        rest = [number for number in distinct if number not in out]
        refused = self.consent.refused(rest) if self.consent is not None and rest else set()
        aside = {}
        for position, number in enumerate(numbers):
            if number in out:
                aside[position] = MessageState.OPTED_OUT
            elif number in refused:
                aside[position] = MessageState.NO_CONSENT
        return aside

    def rescreen(self, records: RunRecords) -> int:
        """Set aside the run's sendable messages that may no longer be sent; return how many."""
        moved = 0
        for page in records.sendable_numbers(SCREENED_PER_PAGE):
            aside = self([number for _id, number in page])
            for state in (MessageState.OPTED_OUT, MessageState.NO_CONSENT):
                ids = [page[i][0] for i, chosen in aside.items() if chosen == state]
                if ids:
                    records.set_aside(ids, state)
                    moved += len(ids)
        return moved


@contextlib.contextmanager
def open_screen(context: RunContext) -> Iterator[Screen]:
    """The run's screen; the opt-out list is only read (a run never creates or changes it)."""
    spec = context.pipeline.compliance
    consent = ConsentCheck(context.pipeline) if spec.consent else None
    optouts = existing_optouts() if spec.honour_optouts else None
    try:
        yield Screen(optouts, consent)
    finally:
        if optouts is not None:
            optouts.close()


class WindowGate:
    """`send.window` as a run meets it: before the first batch, before each next one, and
    while waiting for it to open (--wait-for-window)."""

    def __init__(self, context: RunContext):
        self.window = context.pipeline.send.window
        self.waits = context.options.wait_for_window
        self.note = context.ui.note

    def state(self) -> WindowState:
        return state_of(self.window)

    def may_continue(self) -> MasgsmError | None:
        """Between batches: the error that stops a run whose window just closed."""
        state = self.state()
        if state.open or self.window is None:
            return None
        assert state.opens_at is not None
        return SendWindowClosedError(
            f"The send window {self.window.describe()} closed with texts left to send; they wait "
            f"until it opens again at {when(state.opens_at)}. The same run key, run inside the "
            "window, sends the rest."
        )

    def hold(self, screen: Screen, records: RunRecords) -> MasgsmError | None:
        """Before sending: None when the window is open (after waiting for it, if asked), else
        the error that says nothing was sent now."""
        state = self.state()
        if state.open or self.window is None:
            return None
        assert state.opens_at is not None
        if not self.waits:
            return SendWindowClosedError(
                f"The send window {self.window.describe()} is closed: nothing was sent now. It "
                f"opens at {when(state.opens_at)}; run again then, or add --wait-for-window."
            )
        self.note(
            f"The send window {self.window.describe()} is closed; waiting until it opens at "
            f"{when(state.opens_at)} (Ctrl-C stops the wait; nothing more goes out until then)."
        )
        clock.sleep_until(state.opens_at)
        moved = screen.rescreen(records)
        if moved:
            self.note(
                f"{moved:,} recipient(s) opted out or lost consent while the run waited; they are "
                "not sent."
            )
        return None

    def waits_again(self, stop: MasgsmError | None) -> bool:
        """After a pass that the window's end stopped: wait for the next opening, if asked."""
        return self.waits and isinstance(stop, SendWindowClosedError)


def describe_window(pipeline: Pipeline) -> dict[str, Any] | None:
    """The window and its state now, as the plan shows it (`validate` shows the same)."""
    window = pipeline.send.window
    if window is None:
        return None
    return {"window": window.text, "timezone": window.zone.key, **window.state().to_dict()}


def mask_plan(plan: PlanReport) -> None:
    """The plan's numbers masked in place (its first texts keep their words)."""
    for item in plan.preview:
        item["number"] = shown_number(item["number"], True)


def mask_summary(summary: Summary) -> None:
    """The summary's numbers masked in place: failed numbers, skipped values, batch errors."""
    for failed in summary.failed_numbers:
        failed["number"] = shown_number(failed["number"], True)
    for skipped in summary.skipped_rows:
        skipped["value"] = shown_number(skipped["value"], True)
    for problem in summary.problems:
        if problem["error"]:
            problem["error"] = mask_numbers_in(problem["error"])
    if summary.error:
        summary.error = mask_numbers_in(summary.error)
