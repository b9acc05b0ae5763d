"""The pipeline job on the SQL path end to end on the local stack: the README's click pipeline gives what every
engine gives (outputs, dead letters and their reasons, an output too large for Kinesis among them), and
``pipeline = none`` passes records as they are."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.testing import create_stream, read_stream_data
from pipelines.engine import RecordPath, Rejected
from pipelines.records import from_avro, read_avro_file
from tests.e2e.job_pipelines import padded_clicks
from tests.unit.pipelines.test_example_pipeline import CLICKS, click

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]
REPO_ROOT = Path(__file__).resolve().parents[2]
NOT_AN_ENVELOPE = b"not an envelope: jane@example.com"
TOO_LARGE_OUT = click(6, page="/pricing", agent="Mozilla/5.0", pad=1_100_000)
"""A small record that ``padded_clicks`` makes an output of over 1 MiB: Java refuses it (the Python step leaves
sizes to the engine), with the reason every engine gives."""


def run_job(tmp_path: Path, pipeline: str, extra: dict[str, str] | None = None, *,
            more_records: list[bytes] = (), letter_stream: bool = False) -> dict:
    suffix = uuid.uuid4().hex[:8]
    source, output, bucket = f"psql-in-{suffix}", f"psql-out-{suffix}", f"psql-{suffix}"
    letters = f"psql-dlq-{suffix}"
    kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
    create_stream(kinesis, source, 2)
    create_stream(kinesis, output, 1)
    if letter_stream:
        create_stream(kinesis, letters, 1)
        extra = {**(extra or {}), "dead_letter.stream": letters}
    s3.create_bucket(Bucket=bucket)
    entries = [{"Data": data, "PartitionKey": f"k{i}"} for i, data in enumerate(CLICKS + [NOT_AN_ENVELOPE])]
    assert kinesis.put_records(StreamName=source, Records=entries)["FailedRecordCount"] == 0
    for data in more_records:
        kinesis.put_record(StreamName=source, Data=data, PartitionKey="big")
    properties = tmp_path / f"{suffix}.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "output.stream": output, "output.s3": f"s3://{bucket}/records",
        "dead_letter.s3": f"s3://{bucket}/dead-letters", "source.bounded": "true", "pipeline": pipeline,
        "checkpoint.interval.ms": "2000", "checkpoint.dir": str(tmp_path / f"checkpoints-{suffix}"),
        **(extra or {})}}]))
    done = subprocess.run([sys.executable, "-m", "jobs.flink.pipeline_sql_job", "--properties", str(properties)],
                          cwd=REPO_ROOT, env={**os.environ, "FLINK_LOG_DIR": str(tmp_path / "logs")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    return {"stream": sorted((from_avro(d) for d in read_stream_data(kinesis, output)), key=lambda r: r.id),
            "s3": sorted((r for key, body in objects.items() if key.startswith("records/")
                          for r in read_avro_file(io.BytesIO(body))), key=lambda r: r.id),
            "letters": [DeadLetter.from_json(line) for key, body in objects.items()
                        if key.startswith("dead-letters/") for line in body.splitlines() if line.strip()],
            "stream_letters": [DeadLetter.from_json(data) for data in read_stream_data(kinesis, letters)]
            if letter_stream else [],
            "source": source}


@pytest.fixture(scope="module")
def clicks(local_stack, tmp_path_factory):
    build_connector_jar()
    return run_job(tmp_path_factory.mktemp("pipeline-sql"), "tests.e2e.job_pipelines:padded_clicks",
                   {"dead_letter.mask": "pipelines.pii.dead_letters:mask_dead_letter"},
                   more_records=[TOO_LARGE_OUT])


def test_the_click_pipeline_writes_what_every_engine_writes_to_the_stream_and_s3(clicks):
    outcomes = [RecordPath(padded_clicks).from_bytes(data) for data in CLICKS + [TOO_LARGE_OUT]]
    expected = sorted((r for outcome in outcomes if not isinstance(outcome, Rejected) for r in outcome),
                      key=lambda r: r.id)
    assert [r.id for r in expected] == ["c1", "c3", "c5"]
    assert clicks["stream"] == expected and clicks["s3"] == expected


def test_refused_and_malformed_records_are_dead_letters_with_every_engine_s_reason_and_position(clicks):
    outcomes = [RecordPath(padded_clicks).from_bytes(data) for data in CLICKS + [NOT_AN_ENVELOPE, TOO_LARGE_OUT]]
    expected = sorted((r.error_type, r.reason) for r in outcomes if isinstance(r, Rejected))
    assert "RecordTooLarge" in dict(expected), expected
    assert sorted((letter.error_type, letter.reason) for letter in clicks["letters"]) == expected
    assert all(letter.source.startswith(f"kinesis:{clicks['source']}/shardId-") for letter in clicks["letters"])
    assert not any(b"jane@example.com" in letter.data for letter in clicks["letters"]), "dead_letter.mask ran"


def test_with_no_pipeline_records_pass_as_they_are_without_python(local_stack, tmp_path):
    build_connector_jar()
    result = run_job(tmp_path, "none")
    given = sorted((from_avro(data) for data in CLICKS), key=lambda r: r.id)
    assert result["stream"] == given and result["s3"] == given
    assert [(letter.error_type, letter.data) for letter in result["letters"]] == [
        ("RecordValidationError", NOT_AN_ENVELOPE)]  # no dead_letter.mask: kept as it came, for redrive


def test_a_letter_too_large_for_the_dead_letter_stream_goes_to_s3_and_the_job_carries_on(local_stack, tmp_path):
    """A record near Kinesis's 1 MiB limit that is no envelope: its letter (the data in base64) is a third
    larger than any record; the Kinesis sink would fail the job on it, and the restored job again."""
    build_connector_jar()
    big = b"\x00not an envelope" + bytes(range(256)) * 3_500  # 896,016 bytes
    result = run_job(tmp_path, "none", more_records=[big], letter_stream=True)
    given = sorted((from_avro(data) for data in CLICKS), key=lambda r: r.id)
    assert result["stream"] == given and result["s3"] == given
    assert [(letter.error_type, letter.data) for letter in result["stream_letters"]] == [
        ("RecordValidationError", NOT_AN_ENVELOPE)]
    assert [(letter.error_type, letter.data) for letter in result["letters"]] == [("RecordValidationError", big)]
    assert result["letters"][0].source.startswith(f"kinesis:{result['source']}/shardId-")


def execution_plan(sql_job_for, properties: dict[str, str], register) -> str:
    from connectors.flink import table_environment
    from jobs.flink.job_config import PipelineJobConfig
    from jobs.flink.sql_job import statement_set

    job = PipelineJobConfig.from_properties({"input.stream": "in", "output.stream": "out", "output.s3": "s3://b/o",
                                             **properties})
    t_env = table_environment(job.flink_config())
    register(t_env, job)
    plan = statement_set(t_env, job, sql_job_for(job)).explain()
    return plan[plan.index("== Optimized Execution Plan =="):]


def assert_one_calc_from_python_to_each_output(plan: str) -> None:
    """Between the Python step and each output sink there is one Calc: every Calc copies each string it passes
    on, and a shared ``processed`` view was once a second one on every record's way.  (Two sinks may share that
    Calc: the plan then reads it as a reused node.)"""
    blocks = [[line.lstrip(" +-:") for line in block.splitlines()] for block in plan.split("\n\n") if block.strip()]
    reused = {re.search(r"reuse_id=\[(\d+)\]", block[0]).group(1): block for block in blocks
              if "reuse_id=" in block[0]}

    def path_to_python(nodes: list[str]) -> list[str]:
        passed = []
        for node in nodes:
            if node.startswith("Reused("):
                return passed + path_to_python(reused[re.search(r"reference_id=\[(\d+)\]", node).group(1)])
            if node.startswith(("PythonCalc(", "PythonCorrelate(")):
                return passed
            passed.append(node.split("(", 1)[0])
        raise AssertionError(f"no Python step below {nodes[0]}")
    outputs = [block for block in blocks if re.match(r"Sink\(table=\[[\w.]*\.output_(s3|stream)\]", block[0])]
    assert len(outputs) == 2, plan
    for block in outputs:
        assert path_to_python(block[1:]) == ["Calc"], plan


def test_each_record_crosses_to_python_once_whatever_the_outputs():
    """Two outputs and the dead letters read one view; each INSERT must not run the Python step again."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf, udtf

    from jobs.flink import pii_job, pipeline_sql_job

    build_connector_jar()

    def pipeline_functions(t_env, job):
        types = [DataTypes.STRING()] * 3 + [DataTypes.BIGINT()] + [DataTypes.STRING()] * 5
        t_env.create_temporary_function("run_pipeline", udtf(pipeline_sql_job.RunPipeline(job.pipeline),
                                                             result_types=types))
    plan = execution_plan(pipeline_sql_job.sql_job, {"pipeline": "jobs.local.runner:identity"}, pipeline_functions)
    assert sum("run_pipeline(" in line for line in plan.splitlines()) == 1, plan
    assert_one_calc_from_python_to_each_output(plan)

    def pii_functions(t_env, job):
        row = DataTypes.ROW([DataTypes.FIELD(name, DataTypes.STRING()) for name in ("payload", "error_type",
                                                                                     "reason")])
        t_env.create_temporary_function("mask_payload", udf(lambda payload: None, result_type=row))
        t_env.create_temporary_function("mask_letter", udf(lambda raw: raw, result_type=DataTypes.BYTES()))
    plan = execution_plan(lambda job: pii_job.MASKED, {}, pii_functions)
    assert sum("mask_payload(" in line for line in plan.splitlines()) == 1, plan
    assert_one_calc_from_python_to_each_output(plan)

    plan = execution_plan(pipeline_sql_job.sql_job, {"pipeline": "none"}, lambda t_env, job: None)
    assert "Python" not in plan, plan  # the floor: no Python operator at all
