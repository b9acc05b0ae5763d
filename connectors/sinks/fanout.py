"""FanOut: one sink made of several, for engines that take a single sink (the KCL record processor).

``add`` hands the record to every sink in order; ``flush`` flushes them all and
returns only when every one has flushed, so a checkpoint after it covers every
destination.  A sink's ``SinkBackpressureError`` passes through to the caller
(who retries ``add``); the retry of that same record resumes at the sink that
pushed back, so the sinks before it do not get it twice.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

from connectors.sinks.types import Sink
from pipelines.records import Record


class FanOut:
    kind = "fanout"

    def __init__(self, sinks: Sequence[Sink]) -> None:
        if not sinks:
            raise ValueError("FanOut needs at least one sink")
        self.sinks = list(sinks)
        self._pending: tuple[Record, int] | None = None  # (record, sinks that took it) while add is retried

    async def add(self, record: Record) -> None:
        # Resume after the sinks that already took this record when a later one pushed back.
        pending, self._pending = self._pending, None
        start = pending[1] if pending is not None and pending[0] is record else 0
        for i in range(start, len(self.sinks)):
            try:
                await self.sinks[i].add(record)
            except Exception:
                self._pending = (record, i)
                raise

    async def flush(self) -> None:
        await asyncio.gather(*(sink.flush() for sink in self.sinks))

    async def close(self) -> None:
        errors = []
        for sink in self.sinks:  # close every sink even if one fails: each holds its own records
            try:
                await sink.close()
            except Exception as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
        if errors:
            raise errors[0]

    async def __aenter__(self) -> "FanOut":
        for sink in self.sinks:
            enter: Any = getattr(sink, "__aenter__", None)
            if enter is not None:
                await enter()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
