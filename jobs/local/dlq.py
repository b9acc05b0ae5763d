"""Dead letters after the fact: summarise them, and redrive them once their cause is fixed.

A letter stores a record as it was when it failed: a shardline Avro envelope (sinks, stream
runs), a JSON line (file runs, ``produce``), or bytes that never were a record (a malformed
line, a foreign producer's record).  Redrive sends the first two to any ``--sink`` destination
(``kinesis:STREAM`` to run them through the pipeline again, or the sink that refused them),
in dead-letter order, so one partition key's records keep their order.  The third kind
cannot be re-sent as a record: it is counted and, like letters the filter leaves out,
written to ``remaining`` so nothing is lost.  Letters that fail again become dead letters of
this run.

Letters were masked before they were stored (no PII may sit in a dead-letter store), so a
redriven record carries masked values wherever masking changed it.
"""
from __future__ import annotations

import asyncio
import collections
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Iterator
from urllib.parse import urlparse

import botocore.exceptions

from connectors.dead_letter import DeadLetter, parse_dead_letters, read_dead_letters
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record, RecordValidationError, from_avro, from_json_line, to_avro

TOP_REASONS = 10
"""How many distinct reasons a summary lists."""


def iter_letters(source: str, *, s3_client: Any = None) -> Iterator[DeadLetter]:
    """Every letter in a dead-letter file, or under an ``s3://bucket/prefix`` (objects in key order)."""
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"dead-letter file {source} does not exist")
        yield from read_dead_letters(path)
        return
    url = urlparse(source)
    if not url.netloc:
        raise ValueError(f"{source!r}: dead letters on S3 look like s3://bucket/prefix")
    from connectors.aws import CONNECTION_ERRORS, client, error_code, unreachable

    s3_client = s3_client or client("s3")
    prefix = url.path.strip("/")

    def s3_call(action: str, call):
        try:
            return call()
        except CONNECTION_ERRORS as exc:
            raise unreachable("s3", exc) from exc
        except botocore.exceptions.ClientError as exc:
            raise ValueError(f"cannot read dead letters at {source}: {error_code(exc)}; does the bucket exist, "
                             f"and may this role call s3:{action}?") from None

    keys = s3_call("ListBucket", lambda: sorted(
        o["Key"] for page in s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=url.netloc, Prefix=prefix + "/" if prefix else "")
        for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")))
    for key in keys:
        body = s3_call("GetObject", lambda: s3_client.get_object(Bucket=url.netloc, Key=key)["Body"].read())
        yield from parse_dead_letters(body.splitlines(), f"s3://{url.netloc}/{key}")


def letter_record(letter: DeadLetter) -> Record | None:
    """The record a letter holds (Avro envelope or JSON line), or None if its bytes are no record."""
    data = letter.data
    if data[:1] in (b"{", b" ", b"\t"):
        try:
            return from_json_line(data)
        except RecordValidationError:
            pass
    try:
        record = from_avro(data)
    except (RecordValidationError, TypeError, ValueError):
        return None
    # Avro bytes carry no schema: random bytes can happen to decode.  A real envelope re-encodes to itself.
    return record if to_avro(record) == data else None


@dataclass
class DeadLetterSummary:
    letters: int = 0
    redrivable: int = 0
    by_error_type: dict[str, int] = field(default_factory=dict)
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    first_time: float | None = None
    last_time: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"letters": self.letters, "redrivable": self.redrivable, "by_error_type": self.by_error_type,
                "top_reasons": [{"reason": r, "count": n} for r, n in self.top_reasons],
                "first_time": self.first_time, "last_time": self.last_time}


def summarize(letters: Iterator[DeadLetter]) -> DeadLetterSummary:
    """Counts by error type and reason (reasons never quote records), and how many could be redriven."""
    summary = DeadLetterSummary()
    types: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for letter in letters:
        summary.letters += 1
        summary.redrivable += letter_record(letter) is not None
        types[letter.error_type] += 1
        reasons[letter.reason] += 1
        summary.first_time = letter.time if summary.first_time is None else min(summary.first_time, letter.time)
        summary.last_time = letter.time if summary.last_time is None else max(summary.last_time, letter.time)
    summary.by_error_type = dict(types.most_common())
    summary.top_reasons = reasons.most_common(TOP_REASONS)
    return summary


@dataclass(frozen=True)
class FailureLimit:
    """``--max-failures``: a count (``50``) or a share of the records sent (``5%``) of records refused again past
    which a redrive stops.

    >>> FailureLimit.parse("5%").exceeded(failed=6, sent=100), FailureLimit.parse("10").exceeded(failed=10, sent=10)
    (True, False)
    """

    count: int | None = None
    share: float | None = None

    @classmethod
    def parse(cls, text: str) -> "FailureLimit":
        value = text.strip()
        try:
            if value.endswith("%"):
                share = float(value[:-1]) / 100
                if 0 <= share <= 1:
                    return cls(share=share)
            elif value.isdigit():
                return cls(count=int(value))
        except ValueError:
            pass
        raise ValueError(f"--max-failures takes a count (50) or a percentage (5%), got {text!r}")

    def exceeded(self, failed: int, sent: int) -> bool:
        if self.count is not None:
            return failed > self.count
        return sent > 0 and failed > self.share * sent  # type: ignore[operator]


