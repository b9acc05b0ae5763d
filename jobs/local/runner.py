"""The local asyncio runner: one pipeline function over a file or a Kinesis stream.

A pipeline function takes a ``Record`` and returns a ``Record``, an iterable of
records, or ``None`` (filtered out).  The same function runs inside the PyFlink
job and the KCL processor; this runner is the one used for offline replay
(``--input FILE --output FILE``), tests and the demo.

Errors: a record that fails to parse, validate or process is a *bad record*.
With ``on_error="dlq"`` it goes to the dead-letter destination with its reason
and position; with ``"fail"`` the run stops at it with the same message.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from connectors.dead_letter import DeadLetter
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import PipelineFn, Rejected, RecordPath, kinesis_source, rejection
from pipelines.records import (Record, RecordValidationError, envelope_from_json, parse_json_line, read_avro_file,
                               to_json_line, validate)
from pipelines.wrapping import WrapConfig, is_envelope, wrap

log = logging.getLogger("shardline.runner")
ON_ERROR_CHOICES = ("dlq", "fail")
OUTPUT_FLUSH_RECORDS = 1000
"""A file-to-file run writes its output file every this many records (an Avro block each time)."""


class BadRecordError(RuntimeError):
    """Raised with on_error='fail': names the position and the reason, never the content."""


def masked_dead_letters(path: Path, quiet: bool = False):
    """A dead-letter file whose letters are masked with the generic PII policy before they are stored.

    ``quiet``: no log line per letter (a command that sums them up at the end)."""
    from connectors.dead_letter import FileDeadLetters
    from pipelines.pii.dead_letters import DeadLetterMask

    return FileDeadLetters(path, mask=DeadLetterMask(), quiet=quiet)


def identity(record: Record) -> Record:
    return record


def load_pipeline(spec: str) -> PipelineFn:
    """'package.module:function' -> the function."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"pipeline must look like 'package.module:function', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load pipeline {spec!r}: {exc}") from None


@dataclass
class RunStats:
    read: int = 0
    written: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)

    def reject(self, rejected: Rejected) -> None:
        self.dead_lettered += 1
        self.errors_by_reason[rejected.error_type] = self.errors_by_reason.get(rejected.error_type, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "written": self.written, "dead_lettered": self.dead_lettered,
                "filtered": self.filtered, "errors_by_reason": dict(self.errors_by_reason)}


@dataclass(frozen=True)
class FileRunConfig:
    """Offline replay of a file through a pipeline."""

    input: Path
    output: Path | None = None
    """JSON lines (default) or Avro (``.avro``); None writes JSON lines to stdout."""
    on_error: str = "dlq"
    """dlq: bad records go to ``dead_letters``; fail: stop at the first bad record."""
    dead_letters: Path | None = None
    """Where bad records go; default ``<output or input>.dlq.jsonl``."""

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {self.on_error!r}")

    def dead_letter_path(self) -> Path:
        if self.dead_letters is not None:
            return self.dead_letters
        base = self.output or self.input
        return base.with_name(base.name + ".dlq.jsonl")


def read_input(path: Path, wrapping: WrapConfig | None = None,
               clock: Clock = SYSTEM_CLOCK) -> Iterator[tuple[str, "Record | BadLine"]]:
    """(position, record or the bad line) for every record of a JSON-lines or Avro file.

    With ``wrapping``, a line holding a bare JSON object (not an envelope) becomes an envelope around it.
    """
    if path.suffix == ".avro":
        with open(path, "rb") as fo:
            for index, record in enumerate(read_avro_file(fo), start=1):
                try:  # a container file is not validated by its reader: every engine validates once
                    yield f"file:{path.name}:record {index}", validate(record.as_dict())
                except RecordValidationError as exc:
                    yield f"file:{path.name}:record {index}", BadLine(to_json_line(record).encode(), exc)
        return
    with open(path, "rb") as fo:
        for number, raw in enumerate(fo, start=1):
            if not raw.strip():
                continue
            position = f"file:{path.name}:line {number}"
            try:
                data = parse_json_line(raw, number)
                if wrapping is not None and isinstance(data, dict) and not is_envelope(data):
                    yield position, wrap(data, wrapping, int(clock.time() * 1000), number)
                else:
                    yield position, envelope_from_json(data, number)
            except RecordValidationError as exc:
                yield position, BadLine(raw.rstrip(b"\n"), exc)


