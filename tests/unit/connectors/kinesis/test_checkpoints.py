import json

import pytest

from connectors.kinesis.checkpoints import END, Checkpoint, CheckpointError, FileCheckpointStore, MemoryCheckpointStore
from connectors.kinesis.shards import ShardInfo


async def test_file_store_round_trip(tmp_path):
    path = tmp_path / "state" / "checkpoints.json"
    store = FileCheckpointStore(path)
    await store.open()
    assert await store.load() == {}
    await store.checkpoint("shardId-1", Checkpoint("49590338271490256608559692538361571095921575989136588898", 3))
    await store.checkpoint("shardId-0", END)
    await store.checkpoint("shardId-1", Checkpoint("49590338271490256608559692538361571095921575989136588899", 0))
    await store.close()

    reopened = FileCheckpointStore(path)
    await reopened.open()
    assert await reopened.load() == {
        "shardId-0": END,
        "shardId-1": Checkpoint("49590338271490256608559692538361571095921575989136588899", 0)}
    assert await reopened.claim([ShardInfo("shardId-1"), ShardInfo("shardId-2")]) == {"shardId-1", "shardId-2"}
    assert [p.name for p in path.parent.iterdir()] == ["checkpoints.json"]  # no temp files left behind


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"version": 99, "checkpoints": {}}),
    json.dumps({"version": 1, "checkpoints": {"shardId-0": "not-a-sequence"}}),
    json.dumps({"version": 1, "checkpoints": ["shardId-0"]}),
    json.dumps(["version", 1]),
])
async def test_corrupt_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "checkpoints.json"
    path.write_text(content)
    with pytest.raises(CheckpointError, match="checkpoints.json is corrupt.*delete it"):
        await FileCheckpointStore(path).open()


@pytest.mark.parametrize("checkpoint, record, covered", [
    (Checkpoint("100", 2), ("100", 2), True),
    (Checkpoint("100", 2), ("100", 3), False),
    (Checkpoint("100", 2), ("99", 7), True),
    (Checkpoint("100", 0), ("101", 0), False),
    (END, ("123456789012345678901234567890123456789012345678901234", 9), True),
])
def test_sub_sequence_order(checkpoint, record, covered):
    assert checkpoint.covers(*record) is covered
    assert Checkpoint.decode(checkpoint.encode()) == checkpoint


def test_memory_store_from_snapshot():
    store = MemoryCheckpointStore({"shardId-0": "17:4", "shardId-1": "SHARD_END"})
    assert store.checkpoints == {"shardId-0": Checkpoint("17", 4), "shardId-1": END}
