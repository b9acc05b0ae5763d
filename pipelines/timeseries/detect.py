"""Online anomaly detectors, one state per series, scoring each reading against the readings before it.

``MadDetector`` (the default) is the modified z-score of Iglewicz and Hoaglin over a rolling window:
``0.6745 (x - median) / MAD``.  The median and the MAD ignore the spikes they are looking for, so one
anomaly neither hides the next nor raises false alarms after it; a level shift becomes the new normal once it
fills half the window.  ``EwmaDetector`` is the classic exponentially weighted z-score, kept as the
baseline: every spike inflates its variance, so it misses the ones that follow
(``shardline bench timeseries`` measures both on injected anomalies).

>>> detector = MadDetector(history=5, min_history=5, threshold=3.5)
>>> [detector.score(v) for v in (10.0, 10.2, 9.9, 10.1, 10.0)]
[None, None, None, None, None]
>>> round(detector.score(14.0), 1), round(detector.score(10.1), 2)
(27.0, 0.0)
"""
from __future__ import annotations

import bisect
import math
from collections import deque

from pipelines.timeseries.config import TimeseriesConfig

CONSISTENCY = 0.6745
"""The normal distribution's 0.75 quantile: scales the MAD to a standard deviation's units."""
MEAN_AD_CONSISTENCY = 0.7979
"""sqrt(2/pi): the same for the mean absolute deviation, used when more than half the values are equal."""


class MadDetector:
    """Rolling median and median absolute deviation over the last ``history`` readings of one series."""

    def __init__(self, history: int, min_history: int, threshold: float) -> None:
        self.history = history
        self.min_history = min_history
        self.threshold = threshold
        self._arrival: deque[float] = deque()
        self._sorted: list[float] = []

    def score(self, value: float) -> float | None:
        """The value's score against the readings before it (None until ``min_history``), then remember it."""
        score = self._score(value) if len(self._sorted) >= self.min_history else None
        self._arrival.append(value)
        bisect.insort(self._sorted, value)
        if len(self._arrival) > self.history:
            del self._sorted[bisect.bisect_left(self._sorted, self._arrival.popleft())]
        return score

    def state(self) -> list[float]:
        return list(self._arrival)

    def restore(self, state: list[float]) -> None:
        self._arrival = deque(state)
        self._sorted = sorted(state)

    def _score(self, value: float) -> float:
        values = self._sorted
        median = _median(values)
        mad = _median_deviation(values, median)
        if mad > 0:
            return CONSISTENCY * (value - median) / mad
        mean_ad = math.fsum(abs(v - median) for v in values) / len(values)
        if mean_ad > 0:
            return MEAN_AD_CONSISTENCY * (value - median) / mean_ad
        return 0.0 if value == median else math.copysign(math.inf, value - median)


class EwmaDetector:
    """Exponentially weighted mean and variance (span ``history``); the score is the z-score against them."""

    def __init__(self, history: int, min_history: int, threshold: float) -> None:
        self.alpha = 2.0 / (history + 1)
        self.min_history = min_history
        self.threshold = threshold
        self.seen = 0
        self.mean = 0.0
        self.variance = 0.0

    def score(self, value: float) -> float | None:
        score = None
        if self.seen >= self.min_history:
            deviation = math.sqrt(self.variance)
            score = (value - self.mean) / deviation if deviation > 0 else (
                0.0 if value == self.mean else math.copysign(math.inf, value - self.mean))
        if self.seen == 0:
            self.mean = value
        else:
            difference = value - self.mean
            increment = self.alpha * difference
            self.mean += increment
            self.variance = (1 - self.alpha) * (self.variance + difference * increment)
        self.seen += 1
        return score

    def state(self) -> list[float]:
        return [self.seen, self.mean, self.variance]

    def restore(self, state: list[float]) -> None:
        seen, self.mean, self.variance = state
        self.seen = int(seen)


def new_detector(config: TimeseriesConfig) -> MadDetector | EwmaDetector:
    kind = MadDetector if config.detector == "mad" else EwmaDetector
    return kind(config.detector_history, config.detector_min_history, config.detector_threshold)


def _median_deviation(ordered: list[float], median: float) -> float:
    """The median of ``|v - median|`` without sorting them: the deviations left of the middle (read outwards)
    and those right of it are each sorted already, so their k-th smallest is a binary search (measured: a
    sort of 120 deviations cost more than the rest of the pattern)."""
    n = len(ordered)
    half = n // 2

    def left(i: int) -> float:
        return median - ordered[half - 1 - i]

    def right(j: int) -> float:
        return ordered[half + j] - median

    if n % 2:
        return _kth_of_two(left, half, right, n - half, half)
    return (_kth_of_two(left, half, right, n - half, half - 1) + _kth_of_two(left, half, right, n - half, half)) / 2


def _kth_of_two(a, a_len: int, b, b_len: int, k: int) -> float:
    """The k-th smallest (0-based) of two ascending sequences given as index functions."""
    lo, hi = max(0, k + 1 - b_len), min(k + 1, a_len)
    while True:
        i = (lo + hi) // 2  # take i from a and j from b: the k + 1 smallest when neither side overlaps the other
        j = k + 1 - i
        if i > 0 and j < b_len and a(i - 1) > b(j):
            hi = i - 1
        elif j > 0 and i < a_len and b(j - 1) > a(i):
            lo = i + 1
        else:
            return max(a(i - 1) if i > 0 else -math.inf, b(j - 1) if j > 0 else -math.inf)


def _median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
