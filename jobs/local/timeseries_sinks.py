"""Where the time-series pattern writes on a stream, wired the same for the KCL processor and the local runner.

- windows: the DynamoDB aggregate table (``connectors.timeseries_store``: keyed by series and window start,
  whole-item puts, so a replay rewrites a window with the same numbers);
- anomalies: the alert stream (Kinesis, partitioned by series) and, optionally, an anomaly table;
- clean readings with their device's metadata: S3 under ``<prefix>/dt=/hour=`` (``raw`` by default);
- late readings: S3 under the late prefix (``late`` by default), the side output;
- records that are no reading: the dead letters, masked with the generic PII policy as on every engine.

``TimeseriesRouter`` is one sink for engines that take one (the KCL processor): ``add`` takes any of the
pattern's outputs and hands its envelope to the sinks of its kind.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from connectors.aws import split_s3_url
from connectors.dead_letter import DeadLetterSink, open_dead_letters
from connectors.sinks import S3Sink, S3SinkConfig, SinkConfig
from connectors.sinks.fanout import FanOut
from connectors.timeseries_store import aggregate_sink, anomaly_sink
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.pii.dead_letters import DeadLetterMask
from pipelines.timeseries.outputs import anomaly_record, late_record, reading_record, window_record
from pipelines.timeseries.pattern import Anomaly, EnrichedReading, LateReading
from pipelines.timeseries.windows import WindowAggregate


@dataclass(frozen=True)
class TimeseriesOutputs:
    """The pattern's destinations on a stream; the aggregate table and a dead-letter store are required."""

    aggregate_table: str | None = None
    """DynamoDB table for closed windows (key: series, window_start)."""
    dead_letters: str | None = None
    """s3://bucket/prefix or a local JSON-lines file."""
    alert_stream: str | None = None
    """Kinesis stream for anomalies."""
    anomaly_table: str | None = None
    """DynamoDB table for anomalies too (key: series, event_time), for ``shardline ts query --plot``."""
    raw_s3: str | None = None
    """s3://bucket/prefix for clean readings (Avro under dt=/hour=; prefix default ``raw``)."""
    late_s3: str | None = None
    """s3://bucket/prefix for late readings (prefix default ``late``)."""
    s3_max_age_s: float = 60.0
    """An S3 object is written at the latest this long after its first record (engines also flush per batch)."""

    def __post_init__(self) -> None:
        if not self.aggregate_table:
            raise ValueError("give the DynamoDB aggregate table (--aggregate-table), where closed windows go")
        if not self.dead_letters:
            raise ValueError("give a dead-letter destination (s3://bucket/prefix or a file), so records that "
                             "are no reading are kept")
        for name in ("raw_s3", "late_s3"):
            if getattr(self, name):
                split_s3_url(getattr(self, name), name.replace("_", " "))

    def dead_letter_store(self, *, clock: Clock = SYSTEM_CLOCK) -> DeadLetterSink:
        return open_dead_letters(self.dead_letters, clock=clock, mask=DeadLetterMask())  # type: ignore[arg-type]

    def router(self, *, dead_letters: DeadLetterSink, clock: Clock = SYSTEM_CLOCK, registry=None) -> "TimeseriesRouter":
        common = {"dead_letters": dead_letters, "clock": clock, "registry": registry}
        alerts = []
        if self.alert_stream:
            from connectors.kinesis.producer import ProducerConfig
            from connectors.sinks.kinesis import KinesisStreamSink

            alerts.append(KinesisStreamSink(ProducerConfig(stream_name=self.alert_stream), **common))
        if self.anomaly_table:
            alerts.append(anomaly_sink(self.anomaly_table, **common))
        return TimeseriesRouter(windows=aggregate_sink(self.aggregate_table, **common),
                                alerts=FanOut(alerts) if alerts else None,
                                raw=self._s3(self.raw_s3, "raw", common),
                                late=self._s3(self.late_s3, "late", common))

    def _s3(self, url: str | None, default_prefix: str, common: dict[str, Any]) -> S3Sink | None:
        if not url:
            return None
        bucket, prefix = split_s3_url(url, "S3 location")
        batching = SinkConfig(max_batch_records=50_000, max_batch_bytes=64 * 1024 * 1024, max_age_s=self.s3_max_age_s)
        return S3Sink(S3SinkConfig(bucket=bucket, prefix=prefix or default_prefix, batching=batching), **common)


class TimeseriesRouter:
    """One sink for all the pattern's outputs: each goes, as its envelope, to the sinks of its kind."""

    kind = "timeseries"

    def __init__(self, *, windows, alerts=None, raw=None, late=None) -> None:
        self.windows, self.alerts, self.raw, self.late = windows, alerts, raw, late
        self._sinks = [sink for sink in (windows, alerts, raw, late) if sink is not None]

    async def add(self, output: Any) -> None:
        if isinstance(output, WindowAggregate):
            await self.windows.add(window_record(output))
        elif isinstance(output, Anomaly):
            if self.alerts is not None:
                await self.alerts.add(anomaly_record(output))
        elif isinstance(output, EnrichedReading):
            if self.raw is not None:
                await self.raw.add(reading_record(output))
        elif isinstance(output, LateReading):
            if self.late is not None:
                await self.late.add(late_record(output))
        else:
            raise TypeError(f"the time-series router takes the pattern's outputs, not a {type(output).__name__}")

    async def flush(self) -> None:
        await asyncio.gather(*(sink.flush() for sink in self._sinks))

    async def close(self) -> None:
        errors = []
        for sink in self._sinks:
            try:
                await sink.close()
            except Exception as exc:  # noqa: BLE001 - every sink closes; the first error is re-raised
                errors.append(exc)
        if errors:
            raise errors[0]
