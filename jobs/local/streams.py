"""What `shardline produce|consume|record|replay` do, as async functions the CLI calls.

Kept apart from the CLI so tests and the demo call them directly.
"""
from __future__ import annotations

import base64
import itertools
import json
import logging
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from connectors.dead_letter import DeadLetter
from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer
from connectors.kinesis.aggregation import MAX_RECORD_BYTES
from connectors.kinesis.producer import KinesisProducer, ProducerConfig, RecordTooLargeError
from jobs.local.runner import (ON_ERROR_CHOICES, BadRecordError, BadLine, batches_until_idle, masked_dead_letters,
                         read_input)
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected, rejection
from pipelines.records import Record, RecordValidationError, from_avro, to_avro, to_json_line
from pipelines.recording import RecordedRecord, RecordingAppender, read_recording, replay_schedule
from pipelines.synthetic import synthetic_records
from pipelines.wrapping import WrapConfig

log = logging.getLogger("shardline.streams")
Progress = Callable[[int], None]


@dataclass
class ProduceResult:
    produced: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    """Dead letters by error type."""
    dead_letters: str | None = None
    """Where they went, when there were any."""

    def as_dict(self) -> dict:
        return {"produced": self.produced, "dead_lettered": self.dead_lettered, "seconds": round(self.seconds, 3),
                "records_per_second": round(self.produced / self.seconds, 1) if self.seconds else None,
                "dead_letters_by_error": dict(self.errors), "dead_letters": self.dead_letters}


def parse_start_position(text: str) -> tuple[str, float | None]:
    """'trim_horizon' | 'latest' | 'at_timestamp:<epoch seconds or ISO 8601>'."""
    lowered = text.lower()
    if lowered in ("trim_horizon", "latest"):
        return lowered.upper(), None
    if lowered.startswith("at_timestamp:"):
        value = text.split(":", 1)[1]
        try:
            return "AT_TIMESTAMP", float(value)
        except ValueError:
            from datetime import datetime

            try:
                return "AT_TIMESTAMP", datetime.fromisoformat(value).timestamp()
            except ValueError:
                pass
        raise ValueError(f"at_timestamp needs epoch seconds or ISO 8601, got {value!r}")
    raise ValueError(f"--from must be trim_horizon, latest or at_timestamp:T, got {text!r}")


def input_records(path: Path | None, synthetic: str | None, seed: int, clock: Clock,
                  wrapping: WrapConfig | None = None, telemetry=None) -> Iterator[tuple[str, Record | "BadLine"]]:
    if (path is None) == (synthetic is None):
        raise ValueError("give exactly one of --input FILE or --synthetic KIND")
    if path is not None:
        yield from read_input(path, wrapping, clock)
    else:
        records = synthetic_records(synthetic, seed=seed, clock=clock, telemetry=telemetry)
        for index, record in enumerate(records, start=1):
            yield f"synthetic:{synthetic}:{index}", record


def raw_lines(path: Path, key_field: str | None) -> Iterator[tuple[str, tuple[bytes, str]]]:
    """(position, (bytes, partition key)) for every non-empty line, sent as it is (``--raw``)."""
    with open(path, "rb") as fo:
        for number, line in enumerate(fo, start=1):
            data = line.rstrip(b"\n")
            if not data.strip():
                continue
            key = None
            if key_field is not None:
                try:
                    value = json.loads(data).get(key_field)
                    key = None if value is None or isinstance(value, (dict, list)) else str(value)
                except (ValueError, AttributeError):
                    pass
            yield f"file:{path.name}:line {number}", (data, key or str(uuid.uuid4()))


