"""The event-sourcing projection store in DynamoDB: one item per aggregate, and the totals per group.

Every engine writes the same items, so ``shardline es state`` reads any of them:

    projection table (key aggregate_id)   aggregate_id S, version N, status S, state S (JSON text, sorted keys),
                                          occurred_at N (epoch ms of the last event applied)
    totals table (key group)              group S, total N (for the bank: the balance of a branch's accounts)

Writes only go forward, by a condition on ``version``, so a replay or a slow worker never puts an older state
over a newer one:

- ``ProjectionWriter`` (the local runner, whose state is in memory and in its snapshots): a put applies only
  where the item is absent or older; an older one is skipped and counted.  Totals are whole puts of the
  pattern's exact sums.
- ``AggregateStore`` (the KCL processor, whose state *is* this table): each aggregate also keeps its
  bookkeeping (remembered ids, held events) and is written only over the version it was read at, in one
  transaction with its group's total (``ADD`` of the change): optimistic concurrency.  A worker that lost
  its lease to another and writes late fails the condition (``StaleAggregateError``) instead of undoing the
  other's work, and the total moves exactly when the aggregate does.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

from connectors.aws import error_code, is_throttling
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.pattern import StateChanged

PROJECTION_KEY = "aggregate_id"
TOTALS_KEY = "group"
CONCURRENCY = 16
"""Puts in flight at once (each a thread: the processor's loop is not blocked)."""
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 3 * 1024 * 1024
"""Below TransactWriteItems' 4 MB, for the attributes this estimate leaves out."""
MAX_ATTEMPTS = 8


class StaleAggregateError(RuntimeError):
    """An aggregate's item moved on since this worker read it: another worker owns the aggregate now."""


def state_json(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def projection_item(changed: StateChanged) -> dict[str, Any]:
    """The item of ``changed`` in DynamoDB's typed form."""
    item = {PROJECTION_KEY: {"S": changed.aggregate_id}, "version": {"N": str(changed.version)},
            "state": {"S": state_json(changed.state)}, "occurred_at": {"N": str(changed.occurred_at)}}
    if changed.status is not None:
        item["status"] = {"S": str(changed.status)}
    return item


def state_line_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``shardline es run --output`` writes a projection (``aggregate_id``, ``version``, ``state``,
    ``status``)."""
    return {"aggregate_id": item[PROJECTION_KEY]["S"], "version": int(item["version"]["N"]),
            "state": json.loads(item["state"]["S"]), "status": item.get("status", {}).get("S")}


def create_tables(client: Any, projection_table: str, totals_table: str | None = None) -> None:
    """Create the tables (on-demand capacity) and wait for them; an existing one is left as it is."""
    for table, key in ((projection_table, PROJECTION_KEY), (totals_table, TOTALS_KEY)):
        if not table:
            continue
        try:
            client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
        except client.exceptions.ResourceInUseException:
            continue
        # dynalite, like DynamoDB, creates a table CREATING; the default wait between checks is 20 s.
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})


def read_projection(client: Any, table: str, aggregate_id: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=table, Key={PROJECTION_KEY: {"S": aggregate_id}}, ConsistentRead=True)
    return state_line_of(item["Item"]) if "Item" in item else None


def scan_items(client: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", ())


def read_projections(client: Any, table: str) -> list[dict[str, Any]]:
    """Every aggregate's projection, by aggregate id."""
    return sorted(map(state_line_of, scan_items(client, table)), key=lambda line: line["aggregate_id"])


def read_totals(client: Any, table: str) -> dict[str, Decimal]:
    return dict(sorted((item[TOTALS_KEY]["S"], Decimal(item["total"]["N"])) for item in scan_items(client, table)))


async def _call(call, *args: Any, idempotent: bool = False, **kwargs: Any) -> Any:
    """A boto3 call in a thread, retried with backoff while DynamoDB throttles; ``idempotent`` (a transaction with
    its ClientRequestToken) also after a timeout, which may or may not have applied it."""
    import botocore.exceptions

    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only throttling is retried; the rest is the caller's
            retry = is_throttling(exc) or error_code(exc) == "TransactionConflictException" or (
                idempotent and isinstance(exc, (botocore.exceptions.ReadTimeoutError,
                                                botocore.exceptions.ConnectionClosedError)))
            if not retry or attempt == MAX_ATTEMPTS:
                raise
        await asyncio.sleep(min(2.0, 0.05 * 2 ** attempt))


async def _each(calls: Iterable[Any]) -> list[Any]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def run(call):
        async with limit:
            return await call

    return await asyncio.gather(*(run(call) for call in calls))


class ProjectionWriter:
    """Forward-only upserts of projections, and whole puts of totals (the local runner's projection store)."""

    def __init__(self, projection_table: str, totals_table: str | None = None, client: Any = None) -> None:
        from connectors.aws import client as new_client

        self.projection_table = projection_table
        self.totals_table = totals_table
        self.dynamodb = client or new_client("dynamodb")
        self.stale = 0
        """Puts skipped because the item held a newer version already (a replay)."""
        self._transactions = True
        """False once the DynamoDB answered that it has none (dynalite)."""

    async def write(self, changes: Iterable[StateChanged]) -> None:
        """The newest of ``changes`` per aggregate, in transactions of up to 100 conditional puts (one call, not
        100: a put per call was most of the local runner's CPU, 1 ms an event).  A transaction a stale item
        cancels (a replay), or a DynamoDB without transactions (dynalite), falls back to a put per item."""
        latest: dict[str, StateChanged] = {}
        for changed in changes:
            latest[changed.aggregate_id] = changed
        chunk: list[StateChanged] = []
        for changed in latest.values():
            chunk.append(changed)
            if len(chunk) == MAX_TRANSACTION_ITEMS:
                await self._write_chunk(chunk)
                chunk = []
        if chunk:
            await self._write_chunk(chunk)

    async def _write_chunk(self, chunk: list[StateChanged]) -> None:
        if len(chunk) > 1 and self._transactions:
            try:
                await _call(self.dynamodb.transact_write_items, idempotent=True,
                            ClientRequestToken=uuid.uuid4().hex,
                            TransactItems=[{"Put": {"TableName": self.projection_table, **self._forward(changed)}}
                                           for changed in chunk])
                return
            except Exception as exc:  # noqa: BLE001
                code = error_code(exc)
                if code == "UnknownOperationException":
                    self._transactions = False
                elif code != "TransactionCanceledException":
                    raise
        await _each(self._put(changed) for changed in chunk)

    async def write_totals(self, totals: dict[str, Decimal]) -> None:
        if self.totals_table:
            await _each(_call(self.dynamodb.put_item, TableName=self.totals_table,
                              Item={TOTALS_KEY: {"S": group}, "total": {"N": str(total)}})
                        for group, total in totals.items())

    @staticmethod
    def _forward(changed: StateChanged) -> dict[str, Any]:
        """The put of ``changed`` that applies only over an older version (or no item)."""
        return {"Item": projection_item(changed),
                "ConditionExpression": "attribute_not_exists(#key) OR version < :version",
                "ExpressionAttributeNames": {"#key": PROJECTION_KEY},
                "ExpressionAttributeValues": {":version": {"N": str(changed.version)}}}

    async def _put(self, changed: StateChanged) -> None:
        try:
            await _call(self.dynamodb.put_item, TableName=self.projection_table, **self._forward(changed))
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self.stale += 1


@dataclass
class Loaded:
    """An aggregate as this worker last read or wrote it: the version its next write is conditional on."""

    version: int
    state: dict[str, Any] | None
    """The state it was read or written with (what its totals' share is measured from)."""
    exists: bool = True
    """False until the aggregate's first write: that write is conditional on there being no item."""


class AggregateStore:
    """The projection table as the KCL processor's state: aggregates read on first sight, written back over the
    version they were read at, each in one transaction with its group's total."""

    def __init__(self, projection_table: str, totals_table: str | None, *,
                 total_changes: Callable[[dict[str, Any] | None, dict[str, Any] | None], dict[str, Decimal]],
                 client: Any = None) -> None:
        """``total_changes``: what the totals gain per group when an aggregate's state changes
        (``EventSourcingPattern.total_changes``)."""
        from connectors.aws import client as new_client

        self.projection_table = projection_table
        self.totals_table = totals_table
        self.total_changes = total_changes
        self.dynamodb = client or new_client("dynamodb")
        self.loaded: dict[str, Loaded] = {}

    def load(self, aggregate_id: str) -> Aggregate | None:
        """The aggregate as stored (strongly consistent), or None for one never written."""
        item = self.dynamodb.get_item(TableName=self.projection_table, Key={PROJECTION_KEY: {"S": aggregate_id}},
                                      ConsistentRead=True).get("Item")
        if item is None:
            self.loaded[aggregate_id] = Loaded(0, None, exists=False)
            return None
        if "bookkeeping" not in item:
            raise ValueError(f"table {self.projection_table}: aggregate {aggregate_id!r} has no bookkeeping "
                             "attribute: the table was written by another engine; give the KCL processor its own")
        book = json.loads(item["bookkeeping"]["S"])
        aggregate = Aggregate.from_state({**book, "version": int(item["version"]["N"]),
                                          "updated_at": int(item["occurred_at"]["N"])})
        self.loaded[aggregate_id] = Loaded(aggregate.version, aggregate.state)
        return aggregate

    def forget(self, aggregate_id: str | None = None) -> None:
        """What this worker read of ``aggregate_id`` (of every aggregate when None): the next event reads it
        again."""
        if aggregate_id is None:
            self.loaded.clear()
        else:
            self.loaded.pop(aggregate_id, None)

    async def commit(self, aggregates: dict[str, Aggregate], view, status) -> None:
        """Write each aggregate over the version it was read at, with the totals of their groups moved by their
        changes: in transactions of up to 100 items (DynamoDB's limit), one after another, so no two of this
        worker's transactions contend for a total.  ``StaleAggregateError`` where another worker wrote an
        aggregate since: its whole transaction is refused, so nothing of it is half written."""
        chunk: list[tuple[str, dict[str, Any], Loaded]] = []
        deltas: dict[str, Decimal] = {}
        size = 0
        for aggregate_id, aggregate in aggregates.items():
            put, after = self._put(aggregate_id, aggregate, view, status)
            put_size = len(put["Item"]["bookkeeping"]["S"]) + len(put["Item"]["state"]["S"])
            moved = self._deltas(self.loaded[aggregate_id], after)
            groups = set(deltas) | set(moved)
            if chunk and (len(chunk) + 1 + len(groups) > MAX_TRANSACTION_ITEMS or size + put_size > MAX_TRANSACTION_BYTES):
                await self._transact(chunk, deltas)
                chunk, deltas, size = [], {}, 0
            chunk.append((aggregate_id, put, after))
            size += put_size
            for group, delta in moved.items():
                deltas[group] = deltas.get(group, Decimal(0)) + delta
        if chunk:
            await self._transact(chunk, deltas)

    def _put(self, aggregate_id: str, aggregate: Aggregate, view, status) -> tuple[dict[str, Any], Loaded]:
        before = self.loaded[aggregate_id]
        data = aggregate.to_state()
        item = {PROJECTION_KEY: {"S": aggregate_id}, "version": {"N": str(aggregate.version)},
                "state": {"S": state_json(view(aggregate.state))}, "occurred_at": {"N": str(aggregate.updated_at)},
                # The whole state (the projection's view may leave fields out), ids remembered, events held.
                "bookkeeping": {"S": json.dumps({key: data[key] for key in ("state", "seen", "held", "blocked_since")},
                                                separators=(",", ":"), ensure_ascii=False)}}
        state_status = status(aggregate.state)
        if state_status is not None:
            item["status"] = {"S": str(state_status)}
        put: dict[str, Any] = {"TableName": self.projection_table, "Item": item}
        if not before.exists:
            put["ConditionExpression"] = "attribute_not_exists(#key)"
            put["ExpressionAttributeNames"] = {"#key": PROJECTION_KEY}  # DynamoDB refuses a name left unused
        else:
            put["ConditionExpression"] = "version = :read"
            put["ExpressionAttributeValues"] = {":read": {"N": str(before.version)}}
        return put, Loaded(aggregate.version, aggregate.state)

    async def _transact(self, chunk: list[tuple[str, dict[str, Any], Loaded]], deltas: dict[str, Decimal]) -> None:
        actions: list[dict[str, Any]] = [{"Put": put} for _, put, _ in chunk]
        for group, delta in deltas.items():  # a 0 ADD still creates the group's item: the totals list it
            actions.append({"Update": {"TableName": self.totals_table, "Key": {TOTALS_KEY: {"S": group}},
                                       "UpdateExpression": "ADD #total :delta",
                                       "ExpressionAttributeNames": {"#total": "total"},
                                       "ExpressionAttributeValues": {":delta": {"N": str(delta)}}}})
        try:
            # One token for every try: DynamoDB applies a transaction once per token (for 10 minutes), so a try
            # after a timeout that had applied it changes nothing.
            await _call(self.dynamodb.transact_write_items, TransactItems=actions, idempotent=True,
                        ClientRequestToken=uuid.uuid4().hex)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
            stale = [chunk[n][0] for n, reason in enumerate(reasons[:len(chunk)])
                     if reason.get("Code") == "ConditionalCheckFailed"]
            for aggregate_id, _, _ in chunk:
                self.loaded.pop(aggregate_id, None)
            raise StaleAggregateError(
                f"aggregate(s) {', '.join(map(repr, stale)) or 'of this batch'} written by another worker since this "
                "one read them: this worker no longer owns their shard") from None
        for aggregate_id, _, after in chunk:
            self.loaded[aggregate_id] = after

    def _deltas(self, before: Loaded, after: Loaded) -> dict[str, Decimal]:
        return self.total_changes(before.state, after.state) if self.totals_table else {}
