"""What every phase of a run shares: the pipeline, the options, the template environment, where
news goes (the UI), the plugin hooks, and the clock of each phase."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..logs import mask_numbers
from ..plugins import get_plugin_manager
from ..render import make_environment
from .spec import Pipeline

if TYPE_CHECKING:
    from .summary import PlanReport


@dataclass
class RunOptions:
    dry_run: bool = False
    sandbox: bool = False
    run_key: str | None = None
    journal: Path | None = None
    vars: dict[str, str] = field(default_factory=dict)
    input: Any = None
    input_bytes: bytes = b""
    input_name: str | None = None  # the --input file as given ("-": standard input)
    resend_unknown: bool = False
    resend_duplicates: bool = False
    preview: int = 3
    html: Path | None = None  # the run's page, written when the run ends (`--html`)
    # serve: stop once the texts are sent (raising what stopped the send); the reports, the
    # verdict, the export and notify come later, from `Runner.check_again`.
    check_later: bool = False
    # serve: the journal (locked) and ledger it holds open for its lifetime (a `Storage`), used
    # instead of opening and closing them for every payload.
    held: Any = None
    limit: int | None = None  # send only the first N sendable messages; hold the rest
    offline: bool = False  # with dry_run: never contact MASGSM, never read the state directory
    wait_for_window: bool = False  # outside send.window, wait for it instead of exiting 4
    mask: bool = False  # --mask: numbers shown masked, as with `privacy: mask`


@dataclass(frozen=True)
class RunInfo:
    """What hooks see of the run."""

    name: str
    run_key: str
    pipeline: Path
    journal: Path
    dry_run: bool


class UI:
    """Where the runner reports as it goes; the CLI prints, tests may collect."""

    def plan(self, report: PlanReport) -> None:
        """The plan, before anything is sent."""

    def note(self, text: str) -> None:
        """A line of progress news for a person."""

    def warn(self, text: str) -> None:
        """A line for a person while the run waits on something (MASGSM unreachable, a stop
        asked for); the command line puts it on standard error."""
        self.note(text)

    def progress(self, label: str, total: int) -> contextlib.AbstractContextManager:
        """A context manager yielding `advance(n)`."""
        return contextlib.nullcontext(lambda n: None)


class RunContext:
    """One run's shared surroundings."""

    def __init__(self, pipeline: Pipeline, options: RunOptions, ui: UI | None = None):
        self.pipeline = pipeline
        self.options = options
        self.ui = ui or UI()
        self.env = make_environment(pipeline.template_dirs(), pipeline.locale, pipeline.limits)
        self.env.globals.update(
            vars={**pipeline.vars, **options.vars},
            input=options.input,
            now=dt.datetime.now().astimezone(),
        )
        self.timings: dict[str, float] = {}
        self._hooks = get_plugin_manager().hook
        if self.masked:
            mask_numbers()  # logs and errors from here on, whoever writes them

    @property
    def masked(self) -> bool:
        """Numbers are shown masked in output, logs, exports and notices (KVKK)."""
        return self.options.mask or self.pipeline.privacy == "mask"

    @property
    def throwaway(self) -> bool:
        """A dry run, or a sandbox run without --journal, keeps no journal and no ledger: trying
        a pipeline never marks its messages as sent."""
        return self.options.dry_run or (self.options.sandbox and not self.options.journal)

    def took(self, phase: str, started: float, items: int = 0) -> str:
        """Record how long a phase took (for the summary) and say it for a person."""
        seconds = time.monotonic() - started
        self.timings[phase] = round(self.timings.get(phase, 0.0) + seconds, 3)
        rate = f" ({items / seconds:,.0f}/s)" if items and seconds > 0 else ""
        return f"{seconds:.2f} s{rate}"

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call a plugin hook. A failing `before_batch` stops the run (its batch is not sent);
        a failing hook after the fact is reported, since what it reports on has happened."""
        try:
            getattr(self._hooks, name)(**kwargs)
        except Exception as error:  # a plugin's failure, whatever it is
            if name == "before_batch":
                raise PluginError(
                    f"A plugin's before_batch hook stopped the run ({type(error).__name__}: "
                    f"{error}); that batch and the rest were not sent."
                ) from error
            self.ui.note(f"A plugin's {name} hook failed: {type(error).__name__}: {error}")
