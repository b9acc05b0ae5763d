"""The time-series pattern, one record at a time: clean, enrich, detect, window.

Every engine feeds records through ``TimeseriesPattern.on_record`` (in arrival order, one instance per
partition of series) and routes what comes back by type:

- ``EnrichedReading``: a clean reading with its device's metadata (the raw sink: S3 ``raw/dt=/hour=``);
- ``Anomaly``: a reading its series' detector scored past the threshold (the alert stream);
- ``WindowAggregate``: a window the watermark closed (the aggregate store: idempotent upserts);
- ``LateReading``: a reading whose window had closed (the late side output);
- ``Rejected``: why a record is no reading (the dead letters, with ``pipelines.engine``'s reasons).

Exact duplicates, the same (device, metric, event time) again, are dropped and counted; they are
remembered until their window closes, after which a repeat is late anyway.

The detector scores a series' readings in event-time order, once the watermark has passed them (as Flink
runs an ``OVER (PARTITION BY series ORDER BY event_time)``): so its alerts do not depend on the order in
which records arrived, only on what arrived before the watermark.  A reading older than one its series has
scored already is counted (``unscored``) and still windowed.

>>> from pipelines.clock import FakeClock
>>> pattern = TimeseriesPattern(TimeseriesConfig(window_s=10, out_of_orderness_s=0), clock=FakeClock(2e9))
>>> outputs = [pattern.on_payload({"device_id": "d", "metric": "t", "value": v, "event_time": t})
...            for v, t in ((1, 1000), (1, 1000), (3, 12000), ("x", 13000))]
>>> [[type(o).__name__ for o in out] for out in outputs]
[['EnrichedReading'], [], ['EnrichedReading', 'WindowAggregate'], ['Rejected']]
>>> pattern.stats.as_dict()
{'read': 4, 'readings': 2, 'rejected': 1, 'duplicates': 1, 'late': 0, 'anomalies': 0, 'windows': 1, 'unknown_devices': 2, 'unscored': 0}
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected, rejection
from pipelines.records import Record
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.detect import new_detector
from pipelines.timeseries.enrich import Device, DeviceCatalog
from pipelines.timeseries.readings import Reading, ReadingError, parse_reading
from pipelines.timeseries.windows import SeriesWindows, WindowAggregate

UNKNOWN_DEVICE = Device()
STATE_VERSION = 1
MAX_WATERMARK = 2**63 - 1


@dataclass(frozen=True, slots=True)
class EnrichedReading:
    reading: Reading
    device: Device
    known_device: bool


@dataclass(frozen=True, slots=True)
class Anomaly:
    series: str
    event_time: int
    value: float
    score: float
    threshold: float
    detector: str
    device: Device


@dataclass(frozen=True, slots=True)
class LateReading:
    reading: Reading
    watermark: int


Output = Union[EnrichedReading, Anomaly, WindowAggregate, LateReading, Rejected]


@dataclass
class TimeseriesStats:
    read: int = 0
    readings: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    anomalies: int = 0
    windows: int = 0
    unknown_devices: int = 0
    unscored: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        counts = asdict(self)
        del counts["rejected_by_reason"]
        return counts

    def add(self, other: "TimeseriesStats") -> None:
        """Count ``other``'s records too (an engine with one pattern per shard reports their sum)."""
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)
        for reason, n in other.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + n


