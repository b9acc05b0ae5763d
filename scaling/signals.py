"""Time-indexed metric history: the only input a policy reads besides AppState.

A sample is one CloudWatch-style datapoint: the statistic over the period that
*starts* at ``time``. Missing data is explicit: a period with no datapoint is
either absent or recorded as ``None``, and every reader returns ``None`` (or
skips it) instead of inventing a 0. A policy that sees missing data makes no
change.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from scaling.errors import ScalingConfigError

# Canonical metric names. The collectors (CloudWatch GetMetricData, Flink REST)
# map their sources onto these, in these units.
INPUT_RATE = "input_records_per_second"
INPUT_BYTES = "input_bytes_per_second"
PROCESSED_RATE = "processed_records_per_second"
BUSY_TIME = "busyTimeMsPerSecond"
BACKPRESSURE = "backPressuredTimeMsPerSecond"
CPU = "containerCPUUtilization"
MEMORY = "containerMemoryUtilization"
LAG_MS = "millisBehindLatest"
PENDING_RECORDS = "pendingRecords"
KPUS = "KPUs"
CHECKPOINT_DURATION = "lastCheckpointDuration"

KNOWN_METRICS: Mapping[str, str] = {
    INPUT_RATE: "records/s written to the source (AWS/Kinesis IncomingRecords Sum / period, or MSK BytesIn-derived)",
    INPUT_BYTES: "bytes/s written to the source (AWS/Kinesis IncomingBytes Sum / period)",
    PROCESSED_RATE: "records/s read by the job's source operator (Flink numRecordsInPerSecond)",
    BUSY_TIME: "ms per second the busiest subtask was busy, 0..1000 (AWS/KinesisAnalytics busyTimeMsPerSecond)",
    BACKPRESSURE: "ms per second back-pressured, 0..1000 (AWS/KinesisAnalytics backPressuredTimeMsPerSecond)",
    CPU: "percent, 0..100 (AWS/KinesisAnalytics containerCPUUtilization)",
    MEMORY: "percent, 0..100 (AWS/KinesisAnalytics containerMemoryUtilization)",
    LAG_MS: "ms the consumer is behind the stream's tip (millisBehindLatest / GetRecords.IteratorAgeMilliseconds)",
    PENDING_RECORDS: "records not yet read (MSK SumOffsetLag, Flink pendingRecords)",
    KPUS: "KPUs the application ran with (AWS/KinesisAnalytics KPUs)",
    CHECKPOINT_DURATION: "ms the last checkpoint took (AWS/KinesisAnalytics lastCheckpointDuration)",
}
CUSTOM_PREFIX = "custom:"
"""Custom metrics are named ``custom:<Name>``, so a typo in a known name is still caught."""


def check_metric(name: str) -> str:
    """Return ``name`` if it is known or custom; raise a ScalingConfigError naming the known ones otherwise."""
    if name in KNOWN_METRICS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)):
        return name
    known = ", ".join(sorted(KNOWN_METRICS))
    raise ScalingConfigError(f"unknown metric {name!r}: use one of {known}, or 'custom:<MetricName>'")


@dataclass(frozen=True, slots=True)
class Sample:
    time: float
    """Start of the period, epoch seconds."""
    value: float | None
    """The statistic, or None when the period had no data."""


class MetricHistory:
    """metric name -> samples ordered by time. Appends are O(1), range reads O(log n)."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}
        self._values: dict[str, list[float | None]] = {}

    def record(self, metric: str, time: float, value: float | None) -> None:
        """Add one datapoint; ``None`` records an explicitly missing period. Times must not go backwards."""
        check_metric(metric)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{metric} at {time}: value must be finite or None, got {value!r}")
        times = self._times.setdefault(metric, [])
        values = self._values.setdefault(metric, [])
        if times and time < times[-1]:
            raise ValueError(f"{metric}: sample at {time} is older than the last one at {times[-1]}")
        if times and time == times[-1]:
            values[-1] = value  # a re-read of the same period replaces it (CloudWatch data can be revised)
            return
        times.append(time)
        values.append(value)

    def metrics(self) -> set[str]:
        return set(self._times)

    def samples(self, metric: str, start: float = -math.inf, end: float = math.inf) -> list[Sample]:
        """Samples with start <= time <= end, missing ones included as value None."""
        times = self._times.get(metric, [])
        values = self._values.get(metric, [])
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, end)
        return [Sample(times[i], values[i]) for i in range(lo, hi)]

    def values(self, metric: str, start: float = -math.inf, end: float = math.inf) -> list[float]:
        """Present values with start <= time <= end (missing periods skipped, never zero-filled)."""
        return [s.value for s in self.samples(metric, start, end) if s.value is not None]

    def latest(self, metric: str, at_or_before: float = math.inf) -> Sample | None:
        """The newest present sample at or before ``at_or_before``, or None."""
        times = self._times.get(metric, [])
        values = self._values.get(metric, [])
        i = bisect.bisect_right(times, at_or_before) - 1
        while i >= 0:
            if values[i] is not None:
                return Sample(times[i], values[i])
            i -= 1
        return None

    def value_at(self, metric: str, time: float) -> float | None:
        """The value of the period starting exactly at ``time``, or None."""
        times = self._times.get(metric, [])
        i = bisect.bisect_left(times, time)
        if i < len(times) and times[i] == time:
            return self._values[metric][i]
        return None

    def mean(self, metric: str, start: float = -math.inf, end: float = math.inf) -> float | None:
        vals = self.values(metric, start, end)
        return sum(vals) / len(vals) if vals else None

    def to_records(self) -> list[dict]:
        """Flat rows {metric, time, value} (value None = missing), for recorded histories in JSON."""
        rows = []
        for metric in sorted(self._times):
            rows.extend({"metric": metric, "time": t, "value": v} for t, v in zip(self._times[metric], self._values[metric]))
        return rows

    @classmethod
    def from_records(cls, rows: Iterable[Mapping]) -> "MetricHistory":
        history = cls()
        for row in sorted(rows, key=lambda r: (r["metric"], r["time"])):
            history.record(row["metric"], float(row["time"]), None if row["value"] is None else float(row["value"]))
        return history

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._times))


ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
COMPARISONS = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}
"""CloudWatch's GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold."""


def evaluate_alarm(
    history: MetricHistory,
    metric: str,
    now: float,
    *,
    threshold: float,
    comparison: str,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    period_s: float = 60.0,
) -> tuple[str, list[float | None]]:
    """CloudWatch's M-of-N rule with TreatMissingData=missing.

    Takes the newest ``evaluation_periods`` periods that started before ``now``
    (looking back two extra periods, as CloudWatch does for late data). Missing
    periods count as neither breaching nor OK; fewer than M present datapoints
    is INSUFFICIENT_DATA, which every policy reads as "no change".
    """
    lookback = (evaluation_periods + 2) * period_s
    window = history.samples(metric, now - lookback, now)[-evaluation_periods:]
    present = [s.value for s in window if s.value is not None]
    if len(present) < datapoints_to_alarm:
        return INSUFFICIENT_DATA, [s.value for s in window]
    breaches = COMPARISONS[comparison]
    breaching = sum(1 for v in present if breaches(v, threshold))
    return (ALARM if breaching >= datapoints_to_alarm else OK), [s.value for s in window]
