"""Sinks: where pipeline output goes (S3, DynamoDB, Firehose, Kinesis streams).

Every sink has ``add(record)``, ``flush()`` and ``close()`` and signals
backpressure with ``SinkBackpressureError(retry_after)``; see ``base``.
"""
from connectors.sinks.base import (
    NON_RETRYABLE_CODES, BatchEntry, BatchingSink, Sink, SinkBackpressureError, SinkConfig, SinkError, SinkFailure,
)
from connectors.sinks.dynamodb import DynamoDBSink, DynamoDBSinkConfig, record_to_item
from connectors.sinks.firehose import FirehoseSink, FirehoseSinkConfig
from connectors.sinks.s3 import S3Sink, S3SinkConfig

__all__ = [
    "NON_RETRYABLE_CODES", "BatchEntry", "BatchingSink", "Sink", "SinkBackpressureError", "SinkConfig", "SinkError",
    "SinkFailure", "DynamoDBSink", "DynamoDBSinkConfig", "record_to_item", "FirehoseSink", "FirehoseSinkConfig",
    "S3Sink", "S3SinkConfig", "KinesisStreamSink",
]


def __getattr__(name: str):
    # Imported on first use: it pulls in the Kinesis producer, which S3/DynamoDB/Firehose users never need.
    if name == "KinesisStreamSink":
        from connectors.sinks.kinesis import KinesisStreamSink
        return KinesisStreamSink
    raise AttributeError(f"module 'connectors.sinks' has no attribute {name!r}")