@dataclass(frozen=True)
class BadLine(Exception):
    """An input line that is not a valid record: its bytes (for the dead letter) and why."""

    raw: bytes
    error: Exception


async def run_file(pipeline: PipelineFn, config: FileRunConfig, clock: Clock = SYSTEM_CLOCK) -> RunStats:
    from connectors.sinks.file import FileSink

    path = RecordPath(pipeline)
    stats = RunStats()
    dead_letters = None
    output = FileSink(config.output, truncate=True) if config.output is not None else None
    try:
        for position, item in read_input(config.input):
            stats.read += 1
            if isinstance(item, BadLine):
                raw, outcome = item.raw, rejection(item.error, "decode")
            else:
                raw, outcome = None, path.from_record(item)
            if isinstance(outcome, Rejected):
                if config.on_error == "fail":
                    raise BadRecordError(f"{position}: {outcome.reason}")
                if dead_letters is None:
                    dead_letters = masked_dead_letters(config.dead_letter_path())
                data = raw if raw is not None else to_json_line(item).encode()
                await dead_letters.put(DeadLetter.of(outcome, position, data, clock.time()))
                stats.reject(outcome)
                continue
            if not outcome:
                stats.filtered += 1
            for record in outcome:
                stats.written += 1
                if output is None:
                    print(to_json_line(record))
                    continue
                await output.add(record)
                if stats.written % OUTPUT_FLUSH_RECORDS == 0:
                    await output.flush()  # memory stays flat on a long replay
    finally:
        if output is not None:
            await output.close()
        if dead_letters is not None:
            await dead_letters.close()
    return stats


async def add_with_backpressure(sink, record: Record, clock: Clock) -> None:
    """The runner, not the sink, decides to wait when a sink pushes back (bounded, with jitter, as on KCL)."""
    from connectors.backoff import add_with_backpressure as add

    await add(sink, record, clock)


async def batches_until_idle(consumer, idle_timeout_s: float | None, clock: Clock = SYSTEM_CLOCK):
    """The consumer's batches, ending once no record has arrived for ``idle_timeout_s`` (None: never).  The time
    the caller spends on a batch is not idle time: a slow sink flush must not end a run with records waiting."""
    iterator = consumer.batches().__aiter__()
    last_record = clock.monotonic()
    while True:
        remaining = None if idle_timeout_s is None else idle_timeout_s - (clock.monotonic() - last_record)
        if remaining is not None and remaining <= 0:
            return
        try:
            batch = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except (asyncio.TimeoutError, StopAsyncIteration):
            return
        yield batch
        if batch.records:
            last_record = clock.monotonic()


async def run_stream(pipeline: PipelineFn, consumer, sinks: list, *, on_error: str = "dlq",
                     dead_letters=None, clock: Clock = SYSTEM_CLOCK, stop_after: int | None = None,
                     idle_timeout_s: float | None = None, stats: RunStats | None = None) -> RunStats:
    """Consume ``consumer`` (a started KinesisConsumer), apply ``pipeline``, write to ``sinks``.

    Checkpoints a shard batch only after every sink has flushed it: at-least-once.
    """
    path = RecordPath(pipeline)
    stream = consumer.config.stream_name
    stats = stats or RunStats()
    async for batch in batches_until_idle(consumer, idle_timeout_s, clock):
        for consumed in batch.records:
            stats.read += 1
            outcome = path.from_bytes(consumed.data)
            if isinstance(outcome, Rejected):
                position = kinesis_source(stream, batch.shard_id, consumed.sequence_number,
                                          consumed.sub_sequence_number)
                if on_error == "fail" or dead_letters is None:
                    raise BadRecordError(f"{position}: {outcome.reason}")
                await dead_letters.put(DeadLetter.of(outcome, position, consumed.data, clock.time()))
                stats.reject(outcome)
                continue
            if not outcome:
                stats.filtered += 1
            for record in outcome:
                for sink in sinks:
                    await add_with_backpressure(sink, record, clock)
                stats.written += 1
        await asyncio.gather(*(sink.flush() for sink in sinks))
        await consumer.checkpoint(batch)
        if stop_after is not None and stats.read >= stop_after:
            break
    return stats
