"""The PyFlink job's Firehose output: PutRecordBatch partial failures, retries, dead letters (fake client).

moto takes every PutRecordBatch whole, so refused entries are injected here; the
e2e test (tests/e2e/test_pii_engines.py) runs the operator itself on the local stack.
"""
import random
import subprocess
import sys

import botocore.exceptions
import pytest

from connectors.aws import EndpointUnreachable
from connectors.sinks.opensearch import opensearch_bulk
from connectors.testing import ScriptedFirehose
from jobs.flink.firehose_writer import (FirehoseWriteError, FirehoseWriterConfig, envelope_of, keyed_by_batch,
                                        put_batch)
from jobs.flink.pipeline_job import PipelineJobConfig
from pipelines.records import Record, from_avro, to_avro

CONFIG = FirehoseWriterConfig("search", "payments", max_attempts=3, backoff_base_s=0.1, backoff_cap_s=1.0)


def FakeFirehose(*script):  # noqa: N802 - reads as the client it stands for
    return ScriptedFirehose(*script, stream="search")


def client_error(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "PutRecordBatch")


def run(client, items, config=CONFIG):
    slept: list[float] = []
    refused, retries = put_batch(client, "search", items, config=config, rng=random.Random(7), sleep=slept.append)
    return refused, retries, slept


def test_only_refused_entries_are_sent_again_after_a_full_jitter_backoff():
    client = FakeFirehose({1, 3}, {1})  # call 2 carries entries 1 and 3; its position 1 is entry 3
    refused, retries, slept = run(client, [b"a", b"b", b"c", b"d"])
    assert client.calls == [[b"a", b"b", b"c", b"d"], [b"b", b"d"], [b"d"]]
    assert refused == [] and retries == 3
    assert len(slept) == 2 and 0 <= slept[0] <= 0.1 and 0 <= slept[1] <= 0.2  # base * 2**(round-1)


def test_entries_that_exhaust_their_attempts_or_are_invalid_are_returned_with_their_attempts():
    client = FakeFirehose({0}, {0}, {0})
    refused, _, slept = run(client, [b"a", b"b"])
    assert [(r.position, r.error_code, r.attempts) for r in refused] == [(0, "ServiceUnavailableException", 3)]
    assert len(client.calls) == 3 and len(slept) == 2
    client = FakeFirehose({"ValidationException": {1}})
    refused, retries, slept = run(client, [b"a", b"b"])
    assert [(r.position, r.error_code, r.attempts) for r in refused] == [(1, "ValidationException", 1)]
    assert (len(client.calls), retries, slept) == (1, 0, [])


def test_throttling_of_the_whole_call_is_retried_and_a_missing_stream_stops_with_a_hint():
    client = FakeFirehose(client_error("ThrottlingException"), set())
    refused, retries, _ = run(client, [b"a", b"b"])
    assert refused == [] and retries == 2 and client.calls[0] == client.calls[1]
    with pytest.raises(FirehoseWriteError, match="firehose:search: ResourceNotFoundException. does the delivery"):
        run(FakeFirehose(client_error("ResourceNotFoundException")), [b"a"])


def test_an_unreachable_endpoint_is_reported_after_the_last_attempt():
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    client = FakeFirehose(error, error, error)
    with pytest.raises(EndpointUnreachable, match="cannot reach firehose"):
        run(client, [b"a"])
    assert len(client.calls) == 3


def test_a_refused_bulk_entry_becomes_the_records_envelope_again():
    record = Record(id="r-1", type="t", source="s", partition_key="k", event_time=1_700_000_000_000,
                    payload={"amount": "12.50", "note": "ok"})
    entry = opensearch_bulk("payments")(record)
    assert from_avro(envelope_of(entry)) == from_avro(to_avro(record))
    assert envelope_of(b"not a bulk entry") == b"not a bulk entry"  # kept as it is, not lost


def test_batch_keys_are_bounded_and_stable():
    keys = {keyed_by_batch(8, (f"acct-{i}", "dt=x", b"e"))[0] for i in range(1000)}
    assert keys == {str(i) for i in range(8)}
    assert keyed_by_batch(8, ("acct-1", "p", b"e")) == keyed_by_batch(8, ("acct-1", "q", b"e"))


def test_writer_config_keeps_to_put_record_batch_limits():
    with pytest.raises(ValueError, match="500 records"):
        FirehoseWriterConfig("s", max_batch_records=501)


def test_job_config_takes_a_firehose_output_and_its_index():
    job = PipelineJobConfig.from_properties({
        "input.stream": "in", "output.firehose": "search", "output.firehose.index": "payments",
        "firehose.batch.max-age-s": "0.5", "dead_letter.stream": "dlq", "dead_letter.s3": "s3://b/dead-letters"})
    assert (job.output_firehose, job.output_firehose_index, job.firehose_batch_max_age_s) == \
        ("search", "payments", 0.5)
    assert PipelineJobConfig.from_properties(
        {"input.stream": "in", "output.s3": "s3://b/x"}).output_firehose_index == "shardline"


def test_worker_modules_import_without_what_the_managed_flink_zip_lacks():
    # The pii job's zip carries boto3, fastavro, pyyaml and the detectors' libraries; not these.
    code = ("import sys\n"
            "for name in ('prometheus_client', 'aiobotocore', 'aiohttp'):\n"
            "    sys.modules[name] = None\n"
            "import jobs.flink.pii_datastream_job, jobs.flink.firehose_writer, connectors.sinks.opensearch, jobs.local.runner\n"
            "import pipelines.pii.pipeline, pipelines.pii.dead_letters, connectors.dead_letter\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
