"""KinesisProducer against a fake Kinesis that fails part of each batch and throttles whole calls.

The fake replaces only the two API calls (ListShards, PutRecords); it routes entries to
shards by hash key as Kinesis does and checks, while calls overlap, that no two calls in
flight share an ordering domain.
"""
import asyncio
import hashlib
import random

import botocore.exceptions
import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import EndpointUnreachable
from connectors.kinesis.aggregation import deaggregate
from connectors.kinesis.producer import KinesisProducer, ProducerConfig, ProducerError, RecordTooLargeError
from connectors.local_stack import free_port
from connectors.testing import patched_environ
from pipelines.clock import FakeClock

MAX_HASH = 2**128 - 1


def shard_listing(count: int, prefix: str = "shardId-", closed: tuple = ()) -> list[dict]:
    step = (MAX_HASH + 1) // count
    shards = []
    for i in range(count):
        end = MAX_HASH if i == count - 1 else (i + 1) * step - 1
        shard = {"ShardId": f"{prefix}{i:012d}", "HashKeyRange": {"StartingHashKey": str(i * step),
                                                                    "EndingHashKey": str(end)},
                 "SequenceNumberRange": {"StartingSequenceNumber": "1"}}
        shards.append(shard)
    return shards + list(closed)


def throttled() -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutRecords")


