"""The PII masking job for Flink: a Kinesis table, a Python masking function, Kinesis, S3 and Firehose tables.

It runs on the SQL path.  Its runtime properties are those of the DataStream
job it replaced (``jobs.flink.pii_datastream_job``, still the baseline of
``shardline bench pii-job``): group ``shardline``, with ``pii.*`` as
``jobs.flink.pii_masking`` describes.  What runs:

- ``shardline-kinesis`` reads the stream with ``'format' = 'shardline-envelope'``:
  the Java side decodes and validates each envelope; the Python workers see only
  the payload, as JSON text, and return it masked (``MaskPayload``);
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

from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from jobs.flink.job_config import PipelineJobConfig, job_properties
from jobs.flink.pii_masking import PiiMaskingSetup, prepare
from jobs.flink.sql_job import ENVELOPE_COLUMNS, POSITION_COLUMNS, SqlJob, run_sql_job
from jobs.flink.workers import result_row
# At module level, not in eval: import statements there cost about 0.3 us each a record (timeit).
from pipelines.engine import rejection
from pipelines.records import payload_from_json, payload_to_json

# Only the payload crosses to Python; one call gives the masked payload or why not, taken apart after.  The
# records that are no envelope (NULL payload, ``error`` set) get an empty row, and are dropped after the call:
# filtered before it (``error IS NULL``), the filter made a Calc of its own in front of the Python step, and a
# Calc copies every string and byte array it passes on (JFR: a quarter of the task thread was such copies).
MASKED = SqlJob(
    # Only the columns read after it: the Python operator keeps a copy of each column it forwards.
    called=f"SELECT {ENVELOPE_COLUMNS}, {POSITION_COLUMNS}, mask_payload(payload) AS m FROM input",
    processed=f"SELECT {ENVELOPE_COLUMNS}, m.payload AS payload, m.error_type AS error_type, m.reason AS reason, "
              f"{POSITION_COLUMNS} FROM stepped WHERE COALESCE(m.payload, m.error_type) IS NOT NULL",
    letter_data="mask_letter(`raw`)")


class MaskPayload(ScalarFunction):
    """``mask_payload(payload JSON) -> ROW(payload, error_type, reason)``: masked, or why not (one rule for reasons);
    all NULL for a NULL payload."""

    def __init__(self, setup: PiiMaskingSetup) -> None:
        self.setup = setup

    def open(self, function_context) -> None:
        from jobs.flink.workers import freeze_startup_objects

        self.masking = self.setup.open(function_context.get_metric_group())
        freeze_startup_objects()

    def close(self) -> None:
        self.setup.close()

    def eval(self, payload_json: str | None):
        if payload_json is None:  # no envelope: its letter comes from the input's `error`
            return result_row(None, None, None)
        try:
            return result_row(payload_to_json(self.masking.mask_payload(payload_from_json(payload_json))), None, None)
        except Exception as exc:  # noqa: BLE001 - one record's failure goes to the dead letters
            rejected = rejection(exc, "pipeline")
            return result_row(None, rejected.error_type, rejected.reason)


class MaskLetter(ScalarFunction):
    """``mask_letter(raw BYTES) -> BYTES``: a dead letter's data masked with the generic policy, as every engine."""

    def eval(self, raw: bytes) -> bytes:
        from pipelines.pii.dead_letters import mask_dead_letter

        return mask_dead_letter(bytes(raw))


def main(argv: list[str] | None = None) -> None:
    properties, setup = prepare(job_properties(argv, __doc__.split("\n")[0]))
    job = PipelineJobConfig.from_properties(properties)

    def register(t_env) -> None:
        masked_row = DataTypes.ROW([DataTypes.FIELD("payload", DataTypes.STRING()),
                                    DataTypes.FIELD("error_type", DataTypes.STRING()),
                                    DataTypes.FIELD("reason", DataTypes.STRING())])
        # A row-at-a-time function: the vectorized (pandas) form measured slower, its Arrow batches doubling
        # the JVM's share (bench pii-job, 100k records: 245 against 183 us a record).
        t_env.create_temporary_function("mask_payload", udf(MaskPayload(setup), result_type=masked_row))
        t_env.create_temporary_function("mask_letter", udf(MaskLetter(), result_type=DataTypes.BYTES()))
    run_sql_job(job, MASKED, register, "shardline-pii")


if __name__ == "__main__":
    from jobs.flink.pii_job import main as job_main  # by name: its functions pickle by reference

    job_main()