class TimeseriesPattern:
    def __init__(self, config: TimeseriesConfig = TimeseriesConfig(), devices: DeviceCatalog | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.devices = devices
        self.clock = clock
        self.stats = TimeseriesStats()
        self.windows = SeriesWindows(config.window_ms, config.slide_ms, config.delay_ms)
        self._detectors: dict[str, Any] = {}
        self._seen: dict[int, set[tuple[str, int]]] = {}
        """Slice start -> (series, event time) seen in it, for dropping duplicates until it closes."""
        self._seen_slices: list[int] = []
        self._to_score: list[tuple[int, int, str, EnrichedReading]] = []
        """Heap of (event time, arrival number, series, reading) waiting for the watermark."""
        self._scored_until: dict[str, int] = {}
        self._arrivals = 0
        self._max_future_ms = round(config.max_future_s * 1000)

    def on_record(self, record: Record) -> list[Output]:
        return self.on_payload(record.payload)

    def on_payload(self, payload: Any) -> list[Output]:
        self.stats.read += 1
        try:
            reading = parse_reading(payload, round(self.clock.time() * 1000), self._max_future_ms,
                                    self.config.valid_ranges)
        except ReadingError as exc:
            rejected = rejection(exc, "validate")
            self.stats.rejected += 1
            self.stats.rejected_by_reason[rejected.reason] = self.stats.rejected_by_reason.get(rejected.reason, 0) + 1
            return [rejected]
        return self.on_reading(reading)

    def on_reading(self, reading: Reading) -> list[Output]:
        windows = self.windows
        if windows.is_late(reading.event_time):
            self.stats.late += 1
            return [LateReading(reading, windows.watermark)]
        series = reading.series
        slice_start = windows.slice_start(reading.event_time)
        seen = self._seen.get(slice_start)
        if seen is None:
            seen = self._seen[slice_start] = set()
            heapq.heappush(self._seen_slices, slice_start)
        if (series, reading.event_time) in seen:
            self.stats.duplicates += 1
            return []
        seen.add((series, reading.event_time))
        self.stats.readings += 1
        device = self.devices.lookup(reading.device_id) if self.devices is not None else None
        if device is None:
            self.stats.unknown_devices += 1
        enriched = EnrichedReading(reading, device or UNKNOWN_DEVICE, device is not None)
        if reading.event_time > self._scored_until.get(series, -1):
            self._arrivals += 1
            heapq.heappush(self._to_score, (reading.event_time, self._arrivals, series, enriched))
        else:
            self.stats.unscored += 1
        windows.add(series, reading.event_time, reading.value)
        outputs: list[Output] = [enriched]
        self._score_until(windows.observe(reading.event_time), outputs)  # scored before their windows close
        closed = windows.close_due()
        if closed:
            self.stats.windows += len(closed)
            outputs.extend(closed)
            self._forget_closed_slices()
        return outputs

    def _score_until(self, watermark: int, outputs: list[Output]) -> None:
        pending = self._to_score
        while pending and pending[0][0] <= watermark:
            event_time, _, series, enriched = heapq.heappop(pending)
            self._scored_until[series] = event_time
            detector = self._detectors.get(series)
            if detector is None:
                detector = self._detectors[series] = new_detector(self.config)
            score = detector.score(enriched.reading.value)
            if score is not None and abs(score) > detector.threshold:
                self.stats.anomalies += 1
                outputs.append(Anomaly(series, event_time, enriched.reading.value, score, detector.threshold,
                                       self.config.detector, enriched.device))

    def finish(self) -> list[Output]:
        """End of input: every reading still waiting scored, then every open window closed."""
        outputs: list[Output] = []
        self._score_until(MAX_WATERMARK, outputs)
        closed = self.windows.close_all()
        outputs.extend(closed)
        self.stats.windows += len(closed)
        self._seen.clear()
        self._seen_slices.clear()
        return outputs

    def snapshot(self) -> dict[str, Any]:
        """The pattern's whole state as JSON-ready data: open windows, the watermark, the keys that make a
        repeat a duplicate, the detectors and the readings waiting to be scored.  An engine stores it with the
        stream position it reflects; ``restore`` from it and reading on from that position gives the same
        outputs as a run that never stopped."""
        return {
            "version": STATE_VERSION,
            "windows": self.windows.state(),
            "seen": [[start, [list(key) for key in keys]] for start, keys in self._seen.items()],
            "detectors": {series: detector.state() for series, detector in self._detectors.items()},
            "to_score": [[event_time, arrival, series, _reading_state(enriched)]
                         for event_time, arrival, series, enriched in self._to_score],
            "scored_until": self._scored_until,
            "arrivals": self._arrivals,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``snapshot()``'s data (taken with the same config)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"a time-series snapshot of version {state.get('version')!r}; this shardline reads "
                             f"version {STATE_VERSION}: start from the stream's position without it")
        self.windows.restore(state["windows"])
        self._seen = {start: {(series, event_time) for series, event_time in keys} for start, keys in state["seen"]}
        self._seen_slices = list(self._seen)
        heapq.heapify(self._seen_slices)
        self._detectors = {}
        for series, detector_state in state["detectors"].items():
            detector = self._detectors[series] = new_detector(self.config)
            detector.restore(detector_state)
        self._to_score = [(event_time, arrival, series, _reading_from_state(data))
                          for event_time, arrival, series, data in state["to_score"]]
        heapq.heapify(self._to_score)
        self._scored_until = dict(state["scored_until"])
        self._arrivals = state["arrivals"]

    def _forget_closed_slices(self) -> None:
        while self._seen_slices and self.windows.is_late(self._seen_slices[0]):
            self._seen.pop(heapq.heappop(self._seen_slices), None)


def _reading_state(enriched: EnrichedReading) -> list[Any]:
    reading, device = enriched.reading, enriched.device
    return [reading.device_id, reading.metric, reading.value, reading.event_time, dict(reading.attributes),
            device.site, device.model, device.owner_team, enriched.known_device]


def _reading_from_state(data: list[Any]) -> EnrichedReading:
    device_id, metric, value, event_time, attributes, site, model, owner_team, known = data
    return EnrichedReading(Reading(device_id, metric, value, event_time, attributes), Device(site, model, owner_team),
                           known)