class FakeKinesis:
    """Stores accepted entries per shard; ``fail_rate`` of entries fail, every ``throttle_every``-th call throws."""

    def __init__(self, shards: int = 4, *, fail_rate: float = 0.0, throttle_every: int = 0,
                 doomed_keys: frozenset = frozenset(), aggregate: bool = False, seed: int = 1,
                 clock: FakeClock | None = None) -> None:
        self.listing = shard_listing(shards)
        self.fail_rate = fail_rate
        self.throttle_every = throttle_every
        self.doomed_keys = doomed_keys
        self.aggregate = aggregate
        self.rng = random.Random(seed)
        self.clock = clock
        self.calls = 0
        self.throttled_calls = 0
        self.failed_entries = 0
        self.stored: dict[str, list[tuple[str, bytes, str | None]]] = {}
        self.call_times: list[tuple[float, dict[str, int]]] = []
        self.in_flight_domains: set = set()
        self.max_concurrent = 0
        self.concurrent = 0
        self.gate: asyncio.Event | None = None
        self.list_calls = 0

    async def list_shards(self, **kwargs):
        self.list_calls += 1
        return {"Shards": self.listing}

    def shard_for(self, hash_key: int) -> str:
        for shard in self.listing:
            rng = shard["HashKeyRange"]
            if "EndingSequenceNumber" not in shard["SequenceNumberRange"] and \
                    int(rng["StartingHashKey"]) <= hash_key <= int(rng["EndingHashKey"]):
                return shard["ShardId"]
        raise AssertionError("no shard")

    async def put_records(self, StreamName, Records):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        domains = set()
        for entry in Records:
            domain = self._domain(entry)
            assert domain not in domains, "two records of one ordering domain in one call"
            assert domain not in self.in_flight_domains, "an ordering domain in two calls at once"
            domains.add(domain)
        self.in_flight_domains |= domains
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            for _ in range(3):  # let other calls start meanwhile
                await asyncio.sleep(0)
            if self.throttle_every and self.calls % self.throttle_every == 0:
                self.throttled_calls += 1
                raise throttled()
            results, failed, per_shard = [], 0, {}
            for entry in Records:
                shard = self.shard_for(self._hash(entry))
                users = deaggregate(entry["Data"], entry["PartitionKey"], entry.get("ExplicitHashKey"))
                if self.rng.random() < self.fail_rate or any(u.partition_key in self.doomed_keys for u in users):
                    failed += 1
                    results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "busy"})
                    continue
                self.stored.setdefault(shard, []).extend((u.partition_key, u.data, u.explicit_hash_key)
                                                         for u in users)
                per_shard[shard] = per_shard.get(shard, 0) + 1
                results.append({"ShardId": shard, "SequenceNumber": str(self.calls)})
            self.failed_entries += failed
            if self.clock is not None:
                self.call_times.append((self.clock.monotonic(), per_shard))
            return {"FailedRecordCount": failed, "Records": results}
        finally:
            self.concurrent -= 1
            self.in_flight_domains -= domains

    def _hash(self, entry) -> int:
        if "ExplicitHashKey" in entry:
            return int(entry["ExplicitHashKey"])
        return int.from_bytes(hashlib.md5(entry["PartitionKey"].encode()).digest(), "big")

    def _domain(self, entry):
        return self.shard_for(self._hash(entry)) if self.aggregate else entry["PartitionKey"]

    def by_key(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for records in self.stored.values():
            for pk, data, _ in records:
                out.setdefault(pk, []).append(data)
        return out


def workload(n: int, keys: int, seed: int = 5) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    counters: dict[str, int] = {}
    out = []
    for _ in range(n):
        key = f"device-{rng.randrange(keys)}"
        counters[key] = counters.get(key, 0) + 1
        out.append((key, f"{key}#{counters[key]}".encode()))
    return out


def expected_by_key(records) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for key, data in records:
        out.setdefault(key, []).append(data)
    return out


def metric(registry: CollectorRegistry, name: str, stream: str) -> float:
    return registry.get_sample_value(name, {"stream": stream}) or 0.0


@pytest.mark.parametrize("aggregate", [False, True])
async def test_every_record_arrives_once_in_key_order_despite_failures_and_throttling(aggregate):
    clock = FakeClock()
    fake = FakeKinesis(4, fail_rate=0.3, throttle_every=3, aggregate=aggregate, clock=clock)
    registry = CollectorRegistry()
    config = ProducerConfig("s", aggregate=aggregate, aggregation_max_bytes=2048, max_batch_records=50,
                            max_in_flight=4, max_buffered_records=300, seed=1, max_attempts=25,
                            shard_records_per_s=1e9, shard_bytes_per_s=1e12)
    records = workload(3000, keys=40)
    async with KinesisProducer(config, client=fake, clock=clock, registry=registry) as producer:
        for key, data in records:
            await producer.put(data, key)
    assert fake.by_key() == expected_by_key(records)
    assert fake.throttled_calls > 0 and fake.failed_entries > 0 and fake.max_concurrent > 1
    stats = producer.stats
    assert stats.records_sent == 3000 and stats.failed == 0
    assert stats.retries >= fake.failed_entries
    assert metric(registry, "shardline_producer_records_total", "s") == 3000
    assert metric(registry, "shardline_producer_retries_total", "s") == stats.retries
    assert metric(registry, "shardline_producer_kinesis_records_total", "s") == stats.kinesis_records_sent
    assert metric(registry, "shardline_producer_queue_depth", "s") == 0
    assert metric(registry, "shardline_producer_put_latency_seconds_count", "s") == fake.calls - fake.throttled_calls
    if aggregate:
        assert stats.kinesis_records_sent < 3000 / 5
        for shard, stored in fake.stored.items():  # aggregates never mix shards
            assert {fake.shard_for(int.from_bytes(hashlib.md5(pk.encode()).digest(), "big"))
                    for pk, _, _ in stored} == {shard}


async def test_explicit_hash_keys_route_and_survive_aggregation():
    fake = FakeKinesis(4, aggregate=True)
    config = ProducerConfig("s", aggregate=True, seed=1)
    top = str(MAX_HASH)
    async with KinesisProducer(config, client=fake, clock=FakeClock(), registry=CollectorRegistry()) as producer:
        for i in range(20):
            await producer.put(b"%d" % i, f"k{i}", explicit_hash_key=top)
    assert list(fake.stored) == ["shardId-000000000003"]
    assert fake.stored["shardId-000000000003"] == [(f"k{i}", b"%d" % i, top) for i in range(20)]


@pytest.mark.parametrize("aggregate", [False, True])
async def test_exhausted_retries_raise_producer_error_with_the_failures(aggregate):
    fake = FakeKinesis(2, doomed_keys=frozenset({"doomed"}), aggregate=aggregate)
    config = ProducerConfig("s", aggregate=aggregate, max_attempts=3, seed=2)
    registry = CollectorRegistry()
    producer = KinesisProducer(config, client=fake, clock=FakeClock(), registry=registry)
    await producer.put(b"secret-1", "doomed")
    await producer.put(b"ok", "fine")
    await producer.put(b"secret-2", "doomed")
    with pytest.raises(ProducerError) as caught:
        await producer.close()
    failures = caught.value.failures
    doomed = [f for f in failures if f.partition_key == "doomed"]
    assert [f.data for f in doomed] == [b"secret-1", b"secret-2"]
    assert all(f.attempts == 3 and f.error_code == "ProvisionedThroughputExceededException" for f in doomed)
    assert "secret" not in str(caught.value) and "doomed" not in str(caught.value)
    if not aggregate:
        assert failures == doomed and fake.by_key() == {"fine": [b"ok"]}
    assert producer.stats.failed == len(failures)
    assert metric(registry, "shardline_producer_failed_records_total", "s") == len(failures)


async def test_oversize_record_names_its_partition_key():
    producer = KinesisProducer(ProducerConfig("s"), client=FakeKinesis(1), clock=FakeClock(),
                               registry=CollectorRegistry())
    with pytest.raises(RecordTooLargeError, match="order-42"):
        await producer.put(b"x" * (1024 * 1024 - 3), "order-42")
    await producer.put(b"x" * (1024 * 1024 - 8), "order-42")  # exactly 1 MiB with the key is fine
    await producer.close()


async def test_record_too_big_to_aggregate_is_sent_alone_in_order():
    fake = FakeKinesis(1, aggregate=True)
    config = ProducerConfig("s", aggregate=True, aggregation_max_bytes=4096)
    async with KinesisProducer(config, client=fake, clock=FakeClock(), registry=CollectorRegistry()) as producer:
        await producer.put(b"a", "k")
        await producer.put(b"b" * 5000, "k")
        await producer.put(b"c", "k")
    assert fake.by_key() == {"k": [b"a", b"b" * 5000, b"c"]}


async def test_put_blocks_while_the_buffer_is_full():
    fake = FakeKinesis(2)
    fake.gate = asyncio.Event()
    config = ProducerConfig("s", max_buffered_records=10)
    registry = CollectorRegistry()
    producer = KinesisProducer(config, client=fake, clock=FakeClock(), registry=registry)
    for i in range(10):
        await producer.put(b"x", f"k{i}")
    blocked = asyncio.ensure_future(producer.put(b"x", "k-late"))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not blocked.done()
    assert metric(registry, "shardline_producer_queue_depth", "s") == 10
    fake.gate.set()
    await asyncio.wait_for(blocked, 5)
    await producer.close()
    assert sum(len(v) for v in fake.by_key().values()) == 11


async def test_a_put_waiting_for_space_when_the_producer_closes_is_refused_not_dropped():
    fake = FakeKinesis(1)
    fake.gate = asyncio.Event()
    producer = KinesisProducer(ProducerConfig("s", max_buffered_records=1), client=fake, clock=FakeClock(),
                               registry=CollectorRegistry())
    await producer.put(b"first", "k")
    closing = asyncio.ensure_future(producer.close())  # waits for "first", which the gate holds
    await asyncio.sleep(0)
    blocked = asyncio.ensure_future(producer.put(b"second", "k"))  # waits for space behind close
    for _ in range(20):
        await asyncio.sleep(0)
    fake.gate.set()
    await closing
    with pytest.raises(ProducerError, match="closed"):
        await blocked
    assert fake.by_key() == {"k": [b"first"]}


async def test_pacing_keeps_each_shard_under_its_rate():
    clock = FakeClock()
    fake = FakeKinesis(1, clock=clock)
    config = ProducerConfig("s", shard_records_per_s=100, pacing_burst_s=0.2, linger_s=0.01)
    started = clock.monotonic()
    async with KinesisProducer(config, client=fake, clock=clock, registry=CollectorRegistry()) as producer:
        for i in range(500):
            await producer.put(b"x", f"k{i}")
    assert clock.monotonic() - started >= (500 - 20) / 100
    times = [(t, n) for t, per_shard in fake.call_times for n in per_shard.values()]
    for t0, _ in times:  # no 1-second window holds more than rate * (1 s + burst) + 1 records
        assert sum(n for t, n in times if t0 <= t < t0 + 1) <= 100 * 1.2 + 1


async def test_resharding_keeps_every_record_on_its_own_shard_in_key_order():
    clock = FakeClock()
    fake = FakeKinesis(2, aggregate=True, clock=clock)
    config = ProducerConfig("s", aggregate=True, aggregation_max_bytes=1024, max_in_flight=2,
                            shard_refresh_s=1.0, shard_records_per_s=1e9, shard_bytes_per_s=1e12)
    records = workload(2000, keys=60)
    async with KinesisProducer(config, client=fake, clock=clock, registry=CollectorRegistry()) as producer:
        for i, (key, data) in enumerate(records):
            if i == 700:  # split both shards: the parents close, four children open
                parents = [dict(s, SequenceNumberRange={"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"})
                           for s in fake.listing]
                fake.listing = parents + shard_listing(4, prefix="shardId-child-")
                clock.advance(2.0)
            await producer.put(data, key)
    assert any(shard.startswith("shardId-child-") for shard in fake.stored)
    # What a reader that drops records outside its shard's hash range (the KCL) sees, parents first.
    seen: dict[str, list[bytes]] = {}
    for shard in fake.listing:
        low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        for pk, data, _ in fake.stored.get(shard["ShardId"], []):
            if low <= int.from_bytes(hashlib.md5(pk.encode()).digest(), "big") <= high:
                seen.setdefault(pk, []).append(data)
    assert seen == expected_by_key(records)
    assert producer.stats.records_sent == 2000


async def test_a_fatal_error_stops_the_producer_and_reports_every_held_record():
    class Forbidden(FakeKinesis):
        async def put_records(self, StreamName, Records):
            raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                                                  "PutRecords")

    producer = KinesisProducer(ProducerConfig("s"), client=Forbidden(1), clock=FakeClock(),
                               registry=CollectorRegistry())
    for i in range(5):
        await producer.put(b"x", f"k{i}")
    with pytest.raises(ProducerError, match="AccessDeniedException") as caught:
        await producer.close()
    assert len(caught.value.failures) == 5
    with pytest.raises(ProducerError, match="stopped"):
        await producer.put(b"x", "k")


