"""Shard lineage: which shards of a stream may be read now.

Pure logic, no I/O.  Resharding closes a shard and opens children: a split
gives one parent two children, a merge gives two parents one child.  Records
for a key move from parent to child at the split/merge point, so per-key order
holds only if a parent is read to its end (SHARD_END, checkpointed) before any
of its children.  A parent that ListShards no longer returns has been trimmed
(retention passed): nothing is left to read there, so it no longer blocks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Any, Iterable, Mapping

TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
INITIAL_POSITIONS = (TRIM_HORIZON, LATEST, AT_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One shard as ListShards describes it."""

    shard_id: str
    parent_shard_id: str | None = None
    adjacent_parent_shard_id: str | None = None
    ending_sequence_number: str | None = None
    """Set once the shard is closed (split or merged away); None while open."""

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent_shard_id, self.adjacent_parent_shard_id) if p)

    @property
    def closed(self) -> bool:
        return self.ending_sequence_number is not None

    @classmethod
    def from_api(cls, shard: Mapping[str, Any]) -> "ShardInfo":
        """Build from one entry of ListShards' ``Shards``."""
        return cls(
            shard_id=shard["ShardId"],
            parent_shard_id=shard.get("ParentShardId"),
            adjacent_parent_shard_id=shard.get("AdjacentParentShardId"),
            ending_sequence_number=shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"),
        )


class ShardLineage:
    """The parent/child graph of a stream's shards, as of the last discovery."""

    def __init__(self, shards: Iterable[ShardInfo] = ()) -> None:
        self.shards: dict[str, ShardInfo] = {s.shard_id: s for s in shards}

    def update(self, shards: Iterable[ShardInfo]) -> None:
        """Replace with a fresh listing; shards missing from it are trimmed."""
        self.shards = {s.shard_id: s for s in shards}

    def __contains__(self, shard_id: str) -> bool:
        return shard_id in self.shards

    def children(self, shard_id: str) -> list[str]:
        return sorted(s.shard_id for s in self.shards.values() if shard_id in s.parents)

    def readable(self, finished: AbstractSet[str], started: AbstractSet[str] = frozenset()) -> list[str]:
        """Shards that may be read now, sorted by id.

        ``finished``: shards whose SHARD_END has been checkpointed.  ``started``:
        shards with a checkpoint; they were readable when first read, so a
        parent's state (e.g. not yet listed as trimmed) cannot block them again.
        """
        ready = []
        for shard in self.shards.values():
            if shard.shard_id in finished:
                continue
            if shard.shard_id in started or all(self._done(p, finished) for p in shard.parents):
                ready.append(shard.shard_id)
        return sorted(ready)

    def _done(self, parent: str, finished: AbstractSet[str]) -> bool:
        return parent in finished or parent not in self.shards

    def closed_at_start(self) -> set[str]:
        """Closed shards: what a fresh LATEST consumer skips (like the KCL, it starts at the open shards)."""
        return {s.shard_id for s in self.shards.values() if s.closed}

    def start_position(self, shard_id: str, initial: str, skipped: AbstractSet[str] = frozenset()) -> str:
        """Where to start a shard that has no checkpoint.

        ``initial`` applies to the shards there were when the consumer first
        started.  A child born later starts at TRIM_HORIZON whatever ``initial``
        says, or the records written to it between the reshard and its
        discovery would be lost (LATEST would skip them).
        """
        if initial != LATEST:
            return initial
        shard = self.shards.get(shard_id)
        if shard is None:
            return initial
        if any(p in self.shards and p not in skipped for p in shard.parents):
            return TRIM_HORIZON
        return initial
