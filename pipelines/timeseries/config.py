"""The time-series pattern's settings, every default in one place.

>>> config = TimeseriesConfig.from_dict({"window_s": 30, "valid_ranges": {"temperature": [-40, 125]}})
>>> config.window_ms, config.slide_ms, config.delay_ms, config.valid_ranges["temperature"]
(30000, 30000, 5000, (-40.0, 125.0))
>>> TimeseriesConfig.from_dict({"window": 60})
Traceback (most recent call last):
...
ValueError: unknown time-series setting 'window'; known: allowed_lateness_s, detector, ..., window_s
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

DETECTORS = ("mad", "ewma")


@dataclass(frozen=True)
class TimeseriesConfig:
    """Clean, window and detect: what ``shardline ts run --config`` and the jobs' ``ts.*`` properties set."""

    window_s: float = 60.0
    """Window length, seconds (event time)."""
    slide_s: float | None = None
    """Slide of sliding (hopping) windows, seconds; None: tumbling windows (slide = length)."""
    out_of_orderness_s: float = 5.0
    """How far behind the newest event time a record may arrive and still be on time (the watermark's lag)."""
    allowed_lateness_s: float = 0.0
    """Extra time a window stays open past the watermark; a record for a window already closed is late."""
    valid_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Per metric, the inclusive [low, high] a value must lie in; a metric not listed takes any finite value."""
    max_future_s: float = 86_400.0
    """An event time further ahead of the clock than this is refused (a device with a broken clock would
    otherwise move the watermark past every open window)."""
    detector: str = "mad"
    """``mad`` (rolling median and MAD, the modified z-score) or ``ewma`` (exponentially weighted z-score)."""
    detector_history: int = 120
    """Readings of a series the detector remembers (mad) or its span (ewma: alpha = 2 / (history + 1))."""
    detector_min_history: int = 20
    """Readings a series needs before the detector scores one."""
    detector_threshold: float = 4.5
    """Absolute score above which a reading is an anomaly.  Iglewicz and Hoaglin's 3.5 assumes a MAD known
    well; from 120 readings it is not, and 3.5 measured one false alarm for every four true ones on the synthetic
    mix, 4.5 one for fifty, recall 0.99 (``shardline bench timeseries``)."""

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError("window_s must be above 0")
        if self.slide_s is not None and not 0 < self.slide_s <= self.window_s:
            raise ValueError("slide_s must be above 0 and at most window_s")
        if self.slide_s is not None and round(self.window_s * 1000) % round(self.slide_s * 1000):
            raise ValueError("window_s must be a whole number of slides")
        if self.out_of_orderness_s < 0 or self.allowed_lateness_s < 0:
            raise ValueError("out_of_orderness_s and allowed_lateness_s must be 0 or more")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.detector_history < 3 or not 1 <= self.detector_min_history <= self.detector_history:
            raise ValueError("detector_history must be 3 or more, and detector_min_history from 1 to it")
        if not self.detector_threshold > 0:
            raise ValueError("detector_threshold must be above 0")
        ranges = {}
        for metric, bounds in dict(self.valid_ranges).items():
            low, high = (float(bound) for bound in bounds)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"valid_ranges[{metric!r}] must be two finite numbers, low first")
            ranges[str(metric)] = (low, high)
        object.__setattr__(self, "valid_ranges", ranges)

    @property
    def window_ms(self) -> int:
        return round(self.window_s * 1000)

    @property
    def slide_ms(self) -> int:
        return self.window_ms if self.slide_s is None else round(self.slide_s * 1000)

    @property
    def delay_ms(self) -> int:
        """How far the watermark trails the newest event time: a window closes this long after its end."""
        return round((self.out_of_orderness_s + self.allowed_lateness_s) * 1000)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TimeseriesConfig":
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"unknown time-series setting {key!r}; known: {', '.join(sorted(known))}")
        return cls(**dict(data))
