import pytest

from connectors.kinesis.shards import ShardInfo, ShardLineage


def shard(shard_id, *parents, closed=False):
    return ShardInfo(shard_id, *(list(parents) + [None, None])[:2], ending_sequence_number="9" if closed else None)


SPLIT = [shard("P", closed=True), shard("C1", "P"), shard("C2", "P")]
MERGE = [shard("P1", closed=True), shard("P2", closed=True), shard("C", "P1", "P2")]
# A splits into B1, B2, which merge back into C, which splits into D1, D2.
CHAIN = [shard("A", closed=True), shard("B1", "A", closed=True), shard("B2", "A", closed=True),
         shard("C", "B1", "B2", closed=True), shard("D1", "C"), shard("D2", "C")]


@pytest.mark.parametrize("shards, finished, started, expected", [
    pytest.param([shard("S0"), shard("S1")], set(), set(), ["S0", "S1"], id="no-resharding"),
    pytest.param(SPLIT, set(), set(), ["P"], id="split-parent-first"),
    pytest.param(SPLIT, {"P"}, set(), ["C1", "C2"], id="split-children-after-parent-end"),
    pytest.param(MERGE, set(), set(), ["P1", "P2"], id="merge-both-parents-first"),
    pytest.param(MERGE, {"P1"}, set(), ["P2"], id="merge-waits-for-second-parent"),
    pytest.param(MERGE, {"P1", "P2"}, set(), ["C"], id="merge-child-after-both"),
    pytest.param(CHAIN, set(), set(), ["A"], id="chain-root"),
    pytest.param(CHAIN, {"A"}, set(), ["B1", "B2"], id="chain-second-generation"),
    pytest.param(CHAIN, {"A", "B1"}, set(), ["B2"], id="chain-merge-waits"),
    pytest.param(CHAIN, {"A", "B1", "B2"}, set(), ["C"], id="chain-merged"),
    pytest.param(CHAIN, {"A", "B1", "B2", "C"}, set(), ["D1", "D2"], id="chain-last-split"),
    pytest.param(CHAIN, {"A", "B1", "B2", "C", "D1", "D2"}, set(), [], id="chain-all-finished"),
    pytest.param([shard("C1", "P"), shard("C2", "P")], set(), set(), ["C1", "C2"], id="trimmed-parent"),
    pytest.param([shard("P2", closed=True), shard("C", "P1", "P2")], set(), set(), ["P2"],
                 id="merge-one-parent-trimmed-other-unread"),
    pytest.param([shard("P2", closed=True), shard("C", "P1", "P2")], {"P2"}, set(), ["C"],
                 id="merge-one-parent-trimmed-other-finished"),
    pytest.param(CHAIN[3:], set(), set(), ["C"], id="chain-trimmed-ancestors"),
    pytest.param(SPLIT, set(), {"C1"}, ["C1", "P"], id="started-child-stays-readable"),
])
def test_readable_shards(shards, finished, started, expected):
    assert ShardLineage(shards).readable(finished, started) == expected


@pytest.mark.parametrize("shards, skipped, shard_id, initial, expected", [
    pytest.param(SPLIT, set(), "P", "TRIM_HORIZON", "TRIM_HORIZON", id="trim-horizon-everywhere"),
    pytest.param(SPLIT, set(), "C1", "AT_TIMESTAMP", "AT_TIMESTAMP", id="timestamp-is-well-defined-on-children"),
    pytest.param(SPLIT, {"P"}, "C1", "LATEST", "LATEST", id="latest-child-open-at-start"),
    pytest.param(SPLIT, set(), "C1", "LATEST", "TRIM_HORIZON", id="latest-child-born-later-reads-all"),
    pytest.param(SPLIT, set(), "P", "LATEST", "LATEST", id="latest-root"),
    pytest.param([shard("C1", "P")], set(), "C1", "LATEST", "LATEST", id="latest-parent-trimmed"),
])
def test_start_position(shards, skipped, shard_id, initial, expected):
    assert ShardLineage(shards).start_position(shard_id, initial, skipped) == expected


def test_from_api_and_rediscovery():
    listing = [
        {"ShardId": "shardId-000000000000", "HashKeyRange": {},
         "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "5"}},
        {"ShardId": "shardId-000000000001", "ParentShardId": "shardId-000000000000",
         "SequenceNumberRange": {"StartingSequenceNumber": "6"}},
        {"ShardId": "shardId-000000000002", "ParentShardId": "shardId-000000000000",
         "AdjacentParentShardId": "shardId-000000000009", "SequenceNumberRange": {"StartingSequenceNumber": "7"}},
    ]
    lineage = ShardLineage(map(ShardInfo.from_api, listing))
    assert lineage.closed_at_start() == {"shardId-000000000000"}
    assert lineage.shards["shardId-000000000002"].parents == ("shardId-000000000000", "shardId-000000000009")
    assert lineage.children("shardId-000000000000") == ["shardId-000000000001", "shardId-000000000002"]
    assert lineage.readable(set()) == ["shardId-000000000000"]
    lineage.update(map(ShardInfo.from_api, listing[1:]))  # the parent was trimmed
    assert lineage.readable(set()) == ["shardId-000000000001", "shardId-000000000002"]
