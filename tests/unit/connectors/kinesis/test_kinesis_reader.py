"""ShardReader and EfoShardReader against scripted fake Kinesis clients (forcing throttling, expiry, errors)."""
import hashlib

import botocore.exceptions
import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import EndpointUnreachable
from connectors.kinesis.aggregation import MAGIC, UserRecord, aggregate
from connectors.kinesis.batches import ConsumerConfig, StartPosition
from connectors.kinesis.checkpoints import Checkpoint
from connectors.kinesis.efo import EfoShardReader, next_position, starting_position, subscription_due
from connectors.kinesis.reader import ConsumerMetrics, ShardReader
from connectors.testing import FakeClock

CONFIG = ConsumerConfig("orders", min_call_interval_s=0.2, idle_interval_s=1.0, backoff_base_s=0.1,
                        max_transient_retries=2)


def error(code):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "x"}}, "GetRecords")


def rec(seq, data=b"x", key="k"):
    return {"SequenceNumber": str(seq), "Data": data, "PartitionKey": key, "ApproximateArrivalTimestamp": 1.5}


def page(*records, behind=0, end=False):
    return {"Records": list(records), "MillisBehindLatest": behind, "NextShardIterator": None if end else "next"}


class FakeKinesis:
    def __init__(self, script):
        self.script = list(script)
        self.iterators = []
        self.limits = []

    async def get_shard_iterator(self, **kwargs):
        self.iterators.append(kwargs)
        return {"ShardIterator": f"it-{len(self.iterators)}"}

    async def get_records(self, ShardIterator, Limit):
        self.limits.append(Limit)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make_reader(client, start=StartPosition("TRIM_HORIZON"), reader_type=ShardReader, bad=None):
    clock, registry, batches = FakeClock(), CollectorRegistry(), []

    async def emit(batch):
        batches.append(batch)

    async def on_bad(shard_id, record, exc):
        bad.append((shard_id, record["SequenceNumber"], type(exc).__name__))

    reader = reader_type(client, CONFIG, "shardId-0", start, emit=emit, on_bad_record=on_bad, clock=clock,
                         metrics=ConsumerMetrics.for_registry(registry))
    return reader, clock, registry, batches


