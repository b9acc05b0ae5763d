"""The shardline-kinesis table connector in PyFlink SQL, on the local stack.

A bounded INSERT INTO ... SELECT reads JSON rows with the metadata columns (arrival
time, shard, sequence number, partition key; a KPL aggregate's user records keep
their own keys) and writes them to another stream keyed by a PARTITIONED BY column.
Bad option sets fail at planning, naming the option.
"""
from __future__ import annotations

import json
import uuid

import pytest

from connectors.aws import AwsConfig, client
from connectors.flink import build_connector_jar, kinesis_table_options, table_environment, with_clause
from connectors.kinesis.aggregation import UserRecord, aggregate
from connectors.testing import create_stream, read_stream_data

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]
ROWS = [{"user_id": f"u{i % 4}", "amount": float(i)} for i in range(20)]
PACKED = [{"user_id": f"p{i}", "amount": 100.0 + i} for i in range(3)]


@pytest.fixture(scope="module")
def tables(local_stack):
    build_connector_jar()
    kinesis = client("kinesis", AwsConfig(sdk_retries=3))
    source, sink = f"table-in-{uuid.uuid4().hex[:8]}", f"table-out-{uuid.uuid4().hex[:8]}"
    create_stream(kinesis, source, 2)
    create_stream(kinesis, sink, 1)
    kinesis.put_records(StreamName=source, Records=[
        {"Data": json.dumps(row).encode(), "PartitionKey": f"key-{row['user_id']}"} for row in ROWS])
    kinesis.put_record(StreamName=source, PartitionKey="kpl-outer", Data=aggregate(
        [UserRecord(f"key-{row['user_id']}", json.dumps(row).encode()) for row in PACKED]))
    t_env = table_environment()
    return t_env, kinesis, source, sink


