"""Shard leases and checkpoints in DynamoDB, shared by the workers of one application.

One item per shard (the KCL's lease table layout): ``leaseKey`` (shard id),
``checkpoint`` and ``subSequence``, ``leaseOwner``, ``leaseCounter`` and
``parentShardIds``.  Every write is conditional, so two workers never both
own a shard and a worker whose lease was taken cannot move its checkpoint:

- create: ``attribute_not_exists(leaseKey)``;
- take:   ``leaseCounter = :observed`` (nobody renewed it since we looked);
- renew, checkpoint, release: ``leaseOwner = :me AND leaseCounter = :held``.

Expiry uses no shared clock: like the KCL, a worker notes when it first saw a
lease's counter at a value, and if the counter has not moved for
``failover_s`` on its own (injected) clock, the owner is presumed dead.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from connectors.aws import CONNECTION_ERRORS, AwsConfig, error_code, unreachable
from connectors.clients import LazyClient
from connectors.kinesis.checkpoints import Checkpoint, LeaseLostError
from connectors.kinesis.shards import ShardInfo
from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.kinesis.leases")
_MINE = "leaseOwner = :me AND leaseCounter = :held"


@dataclass(frozen=True)
class LeaseTableConfig:
    failover_s: float = 10.0
    """A lease whose counter has not moved for this long (this worker's clock) may be taken."""
    renew_interval_s: float = 3.0
    """How often held leases are renewed; keep well under failover_s.  Renewal runs on the consumer's
    discovery ticks, so ConsumerConfig.discovery_interval_s must also be well under failover_s."""
    max_leases_to_steal: int = 1
    """Leases taken per claim from an over-loaded worker; small steps avoid ping-pong."""
    table_timeout_s: float = 60.0
    """How long to wait for a new table to become ACTIVE."""
    aws: AwsConfig = field(default_factory=AwsConfig)
    """Client settings for the DynamoDB client the lease table builds."""


@dataclass
class Lease:
    key: str
    counter: int
    owner: str | None
    checkpoint: Checkpoint | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Lease":
        cp = item.get("checkpoint", {}).get("S")
        sub = int(item.get("subSequence", {}).get("N", "0"))
        return cls(item["leaseKey"]["S"], int(item["leaseCounter"]["N"]),
                   item.get("leaseOwner", {}).get("S"), Checkpoint(cp, sub) if cp else None)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class DynamoDBLeaseTable:
    """A CheckpointStore that balances shards between workers through conditional writes."""

    def __init__(self, table_name: str, *, worker_id: str | None = None,
                 config: LeaseTableConfig = LeaseTableConfig(), client: Any = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.table_name = table_name
        self.worker_id = worker_id or default_worker_id()
        self.config = config
        self._client = LazyClient("dynamodb", client, config.aws)
        self._clock = clock
        self._held: dict[str, int] = {}        # shard id -> counter after our last write
        self._renewed: dict[str, float] = {}   # shard id -> monotonic time of that write
        self._seen: dict[str, tuple[int, float]] = {}  # shard id -> (counter, first seen at)
        self._lock = asyncio.Lock()            # our own writes to one lease must not race each other

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        ddb = await self._client.get()
        try:
            await ddb.describe_table(TableName=self.table_name)
            return
        except CONNECTION_ERRORS as exc:
            raise unreachable("dynamodb", exc) from exc
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != "ResourceNotFoundException":
                raise
        try:
            await ddb.create_table(
                TableName=self.table_name, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}])
            log.info("event=lease_table_created table=%s", self.table_name)
        except Exception as exc:  # noqa: BLE001 - another worker created it first
            if error_code(exc) != "ResourceInUseException":
                raise
        deadline = self._clock.monotonic() + self.config.table_timeout_s
        while self._clock.monotonic() < deadline:
            table = await ddb.describe_table(TableName=self.table_name)
            if table["Table"]["TableStatus"] == "ACTIVE":
                return
            await self._clock.sleep(0.2)
        raise TimeoutError(f"lease table {self.table_name} not ACTIVE after {self.config.table_timeout_s:.0f}s")

    async def close(self) -> None:
        await self._client.close()

    # -- reads -------------------------------------------------------------
    async def leases(self) -> dict[str, Lease]:
        ddb = await self._client.get()
        out: dict[str, Lease] = {}
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            page = await ddb.scan(**kwargs)
            out.update((lease.key, lease) for lease in map(Lease.from_item, page.get("Items", [])))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def load(self) -> dict[str, Checkpoint]:
        return {k: lease.checkpoint for k, lease in (await self.leases()).items() if lease.checkpoint}

    # -- conditional writes ------------------------------------------------
    async def create(self, shard: ShardInfo) -> bool:
        item: dict[str, Any] = {"leaseKey": {"S": shard.shard_id}, "leaseCounter": {"N": "0"}}
        if shard.parents:
            item["parentShardIds"] = {"SS": list(shard.parents)}
        return await self._write("put_item", Item=item, ConditionExpression="attribute_not_exists(leaseKey)")

    async def take(self, shard_id: str, observed_counter: int) -> bool:
        """Take a free or expired lease; False when someone touched it since ``observed_counter``."""
        async with self._lock:
            ok = await self._update(shard_id, "SET leaseOwner = :me, leaseCounter = :next",
                                    "leaseCounter = :held", observed_counter)
            if ok:
                self._hold(shard_id, observed_counter + 1)
            return ok

    async def renew(self, shard_id: str) -> bool:
        async with self._lock:
            held = self._held.get(shard_id)
            if held is not None and await self._update(shard_id, "SET leaseCounter = :next", _MINE, held):
                self._hold(shard_id, held + 1)
                return True
            self._drop(shard_id)
            return False

    async def checkpoint(self, shard_id: str, checkpoint: Checkpoint) -> None:
        async with self._lock:
            held = self._held.get(shard_id)
            values = {":cp": {"S": checkpoint.sequence_number},
                      ":sub": {"N": str(checkpoint.sub_sequence_number)}}
            if held is None or not await self._update(
                    shard_id, "SET #cp = :cp, subSequence = :sub, leaseCounter = :next", _MINE, held,
                    values):
                self._drop(shard_id)
                raise LeaseLostError(shard_id)
            self._hold(shard_id, held + 1)

    async def release(self, shard_ids: Iterable[str]) -> None:
        for shard_id in list(shard_ids):
            async with self._lock:
                held = self._held.get(shard_id)
                if held is not None:
                    await self._update(shard_id, "REMOVE leaseOwner SET leaseCounter = :next", _MINE, held)
                self._drop(shard_id)

    # -- balancing ---------------------------------------------------------
    async def claim(self, candidates: Sequence[ShardInfo]) -> set[str]:
        """Renew what we hold, take free or expired leases, steal one if the load is uneven."""
        wanted = {c.shard_id: c for c in candidates}
        leases = await self.leases()
        for shard_id in wanted.keys() - leases.keys():
            if await self.create(wanted[shard_id]):
                leases[shard_id] = Lease(shard_id, 0, None, None)
        now = self._clock.monotonic()
        for lease in leases.values():
            seen = self._seen.get(lease.key)
            if seen is None or seen[0] != lease.counter:
                self._seen[lease.key] = (lease.counter, now)
        for shard_id in list(self._held):
            if shard_id not in wanted or leases.get(shard_id, Lease("", 0, None, None)).owner != self.worker_id:
                self._drop(shard_id)  # finished, or taken by another worker
            elif now - self._renewed.get(shard_id, now) >= self.config.renew_interval_s:
                await self.renew(shard_id)

        live = {k: l for k, l in leases.items() if k in wanted}
        owners: dict[str, list[str]] = {}
        free = []
        for key, lease in sorted(live.items()):
            if lease.owner == self.worker_id and key in self._held:
                continue
            # Ours from an earlier life (same worker id), free, or not renewed for failover_s.
            if lease.owner in (None, self.worker_id) or now - self._seen[key][1] >= self.config.failover_s:
                free.append(key)
            else:
                owners.setdefault(lease.owner, []).append(key)
        target = math.ceil(len(live) / (len(owners.keys() - {self.worker_id}) + 1)) if live else 0
        for key in free:
            if len(self._held) >= target:
                break
            await self.take(key, live[key].counter)
        stolen = 0
        while len(self._held) < target and stolen < self.config.max_leases_to_steal and owners:
            victim = max(owners, key=lambda o: len(owners[o]))
            if len(owners[victim]) <= target:
                break
            key = owners[victim].pop()
            if await self.take(key, live[key].counter):
                log.info("event=lease_stolen shard_id=%s from_load=%d target=%d", key, len(owners[victim]) + 1, target)
            stolen += 1
        return set(self._held)

    # -- helpers -----------------------------------------------------------
    def _hold(self, shard_id: str, counter: int) -> None:
        self._held[shard_id] = counter
        self._renewed[shard_id] = self._clock.monotonic()

    def _drop(self, shard_id: str) -> None:
        self._held.pop(shard_id, None)
        self._renewed.pop(shard_id, None)

    async def _update(self, shard_id: str, update: str, condition: str, held: int,
                      values: dict[str, Any] | None = None) -> bool:
        names = {":me": {"S": self.worker_id}, ":held": {"N": str(held)}, ":next": {"N": str(held + 1)}}
        used = {k: v for k, v in names.items() if k in update or k in condition}
        extra: dict[str, Any] = {"ExpressionAttributeNames": {"#cp": "checkpoint"}} if "#cp" in update else {}
        return await self._write(
            "update_item", Key={"leaseKey": {"S": shard_id}}, UpdateExpression=update,
            ConditionExpression=f"attribute_exists(leaseKey) AND {condition}",
            ExpressionAttributeValues={**used, **(values or {})}, **extra)

    async def _write(self, operation: str, **kwargs: Any) -> bool:
        ddb = await self._client.get()
        try:
            await getattr(ddb, operation)(TableName=self.table_name, **kwargs)
            return True
        except CONNECTION_ERRORS as exc:
            raise unreachable("dynamodb", exc) from exc
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
