"""The event-sourcing Flink job keeps each aggregate's state under its bucket: a restore with another
``apply.buckets`` would look for it in the wrong one, so it fails, naming the count the state was kept in; and what
it stores of an aggregate is what a restore reads back."""
import pickle
from decimal import Decimal

import pytest

from jobs.flink.eventsourcing_job import ApplyEvents, _Bucket, _Entry, _LruCache
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.config import EventSourcingConfig


class Kept:
    """A ValueState holding what a checkpoint restored."""

    def __init__(self, stored: bytes | None) -> None:
        self.stored = stored

    def value(self) -> bytes | None:
        return self.stored


def apply_events(buckets: int, stored: bytes | None) -> ApplyEvents:
    apply = ApplyEvents(EventSourcingConfig(), "events", 10, True, 1_000, buckets)
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
    """A MapState: put and get."""

    def put(self, key, value) -> None:
        self[key] = value


def test_an_aggregate_and_its_unsent_deltas_read_back_from_keyed_state_as_they_were_stored():
    apply = apply_events(32, None)
    apply.aggregates, apply.cache, apply._dumps = KeptMap(), _LruCache(0), pickle.dumps  # no cache: as restored
    aggregate = Aggregate({"balance": "10.50", "owner": "o", "branch": "north"}, version=3, updated_at=7)
    apply._store("acct-1", _Entry(aggregate, projected=2, pending={"north": Decimal("-0.10"), "south": Decimal(5)}))
    loaded = apply._load("acct-1")
    assert (loaded.aggregate, loaded.projected, loaded.pending) == (
        aggregate, 2, {"north": Decimal("-0.10"), "south": Decimal(5)})
    assert all(type(delta) is Decimal for delta in loaded.pending.values())
    assert apply._load("acct-2") is None
