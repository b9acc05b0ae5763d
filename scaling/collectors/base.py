"""The collector contract: ``collect(now)`` returns a fresh MetricHistory of the lookback window.

A period with no datapoint is recorded as missing (``None``) once it is old enough that data
should have arrived, and left out before that; a value is never invented.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from scaling.signals import MetricHistory


class SignalCollector(Protocol):
    async def collect(self, now: float) -> MetricHistory:
        """Metric history up to ``now`` (epoch seconds)."""


def merge(histories: Sequence[MetricHistory]) -> MetricHistory:
    """One history holding every metric. Where two sources hold the same period, the first present
    value wins (a collector's missing period never hides another's datapoint)."""
    merged: dict[tuple[str, float], float | None] = {}
    for history in histories:
        for row in history.to_records():
            key = (row["metric"], row["time"])
            if merged.get(key) is None:
                merged[key] = row["value"]
    return MetricHistory.from_records({"metric": m, "time": t, "value": v} for (m, t), v in merged.items())


class CompositeCollector:
    """Several collectors as one, e.g. CloudWatch for the stream's input rate plus Flink REST for the job."""

    def __init__(self, collectors: Sequence[SignalCollector]) -> None:
        if not collectors:
            raise ValueError("CompositeCollector needs at least one collector")
        self.collectors = list(collectors)

    async def collect(self, now: float) -> MetricHistory:
        return merge([await c.collect(now) for c in self.collectors])
