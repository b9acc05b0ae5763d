"""The pipeline job's settings and the stream types its operators pass, apart from the operators.

``pipeline_job`` (the operators and the job) and ``firehose_writer`` both
read these; keeping them here is what lets neither import the other.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

from pyflink.common import Types
from pyflink.datastream import OutputTag

from connectors.aws import split_s3_url
from connectors.flink import FlinkConfig, application_properties
from connectors.sinks.opensearch import check_index_name

PROPERTY_GROUP = "shardline"
RETIRED_GROUPS = {"shardline.pii": f"set pii.policy (and pii.keys.<name>.file) in group '{PROPERTY_GROUP}'"}
END_OF_INPUT = 2**63 - 1  # the watermark a bounded source emits when it ends: fires the final flush
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
# (partition_key, dt=/hour= partition, Avro envelope)
PROCESSED = Types.TUPLE([Types.STRING(), Types.STRING(), BYTES])
# (dt=/hour= partition, bytes): what S3BatchWriter takes
PARTITIONED = Types.TUPLE([Types.STRING(), BYTES])
DEAD_LETTERS = OutputTag("dead-letters", PARTITIONED)


def check_dead_letter_overflow(stream: str | None, s3_url: str | None) -> None:
    """A dead-letter stream needs an S3 location beside it: a record read from a stream holds up to 1 MiB, and
    its letter (the data in base64) a third more, which no stream takes.  Those letters go to S3."""
    if stream and not s3_url:
        raise ValueError(f"property group '{PROPERTY_GROUP}': dead_letter.stream needs dead_letter.s3 too, for the "
                         "letters too large for one Kinesis record (those of records over about 750 KB)")


def letter_fits_stream(letter: bytes, partition_key: str) -> bool:
    """Whether a dead letter (its JSON) and its partition key fit one Kinesis record."""
    from pipelines.engine import MAX_OUTPUT_BYTES

    return len(letter) + len(partition_key.encode("utf-8")) <= MAX_OUTPUT_BYTES


@dataclass(frozen=True, kw_only=True)
class FlinkJobSettings:
    """What every Flink job of ours reads beside its own keys: the source's start, checkpoints, parallelism
    and how its Python functions run."""

    source_init_position: str = "TRIM_HORIZON"
    """Where to start in shards found at the first start (TRIM_HORIZON, LATEST or AT_TIMESTAMP)."""
    source_init_timestamp: float | None = None
    """Epoch seconds, with AT_TIMESTAMP."""
    source_bounded: bool = False
    """Stop once every shard has been read to its tip (tests, demos, replays)."""
    parallelism: int = 1
    """Operator parallelism (the application's own setting applies on Managed Flink)."""
    checkpoint_interval_ms: int = 10_000
    """Checkpoint interval; 0 disables checkpoints (the application's own setting applies on Managed Flink)."""
    checkpoint_dir: str | None = None
    """Local checkpoint folder (FlinkConfig's default when unset; Managed Flink ignores it)."""
    python_bundle_time_ms: int = 1000
    """PyFlink hands records to the Python workers in bundles closed after this long: latency vs. overhead."""
    python_bundle_size: int = 100_000
    """...and in bundles of at most this many records (Flink's default)."""
    python_execution_mode: str = "process"
    """process: Python functions run in worker processes (Beam); thread: inside the JVM (pemja), SQL path only."""

    def flink_config(self) -> FlinkConfig:
        """The Flink settings these properties give (on Managed Flink the application's own apply instead)."""
        return FlinkConfig(parallelism=self.parallelism, checkpoint_interval_ms=self.checkpoint_interval_ms,
                           extra={"python.fn-execution.bundle.time": str(self.python_bundle_time_ms),
                                  "python.fn-execution.bundle.size": str(self.python_bundle_size),
                                  "python.execution-mode": self.python_execution_mode},
                           **({"checkpoint_dir": Path(self.checkpoint_dir)} if self.checkpoint_dir else {}))


@dataclass(frozen=True)
class PipelineJobConfig(FlinkJobSettings):
    """The job's settings; keys in the property group are the field names with '_' -> '.'."""

    input_stream: str
    """Kinesis stream to read (name or ARN)."""
    output_stream: str | None = None
    """Kinesis stream to write the processed records to."""
    output_s3: str | None = None
    """s3://bucket/prefix: Avro container objects under <prefix>/dt=YYYY-MM-DD/hour=HH/."""
    output_firehose: str | None = None
    """Firehose delivery stream (Direct PUT) for the processed records, as OpenSearch bulk lines."""
    output_firehose_index: str = "shardline"
    """The OpenSearch index named in each bulk action line."""
    dead_letter_s3: str | None = None
    """s3://bucket/prefix for dead letters; defaults to <output.s3 bucket>/dead-letters."""
    dead_letter_stream: str | None = None
    """Kinesis stream for dead letters (each record one DeadLetter JSON); those too large for one record go to
    dead_letter.s3 (or its default)."""
    pipeline: str = "jobs.local.runner:identity"
    """The pipeline function, module:function, Record -> Record | list[Record] | None ("none" on the SQL path:
    no Python step)."""
    dead_letter_mask: str | None = None
    """module:function, bytes -> bytes, applied to a dead letter's data before it is stored (e.g. PII masking)."""
    s3_batch_records: int = 5_000
    """Records per S3 object at most."""
    s3_batch_max_age_s: float = 60.0
    """An S3 batch is written at the latest this long after its first record."""
    firehose_batch_max_age_s: float = 1.0
    """A PutRecordBatch call is made at the latest this long after its first record (Firehose buffers too)."""

    def __post_init__(self) -> None:
        if not (self.output_stream or self.output_s3 or self.output_firehose):
            raise ValueError(f"property group '{PROPERTY_GROUP}': set output.stream, output.s3 or output.firehose")
        if not (self.dead_letter_s3 or self.dead_letter_stream or self.output_s3):
            raise ValueError(f"property group '{PROPERTY_GROUP}': set dead_letter.s3 or dead_letter.stream, "
                             "so records that fail validation are kept")
        check_dead_letter_overflow(self.dead_letter_stream, self.dead_letter_s3 or self.output_s3)
        for name in ("output_s3", "dead_letter_s3"):
            value = getattr(self, name)
            if value is not None:
                split_s3_url(value, name.replace("_", "."))
        check_index_name(self.output_firehose_index)

    @property
    def dead_letter_s3_url(self) -> str:
        """Where dead letters go in S3: all of them, or with dead_letter.stream those too large for it."""
        if self.dead_letter_s3:
            return self.dead_letter_s3
        bucket, _ = split_s3_url(self.output_s3 or "", "output.s3")
        return f"s3://{bucket}/dead-letters"

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> "PipelineJobConfig":
        known = {f.name.replace("_", "."): f for f in fields(cls)}
        known.update({"s3.batch.max-age-s": known.pop("s3.batch.max.age.s"),
                      "firehose.batch.max-age-s": known.pop("firehose.batch.max.age.s"),
                      "dead_letter.s3": known.pop("dead.letter.s3"),
                      "dead_letter.stream": known.pop("dead.letter.stream"),
                      "dead_letter.mask": known.pop("dead.letter.mask")})
        unknown = sorted(set(properties) - set(known))
        if unknown:
            raise ValueError(f"property group '{PROPERTY_GROUP}': unknown keys {unknown}; known: {sorted(known)}")
        if "input.stream" not in properties:
            raise ValueError(f"property group '{PROPERTY_GROUP}': input.stream is required")
        values = {}
        for key, text in properties.items():
            f = known[key]
            values[f.name] = _parse(key, text, f.type)
        return cls(**values)


def _parse(key: str, text: str, annotation: str):
    try:
        if annotation.startswith("bool"):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if annotation.startswith("int"):
            return int(text)
        if annotation.startswith("float"):
            return float(text)
        return text
    except ValueError:
        raise ValueError(f"property {key}: cannot read {text!r} as {annotation}") from None


def job_properties(argv: list[str] | None, description: str) -> dict[str, str]:
    """A job's start: ``--properties FILE`` parsed, logging set up, and the ``shardline`` group's properties
    (exits naming the group when there is none)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--properties", help="application properties JSON (Managed Flink's format)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    groups = application_properties(args.properties)
    for group in set(RETIRED_GROUPS) & set(groups):
        sys.exit(f"property group '{group}' is no longer read: {RETIRED_GROUPS[group]}")
    if PROPERTY_GROUP not in groups:
        sys.exit(f"no property group '{PROPERTY_GROUP}' found; pass --properties FILE or set "
                 "SHARDLINE_APPLICATION_PROPERTIES (Managed Flink: add it to the runtime properties)")
    return dict(groups[PROPERTY_GROUP])
