"""The event-sourcing Flink job keeps each aggregate's state under its bucket: a restore with another
``apply.buckets`` would look for it in the wrong one, so it fails, naming the count the state was kept in; what
it stores of an aggregate (and a bucket of its unsent deltas) is what a restore reads back, older state
included; and a new aggregate's first event reads no state."""
import pickle
from decimal import Decimal

import pytest

from jobs.flink.eventsourcing_job import ApplyEvents, _Bucket, _LruCache
from jobs.flink.eventsourcing_keyed import KnownIds
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.config import EventSourcingConfig


class Kept:
    """A ValueState holding what a checkpoint restored."""

    def __init__(self, stored: bytes | None) -> None:
        self.stored = stored

    def value(self) -> bytes | None:
        return self.stored


def apply_events(buckets: int, stored: bytes | None, known_ids: int = 0) -> ApplyEvents:
    apply = ApplyEvents(EventSourcingConfig(), "events", 10, True, 1_000, buckets, known_ids)
    apply.bucket_state, apply.buckets, apply._loads = Kept(stored), {}, pickle.loads  # what open() sets
    return apply


def test_a_restore_with_another_bucket_count_fails_naming_the_count_the_state_was_kept_in():
    kept = pickle.dumps(_Bucket({"acct-1": None}, buckets=32).state())
    assert list(apply_events(32, kept)._bucket(5).dirty) == ["acct-1"]
    with pytest.raises(ValueError, match=r"apply.buckets is 64, but the state restored was kept in 32 buckets: "
                                         r"restore with apply.buckets=32"):
        apply_events(64, kept)._bucket(5)


def test_a_bucket_s_state_records_the_count_it_was_kept_in():
    bucket = apply_events(16, None)._bucket(3)
    assert _Bucket(*pickle.loads(pickle.dumps(bucket.state()))).buckets == 16


class KeptMap(dict):
    """A MapState: put, get (counted: each is a round trip to the JVM) and keys."""

    gets = 0

    def put(self, key, value) -> None:
        self[key] = value

    def get(self, key, default=None):
        self.gets += 1
        return super().get(key, default)


def test_an_aggregate_and_its_bucket_s_unsent_deltas_read_back_from_keyed_state_as_they_were_stored():
    apply = apply_events(32, None)
    apply.aggregates, apply.cache, apply._dumps = KeptMap(), _LruCache(0), pickle.dumps  # no cache: as restored
    apply.known, apply.bucket_id = KnownIds(0), None
    aggregate = Aggregate({"balance": "10.50", "owner": "o", "branch": "north"}, version=3, updated_at=7)
    apply._store("acct-1", aggregate)
    assert apply._load("acct-1") == aggregate
    assert apply._load("acct-2") is None
    bucket = _Bucket({"acct-1": None}, pending={"north": Decimal("-0.10"), "south": Decimal(5)}, buckets=32)
    kept = _Bucket(*pickle.loads(pickle.dumps(bucket.state())))
    assert (kept.dirty, kept.pending) == ({"acct-1": None}, {"north": Decimal("-0.10"), "south": Decimal(5)})
    assert all(type(delta) is Decimal for delta in kept.pending.values())


def test_an_aggregate_kept_with_its_own_unsent_deltas_moves_them_to_its_bucket_once():
    """State from before the bucket kept the deltas: ``(state, version sent, deltas not sent)`` an aggregate."""
    kept = KeptMap()
    aggregate = Aggregate({"balance": "10.50", "owner": "o", "branch": "north"}, version=3, updated_at=7)
    kept["acct-1"] = pickle.dumps((aggregate.to_state(), 2, {"north": "-0.10"}))
    apply = restored(0, kept)
    apply.bucket_state = Kept(pickle.dumps(_Bucket({"acct-1": None}, buckets=32).state()[:5]))  # the old bucket
    written = []
    apply._store_bucket = lambda bucket: written.append(bucket.state())
    bucket = apply._enter(5)
    assert apply._load("acct-1") == aggregate and bucket.pending == {"north": Decimal("-0.10")}
    apply.cache.clear()
    assert apply._load("acct-1") == aggregate and bucket.pending == {"north": Decimal("-0.10")}  # counted once
    assert pickle.loads(kept["acct-1"]) == aggregate.to_state() and written[-1][5] == {"north": "-0.10"}


def restored(known_ids: int, kept: KeptMap) -> ApplyEvents:
    """An ApplyEvents as a restore opens it: state in ``kept``, an empty cache, no ids known yet."""
    apply = apply_events(32, None, known_ids)
    apply.aggregates, apply.cache, apply._dumps = kept, _LruCache(0), pickle.dumps
    apply.known, apply.bucket_id = KnownIds(known_ids), None
    return apply


def test_a_new_aggregate_reads_no_state_once_its_bucket_s_ids_are_known():
    kept = KeptMap()
    restored(0, kept)._store("acct-1", Aggregate({"balance": "1"}, version=1))
    apply = restored(100, kept)
    apply._enter(5)
    assert apply._load("acct-1").version == 1 and kept.gets == 1  # known: read
    assert apply._load("acct-2") is None and kept.gets == 1  # new: nothing to read
    apply._store("acct-2", Aggregate({"balance": "2"}, version=1))
    apply.cache.clear()
    assert apply._load("acct-2").version == 1 and kept.gets == 2  # stored since: known, read
    without = restored(0, kept)
    without._enter(5)
    assert without._load("acct-3") is None and kept.gets == 3  # ids not kept: every miss is read


def test_known_ids_past_the_limit_drop_a_bucket_s_set_rather_than_miss_an_id():
    known = KnownIds(3)
    assert known.of(1, lambda: iter(["a", "b"])) == {"a", "b"}
    assert known.of(1, lambda: iter(["never read again"])) == {"a", "b"}
    assert known.add(1, "c") == {"a", "b", "c"} and known.count == 3
    assert known.is_new(1, "z") and not known.is_new(1, "c") and not known.is_new(9, "z")  # 9: never read
    assert known.add(1, "d") is None and known.of(1, lambda: iter([])) is None  # dropped, not cut short
    assert known.count == 0 and not known.is_new(1, "z")  # a dropped set says nothing: its ids are read
    assert known.of(2, lambda: iter(["e", "f", "g", "h"])) is None  # too many to keep from the start
    assert known.of(3, lambda: iter(["i"])) == {"i"} and known.add(3, "i") == {"i"} and known.count == 1
    assert KnownIds(0).of(1, lambda: iter(["a"])) is None
