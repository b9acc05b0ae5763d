"""Where a record lands and how fast a shard may be written: pure logic for the producer.

``ShardMap`` maps a 128-bit hash key to the open shard whose hash-key range
holds it (the rule Kinesis applies: MD5 of the partition key, or the explicit
hash key).  ``ShardPacer`` keeps one token bucket per shard so the producer
stays under Kinesis' per-shard write limits instead of learning them from
ProvisionedThroughputExceeded errors.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from pipelines.clock import Clock


@dataclass(frozen=True, slots=True)
class ShardRange:
    shard_id: str
    starting_hash_key: int
    ending_hash_key: int


class ShardMap:
    """The open shards of a stream and their hash-key ranges, as of one ListShards."""

    def __init__(self, ranges: Iterable[ShardRange]) -> None:
        self.ranges = sorted(ranges, key=lambda r: r.starting_hash_key)
        if not self.ranges:
            raise ValueError("a stream has at least one open shard; ListShards returned none")
        self._starts = [r.starting_hash_key for r in self.ranges]
        self._ids = [r.shard_id for r in self.ranges]
        self.shard_id_set = frozenset(self._ids)

    @classmethod
    def from_list_shards(cls, shards: Iterable[Mapping[str, Any]]) -> "ShardMap":
        """Build from ListShards' ``Shards``; closed shards (with an ending sequence number) are skipped."""
        return cls(ShardRange(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]),
                              int(s["HashKeyRange"]["EndingHashKey"]))
                   for s in shards if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {}))

    def shard_for(self, hash_key: int) -> str:
        return self._ids[bisect_right(self._starts, hash_key) - 1]

    @property
    def shard_ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShardMap) and self.ranges == other.ranges

    __hash__ = None  # type: ignore[assignment]


class _Bucket:
    __slots__ = ("records", "bytes", "updated")

    def __init__(self, records: float, size: float, now: float) -> None:
        self.records = records
        self.bytes = size
        self.updated = now


class ShardPacer:
    """Token buckets per shard, on an injected clock.

    A bucket holds at most ``burst_s`` seconds of tokens.  A record may be sent
    while the bucket is not in debt; sending can push the byte count into debt
    (a 1 MiB aggregate is bigger than the burst), and refilling repays it first.
    Over any interval T a shard so receives at most rate * (T + burst_s) plus
    one record, which is why the rates default below Kinesis' limits.
    """

    def __init__(self, records_per_s: float, bytes_per_s: float, burst_s: float, clock: Clock) -> None:
        if records_per_s <= 0 or bytes_per_s <= 0 or burst_s <= 0:
            raise ValueError("pacing rates and burst must be positive")
        self.records_per_s = records_per_s
        self.bytes_per_s = bytes_per_s
        self._max_records = max(1.0, records_per_s * burst_s)
        self._max_bytes = bytes_per_s * burst_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, shard_id: str) -> _Bucket:
        now = self._clock.monotonic()
        bucket = self._buckets.get(shard_id)
        if bucket is None:
            bucket = self._buckets[shard_id] = _Bucket(self._max_records, self._max_bytes, now)
        elif now > bucket.updated:
            elapsed = now - bucket.updated
            bucket.records = min(self._max_records, bucket.records + elapsed * self.records_per_s)
            bucket.bytes = min(self._max_bytes, bucket.bytes + elapsed * self.bytes_per_s)
            bucket.updated = now
        return bucket

    def allowance(self, shard_id: str) -> int:
        """How many records the shard may take now (byte debt blocks it entirely)."""
        bucket = self._bucket(shard_id)
        if bucket.bytes < 0:
            return 0
        return int(bucket.records + 1e-3)  # a float clock's rounding must not cost a whole record

    def spend(self, shard_id: str, records: int, size: int) -> None:
        bucket = self._bucket(shard_id)
        bucket.records -= records
        bucket.bytes -= size

    def wait_s(self, shard_id: str) -> float:
        """Seconds until the shard may take one more record."""
        bucket = self._bucket(shard_id)
        need_records = max(0.0, 1.0 - 1e-3 - bucket.records) / self.records_per_s
        need_bytes = max(0.0, -bucket.bytes) / self.bytes_per_s
        return max(need_records, need_bytes)

    def retain(self, shard_ids: Iterable[str]) -> None:
        """Forget buckets of shards that closed."""
        keep = set(shard_ids)
        for shard_id in list(self._buckets):
            if shard_id not in keep:
                del self._buckets[shard_id]