async def test_missing_stream_is_a_clear_error():
    class NoStream(FakeKinesis):
        async def list_shards(self, **kwargs):
            raise botocore.exceptions.ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "?"}},
                                                  "ListShards")

    with pytest.raises(ProducerError, match="'missing' does not exist"):
        async with KinesisProducer(ProducerConfig("missing"), client=NoStream(1), registry=CollectorRegistry()):
            pass


async def test_unreachable_endpoint_names_the_variable():
    url = f"http://127.0.0.1:{free_port()}"
    env = {"AWS_ENDPOINT_URL_KINESIS": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_REGION": "us-east-1"}
    with patched_environ(env):
        producer = KinesisProducer(ProducerConfig("s"), registry=CollectorRegistry())
        with pytest.raises(EndpointUnreachable, match="AWS_ENDPOINT_URL_KINESIS") as caught:
            await producer.put(b"x", "k")
        assert url in str(caught.value)
        await producer.close()


@pytest.mark.parametrize("key, ehk, error", [
    ("", None, "partition key"), ("k" * 257, None, "partition key"),
    ("k", "-1", "explicit hash key"), ("k", str(2**128), "explicit hash key"), ("k", "0x10", "explicit hash key"),
    ("k", "007", "explicit hash key"), ("k", "²", "explicit hash key"),
])
async def test_invalid_keys_are_refused(key, ehk, error):
    producer = KinesisProducer(ProducerConfig("s"), client=FakeKinesis(1), clock=FakeClock(),
                               registry=CollectorRegistry())
    with pytest.raises(ValueError, match=error):
        await producer.put(b"x", key, ehk)
    await producer.close()


async def test_a_lone_aggregated_record_leaves_after_its_linger_without_a_flush():
    """The sender sleeps when nothing is due; a new aggregate must wake it to start its linger (a trickle of
    records waited for the next put or flush: p50 613 ms in the agent's latency run)."""
    fake = FakeKinesis(2, aggregate=True)
    config = ProducerConfig("s", aggregate=True, linger_s=0.02)
    async with KinesisProducer(config, client=fake, registry=CollectorRegistry()) as producer:
        await asyncio.sleep(0.05)  # the sender is idle now
        await producer.put(b"one", "key-1")
        for _ in range(100):
            if fake.stored:
                break
            await asyncio.sleep(0.01)
        assert fake.stored, "the record waited for a flush"
