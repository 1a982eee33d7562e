"""The trading day's schedule: which phase an instrument is in at each time of day.

A schedule is a list of (time of day, phase): from each time on, until the next,
the instrument is in that phase; before the first time of the day it is still in
the last phase of the day before. ``exchange.toml`` gives one for the exchange
(``[schedule]``) and may give an instrument its own (``schedule = {...}``); an
instrument without either trades continuously all day and the operator alone
moves it.

The exchange applies it by level, not by edge (``Exchange.on_timer``): a scheduled
instrument that is not in its scheduled phase is moved there, unless the operator
has halted it, so a restart at any time of day finds the right phase. Pure: the
time of day is given.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from matching.constants import HALTED, PHASE_NAMES

# The phases a schedule may name (a halt is the operator's).
SCHEDULED_PHASES = {name.lower(): code for code, name in PHASE_NAMES.items() if code != HALTED}


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message names the problem."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """(seconds after midnight UTC, phase) in time order."""

    steps: tuple[tuple[int, int], ...]

    def phase_at(self, seconds: int) -> int:
        """The phase at ``seconds`` after midnight UTC."""
        i = bisect.bisect_right(self.steps, (seconds, 1 << 30)) - 1
        return self.steps[i][1]     # i == -1: the last step, from the day before

    def phase_at_ns(self, now_ns: int) -> int:
        return self.phase_at(now_ns // 1_000_000_000 % 86_400)


def parse_schedule(table: Mapping[str, object], where: str) -> Schedule:
    """A schedule from a ``{phase = "HH:MM:SS", ...}`` table (UTC times)."""
    if not isinstance(table, Mapping) or not table:
        raise ScheduleError(f"{where}: a schedule is a table of phase = \"HH:MM:SS\" "
                            f"(phases: {', '.join(SCHEDULED_PHASES)})")
    steps = []
    for name, value in table.items():
        phase = SCHEDULED_PHASES.get(name)
        if phase is None:
            raise ScheduleError(f"{where}: unknown phase {name!r} (phases: "
                                f"{', '.join(SCHEDULED_PHASES)}; a halt is the operator's)")
        try:
            at = dt.time.fromisoformat(str(value))
        except ValueError:
            raise ScheduleError(f"{where}: {name} must be a time HH:MM:SS (UTC), got "
                                f"{value!r}") from None
        steps.append((at.hour * 3600 + at.minute * 60 + at.second, phase))
    steps.sort()
    for (a, _), (b, _) in zip(steps, steps[1:], strict=False):
        if a == b:
            raise ScheduleError(f"{where}: two phases start at the same time")
    return Schedule(tuple(steps))
