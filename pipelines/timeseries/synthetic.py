"""Seeded synthetic telemetry with its ground truth: normal readings, anomalies, duplicates, late and bad records.

Each series (device and metric) has its own level and noise, and drifts slowly (a sine of one hour), so a
detector must follow it.  An anomaly is a reading moved by 6 to 12 of its series' standard deviations, never
within a series' first ``warmup`` readings (no detector can judge those).  Every reading comes with a label:
``normal``, ``anomaly``, ``duplicate`` (an exact copy of a recent reading), ``late`` (an event time
``late_by_s`` in the past) or ``bad:<what>``.

>>> generator = TelemetryGenerator(TelemetryConfig(devices=2, metrics=("temperature",), seed=1))
>>> payload, label = generator.next(1_767_225_600_000)
>>> sorted(payload), label
(['device_id', 'event_time', 'metric', 'value'], 'normal')
"""
from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record
from pipelines.timeseries.readings import ReadingError, event_time_ms
from pipelines.times import iso_utc

# metric: (typical level, spread of levels between devices, noise standard deviation, valid range)
METRICS: dict[str, tuple[float, float, float, tuple[float, float]]] = {
    "temperature": (21.0, 4.0, 0.4, (-50.0, 150.0)),
    "pressure": (1013.0, 8.0, 1.2, (800.0, 1200.0)),
    "humidity": (45.0, 10.0, 1.5, (0.0, 100.0)),
    "vibration": (3.0, 0.5, 0.1, (0.0, 50.0)),
}
VALID_RANGES = {metric: spec[3] for metric, spec in METRICS.items()}
"""The valid ranges of the synthetic metrics, for ``TimeseriesConfig.valid_ranges``."""
BAD_KINDS = ("not_json", "missing_field", "wrong_type", "year_9999", "null_value", "out_of_range")
SITES = ("berlin", "dublin", "oregon", "tokyo", "sao-paulo")
MODELS = ("tx-100", "tx-200", "hx-7")
TEAMS = ("plant-ops", "facilities", "research")