async def produce(stream: str, *, input_path: Path | None = None, synthetic: str | None = None,
                  rate: float | None = None, count: int | None = None, aggregate: bool = False,
                  on_error: str = "dlq", dead_letters: Path | None = None, seed: int = 7,
                  clock: Clock = SYSTEM_CLOCK, progress: Progress | None = None,
                  producer: KinesisProducer | None = None, wrapping: WrapConfig | None = None,
                  raw: bool = False, telemetry=None) -> ProduceResult:
    """Publish envelope records (bare JSON objects wrapped with ``wrapping``, or lines as they are with ``raw``);
    bad ones go to the dead-letter file or stop the run."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"--on-error must be one of {ON_ERROR_CHOICES}")
    if synthetic is not None and count is None and rate is None:
        raise ValueError("--synthetic needs --count or --rate (or both); it never ends by itself")
    if raw and input_path is None:
        raise ValueError("--raw sends the lines of an --input file")
    result = ProduceResult()
    letters = None
    dlq_path = dead_letters or Path(f"{stream}.dlq.jsonl")
    start = clock.monotonic()
    producer = producer or KinesisProducer(ProducerConfig(stream_name=stream, aggregate=aggregate), clock=clock)
    items = (raw_lines(input_path, wrapping.key_field if wrapping else None) if raw
             else input_records(input_path, synthetic, seed, clock, wrapping, telemetry))
    if count is not None:
        items = itertools.islice(items, count)
    try:
        async with producer:
            for index, (position, item) in enumerate(items):
                if rate:  # steady rate: record i leaves at start + i / rate
                    delay = start + index / rate - clock.monotonic()
                    if delay > 0:
                        await clock.sleep(delay)
                if isinstance(item, BadLine):
                    data, rejected = item.raw, rejection(item.error, "decode")
                else:
                    data, key = item if raw else (to_avro(item), item.partition_key)
                    try:
                        await producer.put(data, key)
                        result.produced += 1
                        rejected = None
                    except RecordTooLargeError:
                        if not raw:
                            data = to_json_line(item).encode()
                        rejected = Rejected("RecordTooLargeError", too_large_reason(len(data), key), "output")
                if rejected is not None:
                    if on_error == "fail":
                        raise BadRecordError(f"{position}: {rejected.reason}")
                    letters = letters or masked_dead_letters(dlq_path, quiet=True)
                    await letters.put(DeadLetter.of(rejected, position, data, clock.time()))
                    result.dead_lettered += 1
                    result.errors[rejected.error_type] = result.errors.get(rejected.error_type, 0) + 1
                if progress:
                    progress(1)
    finally:
        if letters is not None:
            await letters.close()
    result.seconds = clock.monotonic() - start
    result.dead_letters = str(dlq_path) if result.dead_lettered else None
    return result


def too_large_reason(data_bytes: int, key: str) -> str:
    """Why Kinesis cannot take a record, in numbers: the key itself may be personal, so it is not quoted."""
    size = data_bytes + len(key.encode("utf-8"))
    return f"the record is {size} bytes (data and partition key); a Kinesis record holds at most {MAX_RECORD_BYTES}"


def describe_record(consumed, as_json: bool) -> str:
    """One line per consumed record: the envelope if it is one, raw metadata otherwise."""
    meta = {"shard_id": consumed.shard_id, "sequence_number": consumed.sequence_number,
            "sub_sequence_number": consumed.sub_sequence_number, "partition_key": consumed.partition_key,
            "arrival_time": consumed.arrival_time}
    try:
        envelope = json.loads(to_json_line(from_avro(consumed.data)))
    except RecordValidationError:
        envelope = None
    if as_json:
        if envelope is None:
            return json.dumps({**meta, "data_base64": base64.b64encode(consumed.data).decode()})
        return json.dumps({**meta, "record": envelope}, separators=(",", ":"))
    body = f"{envelope['type']} id={envelope['id']}" if envelope else f"{len(consumed.data)} raw bytes"
    return f"{consumed.shard_id} {consumed.sequence_number}:{consumed.sub_sequence_number} {body}"


async def consume(stream: str, *, start: str = "trim_horizon", as_json: bool = False, count: int | None = None,
                  idle_timeout_s: float | None = None, out=None, clock: Clock = SYSTEM_CLOCK,
                  on_record: Callable | None = None) -> int:
    """Print records (or hand them to ``on_record``) until ``count`` or ``idle_timeout_s`` of silence."""
    position, timestamp = parse_start_position(start)
    out = out or sys.stdout
    seen = 0
    consumer = KinesisConsumer(ConsumerConfig(stream_name=stream, initial_position=position,
                                              at_timestamp=timestamp), clock=clock)
    async with consumer:
        async for batch in batches_until_idle(consumer, idle_timeout_s, clock):
            for consumed in batch.records:
                if on_record is not None:
                    on_record(consumed)
                else:
                    out.write(describe_record(consumed, as_json) + "\n")
                seen += 1
                if count is not None and seen >= count:
                    out.flush()
                    return seen
    return seen


async def record(stream: str, out_path: Path, *, duration_s: float | None = None, start: str = "latest",
                 count: int | None = None, idle_timeout_s: float | None = None, clock: Clock = SYSTEM_CLOCK,
                 progress: Progress | None = None) -> int:
    """Capture every record of ``stream`` (data, key, shard, sequence, arrival time) into an Avro file."""
    import asyncio

    with open(out_path, "wb") as fo:
        appender = RecordingAppender(fo)

        def keep(consumed) -> None:
            appender.append(RecordedRecord(
                data=consumed.data, partition_key=consumed.partition_key, shard_id=consumed.shard_id,
                sequence_number=consumed.sequence_number, sub_sequence_number=consumed.sub_sequence_number,
                arrival_time_ms=int(consumed.arrival_time * 1000), explicit_hash_key=consumed.explicit_hash_key))
            if progress:
                progress(1)

        task = consume(stream, start=start, count=count, idle_timeout_s=idle_timeout_s, clock=clock, on_record=keep)
        try:
            if duration_s is None:
                await task
            else:
                await asyncio.wait_for(task, timeout=duration_s)
        except asyncio.TimeoutError:
            pass  # the duration is up: everything captured so far is kept
        finally:
            appender.flush()
    return appender.count


async def replay(path: Path, stream: str, *, speed: float, clock: Clock = SYSTEM_CLOCK,
                 progress: Progress | None = None, producer: KinesisProducer | None = None) -> ProduceResult:
    """Re-publish a recording in per-key order, with inter-arrival times divided by ``speed``."""
    with open(path, "rb") as fo:
        schedule = replay_schedule(read_recording(fo), speed)
    result = ProduceResult()
    producer = producer or KinesisProducer(ProducerConfig(stream_name=stream), clock=clock)
    start = clock.monotonic()
    async with producer:
        for offset, recorded in schedule:
            delay = start + offset - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
            await producer.put(recorded.data, recorded.partition_key, recorded.explicit_hash_key)
            result.produced += 1
            if progress:
                progress(1)
    result.seconds = clock.monotonic() - start
    return result


async def run_over_stream(pipeline, stream: str, sink_specs: list[str], *, start: str = "trim_horizon",
                          checkpoints: Path | None = None, application_name: str = "shardline-run",
                          count: int | None = None, idle_timeout_s: float | None = None, on_error: str = "dlq",
                          dead_letters: Path | None = None, clock: Clock = SYSTEM_CLOCK):
    """`shardline run --stream`: consume, apply the pipeline, write to every sink, checkpoint."""
    from connectors.kinesis.checkpoints import FileCheckpointStore
    from jobs.local.runner import run_stream
    from jobs.local.sink_specs import sink_from_spec

    if not sink_specs:
        raise ValueError("give at least one --sink")
    position, timestamp = parse_start_position(start)
    letters = masked_dead_letters(dead_letters or Path(f"{stream}.dlq.jsonl"))
    sinks = [sink_from_spec(spec, dead_letters=letters) for spec in sink_specs]
    consumer = KinesisConsumer(
        ConsumerConfig(stream_name=stream, application_name=application_name, initial_position=position,
                       at_timestamp=timestamp),
        checkpoints=FileCheckpointStore(checkpoints) if checkpoints else None, clock=clock, dead_letters=letters)
    try:
        async with consumer:
            return await run_stream(pipeline, consumer, sinks, on_error=on_error, dead_letters=letters,
                                    clock=clock, stop_after=count, idle_timeout_s=idle_timeout_s)
    finally:
        for sink in sinks:
            await sink.close()
        await letters.close()
