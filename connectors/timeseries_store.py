"""The time-series aggregate store in DynamoDB: one item per (series, window), read back by time range.

Keys serve the one query users run, "this series from T1 to T2": partition key ``series`` (``device/metric``),
sort key ``window_start`` (epoch milliseconds), so it is a single ``Query`` with ``BETWEEN``.  Items are whole
puts keyed by the window, so a replayed window overwrites itself with the same numbers: a replay never
double-counts.  Anomalies may go to a table of the same shape, sorted by ``event_time``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from connectors.sinks.dynamodb import DynamoDBSink, DynamoDBSinkConfig
from pipelines.records import Record

WINDOW_KEY = ("series", "window_start")
ANOMALY_KEY = ("series", "event_time")


def store_item(record: Record) -> dict[str, Any]:
    """A window or anomaly envelope (``pipelines.timeseries.outputs``) as its item: the payload's fields."""
    return {name: value for name, value in record.payload.items() if value is not None}


def aggregate_sink(table: str, **kwargs: Any) -> DynamoDBSink:
    return DynamoDBSink(DynamoDBSinkConfig(table_name=table, key_attributes=WINDOW_KEY), item_mapper=store_item,
                        **kwargs)


def anomaly_sink(table: str, **kwargs: Any) -> DynamoDBSink:
    return DynamoDBSink(DynamoDBSinkConfig(table_name=table, key_attributes=ANOMALY_KEY), item_mapper=store_item,
                        **kwargs)


def create_table(client: Any, table: str, sort_key: str = "window_start") -> None:
    """Create a store table (on-demand capacity) and wait for it; an existing one is left as it is."""
    try:
        client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "series", "AttributeType": "S"},
                                                  {"AttributeName": sort_key, "AttributeType": "N"}],
                            KeySchema=[{"AttributeName": "series", "KeyType": "HASH"},
                                       {"AttributeName": sort_key, "KeyType": "RANGE"}])
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})


def query_series(client: Any, table: str, series: str, start_ms: int, end_ms: int,
                 sort_key: str = "window_start") -> Iterator[dict[str, Any]]:
    """Items of ``series`` with ``start_ms <= sort key < end_ms``, in time order (paginated Query)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    paginator = client.get_paginator("query")
    pages = paginator.paginate(
        TableName=table, KeyConditionExpression="series = :series AND #t BETWEEN :start AND :end",
        ExpressionAttributeNames={"#t": sort_key},
        ExpressionAttributeValues={":series": {"S": series}, ":start": {"N": str(start_ms)},
                                   ":end": {"N": str(end_ms - 1)}})
    for page in pages:
        for item in page["Items"]:
            yield {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value
