"""Scheduled capacity: cron windows, in a time zone, that set a KPU floor.

A window opens at each fire time of ``start`` and closes at the next fire time of
``end`` after it, in the window's time zone (zoneinfo; DST handled by croniter on
aware datetimes). ``start="0 22 * * *", end="0 6 * * *"`` is 22:00 to 06:00 the
next morning. The schedule sets a floor: the reactive policy can still go higher
inside a window, and outside every window the floor is gone, so the application
scales back down (the AWS scheduled-scaling sample never scales down at the end hour).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from scaling.decision import (
    DEFAULT_KPU_QUOTA,
    RUNNING,
    AppState,
    ScalingConfigError,
    ScalingDecision,
    validate_kpu_limits,
)
from scaling.signals import MetricHistory


@dataclass(frozen=True)
class ScheduleWindow:
    start: str
    """Cron expression (5 fields, croniter syntax) for when the window opens."""
    end: str
    """Cron expression for when it closes: the first fire time after the opening."""
    min_kpu: int
    """KPU floor while the window is open."""
    timezone: str = "UTC"
    """IANA time zone the cron expressions are read in, e.g. 'Europe/Paris'."""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            expr = getattr(self, name)
            if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
                raise ScalingConfigError(f"invalid cron expression for window {name}: {expr!r} (need 5 fields, e.g. '0 8 * * MON-FRI')")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScalingConfigError(f"unknown time zone {self.timezone!r}: use an IANA name such as 'Europe/Paris'") from exc
        if self.min_kpu < 1:
            raise ScalingConfigError(f"window min_kpu must be >= 1, got {self.min_kpu}")

    def is_open(self, now: float) -> bool:
        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(now, zone)
        # croniter's get_prev is strict, so nudge forward to count a window opening exactly now
        opened = croniter(self.start, datetime.fromtimestamp(now + 1e-3, zone)).get_prev(datetime)
        closes = croniter(self.end, opened).get_next(datetime)
        return opened <= local < closes


@dataclass(frozen=True)
class ScheduleConfig:
    windows: tuple[ScheduleWindow, ...] = ()
    """Windows and their floors; where several are open the highest floor wins."""
    default_kpu: int | None = None
    """Used on its own (not composed): KPUs to return to outside every window; None = only raise to floors."""
    min_kpu: int = 1
    """Lowest KPUs the schedule ever asks for."""
    max_kpu: int = DEFAULT_KPU_QUOTA
    """Highest; every window floor must be <= this."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """The account's KPU quota for one application."""

    def __post_init__(self) -> None:
        validate_kpu_limits(self.min_kpu, self.max_kpu, self.kpu_quota)
        for window in self.windows:
            if window.min_kpu > self.max_kpu:
                raise ScalingConfigError(
                    f"window {window.start!r}..{window.end!r} floor {window.min_kpu} is above max_kpu {self.max_kpu}"
                )
        if self.default_kpu is not None and not self.min_kpu <= self.default_kpu <= self.max_kpu:
            raise ScalingConfigError(f"default_kpu {self.default_kpu} is outside {self.min_kpu}..{self.max_kpu}")


class SchedulePolicy:
    name = "schedule"

    def __init__(self, config: ScheduleConfig = ScheduleConfig()) -> None:
        self.config = config

    def floor_at(self, now: float) -> int:
        """The KPU floor at ``now``: the highest open window's, else min_kpu."""
        floors = [w.min_kpu for w in self.config.windows if w.is_open(now)]
        return max([self.config.min_kpu, *floors])

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        if state.status != RUNNING:
            return ScalingDecision.keep(state, f"application is {state.status}: waiting")
        floor = self.floor_at(now)
        open_windows = [f"{w.start}..{w.end} {w.timezone}" for w in self.config.windows if w.is_open(now)]
        inputs = {"floor": floor, "open_windows": open_windows}
        if state.current_kpu < floor:
            return ScalingDecision(state.current_kpu, floor, f"schedule floor {floor} KPU", inputs)
        default = self.config.default_kpu
        if not open_windows and default is not None and state.current_kpu != default:
            return ScalingDecision(state.current_kpu, default, f"outside every window: back to {default} KPU", inputs)
        return ScalingDecision.keep(state, "at or above the schedule floor", **inputs)
