"""``shardline es snapshot``: a snapshot of the KCL processor's state, which lives in its projection table.

The KCL processor keeps every aggregate (state, version, remembered ids, held events) in the projection table
and commits a batch's aggregates before it checkpoints the batch.  So the checkpoints, read first, and the
table, scanned after, make a snapshot: each aggregate is at or past the positions, and a replay from them
finds the events it already applied to be duplicates by their version.  The snapshot is the same Avro file
the local runner saves (``pipelines.eventsourcing.snapshots``), so ``es rebuild --from-snapshot`` and
``es state --snapshot`` read either.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from connectors.eventsourcing_snapshots import SnapshotLocation
from connectors.eventsourcing_store import PROJECTION_KEY, scan_items
from connectors.kinesis.checkpoints import Checkpoint
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.eventsourcing.pattern import STATE_VERSION, EventSourcingPattern, EventSourcingStats
from pipelines.eventsourcing.snapshots import encode_snapshot

KCL_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
"""Checkpoints the KCL writes for a shard not read yet: the snapshot leaves such a shard out (a replay starts
it at TRIM_HORIZON)."""


def kcl_positions(client: Any, lease_table: str) -> dict[str, str]:
    """Shard id -> encoded position, from the KCL's lease table (``checkpoint``, ``checkpointSubSequenceNumber``)."""
    positions = {}
    for item in scan_items(client, lease_table):
        shard_id = item["leaseKey"]["S"]
        checkpoint = item.get("checkpoint", {}).get("S")
        if checkpoint is None or checkpoint in KCL_POSITIONS:
            continue
        sub = int(item.get("checkpointSubSequenceNumber", {}).get("N", "0"))
        positions[shard_id] = Checkpoint(checkpoint, sub).encode()
    return positions


def snapshot_kcl_state(projection_table: str, application: str, stream: str, location: SnapshotLocation, *,
                       clock: Clock = SYSTEM_CLOCK, client: Any = None) -> tuple[str, int]:
    """Save a snapshot of the table as of the application's checkpoints; (its URL, its aggregates)."""
    from connectors.aws import client as new_client

    dynamodb = client or new_client("dynamodb")
    positions = kcl_positions(dynamodb, application)  # first: the table is then at or past them
    pattern = EventSourcingPattern(clock=clock)
    aggregates, totals = {}, {}
    for item in scan_items(dynamodb, projection_table):
        if "bookkeeping" not in item:
            raise ValueError(f"table {projection_table} holds items without the KCL processor's bookkeeping: "
                             "snapshot the table the KCL processor writes")
        data = {**json.loads(item["bookkeeping"]["S"]), "version": int(item["version"]["N"]),
                "updated_at": int(item["occurred_at"]["N"])}
        aggregates[item[PROJECTION_KEY]["S"]] = data
        share = pattern.contribution(data["state"])
        if share is not None:
            totals[share[0]] = totals.get(share[0], Decimal(0)) + share[1]
    pattern.restore({"version": STATE_VERSION, "aggregates": aggregates,
                     "totals": {group: str(total) for group, total in totals.items()},
                     "stats": asdict(EventSourcingStats())})
    taken_at_ms = int(clock.time() * 1000)
    url = location.save(encode_snapshot(pattern, positions, taken_at_ms=taken_at_ms, stream=stream), taken_at_ms)
    return url, len(aggregates)
