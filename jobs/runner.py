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
from typing import Any, Callable, Iterable, Iterator

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record, RecordValidationError, from_avro, from_json_line, read_avro_file, to_json_line

log = logging.getLogger("shardline.runner")
PipelineFn = Callable[[Record], "Record | Iterable[Record] | None"]
ON_ERROR_CHOICES = ("dlq", "fail")
OUTPUT_FLUSH_RECORDS = 1000
"""A file-to-file run writes its output file every this many records (an Avro block each time)."""


class BadRecordError(RuntimeError):
    """Raised with on_error='fail': names the position and the reason, never the content."""


def masked_dead_letters(path: Path):
    """A dead-letter file whose letters are masked with the generic PII policy before they are stored."""
    from connectors.dead_letter import FileDeadLetters
    from pipelines.pii.dead_letters import DeadLetterMask

    return FileDeadLetters(path, mask=DeadLetterMask())


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


def apply(pipeline: PipelineFn, record: Record) -> list[Record]:
    result = pipeline(record)
    if result is None:
        return []
    if isinstance(result, Record):
        return [result]
    return list(result)


@dataclass
class RunStats:
    read: int = 0
    written: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)

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


def read_input(path: Path) -> Iterator[tuple[str, bytes | Record | Exception]]:
    """(position, record or raw bytes or the error) for every record of a JSON-lines or Avro file."""
    if path.suffix == ".avro":
        with open(path, "rb") as fo:
            for index, record in enumerate(read_avro_file(fo), start=1):
                yield f"file:{path.name}:record {index}", record
        return
    with open(path, "rb") as fo:
        for number, raw in enumerate(fo, start=1):
            if not raw.strip():
                continue
            try:
                yield f"file:{path.name}:line {number}", from_json_line(raw, number)
            except RecordValidationError as exc:
                yield f"file:{path.name}:line {number}", BadLine(raw.rstrip(b"\n"), exc)


@dataclass(frozen=True)
class BadLine(Exception):
    """An input line that is not a valid record: its bytes (for the dead letter) and why."""

    raw: bytes
    error: Exception


async def run_file(pipeline: PipelineFn, config: FileRunConfig, clock: Clock = SYSTEM_CLOCK) -> RunStats:
    from connectors.dead_letter import DeadLetter
    from connectors.sinks.file import FileSink

    stats = RunStats()
    dead_letters = None
    output = FileSink(config.output, truncate=True) if config.output is not None else None
    try:
        for position, item in read_input(config.input):
            stats.read += 1
            raw: bytes
            try:
                if isinstance(item, BadLine):
                    raw = item.raw
                    raise item.error
                raw = to_json_line(item).encode()
                outputs = apply(pipeline, item)
            except Exception as exc:  # noqa: BLE001 - a bad record, whatever the pipeline raised
                reason = str(exc) if isinstance(exc, RecordValidationError) else f"{type(exc).__name__}: {exc}"
                stats.errors_by_reason[type(exc).__name__] = stats.errors_by_reason.get(type(exc).__name__, 0) + 1
                if config.on_error == "fail":
                    raise BadRecordError(f"{position}: {reason}") from None
                if dead_letters is None:
                    dead_letters = masked_dead_letters(config.dead_letter_path())
                await dead_letters.put(DeadLetter(reason=reason, error_type=type(exc).__name__, source=position,
                                                  attempts=1, data=raw, time=clock.time()))
                stats.dead_lettered += 1
                continue
            if not outputs:
                stats.filtered += 1
            for record in outputs:
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
    """The runner, not the sink, decides to wait when a sink pushes back."""
    from connectors.sinks.base import SinkBackpressureError

    while True:
        try:
            await sink.add(record)
            return
        except SinkBackpressureError as exc:
            await clock.sleep(exc.retry_after)


async def batches_until_idle(consumer, idle_timeout_s: float | None, clock: Clock = SYSTEM_CLOCK):
    """The consumer's batches, ending once no record has arrived for ``idle_timeout_s`` (None: never)."""
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
        if batch.records:
            last_record = clock.monotonic()
        yield batch


async def run_stream(pipeline: PipelineFn, consumer, sinks: list, *, on_error: str = "dlq",
                     dead_letters=None, clock: Clock = SYSTEM_CLOCK, stop_after: int | None = None,
                     idle_timeout_s: float | None = None, stats: RunStats | None = None) -> RunStats:
    """Consume ``consumer`` (a started KinesisConsumer), apply ``pipeline``, write to ``sinks``.

    Checkpoints a shard batch only after every sink has flushed it: at-least-once.
    """
    from connectors.dead_letter import DeadLetter

    stats = stats or RunStats()
    async for batch in batches_until_idle(consumer, idle_timeout_s, clock):
        for consumed in batch.records:
            stats.read += 1
            position = f"kinesis:{batch.shard_id}/{consumed.sequence_number}/{consumed.sub_sequence_number}"
            try:
                outputs = apply(pipeline, from_avro(consumed.data))
            except Exception as exc:  # noqa: BLE001
                reason = str(exc) if isinstance(exc, RecordValidationError) else f"{type(exc).__name__}: {exc}"
                if on_error == "fail" or dead_letters is None:
                    raise BadRecordError(f"{position}: {reason}") from None
                await dead_letters.put(DeadLetter(reason=reason, error_type=type(exc).__name__, source=position,
                                                  attempts=1, data=consumed.data, time=clock.time()))
                stats.dead_lettered += 1
                continue
            if not outputs:
                stats.filtered += 1
            for record in outputs:
                for sink in sinks:
                    await add_with_backpressure(sink, record, clock)
                stats.written += 1
        await asyncio.gather(*(sink.flush() for sink in sinks))
        await consumer.checkpoint(batch)
        if stop_after is not None and stats.read >= stop_after:
            break
    return stats

