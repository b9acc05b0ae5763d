"""The pipeline job on the SQL path: any pipeline function, or none at all.

The same runtime properties as ``jobs.flink.pipeline_job`` (group ``shardline``).
Java reads ``input.stream`` in the envelope format and writes ``output.stream``
and ``output.s3``; the Python workers get each envelope as columns, payload as
JSON text, and run ``pipeline`` (``RunPipeline``, a table function: a record
may give none, one or many).  With ``pipeline`` set to ``none`` no Python runs
at all: records go from the stream to the outputs as they are, which is the
floor of what the engine costs.  Records that are not envelopes, and records the
pipeline refuses, go to the dead letters with the reason every engine gives,
their data through ``dead_letter.mask`` when it is set.

Run locally:  python -m jobs.flink.pipeline_sql_job --properties app.json
"""
from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, TableFunction, udf, udtf

from jobs.flink.job_config import PipelineJobConfig, job_properties
from jobs.flink.sql_job import ENVELOPE_COLUMNS, POSITION_COLUMNS, SqlJob, run_sql_job
# At module level, not in eval: three import statements cost 0.8 us a record there (timeit), on a step of ~25.
from pipelines.engine import Rejected, SinkItem, rejection
from pipelines.errors import FieldError
from pipelines.records import Record, payload_from_json, payload_to_json

NO_PIPELINE = "none"
_OUTPUT = ("out_id", "out_type", "out_source", "out_event_time", "out_partition_key", "out_schema", "out_payload",
           "error_type", "reason")


class RunPipeline(TableFunction):
    """``run_pipeline(envelope columns) -> rows``: the pipeline's outputs as envelope columns, or one row saying
    why the record was refused (the same ``RecordPath`` as every engine)."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline_spec = pipeline

    def open(self, function_context) -> None:
        from jobs.flink.workers import freeze_startup_objects
        from jobs.local.runner import load_pipeline
        from pipelines.engine import RecordPath

        # Java checks that each output fits a Kinesis record (sql_job's outputs view), with RecordPath's reason.
        self.path = RecordPath(load_pipeline(self.pipeline_spec), max_output_bytes=None)
        freeze_startup_objects()

    def eval(self, id, type, source, event_time, partition_key, schema, payload_json):  # noqa: A002 - the columns
        if payload_json is None:  # no envelope (its columns NULL): its letter comes from the input's `error`
            return
        try:
            record = Record(id=id, type=type, source=source, event_time=event_time, partition_key=partition_key,
                            schema=schema, payload=payload_from_json(payload_json))
        except FieldError as exc:
            yield _refused(rejection(exc, "validate"))
            return
        outcome = self.path.from_record(record)
        if isinstance(outcome, Rejected):
            yield _refused(outcome)
            return
        if any(isinstance(output, SinkItem) for output in outcome):
            yield _refused(Rejected("PipelineOutputError", "the pipeline returned sink items; a table takes "
                                    "records", "output"))
            return
        for r in outcome:  # tuples, not Rows: PyFlink reads either into a list, and a Row costs ~1 us to build
            yield (r.id, r.type, r.source, r.event_time, r.partition_key, r.schema, payload_to_json(r.payload),
                   None, None)


def _refused(rejected) -> tuple:
    return None, None, None, None, None, None, None, rejected.error_type, rejected.reason


class MaskLetter(ScalarFunction):
    """``mask_letter(raw BYTES) -> BYTES`` with ``dead_letter.mask`` (module:function, bytes -> bytes)."""

    def __init__(self, mask: str) -> None:
        self.mask_spec = mask

    def open(self, function_context) -> None:
        from jobs.local.runner import load_pipeline

        self.mask = load_pipeline(self.mask_spec)

    def eval(self, raw: bytes) -> bytes:
        return self.mask(bytes(raw))


def sql_job(job: PipelineJobConfig) -> SqlJob:
    """The ``processed`` view for ``job``: through the pipeline, or (``pipeline = none``) the records as they are."""
    letter_data = "mask_letter(`raw`)" if job.dead_letter_mask else "`raw`"
    if job.pipeline == NO_PIPELINE:
        return SqlJob(processed=f"SELECT {ENVELOPE_COLUMNS}, payload, CAST(NULL AS STRING) AS error_type, "
                                f"CAST(NULL AS STRING) AS reason, {POSITION_COLUMNS} FROM input WHERE `error` IS NULL",
                      letter_data=letter_data, can_refuse=False)
    outputs = ", ".join(f"{name} AS `{name[4:]}`" for name in _OUTPUT[:7])
    # No `WHERE error IS NULL` in front of the function (it gives no row for a record that is no envelope): the
    # filter would be a Calc of its own, and a Calc copies every string and byte array it passes on.
    # All columns: the correlate forwards every input column whatever is selected, and a projection here would
    # be one more Calc after it.
    return SqlJob(called=f"""SELECT * FROM input,
          LATERAL TABLE(run_pipeline(`id`, `type`, `source`, event_time, partition_key, `schema`, payload))
          AS p({', '.join(_OUTPUT)})""",
                  processed=f"SELECT {outputs}, error_type, reason, {POSITION_COLUMNS} FROM stepped",
                  letter_data=letter_data)


def main(argv: list[str] | None = None) -> None:
    job = PipelineJobConfig.from_properties(job_properties(argv, __doc__.split("\n")[0]))

    def register(t_env) -> None:
        if job.pipeline != NO_PIPELINE:
            types = [DataTypes.STRING()] * 3 + [DataTypes.BIGINT()] + [DataTypes.STRING()] * 5
            t_env.create_temporary_function("run_pipeline", udtf(RunPipeline(job.pipeline), result_types=types))
        if job.dead_letter_mask:
            t_env.create_temporary_function("mask_letter", udf(MaskLetter(job.dead_letter_mask),
                                                               result_type=DataTypes.BYTES()))
    run_sql_job(job, sql_job(job), register, "shardline-pipeline")


if __name__ == "__main__":
    from jobs.flink.pipeline_sql_job import main as job_main  # by name: its functions pickle by reference

    job_main()
