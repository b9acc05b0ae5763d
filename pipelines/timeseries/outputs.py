"""The pattern's outputs as every engine writes them: JSON lines for files, envelopes for sinks.

Ids are deterministic (``window:<series>:<start>:<end>``, ``anomaly:<series>:<event time>``), so a replay
writes the same items again rather than new ones: the aggregate store upserts by key, and a consumer of the
alert stream drops an id it has seen.

>>> from pipelines.timeseries.windows import WindowAggregate
>>> window_line(WindowAggregate("d-1/temperature", 1767225600000, 1767225660000, 3, 20.0, 22.0, 21.0, 22.0))
{'kind': 'window', 'series': 'd-1/temperature', 'window_start': '2026-01-01T00:00:00Z', 'window_end': '2026-01-01T00:01:00Z', 'count': 3, 'min': 20.0, 'max': 22.0, 'mean': 21.0, 'p95': 22.0}
"""
from __future__ import annotations

import json
from typing import Any

from pipelines.records import Record
from pipelines.timeseries.pattern import Anomaly, EnrichedReading, LateReading
from pipelines.times import iso_utc
from pipelines.timeseries.windows import WindowAggregate

WINDOW_TYPE = "timeseries.window"
ANOMALY_TYPE = "timeseries.anomaly"
READING_TYPE = "timeseries.reading"
LATE_TYPE = "timeseries.late"
SOURCE = "shardline.timeseries"


def window_line(aggregate: WindowAggregate) -> dict[str, Any]:
    """One closed window, as ``shardline ts run`` writes it."""
    return {"kind": "window", "series": aggregate.series, "window_start": iso_utc(aggregate.window_start),
            "window_end": iso_utc(aggregate.window_end), "count": aggregate.count, "min": aggregate.min,
            "max": aggregate.max, "mean": aggregate.mean, "p95": aggregate.p95}


def anomaly_line(anomaly: Anomaly) -> dict[str, Any]:
    device = anomaly.device
    return {"kind": "anomaly", "series": anomaly.series, "event_time": iso_utc(anomaly.event_time),
            "value": anomaly.value, "score": round(anomaly.score, 6), "threshold": anomaly.threshold,
            "detector": anomaly.detector, "site": device.site, "model": device.model,
            "owner_team": device.owner_team}


def window_record(aggregate: WindowAggregate) -> Record:
    """The envelope for the aggregate store: the window's numbers, times in epoch milliseconds."""
    device_id, _, metric = aggregate.series.partition("/")
    payload = {"series": aggregate.series, "device_id": device_id, "metric": metric,
               "window_start": aggregate.window_start, "window_end": aggregate.window_end,
               "count": aggregate.count, "min": aggregate.min, "max": aggregate.max, "mean": aggregate.mean,
               "p95": aggregate.p95}
    return Record(id=f"window:{aggregate.series}:{aggregate.window_start}:{aggregate.window_end}",
                  type=WINDOW_TYPE, source=SOURCE, partition_key=aggregate.series,
                  event_time=aggregate.window_end - 1, payload=payload)


def anomaly_record(anomaly: Anomaly) -> Record:
    """The envelope for the alert stream (partitioned by series, so one series' alerts stay in order)."""
    payload = {**anomaly_line(anomaly), "event_time": anomaly.event_time}
    return Record(id=f"anomaly:{anomaly.series}:{anomaly.event_time}", type=ANOMALY_TYPE, source=SOURCE,
                  partition_key=anomaly.series, event_time=anomaly.event_time, payload=payload)


def reading_record(enriched: EnrichedReading) -> Record:
    """A clean reading with its device's metadata, for the raw store (partitioned by event time there)."""
    reading, device = enriched.reading, enriched.device
    payload = {"device_id": reading.device_id, "metric": reading.metric, "value": reading.value,
               "event_time": reading.event_time, "site": device.site, "model": device.model,
               "owner_team": device.owner_team, "known_device": enriched.known_device}
    if reading.attributes:
        payload["attributes"] = json.dumps(dict(reading.attributes), separators=(",", ":"), sort_keys=True,
                                           default=str)
    return Record(id=f"reading:{reading.series}:{reading.event_time}", type=READING_TYPE, source=SOURCE,
                  partition_key=reading.device_id, event_time=reading.event_time, payload=payload)


def late_record(late: LateReading) -> Record:
    """A reading that came after its window closed, for the late side output (with the watermark it missed)."""
    reading = late.reading
    payload = {"device_id": reading.device_id, "metric": reading.metric, "value": reading.value,
               "event_time": reading.event_time, "watermark": late.watermark}
    return Record(id=f"late:{reading.series}:{reading.event_time}", type=LATE_TYPE, source=SOURCE,
                  partition_key=reading.device_id, event_time=reading.event_time, payload=payload)
