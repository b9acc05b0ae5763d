"""Where a consumer records how far it got in each shard.

A checkpoint is a Kinesis sequence number plus a sub-sequence number: the
records packed into one KPL-aggregated Kinesis record share its sequence
number and are numbered 0..n-1 inside it, so a consumer can stop and resume in
the middle of an aggregate.  ``SHARD_END`` means the shard was read to its end
and its children may be read.

Stores: ``MemoryCheckpointStore`` (one process; built from a ``snapshot()``),
``FileCheckpointStore`` (one worker, survives restarts) and
``DynamoDBLeaseTable`` in ``leases.py`` (many workers share the shards).
"""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

from connectors.kinesis.shards import ShardInfo
from connectors.paths import atomic_write

SHARD_END = "SHARD_END"


class CheckpointError(RuntimeError):
    """A checkpoint store cannot be read or written; the message says what to do."""


class LeaseLostError(RuntimeError):
    """This worker no longer owns the shard's lease; another worker reads it now."""

    def __init__(self, shard_id: str) -> None:
        self.shard_id = shard_id
        super().__init__(f"lease for {shard_id} is owned by another worker; its checkpoint was not moved")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    sequence_number: str
    """A Kinesis sequence number, or SHARD_END."""
    sub_sequence_number: int = 0
    """Index inside a KPL-aggregated record (0 for plain records)."""

    @property
    def shard_end(self) -> bool:
        return self.sequence_number == SHARD_END

    def key(self) -> tuple[int, int]:
        """Order of positions in a shard; SHARD_END is after every record."""
        if self.shard_end:
            return (1 << 256, 0)
        return (int(self.sequence_number), self.sub_sequence_number)

    def covers(self, sequence_number: str, sub_sequence_number: int) -> bool:
        """True when the record at this position was already checkpointed (resume skips it)."""
        return (int(sequence_number), sub_sequence_number) <= self.key()

    def encode(self) -> str:
        return SHARD_END if self.shard_end else f"{self.sequence_number}:{self.sub_sequence_number}"

    @classmethod
    def decode(cls, text: str) -> "Checkpoint":
        if text == SHARD_END:
            return cls(SHARD_END)
        sequence, _, sub = text.partition(":")
        if not sequence.isdigit() or (sub and not sub.isdigit()):
            raise ValueError(f"not a checkpoint: expected SEQUENCE:SUB or {SHARD_END}")
        return cls(sequence, int(sub or 0))


END = Checkpoint(SHARD_END)


class CheckpointStore(Protocol):
    async def open(self) -> None:
        """Prepare (create the file or table if missing)."""

    async def close(self) -> None: ...

    async def load(self) -> dict[str, Checkpoint]:
        """Every shard's last checkpoint, including other workers' (their SHARD_END unblocks children)."""

    async def claim(self, candidates: Sequence[ShardInfo]) -> set[str]:
        """Take or renew leases among the readable ``candidates``; return the shard ids this worker owns."""

    async def checkpoint(self, shard_id: str, checkpoint: Checkpoint) -> None:
        """Record progress; raises LeaseLostError when another worker owns the shard."""

    async def release(self, shard_ids: Iterable[str]) -> None:
        """Give up leases (on shutdown) so another worker can take them at once."""


class MemoryCheckpointStore:
    """Checkpoints in a dict; one worker owns every shard.  Build one from ``KinesisConsumer.snapshot()``."""

    def __init__(self, snapshot: Mapping[str, str] | None = None) -> None:
        self.checkpoints = {k: Checkpoint.decode(v) for k, v in (snapshot or {}).items()}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def load(self) -> dict[str, Checkpoint]:
        return dict(self.checkpoints)

    async def claim(self, candidates: Sequence[ShardInfo]) -> set[str]:
        return {c.shard_id for c in candidates}

    async def checkpoint(self, shard_id: str, checkpoint: Checkpoint) -> None:
        self.checkpoints[shard_id] = checkpoint

    async def release(self, shard_ids: Iterable[str]) -> None:
        pass


class FileCheckpointStore(MemoryCheckpointStore):
    """Checkpoints in a JSON file, for one worker.

    Every write goes to a temporary file in the same folder, is fsynced and
    renamed over the old one: a crash leaves the old file or the new one,
    never half of one.
    """

    VERSION = 1

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.checkpoints = self.read()

    def read(self) -> dict[str, Checkpoint]:
        if not self.path.exists():
            return {}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if state.get("version") != self.VERSION or not isinstance(state.get("checkpoints"), dict):
                raise ValueError(f"expected version {self.VERSION} with a 'checkpoints' object")
            return {str(k): Checkpoint.decode(v) for k, v in state["checkpoints"].items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint file {self.path} is corrupt ({exc}); restore it from a backup, or delete it "
                "to restart from the configured initial position") from exc

    async def load(self) -> dict[str, Checkpoint]:
        return dict(self.checkpoints)

    async def checkpoint(self, shard_id: str, checkpoint: Checkpoint) -> None:
        async with self._lock:
            self.checkpoints[shard_id] = checkpoint
            text = json.dumps({"version": self.VERSION,
                               "checkpoints": {k: v.encode() for k, v in sorted(self.checkpoints.items())}},
                              indent=1)
            # fsync can take milliseconds on a busy disk: keep it off the event loop.
            await asyncio.to_thread(atomic_write, self.path, text.encode("utf-8"))
