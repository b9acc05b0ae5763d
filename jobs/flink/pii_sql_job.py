"""The PII job on the SQL path: a Kinesis table, a Python masking function, Kinesis and S3 tables.

The same runtime properties as ``jobs.flink.pii_job`` (group ``shardline``,
``pii.*``), so a deployed application only needs the other zip.  What runs:

- ``shardline-kinesis`` reads the stream with ``'format' = 'shardline-envelope'``:
  the Java side decodes and validates each envelope; the Python workers see only
  the payload, as JSON text, and return it masked (``MaskPayload``);
- the masked envelopes go to ``output.stream`` (``shardline-kinesis``) and to
  ``output.s3`` (``shardline-s3``: Avro objects written by Java at every
  checkpoint, no Python keyed state);
- in the same statement set, records that are not valid envelopes and records
  the policy cannot mask go to the dead letters, their data masked with the
  generic policy (``MaskLetter``), their source from the metadata columns.

Firehose output is not on this path yet: with ``output.firehose`` set, use
``jobs.flink.pii_job``.

Run locally:  python -m jobs.flink.pii_sql_job --properties app.json
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from connectors.flink import (FlinkConfig, application_properties, kinesis_table_options, s3_table_options,
                              table_environment, with_clause)
from jobs.flink.job_config import PROPERTY_GROUP, PipelineJobConfig
from jobs.flink.pii_job import prepare
from jobs.flink.pii_masking import PiiMaskingSetup

log = logging.getLogger("shardline.jobs.flink.pii_sql")
ENVELOPE = ("`id` STRING, `type` STRING, `source` STRING, event_time BIGINT, partition_key STRING, "
            "`schema` STRING, payload STRING")
ENVELOPE_COLUMNS = "`id`, `type`, `source`, event_time, partition_key, `schema`"
LETTER = "reason STRING, error_type STRING, `source` STRING, attempts INT, `time` DOUBLE, data BYTES"


class MaskPayload(ScalarFunction):
    """``mask_payload(payload JSON) -> ROW(payload, error_type, reason)``: masked, or why not (one rule for reasons)."""

    def __init__(self, setup: PiiMaskingSetup) -> None:
        self.setup = setup

    def open(self, function_context) -> None:
        self.masking = self.setup.open(function_context.get_metric_group())

    def eval(self, payload_json: str):
        from pipelines.engine import rejection
        from pipelines.records import payload_from_json, payload_to_json

        try:
            return Row(payload_to_json(self.masking.mask_payload(payload_from_json(payload_json))), None, None)
        except Exception as exc:  # noqa: BLE001 - one record's failure goes to the dead letters
            rejected = rejection(exc, "pipeline")
            return Row(None, rejected.error_type, rejected.reason)


class MaskLetter(ScalarFunction):
    """``mask_letter(raw BYTES) -> BYTES``: a dead letter's data masked with the generic policy, as every engine."""

    def eval(self, raw: bytes) -> bytes:
        from pipelines.pii.dead_letters import mask_dead_letter

        return mask_dead_letter(bytes(raw))


