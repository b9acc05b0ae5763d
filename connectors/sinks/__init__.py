"""Sinks: where pipeline output goes (S3, DynamoDB, Firehose, Kinesis streams).

Every sink has ``add(record)``, ``flush()`` and ``close()`` and signals
backpressure with ``SinkBackpressureError(retry_after)``; see ``base``.

Names are imported on first use: ``connectors.sinks.opensearch`` and
``connectors.sinks.types`` run on PyFlink workers, whose Managed Flink zip
carries neither prometheus-client nor aiobotocore (what ``base`` needs).
"""
from __future__ import annotations

import importlib

_MODULES = {
    "NON_RETRYABLE_CODES": "base", "BatchEntry": "base", "BatchingSink": "base", "Sink": "base",
    "SinkBackpressureError": "base", "SinkConfig": "base", "SinkError": "base", "SinkFailure": "base",
    "DynamoDBSink": "dynamodb", "DynamoDBSinkConfig": "dynamodb", "record_to_item": "dynamodb",
    "FirehoseSink": "firehose", "FirehoseSinkConfig": "firehose", "S3Sink": "s3", "S3SinkConfig": "s3",
    "KinesisStreamSink": "kinesis",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'connectors.sinks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"connectors.sinks.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