@dataclass(frozen=True)
class TelemetryConfig:
    """What ``shardline ts generate`` and ``shardline produce --synthetic telemetry`` make."""

    devices: int = 50
    """Devices; each sends every metric."""
    metrics: tuple[str, ...] = tuple(METRICS)
    """Metrics each device sends (from temperature, pressure, humidity, vibration)."""
    rate_per_s: float = 1000.0
    """Readings a second of event time, all series together (``ts generate``; ``produce`` paces by --rate)."""
    jitter_s: float = 1.0
    """Readings arrive up to this far out of event-time order (keep it under the out-of-orderness)."""
    anomaly_rate: float = 0.002
    """Share of readings moved far from their series' level."""
    duplicate_rate: float = 0.002
    """Share of records that repeat a recent reading exactly."""
    late_rate: float = 0.0
    """Share of records whose event time is ``late_by_s`` in the past."""
    late_by_s: float = 300.0
    """How far in the past a late record's event time lies."""
    bad_rate: float = 0.0
    """Share of records that are no reading (``BAD_KINDS``, in turn)."""
    warmup: int = 40
    """Readings per series before the first anomaly may come."""
    seed: int = 7
    """Seeds the values, the anomalies and the faults: the same seed makes the same records."""

    def __post_init__(self) -> None:
        unknown = [metric for metric in self.metrics if metric not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(f"metrics must be some of {sorted(METRICS)}, got {list(self.metrics)}")
        if self.devices < 1 or not self.rate_per_s > 0:
            raise ValueError("devices must be 1 or more and rate_per_s above 0")
        for name in ("anomaly_rate", "duplicate_rate", "late_rate", "bad_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be from 0 to below 1")


def device_id(index: int) -> str:
    return f"device-{index:04d}"


def device_rows(config: TelemetryConfig) -> list[dict[str, str]]:
    """The device table of the generated devices (site, model, owner team), for enrichment."""
    rng = random.Random(f"{config.seed}/devices")
    return [{"device_id": device_id(i), "site": rng.choice(SITES), "model": rng.choice(MODELS),
             "owner_team": rng.choice(TEAMS)} for i in range(config.devices)]


class TelemetryGenerator:
    def __init__(self, config: TelemetryConfig = TelemetryConfig()) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.series = [(device_id(d), metric) for d in range(config.devices) for metric in config.metrics]
        self._level = {series: METRICS[series[1]][0] + self.rng.uniform(-1, 1) * METRICS[series[1]][1]
                       for series in self.series}
        self._phase = {series: self.rng.uniform(0, 2 * math.pi) for series in self.series}
        self._count = dict.fromkeys(self.series, 0)
        self._recent: deque[dict[str, Any]] = deque(maxlen=200)
        self._next_series = 0
        self._bad = 0

    def next(self, now_ms: int) -> tuple[dict[str, Any] | bytes, str]:
        """One record's payload (bytes for a record that is not even JSON) and its label, at event time now."""
        config, rng = self.config, self.rng
        draw = rng.random()
        if draw < config.duplicate_rate and self._recent:
            return dict(rng.choice(self._recent)), "duplicate"
        draw -= config.duplicate_rate
        if draw < config.bad_rate:
            kind = BAD_KINDS[self._bad % len(BAD_KINDS)]
            self._bad += 1
            return self._bad_record(kind, now_ms), f"bad:{kind}"
        draw -= config.bad_rate
        series = self.series[self._next_series]
        self._next_series = (self._next_series + 1) % len(self.series)
        if draw < config.late_rate:
            return self._reading(series, now_ms - round(config.late_by_s * 1000), anomalous=False), "late"
        event_time = now_ms - rng.randrange(round(config.jitter_s * 1000) + 1)
        anomalous = self._count[series] >= config.warmup and rng.random() < config.anomaly_rate
        self._count[series] += 1
        payload = self._reading(series, event_time, anomalous)
        self._recent.append(payload)
        return payload, "anomaly" if anomalous else "normal"

    def _reading(self, series: tuple[str, str], event_time: int, anomalous: bool) -> dict[str, Any]:
        device, metric = series
        noise = METRICS[metric][2]
        value = (self._level[series] + noise * math.sin(2 * math.pi * event_time / 3_600_000 + self._phase[series])
                 + self.rng.gauss(0.0, noise))
        if anomalous:
            value += self.rng.choice((-1, 1)) * self.rng.uniform(6, 12) * noise
        return {"device_id": device, "metric": metric, "value": round(value, 4), "event_time": event_time}

    def _bad_record(self, kind: str, now_ms: int) -> dict[str, Any] | bytes:
        device, metric = self.series[self.rng.randrange(len(self.series))]
        if kind == "not_json":
            return b'{"device_id": "' + device.encode() + b'", "value": '
        payload: dict[str, Any] = {"device_id": device, "metric": metric, "value": 1.0, "event_time": now_ms}
        if kind == "missing_field":
            del payload["metric"]
        elif kind == "wrong_type":
            payload["value"] = "n/a"
        elif kind == "year_9999":
            payload["event_time"] = "9999-12-31T00:00:00Z"
        elif kind == "null_value":
            payload["value"] = None
        else:
            payload["value"] = METRICS[metric][3][1] * 10 + 1
        return payload


def generate(config: TelemetryConfig, records: int, start_ms: int,
             iso_times: bool = False) -> Iterator[tuple[dict[str, Any] | bytes, str]]:
    """``records`` (payload, label) pairs, event time moving ``1 / rate_per_s`` a record from ``start_ms``.
    ``iso_times``: event times as ISO 8601 text rather than epoch milliseconds."""
    generator = TelemetryGenerator(config)
    step_ms = 1000.0 / config.rate_per_s
    for index in range(records):
        payload, label = generator.next(start_ms + math.floor(index * step_ms))
        if iso_times and isinstance(payload, dict) and isinstance(payload.get("event_time"), int):
            payload = {**payload, "event_time": iso_utc(payload["event_time"])}
        yield payload, label


def telemetry_envelope(payload: dict[str, Any] | bytes, number: int, seed: int, now_ms: int = 0) -> Record:
    """The envelope a device would send: partitioned by device id, so a series stays in one shard, in order.
    A record that is no reading still gets a valid envelope (its payload as bytes when it is not even JSON):
    the pattern refuses it, not the envelope check."""
    if isinstance(payload, bytes):
        return Record(id=f"telemetry-{seed}-{number}", type="telemetry.reading", source="synthetic/telemetry",
                      partition_key="unknown", event_time=now_ms, payload=payload)
    try:
        event_time = event_time_ms(payload.get("event_time"))
    except ReadingError:
        event_time = now_ms
    device = payload.get("device_id") if isinstance(payload.get("device_id"), str) else None
    return Record(id=f"telemetry-{seed}-{number}", type="telemetry.reading", source="synthetic/telemetry",
                  partition_key=device or "unknown", event_time=event_time, payload=payload)


def telemetry_records(config: TelemetryConfig = TelemetryConfig(), clock: Clock = SYSTEM_CLOCK) -> Iterator[Record]:
    """An endless stream of telemetry envelopes stamped with the clock's time (``shardline produce``)."""
    generator = TelemetryGenerator(config)
    number = 0
    while True:
        now_ms = int(clock.time() * 1000)
        payload, _ = generator.next(now_ms)
        number += 1
        yield telemetry_envelope(payload, number, config.seed, now_ms)
