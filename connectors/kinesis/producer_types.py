"""The producer's configuration, errors, statistics and metrics (see ``producer.py``)."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from connectors.aws import AwsConfig
from connectors.kinesis.aggregation import MAX_RECORD_BYTES


@dataclass(frozen=True)
class ProducerConfig:
    """How a KinesisProducer batches, paces and retries.  Every default is here."""

    stream_name: str
    """The stream to write to (a name; the region and endpoint come from ``aws`` and the environment)."""
    aggregate: bool = False
    """Pack user records into KPL aggregates per destination shard (consumers must de-aggregate)."""
    aggregation_max_bytes: int = 51_200
    """Largest aggregate (data + partition key); the KPL's default, so a retry resends little."""
    max_batch_records: int = 500
    """Kinesis records per PutRecords call (the API's limit)."""
    max_batch_bytes: int = 5 * 1024 * 1024
    """Bytes per PutRecords call (the API's limit)."""
    linger_s: float = 0.05
    """Longest a ready record waits for a fuller batch while another call is in flight."""
    max_in_flight: int = 8
    """PutRecords calls running at once."""
    max_buffered_records: int = 100_000
    """User records accepted but not yet acknowledged; ``put`` waits beyond this (backpressure)."""
    max_buffered_bytes: int = 64 * 1024 * 1024
    """Bytes accepted but not yet acknowledged; ``put`` waits beyond this (backpressure)."""
    max_attempts: int = 10
    """PutRecords attempts per Kinesis record before its user records are reported as failed."""
    backoff_base_s: float = 0.1
    """First retry waits up to this long (full jitter), doubling per attempt."""
    backoff_cap_s: float = 5.0
    """Longest wait between attempts."""
    shard_records_per_s: float = 900.0
    """Pace per shard, 10% under Kinesis' 1,000 records/s write limit (room for the burst)."""
    shard_bytes_per_s: float = 900_000.0
    """Pace per shard, under Kinesis' 1 MiB/s write limit (room for the burst)."""
    pacing_burst_s: float = 0.2
    """Seconds of pace a quiet shard may send at once."""
    shard_refresh_s: float = 60.0
    """Re-list the shards this often, to follow resharding."""
    shard_refresh_after_error_s: float = 2.0
    """After a failure, re-list the shards if the last listing is older than this."""
    aws: AwsConfig = field(default_factory=lambda: AwsConfig(extra={"parameter_validation": False}))
    """Client settings when the producer builds its own client (shardline validates records itself)."""
    seed: int | None = None
    """Seed for the backoff jitter; None: unpredictable."""

    def __post_init__(self) -> None:
        if not self.stream_name:
            raise ValueError("stream_name is required")
        if not 1 <= self.max_batch_records <= 500:
            raise ValueError("max_batch_records must be between 1 and 500 (the PutRecords limit)")
        if not MAX_RECORD_BYTES <= self.max_batch_bytes <= 5 * 1024 * 1024:
            raise ValueError("max_batch_bytes must be between 1 MiB and 5 MiB (the PutRecords limit)")
        if not 1024 <= self.aggregation_max_bytes <= MAX_RECORD_BYTES:
            raise ValueError(f"aggregation_max_bytes must be between 1024 and {MAX_RECORD_BYTES}")
        if self.max_attempts < 1 or self.max_in_flight < 1 or self.max_buffered_records < 1:
            raise ValueError("max_attempts, max_in_flight and max_buffered_records must be at least 1")


@dataclass(frozen=True)
class FailedRecord:
    """A user record the producer gave up on, with its last error; repr leaves out key and data."""

    partition_key: str = field(repr=False)
    data: bytes = field(repr=False)
    explicit_hash_key: str | None = field(repr=False)
    error_code: str
    error_message: str
    attempts: int


class ProducerError(RuntimeError):
    """Records could not be delivered; ``failures`` holds each one with its last error."""

    def __init__(self, message: str, failures: list[FailedRecord] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class RecordTooLargeError(ValueError):
    """A record is over Kinesis' 1 MiB limit (data + partition key)."""


@dataclass(frozen=True)
class ProducerStats:
    records_sent: int = 0
    kinesis_records_sent: int = 0
    retries: int = 0
    bytes_sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class ProducerMetrics:
    records: Counter
    kinesis_records: Counter
    retries: Counter
    failed: Counter
    latency: Histogram
    queue_depth: Gauge


# One set per registry: producers of one process share the series, labelled by stream (never by data).
_METRICS: "weakref.WeakKeyDictionary[CollectorRegistry, ProducerMetrics]" = weakref.WeakKeyDictionary()


def producer_metrics(registry: CollectorRegistry | None = None) -> ProducerMetrics:
    registry = registry or REGISTRY
    metrics = _METRICS.get(registry)
    if metrics is None:
        labels = ["stream"]
        metrics = _METRICS[registry] = ProducerMetrics(
            Counter("shardline_producer_records_total", "User records Kinesis accepted.", labels, registry=registry),
            Counter("shardline_producer_kinesis_records_total", "Kinesis records (aggregates count once) accepted.",
                    labels, registry=registry),
            Counter("shardline_producer_retries_total", "Kinesis records sent again after a failure.",
                    labels, registry=registry),
            Counter("shardline_producer_failed_records_total", "User records given up on after max attempts.",
                    labels, registry=registry),
            Histogram("shardline_producer_put_latency_seconds", "PutRecords call latency.", labels,
                      registry=registry, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)),
            Gauge("shardline_producer_queue_depth", "User records buffered or in flight.", labels, registry=registry),
        )
    return metrics
