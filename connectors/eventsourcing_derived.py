"""Derived events sent once, across a crash: what is on the derived stream already is read back on restart.

An engine sends derived events before it saves the state that made them (a snapshot, a checkpoint), so a crash
between the two replays their events and derives them again, under the same ids.  Kinesis has no idempotent
put, so on a restart the engine reads the derived stream from a little before its last save to the tip,
collects the ids there, and skips each once when the replay derives it again.  Only restarts pay for it, and
only for the stretch since the last save.

Where the stretch starts: the local runner's snapshot time; for a KCL processor, the arrival time of the record
its checkpoint names (read from the event stream: the processor handled it after it arrived).
"""
from __future__ import annotations

import logging
from typing import Any

from connectors.kinesis.batches import user_records
from pipelines.records import RecordValidationError, from_avro

log = logging.getLogger("shardline.eventsourcing")
MARGIN_S = 30.0
"""Read back from this long before the save: room for clocks that disagree (ours and Kinesis' arrival times)."""


class SentBefore:
    """Ids already on the derived stream; each is skipped once (a replay derives an event once more at most)."""

    def __init__(self, ids: set[str] | None = None) -> None:
        self.ids = set(ids or ())
        self.skipped = 0

    def seen(self, event_id: str) -> bool:
        if event_id in self.ids:
            self.ids.discard(event_id)
            self.skipped += 1
            return True
        return False


def ids_on_stream(kinesis: Any, stream: str, since_s: float) -> set[str]:
    """The envelope ids of every record on ``stream`` (KPL aggregates unpacked) that arrived after
    ``since_s - MARGIN_S``, read shard by shard to the tip."""
    ids: set[str] = set()
    start = max(0.0, since_s - MARGIN_S)
    shards = []
    for page in kinesis.get_paginator("list_shards").paginate(StreamName=stream):
        shards += page["Shards"]
    for shard in shards:
        iterator = _iterator_at(kinesis, stream, shard["ShardId"], start)
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            consumed, _ = user_records(shard["ShardId"], response["Records"])
            for record in consumed:
                if record.arrival_time and record.arrival_time < start:
                    continue  # read from TRIM_HORIZON (see _iterator_at)
                try:
                    ids.add(from_avro(record.data).id)
                except RecordValidationError:
                    continue  # not an envelope: none of ours
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
            iterator = response.get("NextShardIterator")
    log.info("event=eventsourcing_derived_read_back stream=%s since=%.3f ids=%d", stream, start, len(ids))
    return ids


def _iterator_at(kinesis: Any, stream: str, shard_id: str, start: float) -> str:
    """An iterator at ``start``; from TRIM_HORIZON where AT_TIMESTAMP gets no answer (kinesalite never answers it on
    a shard with no record after the time: the caller skips the older records by their arrival time)."""
    import botocore.exceptions

    try:
        return _quick(kinesis).get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="AT_TIMESTAMP",
                                                  Timestamp=start)["ShardIterator"]
    except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError):
        return kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]


def _quick(kinesis: Any) -> Any:
    """A client like ``kinesis`` that gives up on an answer after 2 s, once."""
    import boto3
    import botocore.config

    return boto3.session.Session().client(
        "kinesis", region_name=kinesis.meta.region_name, endpoint_url=kinesis.meta.endpoint_url,
        config=kinesis.meta.config.merge(botocore.config.Config(read_timeout=2, retries={"total_max_attempts": 1})))


def arrival_time(kinesis: Any, stream: str, shard_id: str, sequence_number: str) -> float | None:
    """When the record at ``sequence_number`` arrived (epoch seconds); None when it is gone (trimmed)."""
    try:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              StartingSequenceNumber=sequence_number)["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]
    except kinesis.exceptions.InvalidArgumentException:
        return None
    if not records:
        return None
    arrived = records[0]["ApproximateArrivalTimestamp"]
    return arrived.timestamp() if hasattr(arrived, "timestamp") else float(arrived)