def statements(job: PipelineJobConfig) -> tuple[list[str], list[str]]:
    """(the CREATE statements, the INSERT statements of the one statement set) for ``job``'s properties."""
    source_options = {"format": "shardline-envelope", "source.init.position": job.source_init_position,
                      "source.bounded": str(job.source_bounded).lower()}
    if job.source_init_timestamp is not None:
        source_options["source.init.timestamp"] = repr(job.source_init_timestamp)
    creates = [f"""CREATE TABLE input ({ENVELOPE}, `error` STRING, `raw` BYTES,
          shard STRING METADATA FROM 'shard-id' VIRTUAL, seq STRING METADATA FROM 'sequence-number' VIRTUAL,
          sub BIGINT METADATA FROM 'sub-sequence-number' VIRTUAL)
        WITH ({with_clause(kinesis_table_options(job.input_stream, **source_options))})""",
               f"""CREATE TEMPORARY VIEW masked AS
        SELECT {ENVELOPE_COLUMNS}, mask_payload(payload) AS m, `raw`, shard, seq, sub FROM input WHERE `error` IS NULL"""]
    inserts = []
    if job.output_stream:
        creates.append(f"""CREATE TABLE output_stream ({ENVELOPE}) PARTITIONED BY (partition_key)
            WITH ({with_clause(kinesis_table_options(job.output_stream, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_stream SELECT {ENVELOPE_COLUMNS}, m.payload FROM masked "
                       "WHERE m.error_type IS NULL")
    if job.output_s3:
        creates.append(f"""CREATE TABLE output_s3 ({ENVELOPE})
            WITH ({with_clause(s3_table_options(job.output_s3, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_s3 SELECT {ENVELOPE_COLUMNS}, m.payload FROM masked "
                       "WHERE m.error_type IS NULL")
    if job.dead_letter_stream:
        letters = kinesis_table_options(job.dead_letter_stream, format="json")
    else:
        letters = s3_table_options(job.dead_letter_s3_url, format="json", **{"partition.time-column": "time"})
    creates.append(f"CREATE TABLE dead_letters ({LETTER}) WITH ({with_clause(letters)})")
    position = (f"CONCAT('kinesis:{job.input_stream}/', shard, '/', seq, "
                "IF(sub > 0, CONCAT(':', CAST(sub AS STRING)), ''))")
    now = "CAST(UNIX_TIMESTAMP() AS DOUBLE)"
    inserts.append(f"INSERT INTO dead_letters SELECT `error`, 'RecordValidationError', {position}, 1, {now}, "
                   "mask_letter(`raw`) FROM input WHERE `error` IS NOT NULL")
    inserts.append(f"INSERT INTO dead_letters SELECT m.reason, m.error_type, {position}, 1, {now}, "
                   "mask_letter(`raw`) FROM masked WHERE m.error_type IS NOT NULL")
    return creates, inserts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--properties", help="application properties JSON (Managed Flink's format)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    groups = application_properties(args.properties)
    if PROPERTY_GROUP not in groups:
        sys.exit(f"no property group '{PROPERTY_GROUP}' found; pass --properties FILE or set "
                 "SHARDLINE_APPLICATION_PROPERTIES (Managed Flink: add it to the runtime properties)")
    properties, setup = prepare(dict(groups[PROPERTY_GROUP]))
    job = PipelineJobConfig.from_properties(properties)
    if job.output_firehose:
        sys.exit("output.firehose is not on the SQL path yet: run jobs.flink.pii_job for Firehose output")
    flink = FlinkConfig(parallelism=job.parallelism, checkpoint_interval_ms=job.checkpoint_interval_ms,
                        extra={"python.fn-execution.bundle.time": str(job.python_bundle_time_ms)},
                        **({"checkpoint_dir": Path(job.checkpoint_dir)} if job.checkpoint_dir else {}))
    t_env = table_environment(flink)
    masked_row = DataTypes.ROW([DataTypes.FIELD("payload", DataTypes.STRING()),
                                DataTypes.FIELD("error_type", DataTypes.STRING()),
                                DataTypes.FIELD("reason", DataTypes.STRING())])
    t_env.create_temporary_function("mask_payload", udf(MaskPayload(setup), result_type=masked_row))
    t_env.create_temporary_function("mask_letter", udf(MaskLetter(), result_type=DataTypes.BYTES()))
    creates, inserts = statements(job)
    for statement in creates:
        t_env.execute_sql(statement)
    statement_set = t_env.create_statement_set()
    for statement in inserts:
        statement_set.add_insert_sql(statement)
    log.info("event=job_submit engine=sql input=%s output_stream=%s output_s3=%s bounded=%s", job.input_stream,
             job.output_stream, job.output_s3, job.source_bounded)
    result = statement_set.execute()
    if job.source_bounded:
        result.wait()


if __name__ == "__main__":
    from jobs.flink.pii_sql_job import main as job_main  # by name: its functions pickle by reference

    job_main()