def test_sql_reads_metadata_columns_and_writes_keyed_rows(tables):
    t_env, kinesis, source, sink = tables
    t_env.execute_sql(f"""
        CREATE TABLE clicks (
          user_id STRING, amount DOUBLE,
          arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          shard STRING METADATA FROM 'shard-id' VIRTUAL,
          seq STRING METADATA FROM 'sequence-number' VIRTUAL,
          pk STRING METADATA FROM 'partition-key' VIRTUAL
        ) WITH ({with_clause(kinesis_table_options(source, **{
            'format': 'json', 'source.init.position': 'TRIM_HORIZON', 'source.bounded': 'true'}))})""")
    t_env.execute_sql(f"""
        CREATE TABLE doubled (user_id STRING, amount DOUBLE, shard STRING, seq STRING, pk STRING, arrived BIGINT)
        PARTITIONED BY (user_id)
        WITH ({with_clause(kinesis_table_options(sink, format='json', **{'sink.flush-buffer.timeout': '200'}))})""")
    t_env.execute_sql("""
        INSERT INTO doubled
        SELECT user_id, amount * 2, shard, seq, pk, UNIX_TIMESTAMP(CAST(arrival AS STRING)) FROM clicks""").wait()

    written = [json.loads(data) for data in read_stream_data(kinesis, sink)]
    assert sorted((r["user_id"], r["amount"]) for r in written) == sorted(
        (row["user_id"], row["amount"] * 2) for row in ROWS + PACKED)
    shards = {s["ShardId"] for s in kinesis.list_shards(StreamName=source)["Shards"]}
    for row in written:
        assert row["shard"] in shards and row["seq"].isdigit() and row["arrived"] > 0
        assert row["pk"] == f"key-{row['user_id']}", "each user record keeps its own key, aggregated ones too"
    packed = [r for r in written if r["user_id"].startswith("p")]
    assert len({r["seq"] for r in packed}) == 1, "the aggregate's user records share its sequence number"

    iterator = kinesis.get_shard_iterator(StreamName=sink, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    keys = {r["PartitionKey"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]}
    assert keys == {row["user_id"] for row in ROWS + PACKED}, "PARTITIONED BY makes the partition key"


@pytest.mark.parametrize("change, named", [
    ({"sink.bogus": "1"}, "sink.bogus"),
    ({"stream.arn": None}, "stream.arn"),
    ({"source.reader.type": "EFO"}, "source.reader.type"),
])
def test_a_bad_option_fails_at_planning_naming_it(tables, change, named):
    t_env, _, source, _ = tables
    options = {**kinesis_table_options(source, format="json"), **change}
    options = {key: value for key, value in options.items() if value is not None}
    name = f"bad_{uuid.uuid4().hex[:6]}"
    t_env.execute_sql(f"CREATE TABLE {name} (user_id STRING) WITH ({with_clause(options)})")
    with pytest.raises(Exception) as caught:
        t_env.execute_sql(f"SELECT * FROM {name}").get_job_client().cancel()
    assert named in str(caught.value)


def test_envelopes_as_columns_with_bad_records_routed_to_dead_letters(tables):
    """'format' = 'shardline-envelope': a record that is not a valid envelope does not fail the job."""
    from connectors.dead_letter import DeadLetter
    from pipelines.records import Record, from_avro, to_avro

    t_env, kinesis, _, _ = tables
    source, out, dlq = (f"env-{kind}-{uuid.uuid4().hex[:6]}" for kind in ("in", "out", "dlq"))
    for name in (source, out, dlq):
        create_stream(kinesis, name, 1)
    good = [Record(id=f"e{i}", type="payment", source="pos", partition_key=f"card-{i}", event_time=1_767_225_600_000 + i,
                   payload={"amount": 10.5 + i, "note": "café", "raw": b"\x00\x01"}) for i in range(5)]
    good.append(Record(id="bytes", type="doc", source="s", partition_key="k", event_time=1, payload=b'{"a": 1}'))
    bad = [b"not an envelope", to_avro(Record(id="x", type="t", source="", partition_key="k", payload={}))]
    for data in [to_avro(r) for r in good] + bad:
        kinesis.put_record(StreamName=source, Data=data, PartitionKey="p")
    columns = "`id` STRING, `type` STRING, `source` STRING, event_time BIGINT, partition_key STRING, " \
              "`schema` STRING, payload STRING"
    t_env.execute_sql(f"""
        CREATE TABLE envelopes ({columns}, `error` STRING, `raw` BYTES,
          shard STRING METADATA FROM 'shard-id' VIRTUAL, seq STRING METADATA FROM 'sequence-number' VIRTUAL)
        WITH ({with_clause(kinesis_table_options(source, **{'format': 'shardline-envelope',
                                                             'source.init.position': 'TRIM_HORIZON',
                                                             'source.bounded': 'true'}))})""")
    t_env.execute_sql(f"""CREATE TABLE copied ({columns}) PARTITIONED BY (partition_key)
        WITH ({with_clause(kinesis_table_options(out, **{'format': 'shardline-envelope',
                                                          'sink.flush-buffer.timeout': '200'}))})""")
    t_env.execute_sql(f"""CREATE TABLE letters (reason STRING, error_type STRING, source STRING, attempts INT,
        `time` DOUBLE, data BYTES)
        WITH ({with_clause(kinesis_table_options(dlq, **{'format': 'json', 'sink.flush-buffer.timeout': '200'}))})""")
    statements = t_env.create_statement_set()
    statements.add_insert_sql(f"INSERT INTO copied SELECT {', '.join(c.split()[0] for c in columns.split(', '))} "
                              "FROM envelopes WHERE `error` IS NULL")
    statements.add_insert_sql(f"""INSERT INTO letters SELECT `error`, 'RecordValidationError',
        CONCAT('kinesis:{source}/', shard, '/', seq), 1, CAST(UNIX_TIMESTAMP() AS DOUBLE), `raw`
        FROM envelopes WHERE `error` IS NOT NULL""")
    statements.execute().wait()

    copied = sorted((from_avro(data) for data in read_stream_data(kinesis, out)), key=lambda r: r.id)
    assert copied == sorted(good, key=lambda r: r.id), "Avro to columns and back: the same records"
    letters = [DeadLetter.from_json(data) for data in read_stream_data(kinesis, dlq)]
    assert sorted(letter.reason for letter in letters) == [
        "field '<record>': not a shardline Avro envelope (EOFError)", "field 'source': must be a non-empty string"]
    assert {letter.data for letter in letters} == set(bad)
    assert all(letter.source.startswith(f"kinesis:{source}/shardId-") for letter in letters)


def test_envelopes_and_dead_letters_written_to_s3_by_the_java_sink(tables):
    """'connector' = 'shardline-s3': Avro containers of envelopes and JSON-lines letters, flushed by the writer."""
    import io

    from connectors.flink import s3_table_options
    from pipelines.records import Record, read_avro_file, to_avro

    t_env, kinesis, _, _ = tables
    s3 = client("s3", AwsConfig(sdk_retries=3))
    bucket, source = f"s3sink-{uuid.uuid4().hex[:8]}", f"s3-in-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    create_stream(kinesis, source, 1)
    records = [Record(id=f"s{i}", type="t", source="s", partition_key=f"k{i}",
                      event_time=1_767_225_600_000 + i * 1_800_000, payload={"n": i}) for i in range(6)]
    for data in [to_avro(r) for r in records] + [b"broken"]:
        kinesis.put_record(StreamName=source, Data=data, PartitionKey="p")
    columns = "`id` STRING, `type` STRING, `source` STRING, event_time BIGINT, partition_key STRING, payload STRING"
    t_env.execute_sql(f"""CREATE TABLE s3_in ({columns}, `error` STRING, `raw` BYTES)
        WITH ({with_clause(kinesis_table_options(source, **{'format': 'shardline-envelope',
               'source.init.position': 'TRIM_HORIZON', 'source.bounded': 'true'}))})""")
    t_env.execute_sql(f"""CREATE TABLE s3_out ({columns})
        WITH ({with_clause(s3_table_options(f's3://{bucket}/records', format='shardline-envelope'))})""")
    t_env.execute_sql(f"""CREATE TABLE s3_letters (reason STRING, error_type STRING, source STRING, attempts INT,
        `time` DOUBLE, data BYTES)
        WITH ({with_clause(s3_table_options(f's3://{bucket}/dead-letters', format='json',
                                           **{'partition.time-column': 'time'}))})""")
    statements = t_env.create_statement_set()
    statements.add_insert_sql("INSERT INTO s3_out SELECT `id`, `type`, `source`, event_time, partition_key, payload "
                              "FROM s3_in WHERE `error` IS NULL")
    statements.add_insert_sql("INSERT INTO s3_letters SELECT `error`, 'RecordValidationError', 'test', 1, "
                              "CAST(UNIX_TIMESTAMP() AS DOUBLE), `raw` FROM s3_in WHERE `error` IS NOT NULL")
    statements.execute().wait()

    objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    written = [r for key, body in objects.items() if key.startswith("records/")
               for r in read_avro_file(io.BytesIO(body))]
    assert sorted(written, key=lambda r: r.id) == records
    assert {key.split("/")[1] + "/" + key.split("/")[2] for key in objects if key.startswith("records/")} == {
        "dt=2026-01-01/hour=00", "dt=2026-01-01/hour=01", "dt=2026-01-01/hour=02"}, "partitioned by event_time"
    [letters] = [body for key, body in objects.items() if key.startswith("dead-letters/")]
    [letter] = [json.loads(line) for line in letters.splitlines()]
    assert letter["reason"].startswith("field '<record>'") and letter["data"] == "YnJva2Vu"  # base64 of b"broken"
