"""Event-time windows per series, closed by a watermark, with the aggregates every engine writes.

The rules are Flink SQL's windowing TVFs, so the Flink job and the Python engines agree:

- the watermark is the newest event time seen less ``delay_ms`` (out-of-orderness plus allowed lateness);
- a window ``[start, end)`` closes once the watermark reaches ``end - 1``;
- windows are cut into slices of one slide; a record whose slice has closed is late, and counts nowhere
  (Flink's slicing window operator drops it so; here it goes to the late side output).

``p95`` is exact: the nearest-rank 95th percentile (the smallest value with at least 95% of the window's
values at or below it), because a window holds few enough values to keep them all, and a sketch's error
would make the engines disagree.

>>> windows = SeriesWindows(window_ms=10_000, slide_ms=10_000, delay_ms=0)
>>> windows.add("d/t", 1_000, 1.0), windows.add("d/t", 9_000, 3.0), windows.add("d/t", 12_000, 5.0)
(True, True, True)
>>> [(a.series, a.window_start, a.count, a.mean, a.p95) for a in windows.advance(12_000)]
[('d/t', 0, 2, 2.0, 3.0)]
>>> windows.add("d/t", 4_000, 9.0)  # its window closed: late
False
>>> [(a.window_start, a.count) for a in windows.close_all()]
[(10000, 1)]
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    series: str
    window_start: int
    """Epoch milliseconds, inclusive."""
    window_end: int
    """Epoch milliseconds, exclusive."""
    count: int
    min: float
    max: float
    mean: float
    p95: float


def aggregate(series: str, window_start: int, window_end: int, values: list[float]) -> WindowAggregate:
    """The window's aggregates; ``mean`` is exactly rounded (``math.fsum``), so arrival order cannot change it."""
    ordered = sorted(values)
    count = len(ordered)
    return WindowAggregate(series, window_start, window_end, count, ordered[0], ordered[-1],
                           math.fsum(ordered) / count, ordered[p95_rank(count) - 1])


def p95_rank(count: int) -> int:
    """The nearest rank (1-based) of the 95th percentile among ``count`` values: ceil(0.95 n), in integers."""
    return (95 * count + 99) // 100


class SeriesWindows:
    """Open windows of every series, as slices of values; ``advance`` closes those the watermark passed."""

    def __init__(self, window_ms: int, slide_ms: int, delay_ms: int) -> None:
        if window_ms % slide_ms:
            raise ValueError("a window must be a whole number of slides")
        self.window_ms = window_ms
        self.slide_ms = slide_ms
        self.delay_ms = delay_ms
        self.watermark: int | None = None
        self._slices: dict[tuple[str, int], list[float]] = {}
        """(series, slice start) -> values."""
        self._pending: list[tuple[int, str, int]] = []
        """Heap of (window end, series, window start) not yet emitted."""
        self._queued: set[tuple[str, int]] = set()

    def slice_start(self, event_time: int) -> int:
        return event_time - event_time % self.slide_ms

    def is_late(self, event_time: int) -> bool:
        """Its slice closed already (a record exactly at the watermark is still on time, as in Flink)."""
        return self.watermark is not None and self.slice_start(event_time) + self.slide_ms - 1 <= self.watermark

    def add(self, series: str, event_time: int, value: float) -> bool:
        """Put a value in its windows; False (and nothing kept) when it is late."""
        if self.is_late(event_time):
            return False
        start = self.slice_start(event_time)
        values = self._slices.get((series, start))
        if values is None:
            values = self._slices[(series, start)] = []
            # Every window holding this slice: those starting at most one window length before it.
            first = start - self.window_ms + self.slide_ms
            for window_start in range(first, start + 1, self.slide_ms):
                if (series, window_start) not in self._queued:
                    self._queued.add((series, window_start))
                    heapq.heappush(self._pending, (window_start + self.window_ms, series, window_start))
        values.append(value)
        return True

    def observe(self, event_time: int) -> int:
        """Move the watermark for a newly seen event time; returns the watermark (it never goes back)."""
        candidate = event_time - self.delay_ms
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate
        return self.watermark

    def advance(self, event_time: int) -> list[WindowAggregate]:
        """``observe(event_time)``, then the windows that closed, in order of end, then series."""
        self.observe(event_time)
        return self.close_due()

    def close_due(self) -> list[WindowAggregate]:
        """The windows the current watermark has closed, in order of end, then series."""
        watermark = self.watermark
        if watermark is None:
            return []
        return self._close(lambda end: end - 1 <= watermark)

    def close_all(self) -> list[WindowAggregate]:
        """End of input: every open window closes (Flink's final watermark does the same)."""
        return self._close(lambda end: True)

    def state(self) -> dict:
        """Everything open, as JSON-ready data (``restore`` rebuilds it): a checkpoint of the windows."""
        return {"watermark": self.watermark,
                "slices": [[series, start, values] for (series, start), values in self._slices.items()],
                "pending": [list(entry) for entry in self._pending]}

    def restore(self, state: dict) -> None:
        self.watermark = state["watermark"]
        self._slices = {(series, start): list(values) for series, start, values in state["slices"]}
        self._pending = [(end, series, start) for end, series, start in state["pending"]]
        heapq.heapify(self._pending)
        self._queued = {(series, start) for _, series, start in self._pending}

    def _close(self, due) -> list[WindowAggregate]:
        closed = []
        while self._pending and due(self._pending[0][0]):
            end, series, start = heapq.heappop(self._pending)
            self._queued.discard((series, start))
            values: list[float] = []
            for slice_start in range(start, end, self.slide_ms):
                values.extend(self._slices.get((series, slice_start), ()))
            # A slice is no longer needed once the last window holding it (the one starting at it) closed.
            self._slices.pop((series, start), None)
            if values:
                closed.append(aggregate(series, start, end, values))
        return closed
