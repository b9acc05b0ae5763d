"""Where the PII masking pattern writes, wired the same for the KCL processor and the local runner.

Masked records go to a Kinesis stream, an S3 "curated" prefix (Avro under
dt=/hour=) and a Firehose delivery stream in OpenSearch bulk form; records
that fail to parse, validate or mask go to a dead-letter store, masked with
the generic policy first (``pipelines.pii.dead_letters``).  The PyFlink job
writes the same outputs through ``jobs.flink.pipeline_job.build``.

Metrics count masked records and values by entity type: never a value, and
no label but the entity type.
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from connectors.aws import split_s3_url
from connectors.dead_letter import DeadLetterSink, open_dead_letters
from connectors.kinesis.producer import ProducerConfig
from connectors.sinks import FirehoseSink, FirehoseSinkConfig, S3Sink, S3SinkConfig, SinkConfig
from connectors.sinks.opensearch import check_index_name, opensearch_bulk
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.pii.dead_letters import DeadLetterMask

log = logging.getLogger("shardline.pii")

_METRICS: "weakref.WeakKeyDictionary[CollectorRegistry, PiiMetrics]" = weakref.WeakKeyDictionary()


class PiiMetrics:
    """``shardline_pii_masked_records_total`` and ``shardline_pii_masked_values_total{entity}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter("shardline_pii_masked_records", "Records the masking pipeline passed on.",
                               registry=registry)
        self.values = Counter("shardline_pii_masked_values", "Values masked, by entity type.", ["entity"],
                              registry=registry)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> "PiiMetrics":
        registry = registry or REGISTRY
        metrics = _METRICS.get(registry)
        if metrics is None:
            metrics = _METRICS[registry] = cls(registry)
        return metrics

    def observe(self, counts: Mapping[str, int]) -> None:
        """The masking pipeline's ``observe`` hook: one call per masked record."""
        self.records.inc()
        for entity, n in counts.items():
            self.values.labels(entity).inc(n)


@dataclass(frozen=True)
class PiiOutputs:
    """The PII pattern's destinations.  At least one output and a dead-letter store are required."""

    output_stream: str | None = None
    """Kinesis stream for masked records (Avro envelopes, partition key kept)."""
    output_s3: str | None = None
    """s3://bucket/prefix: masked records as Avro objects under <prefix>/dt=YYYY-MM-DD/hour=HH/."""
    firehose: str | None = None
    """Firehose delivery stream (Direct PUT) for masked records, as OpenSearch bulk action + document lines."""
    opensearch_index: str = "shardline-pii"
    """The index named in each bulk action line."""
    dead_letters: str | None = None
    """s3://bucket/prefix or a local JSON-lines file; letters are masked with the generic policy first."""
    s3_max_age_s: float = 60.0
    """An S3 object is written at the latest this long after its first record (engines also flush per batch)."""

    def __post_init__(self) -> None:
        if not (self.output_stream or self.output_s3 or self.firehose):
            raise ValueError("give at least one output: a Kinesis stream, an s3:// prefix or a Firehose stream")
        if not self.dead_letters:
            raise ValueError("give a dead-letter destination (s3://bucket/prefix or a file), so records that "
                             "cannot be masked are kept")
        if self.output_s3:
            split_s3_url(self.output_s3, "output S3 location")
        if self.dead_letters.startswith("s3://"):
            split_s3_url(self.dead_letters, "dead-letter S3 location")
        check_index_name(self.opensearch_index)

    def dead_letter_store(self, *, clock: Clock = SYSTEM_CLOCK) -> DeadLetterSink:
        """The dead-letter store, with the generic-policy mask applied to every letter's data."""
        return open_dead_letters(self.dead_letters, clock=clock, mask=DeadLetterMask())  # type: ignore[arg-type]

    def sinks(self, *, dead_letters: DeadLetterSink, clock: Clock = SYSTEM_CLOCK,
              registry: CollectorRegistry | None = None) -> list:
        """One sink per configured output, each dead-lettering what it cannot deliver to ``dead_letters``."""
        sinks: list = []
        common = {"dead_letters": dead_letters, "clock": clock, "registry": registry}
        if self.output_stream:
            from connectors.sinks.kinesis import KinesisStreamSink

            sinks.append(KinesisStreamSink(ProducerConfig(stream_name=self.output_stream), **common))
        if self.output_s3:
            bucket, prefix = split_s3_url(self.output_s3, "output S3 location")
            batching = SinkConfig(max_batch_records=50_000, max_batch_bytes=64 * 1024 * 1024,
                                  max_age_s=self.s3_max_age_s)
            sinks.append(S3Sink(S3SinkConfig(bucket=bucket, prefix=prefix or "records", batching=batching),
                                **common))
        if self.firehose:
            sinks.append(FirehoseSink(FirehoseSinkConfig(self.firehose), encode=opensearch_bulk(self.opensearch_index),
                                      **common))
        return sinks


def log_totals(records: int, totals: Mapping[str, int], *, engine: str) -> None:
    """One event with what was masked: counts by entity type only."""
    values = ",".join(f"{entity}:{n}" for entity, n in sorted(totals.items())) or "none"
    log.info("event=pii_masked engine=%s records=%d values=%s", engine, records, values)


async def run_pii_stream(stream: str, outputs: PiiOutputs, policy, *, start: str = "TRIM_HORIZON",
                         at_timestamp: float | None = None, checkpoints: Path | None = None,
                         application_name: str = "shardline-pii", count: int | None = None,
                         idle_timeout_s: float | None = None, clock: Clock = SYSTEM_CLOCK,
                         registry: CollectorRegistry | None = None):
    """The local runner as the PII engine: consume ``stream``, mask, write ``outputs``; returns the RunStats.

    ``policy`` is a loaded ``MaskingPolicy`` (load it first, so a missing key fails before anything is read).
    """
    from connectors.kinesis.checkpoints import FileCheckpointStore
    from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer
    from jobs.local.runner import run_stream
    from pipelines.pii.pipeline import masking_pipeline

    masking = masking_pipeline(policy, observe=PiiMetrics.for_registry(registry).observe)
    store = outputs.dead_letter_store(clock=clock)
    sinks = outputs.sinks(dead_letters=store, clock=clock, registry=registry)
    consumer = KinesisConsumer(
        ConsumerConfig(stream_name=stream, application_name=application_name, initial_position=start,
                       at_timestamp=at_timestamp),
        checkpoints=FileCheckpointStore(checkpoints) if checkpoints else None, clock=clock, registry=registry,
        dead_letters=store)
    try:
        async with consumer:
            return await run_stream(masking, consumer, sinks, dead_letters=store, clock=clock, stop_after=count,
                                    idle_timeout_s=idle_timeout_s)
    finally:
        try:
            for sink in sinks:
                await sink.close()
        finally:
            await store.close()
            log_totals(masking.records, masking.totals, engine="local")
