"""What the Kinesis consumer hands out, how it is configured, and de-aggregation.

Kept apart from ``consumer.py`` so the polling and EFO shard readers can use
the types without importing the consumer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from connectors.aws import AwsConfig
from connectors.kinesis.aggregation import AggregationError, deaggregate
from connectors.kinesis.checkpoints import END, Checkpoint
from connectors.kinesis.shards import AT_TIMESTAMP, INITIAL_POSITIONS


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    data: bytes
    partition_key: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    """Index inside a KPL aggregate (0 for a plain record); records of one aggregate share sequence_number."""
    arrival_time: float
    """ApproximateArrivalTimestamp, epoch seconds."""
    explicit_hash_key: str | None = None

    @property
    def position(self) -> Checkpoint:
        return Checkpoint(self.sequence_number, self.sub_sequence_number)


@dataclass(frozen=True)
class ShardBatch:
    shard_id: str
    records: list[ConsumedRecord]
    millis_behind_latest: int | None
    shard_end: bool = False
    """The shard is closed and this is its last batch; checkpointing it lets its children be read."""

    def position(self) -> Checkpoint:
        """Where ``checkpoint(batch)`` moves the shard: after the last record, or SHARD_END."""
        return END if self.shard_end else self.records[-1].position


@dataclass(frozen=True)
class ConsumerConfig:
    stream_name: str
    """The stream to read."""
    application_name: str = "shardline"
    """Names the lease table and the EFO consumer; workers with the same name share the shards."""
    initial_position: str = "TRIM_HORIZON"
    """Where to start a shard with no checkpoint: TRIM_HORIZON, LATEST or AT_TIMESTAMP."""
    at_timestamp: float | None = None
    """Epoch seconds, required with AT_TIMESTAMP."""
    max_records_per_call: int = 1000
    """GetRecords Limit (1..10000); also the most records in one ShardBatch from polling."""
    min_call_interval_s: float = 0.2
    """Least time between GetRecords calls on one shard: Kinesis serves 5 calls/s/shard to all readers."""
    idle_interval_s: float = 1.0
    """Wait after an empty GetRecords at the tip of the shard (millisBehindLatest = 0)."""
    backoff_base_s: float = 0.2
    """First retry wait on throttling or a transient error (exponential, full jitter)."""
    backoff_max_s: float = 10.0
    """Longest retry wait."""
    max_transient_retries: int = 8
    """Retries of a connection or server error in a row before the consumer stops with an error."""
    discovery_interval_s: float = 2.0
    """How often shards are listed and leases claimed/renewed; a shard's end also triggers it."""
    max_pending_batches: int = 32
    """Batches read ahead of the caller (all shards together); readers wait when it is full."""
    efo: bool = False
    """Use enhanced fan-out (SubscribeToShard) instead of polling. Real AWS only: emulators lack it."""
    consumer_name: str | None = None
    """EFO consumer name; defaults to application_name."""
    efo_resubscribe_s: float = 300.0
    """Re-subscribe after this long; AWS ends each SubscribeToShard after 5 minutes."""
    efo_register_timeout_s: float = 120.0
    """How long to wait for a registered EFO consumer to become ACTIVE."""
    aws: AwsConfig = field(default_factory=AwsConfig)
    """Client settings for the Kinesis client the consumer builds."""

    def __post_init__(self) -> None:
        if self.initial_position not in INITIAL_POSITIONS:
            raise ValueError(f"initial_position must be one of {INITIAL_POSITIONS}, not {self.initial_position!r}")
        if self.initial_position == AT_TIMESTAMP and self.at_timestamp is None:
            raise ValueError("initial_position AT_TIMESTAMP needs at_timestamp (epoch seconds)")
        if not 1 <= self.max_records_per_call <= 10_000:
            raise ValueError("max_records_per_call must be within 1..10000 (the GetRecords limit)")

    @property
    def efo_consumer_name(self) -> str:
        return self.consumer_name or self.application_name


@dataclass(frozen=True, slots=True)
class StartPosition:
    """Where a shard reader starts: a GetShardIterator type and its argument."""

    type: str
    sequence_number: str | None = None
    timestamp: float | None = None
    skip_through: Checkpoint | None = None
    """Resuming inside an aggregate: records at or before this position were already checkpointed."""

    @classmethod
    def resume(cls, checkpoint: Checkpoint) -> "StartPosition":
        # AT, not AFTER: the checkpoint may sit inside an aggregated record whose later
        # sub-records are not done yet; the ones that are get skipped.
        return cls("AT_SEQUENCE_NUMBER", checkpoint.sequence_number, skip_through=checkpoint)

    @classmethod
    def after(cls, sequence_number: str) -> "StartPosition":
        return cls("AFTER_SEQUENCE_NUMBER", sequence_number)

    def iterator_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"ShardIteratorType": self.type}
        if self.sequence_number is not None:
            args["StartingSequenceNumber"] = self.sequence_number
        if self.timestamp is not None:
            args["Timestamp"] = self.timestamp
        return args


def arrival_seconds(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value or 0.0)


def user_records(shard_id: str, kinesis_records: Iterable[dict[str, Any]], skip_through: Checkpoint | None = None,
                 ) -> tuple[list[ConsumedRecord], list[tuple[dict[str, Any], AggregationError]]]:
    """De-aggregate Kinesis records (GetRecords or SubscribeToShard shape) into consumed records.

    Returns the records and the malformed aggregates (for the dead-letter destination):
    one broken Kinesis record must not hold back the rest of the batch.
    """
    out: list[ConsumedRecord] = []
    bad: list[tuple[dict[str, Any], AggregationError]] = []
    for record in kinesis_records:
        sequence = record["SequenceNumber"]
        arrival = arrival_seconds(record.get("ApproximateArrivalTimestamp"))
        try:
            parts = deaggregate(record["Data"], record["PartitionKey"], record.get("ExplicitHashKey"))
        except AggregationError as exc:
            if skip_through is None or not skip_through.covers(sequence, 0):
                bad.append((record, exc))
            continue
        for sub, part in enumerate(parts):
            if skip_through is not None and skip_through.covers(sequence, sub):
                continue
            out.append(ConsumedRecord(part.data, part.partition_key, shard_id, sequence, sub, arrival,
                                      part.explicit_hash_key))
    return out, bad
