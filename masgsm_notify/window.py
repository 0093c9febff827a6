"""Send windows: the hours of the day a pipeline may send in, in its timezone.

Commercial SMS in Türkiye go out in daytime hours, and an appointment reminder at 03:00 wakes
the customer it was meant to help. `send.window: "09:00-21:00"` (which may wrap midnight:
`"22:00-02:00"`) and `send.timezone` (Europe/Istanbul by default) say when; `run` and `serve`
ask `SendWindow.state()` before each batch. Zone data comes from the system, or from the
`tzdata` package where the system has none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import clock

DEFAULT_TIMEZONE = "Europe/Istanbul"
_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True)
class WindowState:
    """Whether a window is open at a moment: when open, when it closes; when closed, when it
    opens next."""

    open: bool
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
            "closes_at": self.closes_at.isoformat() if self.closes_at else None,
        }


@dataclass(frozen=True)
class SendWindow:
    start: dt.time
    end: dt.time
    zone: ZoneInfo

    @property
    def text(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def describe(self) -> str:
        """`09:00-21:00 (Europe/Istanbul)`, for messages."""
        return f"{self.text} ({self.zone.key})"

    def state(self, at: dt.datetime | None = None) -> WindowState:
        """The window at `at` (default: now), with the next change in the window's zone."""
        local = (at or clock.now()).astimezone(self.zone)
        day, time_of_day = local.date(), local.time().replace(tzinfo=None)

        def on(date: dt.date, moment: dt.time) -> dt.datetime:
            return dt.datetime.combine(date, moment, tzinfo=self.zone)

        next_day = day + dt.timedelta(days=1)
        if self.start < self.end:  # within one day
            if self.start <= time_of_day < self.end:
                return WindowState(True, None, on(day, self.end))
            opens = on(day, self.start) if time_of_day < self.start else on(next_day, self.start)
            return WindowState(False, opens, None)
        # Wrapping midnight: open from start to midnight and from midnight to end.
        if time_of_day >= self.start:
            return WindowState(True, None, on(next_day, self.end))
        if time_of_day < self.end:
            return WindowState(True, None, on(day, self.end))
        return WindowState(False, on(day, self.start), None)


def parse_window(text: str, timezone: str = DEFAULT_TIMEZONE) -> SendWindow:
    """A window from `HH:MM-HH:MM` and an IANA zone name; ValueError says what is wrong."""
    match = _WINDOW.fullmatch(text)
    if not match:
        raise ValueError("expected HH:MM-HH:MM, like 09:00-21:00 (22:00-02:00 wraps midnight)")
    hour1, minute1, hour2, minute2 = map(int, match.groups())
    if hour1 > 23 or hour2 > 23 or minute1 > 59 or minute2 > 59:
        raise ValueError("hours run from 00 to 23 and minutes from 00 to 59")
    start, end = dt.time(hour1, minute1), dt.time(hour2, minute2)
    if start == end:
        raise ValueError(
            "the window opens and closes at the same minute; to send at any time, "
            "leave send.window out"
        )
    return SendWindow(start, end, zone(timezone))


def zone(name: str) -> ZoneInfo:
    """An IANA timezone; ValueError for a name the zone data does not have."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name like {DEFAULT_TIMEZONE}"
        ) from None


def when(moment: dt.datetime) -> str:
    """`2026-03-03 09:00 +03`, for a person."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {offset[:3]}" + (offset[3:] if offset[3:] != "00" else "")


ALWAYS_OPEN = WindowState(True, None, None)


def state_of(window: SendWindow | None, at: dt.datetime | None = None) -> WindowState:
    """Is a pipeline's window (`pipeline.send.window`, None when it has none) open now, and if
    not, when does it open? For `run`, `validate` and `serve` alike."""
    return ALWAYS_OPEN if window is None else window.state(at)