CHECK_EVERY = 500
"""Records sent between two looks at ``--max-failures``.  Sinks report refusals batch by batch, so each look
first waits for the sinks to write what they were given: a redrive stops within this many records of the
limit."""


@dataclass
class RedriveResult:
    read: int = 0
    redriven: int = 0
    skipped_by_filter: int = 0
    not_a_record: int = 0
    failed_again: int = 0
    left_by_limit: int = 0
    """Letters not sent because ``--max-failures`` stopped the redrive (they are in ``remaining``)."""
    stopped_by_limit: bool = False
    remaining_file: str | None = None
    failed_again_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lane_of(record: Record, lanes: int) -> int:
    """The lane a record goes through: one partition key, one lane, so a key's records keep their order."""
    return zlib.crc32(record.partition_key.encode("utf-8")) % lanes


async def redrive(letters: Iterator[DeadLetter], destination: str, *, error_types: Collection[str] = (),
                  dry_run: bool = False, remaining: Path | None = None, dead_letters: Path | None = None,
                  clock: Clock = SYSTEM_CLOCK, sink_factory: Callable[[Any], Any] | None = None,
                  concurrency: int = 1, max_failures: FailureLimit | None = None,
                  check_every: int = CHECK_EVERY) -> RedriveResult:
    """Send the records of ``letters`` (those with one of ``error_types``, or all) to ``destination``.

    ``destination`` is a ``--sink`` spec; ``sink_factory(dead_letters)`` builds the sink instead (tests).
    ``concurrency`` sinks write at once, each taking the records of its partition keys (``lane_of``).  Letters not
    sent are appended to ``remaining`` (as they were): those the filter leaves, those that hold no record, and,
    once more records than ``max_failures`` were refused again, every letter after that point.  Records the
    destination refuses again go to ``dead_letters`` (default: ``<remaining or redrive>.failed.dlq.jsonl``).
    """
    from connectors.dead_letter import FileDeadLetters
    from jobs.local.runner import masked_dead_letters
    from jobs.local.sink_specs import sink_from_spec

    if concurrency < 1:
        raise ValueError("--concurrency must be 1 or more")
    result = RedriveResult()
    wanted = frozenset(error_types)
    again_path = dead_letters or Path(f"{remaining or 'redrive'}.failed.dlq.jsonl")
    again = masked_dead_letters(again_path)
    make_sink = sink_factory or (lambda letters: sink_from_spec(destination, dead_letters=letters))
    lanes = [] if dry_run else [_Lane(make_sink(again), clock) for _ in range(concurrency)]
    kept = FileDeadLetters(remaining) if remaining is not None else None  # already masked: stored as they are
    try:
        for letter in letters:
            result.read += 1
            if result.stopped_by_limit:
                result.left_by_limit += 1
            elif wanted and letter.error_type not in wanted:
                result.skipped_by_filter += 1
            elif (record := letter_record(letter)) is None:
                result.not_a_record += 1
            else:
                if lanes:
                    await lanes[lane_of(record, len(lanes))].put(record)
                result.redriven += 1
                if max_failures is not None and result.redriven % check_every == 0:
                    await asyncio.gather(*(lane.drain() for lane in lanes))
                    result.stopped_by_limit = max_failures.exceeded(again.count, result.redriven)
                continue
            if kept is not None and not dry_run:
                await kept.put(letter)
        await asyncio.gather(*(lane.finish() for lane in lanes))
        if max_failures is not None and max_failures.exceeded(again.count, result.redriven):
            result.stopped_by_limit = True  # past the limit by the end: the run failed, though nothing is left
    finally:
        for lane in lanes:
            await lane.close()
        if kept is not None:
            await kept.close()
            result.remaining_file = str(remaining) if kept.count else None
        result.failed_again = again.count
        result.failed_again_file = str(again_path) if again.count else None
        await again.close()
    return result


class _Lane:
    """One sink and the task that feeds it, in order, from a bounded queue."""

    def __init__(self, sink: Any, clock: Clock) -> None:
        self.sink = sink
        self.clock = clock
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from jobs.local.runner import add_with_backpressure

        while (record := await self.queue.get()) is not None:
            await add_with_backpressure(self.sink, record, self.clock)
            self.queue.task_done()
        await self.sink.flush()

    async def drain(self) -> None:
        """Wait until the sink took every queued record, then flush it (the lane's task waits for more)."""
        join = asyncio.ensure_future(self.queue.join())
        await asyncio.wait([join, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not join.done():
            join.cancel()
            self.task.result()
            raise RuntimeError("a redrive lane stopped before its input ended")
        await self.sink.flush()

    async def put(self, record: Record | None) -> None:
        """Queue ``record``; the lane's failure (a fatal sink error) is raised here rather than waited on."""
        put = asyncio.ensure_future(self.queue.put(record))
        await asyncio.wait([put, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            self.task.result()  # raises the lane's error
            raise RuntimeError("a redrive lane stopped before its input ended")

    async def finish(self) -> None:
        await self.put(None)
        await self.task

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
        await self.sink.close()
