"""PyFlink job: envelope records from a Kinesis stream, through a pipeline function, to Kinesis, S3, Firehose.

Runtime properties, group ``shardline`` (Managed Flink, or a local file given by
``--properties`` / ``SHARDLINE_APPLICATION_PROPERTIES``)::

    input.stream           stream to read (name or ARN)                       required
    output.stream          stream to write (partition key = the record's)     one output required
    output.s3              s3://bucket/prefix for Avro objects under dt=/hour=
    output.firehose        Firehose delivery stream for OpenSearch bulk lines; output.firehose.index names the index
    dead_letter.s3         s3://bucket/prefix for dead letters (JSON lines)   default: <output.s3 bucket>/dead-letters
    dead_letter.stream     stream for dead letters (DeadLetter JSON)          one dead-letter destination required;
                           letters too large for a record go to dead_letter.s3 (or its default), which must exist
    pipeline               module:function applied to each Record            default jobs.local.runner:identity
    dead_letter.mask       module:function, bytes -> bytes, applied to a dead letter's data before it is stored
    source.init.position   TRIM_HORIZON | LATEST | AT_TIMESTAMP               default TRIM_HORIZON
    source.init.timestamp  epoch seconds, for AT_TIMESTAMP
    source.bounded         true: stop once every shard is read to its tip    default false
    parallelism, checkpoint.interval.ms, checkpoint.dir, s3.batch.records, s3.batch.max-age-s,
    firehose.batch.max-age-s, python.bundle.time.ms (see PipelineJobConfig)

Run locally:  python -m jobs.flink.pipeline_job --properties app.json

Delivery is at least once: after a restore from a checkpoint, records read
since that checkpoint are written again.  S3 and Firehose batches wait in
keyed state, so a checkpoint holds them until they are written.
"""
from __future__ import annotations

import io
import logging
import uuid
from typing import Callable, Mapping, Protocol

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from connectors.aws import split_s3_url
from connectors.dead_letter import identity
from connectors.flink import FlinkConfig, keyed_bytes_type, kinesis_sink, kinesis_source, stream_environment
from jobs.flink.dead_letters import DeadLetters
from jobs.flink.firehose_writer import to_firehose
# The settings and stream types; the job's callers and tests import them from here too.
from jobs.flink.job_config import (BYTES, DEAD_LETTERS, END_OF_INPUT, PARTITIONED, PROCESSED,  # noqa: F401
                                   PipelineJobConfig, job_properties, letter_fits_stream)

log = logging.getLogger("shardline.jobs.flink.pipeline")

class PipelineSetup(Protocol):
    """Builds the pipeline on a worker from the operator's metric group; pickled with it, with its settings."""
    def open(self, metrics) -> Callable: ...
    def close(self) -> None: ...


class ApplyPipeline(ProcessFunction):
    """``(shard, sequence, sub-sequence, bytes)`` in: decode, validate, run the pipeline function, encode.
    Bad records go to DEAD_LETTERS, with their position on ``stream`` as their source."""

    def __init__(self, pipeline: str, stream: str, dead_letter_mask: str | None = None,
                 setup: PipelineSetup | None = None) -> None:
        self.pipeline_spec = pipeline
        self.stream = stream
        self.mask_spec = dead_letter_mask
        self.setup = setup

    def open(self, runtime_context: RuntimeContext) -> None:
        from jobs.local.runner import load_pipeline
        from pipelines.engine import RecordPath

        metrics = runtime_context.get_metrics_group()
        self.path = RecordPath(self.setup.open(metrics) if self.setup else load_pipeline(self.pipeline_spec))
        self.letters = DeadLetters(metrics, "shardline_flink_dead_letters",
                                   load_pipeline(self.mask_spec) if self.mask_spec else identity)

    def close(self) -> None:
        if self.setup is not None:
            self.setup.close()

    def process_element(self, value: tuple[str, str, int, bytes], ctx: ProcessFunction.Context):
        from connectors.dead_letter import hour_partition
        from pipelines.engine import Rejected
        from pipelines.records import to_avro

        data = value[3]
        outcome = self.path.from_bytes(data)
        if isinstance(outcome, Rejected):
            yield DEAD_LETTERS, self._letter(outcome, value)
            return
        try:
            processed = [(r.partition_key, hour_partition(r.event_time / 1000), to_avro(r)) for r in outcome]
        except (OverflowError, OSError, ValueError) as exc:
            rejected = Rejected(type(exc).__name__, "field 'event_time': is outside the calendar", "output")
            yield DEAD_LETTERS, self._letter(rejected, value)
            return
        yield from processed

    def _letter(self, rejected, value: tuple[str, str, int, bytes]) -> tuple[str, bytes]:
        from pipelines import engine

        shard, sequence, sub_sequence, data = value
        source = engine.kinesis_source(self.stream, shard, sequence, sub_sequence)  # the form every engine writes
        return self.letters.letter(rejected, source, data)


def avro_object(items: list[bytes]) -> bytes:
    from pipelines.records import write_encoded_avro_file

    buffer = io.BytesIO()
    write_encoded_avro_file(buffer, items)
    return buffer.getvalue()


def jsonl_object(items: list[bytes]) -> bytes:
    return b"".join(item + b"\n" for item in items)


