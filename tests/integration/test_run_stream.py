"""`shardline run --stream`: the local runner over Kinesis into sinks, resuming from its checkpoint."""
import io
import json
import uuid

import boto3
import pytest
from typer.testing import CliRunner

from connectors.dead_letter import read_dead_letters
from jobs.cli import app
from pipelines.records import from_json_line, read_avro_file, to_avro, validate

pytestmark = pytest.mark.integration
runner = CliRunner()


def put(stream: str, start: int, stop: int) -> None:
    kinesis = boto3.client("kinesis")
    records = [{"Data": to_avro(validate({"id": f"r{i}", "type": "t", "source": "s", "event_time": 1_700_000_000_000,
                                          "partition_key": f"k{i % 5}", "payload": {"n": i}})),
                "PartitionKey": f"k{i % 5}"} for i in range(start, stop)]
    for chunk in range(0, len(records), 500):
        assert kinesis.put_records(StreamName=stream, Records=records[chunk:chunk + 500])["FailedRecordCount"] == 0


def drop_multiples_of_ten(record):
    return None if record.payload["n"] % 10 == 0 else record


def test_stream_to_s3_and_file_with_dead_letters_and_resume(local_stack, tmp_path):
    stream, bucket = f"run-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
    boto3.client("kinesis").create_stream(StreamName=stream, ShardCount=2)
    boto3.client("kinesis").get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    boto3.client("s3").create_bucket(Bucket=bucket)
    put(stream, 0, 100)
    boto3.client("kinesis").put_record(StreamName=stream, Data=b"not an envelope", PartitionKey="bad")
    out, checkpoints, dlq = tmp_path / "out.jsonl", tmp_path / "cp.json", tmp_path / "dlq.jsonl"
    args = ["run", "--stream", stream, "--pipeline", f"{__name__}:drop_multiples_of_ten",
            "--sink", f"s3://{bucket}/curated", "--sink", str(out), "--checkpoints", str(checkpoints),
            "--dlq", str(dlq), "--idle-timeout", "3", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert (stats["read"], stats["written"], stats["filtered"], stats["dead_lettered"]) == (101, 90, 10, 1)
    [letter] = read_dead_letters(dlq)
    assert letter.source.startswith(f"kinesis:{stream}/shardId-") and letter.data == b"not an envelope"

    s3 = boto3.client("s3")
    in_s3 = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="curated/")["Contents"]:
        assert "/dt=2023-11-14/hour=22/" in item["Key"]
        in_s3 += list(read_avro_file(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())))
    assert sorted(r.id for r in in_s3) == sorted(f"r{i}" for i in range(100) if i % 10)

    put(stream, 100, 130)  # a restart resumes after its checkpoint: only the new records are read
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["read"] == 30
    ids = [from_json_line(line).id for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(130) if i % 10)


def test_bad_sink_spec_is_a_clear_error(local_stack):
    result = runner.invoke(app, ["run", "--stream", "x", "--sink", "ftp://nowhere"])
    assert result.exit_code == 2 and "--sink 'ftp://nowhere'" in result.output
