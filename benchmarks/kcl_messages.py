"""The MultiLangDaemon's messages, made in process: a benchmark feeds a KCL record processor as the daemon does,
without the JVM, so what it times is the processor's own work."""
from __future__ import annotations

import base64

from amazon_kclpy import messages


class NullCheckpointer:
    """A checkpointer that accepts every checkpoint (the daemon's lease table is not what is measured)."""

    def checkpoint(self, sequence_number=None, sub_sequence_number=None):
        pass


def initialize(processor, shard_id: str = "shardId-0") -> None:
    processor.initialize(messages.InitializeInput({"action": "initialize", "shardId": shard_id,
                                                   "sequenceNumber": None, "subSequenceNumber": 0}))


def record_batches(data: list[bytes], per_batch: int = 1000) -> list:
    """``processRecords`` messages of ``per_batch`` records each, with sequence numbers counting up."""
    encoded = [base64.b64encode(item).decode() for item in data]
    return [messages.ProcessRecordsInput({"action": "processRecords", "millisBehindLatest": 0, "records": [
        messages.Record({"action": "record", "data": item, "partitionKey": "k",
                         "sequenceNumber": str(1000 + first + i), "subSequenceNumber": 0,
                         "approximateArrivalTimestamp": 1})
        for i, item in enumerate(encoded[first:first + per_batch])]}) for first in range(0, len(encoded), per_batch)]
