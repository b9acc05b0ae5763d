"""ShardMap lookups and ShardPacer token buckets (pure logic, fake clock)."""
import pytest

from connectors.kinesis.aggregation import hash_key
from connectors.kinesis.routing import ShardMap, ShardPacer
from pipelines.clock import FakeClock

TOP = 2**128 - 1


def listing(*ranges, closed=()):
    return [{"ShardId": shard_id, "HashKeyRange": {"StartingHashKey": str(low), "EndingHashKey": str(high)},
             "SequenceNumberRange": {"StartingSequenceNumber": "1",
                                     **({"EndingSequenceNumber": "2"} if shard_id in closed else {})}}
            for shard_id, low, high in ranges]


@pytest.mark.parametrize("key_hash, shard", [(0, "a"), (2**127 - 1, "a"), (2**127, "b"), (TOP, "b")])
def test_shard_for_follows_hash_key_ranges(key_hash, shard):
    shard_map = ShardMap.from_list_shards(listing(("b", 2**127, TOP), ("a", 0, 2**127 - 1)))
    assert shard_map.shard_for(key_hash) == shard


def test_closed_shards_are_left_out_and_maps_compare_by_ranges():
    parent_and_children = listing(("p", 0, TOP), ("c1", 0, 2**127 - 1), ("c2", 2**127, TOP), closed=("p",))
    shard_map = ShardMap.from_list_shards(parent_and_children)
    assert shard_map.shard_ids == ["c1", "c2"]
    assert shard_map == ShardMap.from_list_shards(list(reversed(parent_and_children)))
    assert shard_map != ShardMap.from_list_shards(listing(("p", 0, TOP)))
    with pytest.raises(ValueError):
        ShardMap.from_list_shards(listing(("p", 0, TOP), closed=("p",)))


def test_hash_key_is_the_md5_of_the_partition_key_as_kinesis_computes_it():
    # md5("a") = 0cc175b9c0f1b6a831c399e269772661
    assert hash_key("a") == 0x0CC175B9C0F1B6A831C399E269772661


def test_pacer_allows_the_burst_then_the_rate():
    clock = FakeClock()
    pacer = ShardPacer(records_per_s=100, bytes_per_s=10_000, burst_s=0.5, clock=clock)
    assert pacer.allowance("s") == 50
    pacer.spend("s", 50, 100)
    assert pacer.allowance("s") == 0 and pacer.wait_s("s") == pytest.approx(0.01, rel=1e-3)
    clock.advance(0.1)
    assert pacer.allowance("s") == 10
    clock.advance(100)
    assert pacer.allowance("s") == 50  # never more than the burst


def test_byte_debt_blocks_the_shard_until_repaid():
    clock = FakeClock()
    pacer = ShardPacer(records_per_s=1000, bytes_per_s=1_000_000, burst_s=0.1, clock=clock)
    pacer.spend("s", 1, 1_048_576)  # one 1 MiB record against a 100 kB burst
    assert pacer.allowance("s") == 0
    assert pacer.wait_s("s") == pytest.approx(0.948576)
    clock.advance(0.95)
    assert pacer.allowance("s") > 0
    assert pacer.allowance("other") == 100  # shards are paced apart
