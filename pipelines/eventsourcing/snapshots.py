"""A snapshot of the event-sourcing pattern as an Avro container: one record per aggregate, the rest in its header.

An engine saves the pattern's state every ``snapshot_every_events`` events or ``snapshot_every_s`` seconds
with the stream positions it reflects (per shard, the last record applied), and a rebuild loads the latest
and replays the stream from those positions.  Avro because any Avro reader can open it (fastavro, Spark,
Athena over the snapshot prefix): each aggregate is a row with its id, version, status and state, and the
header's ``shardline.snapshot`` metadata holds the positions, the cross-aggregate totals and the counts.

The state is the domain's (a JSON object, written as its text: the schema stays the same for every domain);
``seen`` and ``held`` are the pattern's bookkeeping (remembered event ids, events held behind a gap).

>>> from pipelines.clock import FakeClock
>>> from pipelines.eventsourcing.pattern import EventSourcingPattern
>>> pattern = EventSourcingPattern(clock=FakeClock(0))
>>> _ = pattern.on_payload({"aggregate_id": "a-1", "aggregate_type": "Account", "version": 1, "event_id": "e-1",
...                         "type": "AccountOpened", "occurred_at": 5, "data": {"owner": "X", "branch": "north"}})
>>> data = encode_snapshot(pattern, {"shardId-000000000000": "49590-0"}, taken_at_ms=1000)
>>> snapshot = decode_snapshot(data)
>>> snapshot.positions, snapshot.taken_at_ms, sorted(snapshot.state["aggregates"])
({'shardId-000000000000': '49590-0'}, 1000, ['a-1'])
>>> restored = EventSourcingPattern(clock=FakeClock(0)); restored.restore(snapshot.state)
>>> restored.projection("a-1") == pattern.projection("a-1")
True
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import fastavro

from pipelines.eventsourcing.pattern import STATE_VERSION, EventSourcingPattern

HEADER_KEY = "shardline.snapshot"
SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "AggregateSnapshot", "namespace": "dev.shardline.eventsourcing",
    "doc": "One aggregate of an event-sourcing snapshot; the header's shardline.snapshot holds positions and totals.",
    "fields": [
        {"name": "aggregate_id", "type": "string"},
        {"name": "version", "type": "long", "doc": "The last version consumed (applied, or refused by a rule)."},
        {"name": "status", "type": ["null", "string"], "default": None},
        {"name": "state", "type": "string", "doc": "The domain's state, as JSON text."},
        {"name": "updated_at", "type": "long", "doc": "occurred_at of the last event applied (epoch ms)."},
        {"name": "seen", "type": {"type": "array", "items": "string"},
         "doc": "The remembered event ids, of the versions up to version, oldest first."},
        {"name": "held", "type": {"type": "array", "items": "string"},
         "doc": "Events held behind a version gap, as JSON text, in version order."},
        {"name": "blocked_since", "type": ["null", "double"], "default": None},
    ]})


class SnapshotFormatError(ValueError):
    """Bytes that are no event-sourcing snapshot, or one of a format this shardline does not read."""


@dataclass(frozen=True)
class Snapshot:
    state: dict[str, Any]
    """What ``EventSourcingPattern.restore`` takes."""
    positions: dict[str, str]
    """Shard id -> the encoded position of the last record the state reflects (``Checkpoint.encode()``)."""
    taken_at_ms: int
    stream: str = ""


def encode_snapshot(pattern: EventSourcingPattern, positions: Mapping[str, str], *, taken_at_ms: int,
                    stream: str = "") -> bytes:
    """The pattern's whole state with the positions it reflects, as the bytes of an Avro container file."""
    state = pattern.snapshot()
    domain = pattern.domain
    header = {"format": state["version"], "stream": stream, "taken_at_ms": taken_at_ms,
              "positions": dict(positions), "totals": state["totals"], "stats": state["stats"],
              "aggregates": len(state["aggregates"])}

    def rows() -> Iterator[dict[str, Any]]:
        for aggregate_id, data in state["aggregates"].items():
            status = domain.status(data["state"])
            yield {"aggregate_id": aggregate_id, "version": data["version"],
                   "status": None if status is None else str(status), "state": _json(data["state"]),
                   "updated_at": data["updated_at"], "seen": data["seen"],
                   "held": [_json(event) for event in data["held"]], "blocked_since": data["blocked_since"]}

    out = io.BytesIO()
    fastavro.writer(out, SCHEMA, rows(), codec="deflate", metadata={HEADER_KEY: _json(header)})
    return out.getvalue()


def decode_snapshot(data: bytes) -> Snapshot:
    try:
        reader = fastavro.reader(io.BytesIO(data))
        header = json.loads(reader.metadata[HEADER_KEY])
    except (KeyError, ValueError, TypeError, EOFError) as exc:
        raise SnapshotFormatError(f"not an event-sourcing snapshot ({type(exc).__name__})") from None
    if header.get("format") != STATE_VERSION:
        raise SnapshotFormatError(f"an event-sourcing snapshot of format {header.get('format')!r}; this shardline "
                                  f"reads format {STATE_VERSION}: rebuild the projections from the stream")
    aggregates = {row["aggregate_id"]: {"state": json.loads(row["state"]), "version": row["version"],
                                        "updated_at": row["updated_at"], "seen": row["seen"],
                                        "held": [json.loads(event) for event in row["held"]],
                                        "blocked_since": row["blocked_since"]}
                  for row in reader}
    state = {"version": header["format"], "aggregates": aggregates, "totals": header["totals"],
             "stats": header["stats"]}
    return Snapshot(state, dict(header["positions"]), int(header["taken_at_ms"]), header.get("stream", ""))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
