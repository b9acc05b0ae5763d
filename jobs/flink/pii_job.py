"""The PII masking job for Flink: a Kinesis table, a Python masking function, Kinesis, S3 and Firehose tables.

It runs on the SQL path.  Its runtime properties are those of the DataStream
job it replaced (``jobs.flink.pii_datastream_job``, still the baseline of
``shardline bench pii-job``): group ``shardline``, with ``pii.*`` as
``jobs.flink.pii_masking`` describes.  What runs:

- ``shardline-kinesis`` reads the stream with ``'format' = 'shardline-envelope'``:
  the Java side decodes and validates each envelope, and hands them to the Python
  workers in batches (``sql_job.batched_step``: one call for up to
  ``python.batch.records`` records), which mask each payload, JSON text, or say why
  not (``MaskBatch``);
- the masked envelopes go to ``output.stream`` (``shardline-kinesis``) and to
  ``output.s3`` (``shardline-s3``: Avro objects written by Java at every
  checkpoint, no Python keyed state);
- with ``output.firehose``, OpenSearch bulk entries (``output.firehose.index``)
  go to that delivery stream (``shardline-firehose``), the bytes the KCL
  processor and the local runner send;
- in the same statement set, records that are not valid envelopes, records
  the policy cannot mask and records Firehose cannot take go to the dead
  letters, their data masked with the generic policy (``MaskLetter``), their
  source from the metadata columns.

Run locally:  python -m jobs.flink.pii_job --properties app.json
"""
from __future__ import annotations

from pyflink.datastream import MapFunction
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from jobs.flink.job_config import PipelineJobConfig, job_properties
from jobs.flink.pii_masking import PiiMaskingSetup, prepare
from jobs.flink.sql_job import SqlJob, batched_step, run_sql_job


class MaskBatch(MapFunction):
    """A batch of envelopes (``sql_job.INPUT_RECORD``) -> the processed rows: each payload masked, or NULL with
    why not (``error_type``, ``reason``: one rule for reasons, ``pipelines.engine.rejection``)."""

    def __init__(self, setup: PiiMaskingSetup) -> None:
        self.setup = setup

    def open(self, runtime_context) -> None:
        from jobs.flink.workers import freeze_startup_objects

        self.masking = self.setup.open(runtime_context.get_metrics_group())
        freeze_startup_objects()

    def close(self) -> None:
        self.setup.close()

    def map(self, batch):
        from pyflink.common import Row

        from pipelines.engine import rejection
        from pipelines.records import payload_from_json, payload_to_json

        mask, processed = self.masking.mask_payload, []
        for id_, type_, source, event_time, partition_key, schema, payload, raw, shard, seq, sub in batch[1]:
            try:
                masked, error_type, reason = payload_to_json(mask(payload_from_json(payload))), None, None
            except Exception as exc:  # noqa: BLE001 - one record's failure goes to the dead letters
                rejected = rejection(exc, "pipeline")
                masked, error_type, reason = None, rejected.error_type, rejected.reason
            processed.append(Row(id_, type_, source, event_time, partition_key, schema, masked, error_type, reason,
                                 raw, shard, seq, sub))
        return processed


class MaskLetter(ScalarFunction):
    """``mask_letter(raw BYTES) -> BYTES``: a dead letter's data masked with the generic policy, as every engine."""

    def eval(self, raw: bytes) -> bytes:
        from pipelines.pii.dead_letters import mask_dead_letter

        return mask_dead_letter(bytes(raw))


def sql_job(job: PipelineJobConfig, setup: PiiMaskingSetup) -> SqlJob:
    """Masked in batches by ``MaskBatch``; a dead letter's data masked with the generic policy."""
    return SqlJob(processed=lambda t_env: batched_step(t_env, job, MaskBatch(setup), "pii:mask"),
                  letter_data="mask_letter(`raw`)")


def main(argv: list[str] | None = None) -> None:
    properties, setup = prepare(job_properties(argv, __doc__.split("\n")[0]))
    job = PipelineJobConfig.from_properties(properties)

    def register(t_env) -> None:
        t_env.create_temporary_function("mask_letter", udf(MaskLetter(), result_type=DataTypes.BYTES()))
    run_sql_job(job, sql_job(job, setup), register, "shardline-pii")


if __name__ == "__main__":
    from jobs.flink.pii_job import main as job_main  # by name: its functions pickle by reference

    job_main()
