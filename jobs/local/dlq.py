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

import collections
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


@dataclass
class RedriveResult:
    read: int = 0
    redriven: int = 0
    skipped_by_filter: int = 0
    not_a_record: int = 0
    failed_again: int = 0
    remaining_file: str | None = None
    failed_again_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def redrive(letters: Iterator[DeadLetter], destination: str, *, error_types: Collection[str] = (),
                  dry_run: bool = False, remaining: Path | None = None, dead_letters: Path | None = None,
                  clock: Clock = SYSTEM_CLOCK, sink_factory: Callable[[Any], Any] | None = None) -> RedriveResult:
    """Send the records of ``letters`` (those with one of ``error_types``, or all) to ``destination``.

    ``destination`` is a ``--sink`` spec; ``sink_factory(dead_letters)`` builds the sink instead (tests).
    Letters not sent are appended to ``remaining`` (as they were).  Records the destination
    refuses again go to ``dead_letters`` (default: ``<remaining or redrive>.failed.dlq.jsonl``).
    """
    from connectors.dead_letter import FileDeadLetters
    from jobs.local.runner import add_with_backpressure, masked_dead_letters
    from jobs.local.sink_specs import sink_from_spec

    result = RedriveResult()
    wanted = frozenset(error_types)
    again_path = dead_letters or Path(f"{remaining or 'redrive'}.failed.dlq.jsonl")
    again = masked_dead_letters(again_path)
    sink = None
    if not dry_run:
        sink = (sink_factory or (lambda letters: sink_from_spec(destination, dead_letters=letters)))(again)
    kept = FileDeadLetters(remaining) if remaining is not None else None  # already masked: stored as they are
    try:
        for letter in letters:
            result.read += 1
            if wanted and letter.error_type not in wanted:
                result.skipped_by_filter += 1
            elif (record := letter_record(letter)) is None:
                result.not_a_record += 1
            else:
                if sink is not None:
                    await add_with_backpressure(sink, record, clock)
                result.redriven += 1
                continue
            if kept is not None and not dry_run:
                await kept.put(letter)
        if sink is not None:
            await sink.flush()
    finally:
        if sink is not None:
            await sink.close()
        if kept is not None:
            await kept.close()
            result.remaining_file = str(remaining) if kept.count else None
        result.failed_again = again.count
        result.failed_again_file = str(again_path) if again.count else None
        await again.close()
    return result
