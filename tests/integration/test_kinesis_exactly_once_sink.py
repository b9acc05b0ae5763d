"""The exactly-once Kinesis sink on kinesalite: no record twice, across a crash and a restore.

1. A bounded PyFlink job (MiniCluster) reads a stream with the checkpointed Kinesis source and
   writes it through ``kinesis_sink(exactly_once=True)``; its map fails once, after checkpoints
   were committed, and the job restores: every record is on the output stream exactly once.
   (With the committer's read-back switched off, it found duplicated records in 3 runs of 3.)
2. The committer, driven through the py4j gateway as a restore drives it: a committable committed
   again by a new, restored committer is not written again, and one half written before the
   "crash" gets only its missing half.  A committer that does not read back (a fresh one) writes
   the duplicates, which shows the counting here can fail.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from connectors.aws import AwsConfig, client
from connectors.flink import (FlinkConfig, JAVA_PACKAGE, build_connector_jar, keyed_bytes_type, kinesis_sink,
                              kinesis_source, kinesis_table_options, stream_environment, table_environment,
                              with_clause)
from connectors.testing import create_stream, read_stream_data

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
RECORDS = 300


@pytest.fixture(scope="module")
def kinesis(local_stack):
    build_connector_jar()  # outside the timed part: a cold Maven build is its own step (`make setup`)
    return client("kinesis", AwsConfig(sdk_retries=3))


def _stream(kinesis, prefix: str, shards: int = 2) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_stream(kinesis, name, shards)
    return name


class _FailOnceAfterACommit:
    """A map that raises once, as soon as the sink's output stream holds records (a checkpoint was committed), so
    the restore re-commits committables already written.  It is slow enough for checkpoints to come between."""

    def __init__(self, marker: str, endpoint: str, stream: str) -> None:
        self.marker, self.endpoint, self.stream = marker, endpoint, stream
        self.kinesis = None
        self.checked = 0.0

    def _output_written(self) -> bool:
        if time.monotonic() - self.checked < 0.05:
            return False
        self.checked = time.monotonic()
        if self.kinesis is None:  # in the Python worker: a client of its own, pointed at kinesalite
            import boto3
            self.kinesis = boto3.client("kinesis", endpoint_url=self.endpoint, region_name="us-east-1",
                                        aws_access_key_id="local", aws_secret_access_key="local")
        for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]:
            iterator = self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard["ShardId"],
                                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            if self.kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]:
                return True
        return False

    def __call__(self, data: bytes):
        if not Path(self.marker).exists() and self._output_written():
            Path(self.marker).touch()
            raise RuntimeError("injected failure: the job restores from its last checkpoint")
        time.sleep(0.015)
        return data.split(b"-")[1].decode(), data


def test_a_job_that_crashes_and_restores_writes_every_record_once(kinesis, tmp_path):
    source, sink = _stream(kinesis, "eo-in"), _stream(kinesis, "eo-out")
    sent = [f"event-{i}".encode() for i in range(RECORDS)]
    for start in range(0, RECORDS, 100):
        kinesis.put_records(StreamName=source, Records=[
            {"Data": data, "PartitionKey": f"key-{i % 11}"} for i, data in enumerate(sent[start:start + 100])])
    config = FlinkConfig(parallelism=2, checkpoint_interval_ms=400, checkpoint_dir=tmp_path / "checkpoints",
                         extra={"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "2",
                                "restart-strategy.fixed-delay.delay": "200 ms",
                                # The source reads the whole input at once: barriers must overtake the records
                                # queued before the slow map, and its bundles must be small, or no checkpoint
                                # completes (and commits) before the map is done.
                                "execution.checkpointing.unaligned.enabled": "true",
                                "python.fn-execution.bundle.size": "5", "python.fn-execution.bundle.time": "20"})
    env = stream_environment(config)
    marker = tmp_path / "failed-once"
    (kinesis_source(env, source, bounded=True, config=config)
     .map(_FailOnceAfterACommit(str(marker), config.kinesis_endpoint, sink), output_type=keyed_bytes_type())
     .sink_to(kinesis_sink(sink, config=config, exactly_once=True)))

    env.execute("exactly-once sink, one crash")

    assert marker.exists(), "the injected failure did not happen: the restore path was not exercised"
    written = Counter(read_stream_data(kinesis, sink))
    assert {data: n for data, n in written.items() if n > 1} == {}, "records written twice"
    assert sorted(written) == sorted(sent)


def test_sql_exactly_once_table_writes_each_row_once(kinesis, tmp_path):
    sink = _stream(kinesis, "eo-sql", shards=1)
    t_env = table_environment(FlinkConfig(checkpoint_interval_ms=200, checkpoint_dir=tmp_path / "checkpoints"))
    t_env.execute_sql(f"""
        CREATE TABLE events (id STRING, n INT) WITH ({with_clause(kinesis_table_options(sink, **{
            'format': 'json', 'sink.partitioner': 'fixed', 'sink.delivery-guarantee': 'exactly-once'}))})""")
    t_env.execute_sql("INSERT INTO events VALUES ('a', 1), ('b', 2), ('c', 3)").wait()
    assert sorted(json.loads(d)["id"] for d in read_stream_data(kinesis, sink)) == ["a", "b", "c"]
    with pytest.raises(Exception, match="sink.delivery-guarantee"):
        t_env.execute_sql(f"""
            CREATE TABLE bad (id STRING) WITH ({with_clause(kinesis_table_options(sink, **{
                'format': 'json', 'sink.delivery-guarantee': 'none'}))})""")
        t_env.execute_sql("INSERT INTO bad VALUES ('x')").wait()


def _committable(package, records: list[tuple[str, bytes]], created_at_ms: int):
    builder = package.KinesisCommittable.builder(0, created_at_ms)
    for key, data in records:
        builder = builder.add(key, data)
    return builder.build()


def _committer(gateway, stream: str, *, restored: bool):
    package = getattr(gateway.jvm, JAVA_PACKAGE).exactlyonce
    conf = gateway.jvm.org.apache.flink.configuration.Configuration()
    for key, value in FlinkConfig().aws_properties().items():
        conf.setString(key, value)
    counter = gateway.jvm.org.apache.flink.metrics.SimpleCounter()
    return package.KinesisCommitter(stream, conf, False, restored, counter), counter


def test_a_restored_committer_writes_only_what_is_missing(kinesis):
    from pyflink.java_gateway import get_gateway

    stream_environment(FlinkConfig(checkpoint_interval_ms=0))  # loads the connector jar into the gateway
    gateway = get_gateway()
    package = getattr(gateway.jvm, JAVA_PACKAGE).exactlyonce
    stream = _stream(kinesis, "eo-commit")
    twin = ("key-0", b"twin")  # two identical records in one committable: both must be on the stream
    records = [twin] + [(f"key-{i % 5}", f"derived-{i}".encode()) for i in range(40)] + [twin]
    made_at = int(time.time() * 1000)
    whole = _committable(package, records, made_at)

    first, _ = _committer(gateway, stream, restored=False)
    assert first.commit(whole) == 0
    first.close()
    again, skipped = _committer(gateway, stream, restored=True)  # a new instance, as after a restore
    assert again.commit(whole) == len(records)
    again.close()
    assert skipped.getCount() == len(records)
    assert Counter(read_stream_data(kinesis, stream)) == Counter(data for _, data in records)

    half_stream = _stream(kinesis, "eo-half")
    half = _committable(package, records[:21], made_at)  # the crash came after the first half (one twin)
    crashed, _ = _committer(gateway, half_stream, restored=False)
    crashed.commit(half)
    crashed.close()
    restored, skipped = _committer(gateway, half_stream, restored=True)
    assert restored.commit(whole) == 21
    restored.close()
    assert skipped.getCount() == 21
    assert Counter(read_stream_data(kinesis, half_stream)) == Counter(data for _, data in records)

    blind, _ = _committer(gateway, half_stream, restored=False)  # no read-back: the duplicates show
    blind.commit(whole)
    blind.close()
    assert Counter(read_stream_data(kinesis, half_stream)) == Counter(data for _, data in records * 2)
