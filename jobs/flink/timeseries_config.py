"""The time-series Flink job's settings: group ``shardline`` of the application's runtime properties.

Keys are the field names with ``_`` -> ``.``; the pattern's own settings are ``ts.<TimeseriesConfig field>``
(``ts.window_s``, ``ts.valid_ranges`` as JSON, ...), the same names ``shardline ts run --config`` reads.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from connectors.aws import split_s3_url
from jobs.flink.job_config import PROPERTY_GROUP, FlinkJobSettings, _parse, check_dead_letter_overflow
from pipelines.timeseries.config import TimeseriesConfig


@dataclass(frozen=True)
class TimeseriesJobConfig(FlinkJobSettings):
    input_stream: str
    """Kinesis stream of telemetry envelopes (partitioned by device id)."""
    aggregate_table: str
    """DynamoDB table for closed windows (key: series S, window_start N)."""
    alert_stream: str | None = None
    """Kinesis stream for anomalies."""
    raw_s3: str | None = None
    """s3://bucket/prefix for clean readings (Avro under dt=/hour=)."""
    late_s3: str | None = None
    """s3://bucket/prefix for late readings."""
    dead_letter_s3: str | None = None
    """s3://bucket/prefix for records that are no reading."""
    dead_letter_stream: str | None = None
    """Kinesis stream for them instead; those too large for one record go to dead_letter.s3, which must be set
    too."""
    devices: str | None = None
    """Device table: a file in the zip, s3://bucket/key or dynamodb:TABLE."""
    devices_refresh_s: float = 300.0
    """Seconds between reloads of the device table."""
    source_idle_timeout_s: float = 30.0
    """A shard with no record for this long no longer holds the watermark back (an empty shard would stop
    every window from closing)."""
    pattern: TimeseriesConfig = field(default_factory=TimeseriesConfig)
    """The ``ts.*`` keys."""

    def __post_init__(self) -> None:
        if not (self.dead_letter_s3 or self.dead_letter_stream):
            raise ValueError(f"property group '{PROPERTY_GROUP}': set dead_letter.s3 or dead_letter.stream, so "
                             "records that are no reading are kept")
        check_dead_letter_overflow(self.dead_letter_stream, self.dead_letter_s3)
        for name in ("raw_s3", "late_s3", "dead_letter_s3"):
            if getattr(self, name):
                split_s3_url(getattr(self, name), name.replace("_", "."))
        if self.pattern.detector != "mad":
            raise ValueError("ts.detector: the Flink job runs the mad detector (series_step); ewma runs on the "
                             "local runner and KCL only")

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> "TimeseriesJobConfig":
        known = {f.name.replace("_", "."): f for f in fields(cls) if f.name != "pattern"}
        known.update({"dead_letter.s3": known.pop("dead.letter.s3"),
                      "dead_letter.stream": known.pop("dead.letter.stream")})
        pattern_keys = {f"ts.{f.name}": f for f in fields(TimeseriesConfig)}
        unknown = sorted(set(properties) - set(known) - set(pattern_keys))
        if unknown:
            raise ValueError(f"property group '{PROPERTY_GROUP}': unknown keys {unknown}; known: "
                             f"{sorted(known) + sorted(pattern_keys)}")
        for required in ("input.stream", "aggregate.table"):
            if required not in properties:
                raise ValueError(f"property group '{PROPERTY_GROUP}': {required} is required")
        values: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        for key, text in properties.items():
            if key in pattern_keys:
                settings[pattern_keys[key].name] = _pattern_value(key, text, str(pattern_keys[key].type))
            else:
                values[known[key].name] = _parse(key, text, str(known[key].type))
        return cls(**values, pattern=TimeseriesConfig.from_dict(settings))


def _pattern_value(key: str, text: str, annotation: str) -> Any:
    if annotation.startswith("Mapping"):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(f"property {key}: expected JSON, e.g. {{\"temperature\": [-50, 150]}}") from None
    if annotation.startswith("float | None") and text.lower() in ("", "none", "null"):
        return None
    return _parse(key, text, annotation)
