"""`--sink` values on the command line -> sink objects.

    s3://bucket/prefix[?format=jsonl.gz]   S3Sink (Avro by default)
    kinesis:STREAM                         KinesisStreamSink
    firehose:DELIVERY_STREAM               FirehoseSink
    dynamodb:TABLE                         DynamoDBSink (key: the record id)
    PATH.jsonl | PATH.avro                 FileSink
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse


def sink_from_spec(spec: str, *, dead_letters=None):
    from connectors.sinks import (DynamoDBSink, DynamoDBSinkConfig, FirehoseSink, FirehoseSinkConfig, S3Sink,
                                  S3SinkConfig)
    from connectors.sinks.file import FileSink

    if spec.startswith("s3://"):
        url = urlparse(spec)
        if not url.netloc:
            raise ValueError(f"--sink {spec!r}: an S3 sink looks like s3://bucket/prefix")
        options = {k: v[-1] for k, v in parse_qs(url.query).items()}
        return S3Sink(S3SinkConfig(bucket=url.netloc, prefix=url.path.strip("/") or "records",
                                   format=options.get("format", "avro")), dead_letters=dead_letters)
    kind, _, name = spec.partition(":")
    if kind in ("kinesis", "firehose", "dynamodb"):
        if not name:
            raise ValueError(f"--sink {spec!r}: give a name after '{kind}:'")
        if kind == "kinesis":
            from connectors.kinesis.producer import ProducerConfig
            from connectors.sinks import KinesisStreamSink

            return KinesisStreamSink(ProducerConfig(stream_name=name), dead_letters=dead_letters)
        if kind == "firehose":
            return FirehoseSink(FirehoseSinkConfig(delivery_stream_name=name), dead_letters=dead_letters)
        return DynamoDBSink(DynamoDBSinkConfig(table_name=name), dead_letters=dead_letters)
    if spec.endswith((".jsonl", ".json", ".avro")):
        return FileSink(spec)
    raise ValueError(f"--sink {spec!r}: use s3://bucket/prefix, kinesis:NAME, firehose:NAME, dynamodb:TABLE "
                     "or a .jsonl/.avro file")