async def test_throttling_backs_off_and_expired_iterator_resumes_after_last_record():
    client = FakeKinesis([page(rec(1), rec(2), behind=500), error("ProvisionedThroughputExceededException"),
                          error("ExpiredIteratorException"), page(rec(3), end=True)])
    reader, clock, registry, batches = make_reader(client)
    await reader.run()
    assert [[r.sequence_number for r in b.records] for b in batches] == [["1", "2"], ["3"]]
    assert [b.shard_end for b in batches] == [False, True]
    assert client.iterators[0]["ShardIteratorType"] == "TRIM_HORIZON"
    assert client.iterators[1] == {"StreamName": "orders", "ShardId": "shardId-0",
                                   "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "2"}
    assert registry.get_sample_value("shardline_consumer_retries_total",
                                     {"stream": "orders", "reason": "ProvisionedThroughputExceededException"}) == 1
    assert registry.get_sample_value("shardline_consumer_records_total",
                                     {"stream": "orders", "shard_id": "shardId-0"}) == 3
    assert client.limits == [1000] * 4


async def test_calls_are_paced_to_five_per_second_and_idle_waits_longer():
    client = FakeKinesis([page(rec(1), behind=100), page(behind=100), page(behind=0), page(rec(2), end=True)])
    reader, clock, _, batches = make_reader(client)
    await reader.run()
    # after a page with records: pace to 0.2 s; behind but empty: no idle wait; at the tip: idle 1 s.
    assert clock.slept == pytest.approx([0.2, 0.2, 1.0])
    assert batches[-1].millis_behind_latest == 0


async def test_resume_inside_an_aggregate_skips_checkpointed_sub_records():
    aggregated = aggregate([UserRecord("k", f"a{i}".encode()) for i in range(3)])
    client = FakeKinesis([page(rec(5, aggregated), rec(6, b"b"), end=True)])
    reader, _, _, batches = make_reader(client, StartPosition.resume(Checkpoint("5", 1)))
    await reader.run()
    assert client.iterators[0]["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
    assert client.iterators[0]["StartingSequenceNumber"] == "5"
    assert [(r.data, r.sequence_number, r.sub_sequence_number) for r in batches[0].records] == [
        (b"a2", "5", 2), (b"b", "6", 0)]


async def test_malformed_aggregate_goes_to_the_dead_letter_hook_and_the_rest_flows():
    body = b"\x1a\x05ab"  # field 3 claims 5 bytes, has 2
    broken = MAGIC + body + hashlib.md5(body).digest()
    client = FakeKinesis([page(rec(1, b"ok"), rec(2, broken), rec(3, b"ok2"), end=True)])
    bad = []
    reader, _, _, batches = make_reader(client, bad=bad)
    await reader.run()
    assert bad == [("shardId-0", "2", "AggregationError")]
    assert [r.data for r in batches[0].records] == [b"ok", b"ok2"]


async def test_lasting_connection_failure_names_the_endpoint_variable():
    failure = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    client = FakeKinesis([failure] * 3)
    reader, _, registry, _ = make_reader(client)
    with pytest.raises(EndpointUnreachable, match="kinesis"):
        await reader.run()
    assert registry.get_sample_value("shardline_consumer_retries_total",
                                     {"stream": "orders", "reason": "transient"}) == 2


async def test_non_retryable_error_stops_the_reader():
    reader, *_ = make_reader(FakeKinesis([error("ResourceNotFoundException")]))
    with pytest.raises(botocore.exceptions.ClientError):
        await reader.run()


# -- enhanced fan-out ------------------------------------------------------------------------

@pytest.mark.parametrize("position, expected", [
    (StartPosition("TRIM_HORIZON"), {"Type": "TRIM_HORIZON"}),
    (StartPosition("AT_TIMESTAMP", timestamp=1.7e9), {"Type": "AT_TIMESTAMP", "Timestamp": 1.7e9}),
    (StartPosition.after("42"), {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "42"}),
    (StartPosition.resume(Checkpoint("42", 3)), {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "42"}),
])
def test_efo_starting_position(position, expected):
    assert starting_position(position) == expected


@pytest.mark.parametrize("event, current, expected", [
    ({"Records": [rec(7)], "ContinuationSequenceNumber": "7"}, StartPosition("LATEST"), StartPosition.after("7")),
    ({"Records": [], "ContinuationSequenceNumber": "9"}, StartPosition("LATEST"), StartPosition.after("9")),
    ({"Records": [], "ContinuationSequenceNumber": "5"}, StartPosition.resume(Checkpoint("5", 1)),
     StartPosition.resume(Checkpoint("5", 1))),
    ({"Records": [rec(8)], "ChildShards": [{"ShardId": "c"}]}, StartPosition.after("7"), None),
])
def test_efo_next_position(event, current, expected):
    assert next_position(event, current) == expected


@pytest.mark.parametrize("started, now, due", [(0, 299.9, False), (0, 300, True), (100, 500, True)])
def test_efo_resubscribes_every_five_minutes(started, now, due):
    assert subscription_due(started, now, 300.0) is due


class FakeEfo:
    """subscribe_to_shard returns scripted event streams; the clock moves 200 s per event."""

    def __init__(self, clock_box, streams):
        self.clock_box = clock_box
        self.streams = list(streams)
        self.positions = []

    async def subscribe_to_shard(self, ConsumerARN, ShardId, StartingPosition):
        self.positions.append(StartingPosition)
        events, clock = self.streams.pop(0), self.clock_box[0]

        async def stream():
            for event in events:
                if isinstance(event, Exception):
                    raise event
                clock.advance(200)
                yield {"SubscribeToShardEvent": event}
        return {"EventStream": stream()}


async def test_efo_reader_resubscribes_after_continuation_and_ends_at_shard_end():
    box = []
    client = FakeEfo(box, [
        [{"Records": [rec(1)], "ContinuationSequenceNumber": "1", "MillisBehindLatest": 5},
         {"Records": [rec(2)], "ContinuationSequenceNumber": "2", "MillisBehindLatest": 0}],
        [{"Records": [rec(3)], "ContinuationSequenceNumber": "3", "MillisBehindLatest": 0},
         error("InternalFailure")],  # the stream breaks: resubscribe after the last continuation
        [{"Records": [rec(4)], "ChildShards": [{"ShardId": "shardId-9"}], "MillisBehindLatest": 0}],
    ])
    reader, clock, _, batches = make_reader(client, reader_type=EfoShardReader)
    box.append(clock)
    reader.consumer_arn = "arn:consumer"
    await reader.run()
    assert client.positions == [{"Type": "TRIM_HORIZON"}, {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "2"},
                                {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "3"}]
    assert [[r.sequence_number for r in b.records] for b in batches] == [["1"], ["2"], ["3"], ["4"]]
    assert [b.shard_end for b in batches] == [False, False, False, True]


async def test_efo_fatal_stream_error_stops_the_reader():
    box = []
    client = FakeEfo(box, [[error("AccessDeniedException")]])
    reader, clock, _, _ = make_reader(client, reader_type=EfoShardReader)
    box.append(clock)
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        await reader.run()