class S3BatchWriter(KeyedProcessFunction):
    """One S3 object per batch and partition: ``<prefix>/dt=YYYY-MM-DD/hour=HH/<uuid><suffix>``.

    Keyed by partition; the batch lives in keyed list state, so it is part of every checkpoint
    until its object is written (the layout is connectors.sinks.s3.S3Sink's).  A batch is written
    when it is full, when it is ``max_age_s`` old, and when a bounded input ends.
    """

    def __init__(self, bucket: str, prefix: str, suffix: str, encode: Callable[[list[bytes]], bytes],
                 max_records: int, max_age_s: float) -> None:
        self.bucket, self.prefix, self.suffix, self.encode = bucket, prefix, suffix, encode
        self.max_records, self.max_age_ms = max_records, int(max_age_s * 1000)

    def open(self, runtime_context: RuntimeContext) -> None:
        from connectors.aws import AwsConfig, client

        self.batch = runtime_context.get_list_state(ListStateDescriptor("batch", BYTES))
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))
        # botocore's standard retry mode: exponential backoff with jitter on throttling and 5xx.
        self.s3 = client("s3", AwsConfig(sdk_retries=5))

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        self.batch.add(value[1])
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        if count == 1:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.max_age_ms)
            timers.register_event_time_timer(END_OF_INPUT)
        if count >= self.max_records:
            yield self._write(ctx.get_current_key())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        if self.count.value():
            yield self._write(ctx.get_current_key())

    def _write(self, partition: str) -> str:
        items = list(self.batch.get())
        key = f"{self.prefix}/{partition}/{uuid.uuid4()}{self.suffix}".lstrip("/")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=self.encode(items))
        self.batch.clear()
        self.count.clear()
        log.info("event=s3_object_written bucket=%s records=%d partition=%s", self.bucket, len(items), partition)
        return key


def _discard(stream) -> None:
    """Terminate a branch whose work is a side effect (S3 writes): Flink prunes branches without a sink."""
    from pyflink.datastream.connectors import Sink
    from pyflink.java_gateway import get_gateway

    stream.sink_to(Sink(get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink()))


def _to_s3(stream, url: str, suffix: str, encode, job: PipelineJobConfig, name: str) -> None:
    bucket, prefix = split_s3_url(url, name)
    written = stream.key_by(lambda item: item[0], key_type=Types.STRING()) \
        .process(S3BatchWriter(bucket, prefix, suffix, encode, job.s3_batch_records, job.s3_batch_max_age_s),
                 output_type=Types.STRING()).name(f"s3:{name}")
    _discard(written)


def build(env, job: PipelineJobConfig, flink: FlinkConfig, setup: PipelineSetup | None = None) -> None:
    """Add the job's operators to ``env``; ``setup``, when given, builds the pipeline on the workers."""
    raw = kinesis_source(env, job.input_stream, initial_position=job.source_init_position,
                         at_timestamp=job.source_init_timestamp, bounded=job.source_bounded, config=flink,
                         positioned=True)
    apply = ApplyPipeline(job.pipeline, job.input_stream, job.dead_letter_mask, setup)
    processed = raw.process(apply, output_type=PROCESSED).name(f"pipeline:{job.pipeline}")
    if job.output_stream:
        processed.map(lambda item: (item[0], item[2]), output_type=keyed_bytes_type()) \
            .sink_to(kinesis_sink(job.output_stream, config=flink)).name(f"kinesis:{job.output_stream}")
    if job.output_s3:
        _to_s3(processed.map(lambda item: (item[1], item[2]), output_type=PARTITIONED),
               job.output_s3, ".avro", avro_object, job, "output.s3")
    letters = processed.get_side_output(DEAD_LETTERS)
    if job.output_firehose:

        letters = letters.union(to_firehose(processed, job))  # its output: what Firehose refused for good
    dead_letters_to(letters, job.dead_letter_stream, job.dead_letter_s3_url, job.input_stream, job, flink)


def dead_letters_to(letters, stream: str | None, s3_url: str, partition_key: str, job, flink) -> None:
    """Letters ``(partition, JSON)`` to ``stream``, keyed by ``partition_key``, and those too large for one of
    its records to ``s3_url`` (the Kinesis sink fails the job on them, and the restored job again); without a
    stream, every letter to ``s3_url``."""
    if not stream:
        _to_s3(letters, s3_url, ".jsonl", jsonl_object, job, "dead_letter.s3")
        return
    letters.filter(lambda item: letter_fits_stream(item[1], partition_key)) \
        .map(lambda item: (partition_key, item[1]), output_type=keyed_bytes_type()) \
        .sink_to(kinesis_sink(stream, config=flink)).name(f"kinesis:{stream}")
    _to_s3(letters.filter(lambda item: not letter_fits_stream(item[1], partition_key)), s3_url, ".jsonl",
           jsonl_object, job, "dead_letter.s3")


def main(argv: list[str] | None = None, *, overrides: Mapping[str, str] | None = None,
         job_name: str = "shardline-passthrough",
         prepare: Callable[[dict[str, str]], tuple[dict[str, str], PipelineSetup]] | None = None) -> None:
    """Run the job; ``overrides`` replace properties of the group (jobs built on this one set ``pipeline``);
    ``prepare`` takes its own keys out of the group and returns the rest and the workers' ``PipelineSetup``."""
    properties, setup = {**job_properties(argv, __doc__.split("\n")[0]), **(overrides or {})}, None
    if prepare is not None:
        properties, setup = prepare(properties)
    job = PipelineJobConfig.from_properties(properties)
    flink = job.flink_config()
    env = stream_environment(flink)
    build(env, job, flink, setup)
    log.info("event=job_submit input=%s output_stream=%s output_s3=%s output_firehose=%s bounded=%s",
             job.input_stream, job.output_stream, job.output_s3, job.output_firehose, job.source_bounded)
    env.execute(job_name)


if __name__ == "__main__":
    # Import the job's module by name, so its functions are pickled by reference (run as __main__,
    # cloudpickle would copy them by value, with the module's logger and its lock).
    from jobs.flink.pipeline_job import main as job_main

    job_main()
