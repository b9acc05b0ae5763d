"""The event-sourcing pattern on the local runner: a file of events to the final projections.

    shardline es run --input events.jsonl --output state.jsonl [--derived derived.jsonl] [--config es.yaml]

Each input line is an envelope whose payload is an event, or the bare event object.  Events go through
``EventSourcingPattern`` in file order; at the end of input, events still held behind a version gap go to
the dead letters (their gap can no longer fill), and the output gets the final projection, one JSON line per
aggregate (``aggregate_id``, ``version``, ``state``, ``status``), in aggregate-id order.  Derived events
(``BalanceChanged``, ``LargeWithdrawal``) go to ``--derived`` as envelopes when it is given.  Records that
are no event, and events the domain refused, go to the dead-letter file with their reason, masked with the
generic PII policy as every engine's letters are (an account's owner is personal).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from connectors.dead_letter import DeadLetter
from jobs.local.runner import BadLine, masked_dead_letters, read_input
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected, rejection
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.outputs import derived_record, held_event_letter, state_line
from pipelines.eventsourcing.pattern import DerivedEvent, EventSourcingPattern, EventSourcingStats
from pipelines.records import Record, to_json_line
from pipelines.wrapping import WrapConfig

log = logging.getLogger("shardline.eventsourcing")
EVENT_TYPE = "eventsourcing.event"


@dataclass(frozen=True)
class EventSourcingFileRun:
    input: Path
    output: Path | None = None
    """The final projections, one JSON line per aggregate; None: stdout."""
    derived: Path | None = None
    """Derived events as envelope JSON lines; None: not written."""
    dead_letters: Path | None = None
    """Default ``<output or input>.dlq.jsonl``."""

    def dead_letter_path(self) -> Path:
        base = self.output or self.input
        return self.dead_letters or base.with_name(base.name + ".dlq.jsonl")


async def run_eventsourcing_file(run: EventSourcingFileRun, config: EventSourcingConfig = EventSourcingConfig(),
                                 clock: Clock = SYSTEM_CLOCK) -> EventSourcingStats:
    pattern = EventSourcingPattern(config, clock=clock)
    wrapping = WrapConfig(type=EVENT_TYPE, source=f"file:{run.input.name}")
    dead_letters = None
    derived = open(run.derived, "w", encoding="utf-8") if run.derived is not None else None

    async def route(outputs, position: str, item: Record | BadLine | None) -> None:
        nonlocal dead_letters
        for output in outputs:
            if isinstance(output, DerivedEvent):
                if derived is not None:
                    derived.write(to_json_line(derived_record(output)) + "\n")
            elif isinstance(output, Rejected):
                if dead_letters is None:
                    dead_letters = masked_dead_letters(run.dead_letter_path(), quiet=True)
                # The record's bytes are made only for a letter: most records write none.
                source = position
                data = held_event_letter(output, item.payload if isinstance(item, Record) else None)
                if data is not None:
                    source = f"file:{run.input.name}:held"
                else:
                    data = item.raw if isinstance(item, BadLine) else to_json_line(item).encode() if item else b""
                await dead_letters.put(DeadLetter.of(output, source, data, clock.time()))

    try:
        for position, item in read_input(run.input, wrapping, clock):
            if isinstance(item, BadLine):
                pattern.stats.read += 1
                await route([rejection(item.error, "decode")], position, item)
                continue
            await route(pattern.on_record(item), position, item)
        await route(pattern.finish(), f"file:{run.input.name}:end", None)
        lines = [json.dumps(state_line(p), separators=(",", ":")) for p in
                 sorted(pattern.projections(), key=lambda p: p.aggregate_id)]
        if run.output is None:
            print("\n".join(lines))
        else:
            run.output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    finally:
        if derived is not None:
            derived.close()
        if dead_letters is not None:
            await dead_letters.close()
    if pattern.stats.rejected:
        log.warning("event=eventsourcing_rejected count=%d dead_letters=%s", pattern.stats.rejected,
                    run.dead_letter_path())
    return pattern.stats
