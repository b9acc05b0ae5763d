"""DynamoDBSink: records as items, written with BatchWriteItem (25 puts per call).

BatchWriteItem fails in two ways that are both data: ``UnprocessedItems``
(throttled or over capacity: retried with backoff, only those items) and a
``ValidationException`` for the whole call when one item is bad (the call is
split in halves until the bad item is alone, and it is dead-lettered).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from boto3.dynamodb.types import TypeSerializer

from connectors.aws import error_code, is_throttling
from connectors.sinks.base import BatchEntry, BatchingSink, SinkConfig, SinkFailure
from pipelines.records import Record

MAX_ITEMS_PER_CALL = 25
MAX_ITEM_BYTES = 400 * 1024
_ENVELOPE = ("id", "type", "source", "event_time", "partition_key", "schema", "payload")
_SERIALIZER = TypeSerializer()
Item = dict[str, Any]


@dataclass(frozen=True)
class DynamoDBSinkConfig:
    table_name: str
    """Table to write to (it must exist)."""
    key_attributes: tuple[str, ...] = ("id",)
    """The table's key attributes.  One call must not carry two items with one key, so a replayed key goes
    in another call; the order of those calls is not guaranteed, so the key should name one record."""
    batching: SinkConfig = field(default_factory=lambda: SinkConfig(
        max_batch_records=100, max_batch_bytes=16 * 1024 * 1024, max_age_s=1.0))
    """A batch of 100 is written as 4 concurrent calls of 25; 16 MiB is BatchWriteItem's limit."""


def record_to_item(record: Record) -> dict[str, Any]:
    """The envelope flattened: its fields, then payload keys as attributes.

    A bytes payload stays one binary ``payload`` attribute.  A payload key that
    collides with an envelope field is stored as ``payload.<key>``; a None
    schema is left out.
    """
    item: dict[str, Any] = {name: value for name, value in record.as_dict().items()
                            if name != "payload" and value is not None}
    if isinstance(record.payload, (bytes, bytearray)):
        item["payload"] = bytes(record.payload)
    else:
        for key, value in record.payload.items():
            item[f"payload.{key}" if key in _ENVELOPE else key] = value
    return item


def _to_dynamo(value: Any) -> Any:
    """DynamoDB numbers are decimals: floats become Decimal via repr, so 0.1 stays 0.1."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's item-size rule, closely enough to reject items over 400 KB before sending them."""
    (kind, inner), = value.items()
    if kind in ("S", "N"):
        return len(inner.encode("utf-8"))
    if kind == "B":
        return len(inner)
    if kind in ("M", "L"):
        items = inner.items() if kind == "M" else ((None, v) for v in inner)
        return 3 + sum((len(k.encode("utf-8")) if k else 0) + 1 + _attribute_size(v) for k, v in items)
    if kind in ("SS", "NS", "BS"):
        return sum(len(v.encode("utf-8")) if isinstance(v, str) else len(v) for v in inner)
    return 1  # BOOL, NULL


class DynamoDBSink(BatchingSink[Item]):
    kind = "dynamodb"
    max_record_bytes = MAX_ITEM_BYTES

    def __init__(self, config: DynamoDBSinkConfig, *,
                 item_mapper: Callable[[Record], dict[str, Any]] = record_to_item, **kwargs: Any) -> None:
        """``item_mapper`` turns a record into plain Python values; this sink serializes them."""
        self.table = config
        self._mapper = item_mapper
        super().__init__(config.batching, encode=self._serialize, **kwargs)

    def describe(self) -> str:
        return f"dynamodb:{self.table.table_name}"

    def _serialize(self, record: Record) -> Item:
        return {name: _SERIALIZER.serialize(_to_dynamo(value)) for name, value in self._mapper(record).items()}

    def _size(self, encoded: Item) -> int:
        return sum(len(name.encode("utf-8")) + _attribute_size(value) for name, value in encoded.items())

    def _key(self, item: Item) -> tuple[str, ...]:
        return tuple(repr(item.get(name)) for name in self.table.key_attributes)

    async def _write_batch(self, entries: list[BatchEntry[Item]]) -> list[SinkFailure]:
        chunks: list[list[BatchEntry[Item]]] = [[]]
        keys: set[tuple[str, ...]] = set()
        for entry in entries:
            key = self._key(entry.encoded)
            if len(chunks[-1]) == MAX_ITEMS_PER_CALL or key in keys:  # duplicates fail the whole call
                chunks.append([])
                keys = set()
            chunks[-1].append(entry)
            keys.add(key)
        client = await self._client.get()
        results = await asyncio.gather(*(self._write_chunk(client, c) for c in chunks), return_exceptions=True)
        refused: list[SinkFailure] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result  # after every call has finished, so none outlives this flush
            refused.extend(result)
        return refused

    async def _write_chunk(self, client: Any, chunk: list[BatchEntry[Item]]) -> list[SinkFailure]:
        table = self.table.table_name
        try:
            response = await client.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": e.encoded}} for e in chunk]})
        except Exception as exc:
            code = error_code(exc)
            if is_throttling(exc):
                return [SinkFailure(e, code, "the call was throttled") for e in chunk]
            if code != "ValidationException":
                raise
            if len(chunk) == 1:  # DynamoDB's messages name attributes and types, not values
                message = exc.response.get("Error", {}).get("Message", "")[:300]  # type: ignore[attr-defined]
                return [SinkFailure(chunk[0], code, message)]
            middle = len(chunk) // 2
            return await self._write_chunk(client, chunk[:middle]) + await self._write_chunk(client, chunk[middle:])
        by_key = {self._key(e.encoded): e for e in chunk}
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        return [SinkFailure(by_key[self._key(request["PutRequest"]["Item"])], "UnprocessedItems",
                            "throttled or over provisioned capacity") for request in unprocessed]
