"""Dead-letter destinations: where a record goes when it cannot be delivered.

A ``DeadLetter`` carries the record's bytes with why it failed (``reason``,
``error_type``), where it came from (``source``, e.g. ``file:in.jsonl:line 12``
or ``kinesis:stream/shardId-000/seq``) and how many attempts were made, so
``shardline dlq redrive`` can re-inject it after a fix.

Letters must be masked before they are stored: a dead-letter file outlives
the stream and is read by people.  Every store takes a ``mask`` hook
(bytes -> bytes, applied to ``data`` before it is written).  The default is
the identity; the PII pattern sets its masking policy here.  ``reason`` must
never quote record contents.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import json
import logging
import random
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.clients import LazyClient
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected

log = logging.getLogger("shardline.dead_letter")

Mask = Callable[[bytes], bytes]


def identity(data: bytes) -> bytes:
    return data


def hour_partition(epoch_s: float) -> str:
    """``dt=YYYY-MM-DD/hour=HH`` in UTC: the Hive-style layout Athena and Glue partition on."""
    return _hour_partition(int(epoch_s // 3600))  # sinks call this per record: format each hour once


@functools.lru_cache(maxsize=256)
def _hour_partition(hour: int) -> str:
    when = dt.datetime.fromtimestamp(hour * 3600, tz=dt.timezone.utc)
    return f"dt={when:%Y-%m-%d}/hour={when:%H}"


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    """Why it failed, in words a user can act on; never quotes the record."""
    error_type: str
    """A stable code: the service's ErrorCode or the exception's class name."""
    source: str
    """Where the record came from or was going, e.g. ``kinesis:stream/shardId-000/seq``."""
    attempts: int
    """Delivery attempts made (0: rejected before any attempt)."""
    data: bytes
    """The record's bytes (for sinks: the Avro envelope, so redrive can re-inject it)."""
    time: float
    """When it was dead-lettered, epoch seconds (from the injected clock)."""

    @classmethod
    def of(cls, rejected: "Rejected", source: str, data: bytes, time: float) -> "DeadLetter":
        """The letter every engine writes for a record its ``RecordPath`` rejected."""
        return cls(reason=rejected.reason, error_type=rejected.error_type, source=source, attempts=1, data=data,
                   time=time)

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason, "error_type": self.error_type, "source": self.source,
                           "attempts": self.attempts, "time": self.time,
                           "data": base64.b64encode(self.data).decode("ascii")}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str | bytes) -> "DeadLetter":
        raw = json.loads(line)
        return cls(reason=raw["reason"], error_type=raw["error_type"], source=raw["source"],
                   attempts=int(raw["attempts"]), time=float(raw["time"]),
                   data=base64.b64decode(raw["data"], validate=True))


WITHHELD = " (data withheld: the dead-letter mask failed on it)"


def masked_letter(letter: DeadLetter, mask: Mask) -> DeadLetter:
    """The letter with its data masked.  Never raises: when the mask fails, the letter keeps its reason and
    source but not its data (the reason says so), so a record no mask can read still leaves a trace."""
    if mask is identity:
        return letter
    try:
        data = mask(letter.data)
    except Exception as exc:  # noqa: BLE001 - the mask must not stop a run over one record
        log.error("event=dead_letter_mask_failed error_type=%s mask_error=%s; data withheld", letter.error_type,
                  type(exc).__name__)
        return replace(letter, reason=letter.reason + WITHHELD, data=b"")
    return replace(letter, data=data)


class DeadLetterError(RuntimeError):
    """A dead-letter destination cannot take letters (missing bucket, no permission): fatal."""


class DeadLetterSink(Protocol):
    async def put(self, letter: DeadLetter) -> None: ...
    async def flush(self) -> None:
        """Make every letter put so far durable (sinks call this before their flush returns)."""
    async def close(self) -> None: ...


def parse_dead_letters(lines: Iterable[bytes], where: str) -> Iterator[DeadLetter]:
    """The letters in JSON lines (a ``FileDeadLetters`` file, an ``S3DeadLetters`` object); ``where`` names them in errors."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield DeadLetter.from_json(line)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: line {number} is not a dead letter ({type(exc).__name__})") from None


def read_dead_letters(path: str | Path) -> Iterator[DeadLetter]:
    """Read a ``FileDeadLetters`` file (or a downloaded ``S3DeadLetters`` object)."""
    with open(path, "rb") as fo:
        yield from parse_dead_letters(fo, str(path))


class FileDeadLetters:
    """Dead letters appended to a local JSON-lines file (data as base64)."""

    def __init__(self, path: str | Path, *, mask: Mask = identity, quiet: bool = False) -> None:
        self.path = Path(path)
        self._mask = mask
        self._quiet = quiet
        self._fo = None
        self.count = 0
        self.withheld = 0
        """Letters stored without their data because the mask failed on it."""

    async def put(self, letter: DeadLetter) -> None:
        if self._fo is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fo = open(self.path, "a", encoding="utf-8")
        # A buffered append of one short line: cheaper inline than a thread hop.
        masked = masked_letter(letter, self._mask)
        self.withheld += masked is not letter and not masked.data
        self._fo.write(masked.to_json() + "\n")
        self.count += 1
        if not self._quiet:
            log.warning("event=dead_letter store=file error_type=%s attempts=%d", letter.error_type,
                        letter.attempts)

    async def flush(self) -> None:
        if self._fo is not None:
            self._fo.flush()

    async def close(self) -> None:
        if self._fo is not None:
            self._fo.close()
            self._fo = None


@dataclass(frozen=True)
class S3DeadLetterConfig:
    max_buffered_letters: int = 1000
    """Letters held before ``put`` writes an object by itself."""
    max_attempts: int = 5
    """PutObject attempts on throttling or connection errors before giving up."""
    backoff_base_s: float = 0.1
    """First retry waits up to this long (full jitter)."""
    backoff_cap_s: float = 5.0
    """No retry waits longer than this."""


class S3DeadLetters:
    """Dead letters as one JSON-lines object per flush: ``<prefix>/dt=.../hour=HH/<ms>-<n>-<uuid>.jsonl``."""

    def __init__(self, bucket: str, prefix: str = "dead-letters", *, config: S3DeadLetterConfig = S3DeadLetterConfig(),
                 client: Any = None, clock: Clock = SYSTEM_CLOCK, mask: Mask = identity,
                 rng: random.Random | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.config = config
        self._client = LazyClient("s3", client)
        self._clock = clock
        self._mask = mask
        self._rng = rng or random.Random()
        self._buffer: list[str] = []
        # Sinks flush their dead letters concurrently (a runner flushes every sink at once): one write at a
        # time, so no letter is written twice and a flush returns only once the letters put before it are durable.
        self._flushing = asyncio.Lock()
        self.keys: list[str] = []
        """Keys written so far, for tests and the CLI's summary."""
        self._objects = 0
        self.withheld = 0
        """Letters stored without their data because the mask failed on it."""

    async def put(self, letter: DeadLetter) -> None:
        masked = masked_letter(letter, self._mask)
        self.withheld += masked is not letter and not masked.data
        self._buffer.append(masked.to_json())
        if len(self._buffer) >= self.config.max_buffered_letters:
            await self.flush()

    async def flush(self) -> None:
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer:
            return
        # Keys sort in write order (the clock's milliseconds, then this store's count), so redrive
        # reads a prefix's letters in the order they were stored; the uuid keeps writers apart.
        now = self._clock.time()
        self._objects += 1
        key = f"{self.prefix}/{hour_partition(now)}/{int(now * 1000):013d}-{self._objects:06d}-{uuid.uuid4()}.jsonl"
        count = len(self._buffer)  # letters put while this write is in flight wait for the next flush
        body = ("\n".join(self._buffer[:count]) + "\n").encode("utf-8")
        client = await self._client.get()
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                await client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                        ContentType="application/x-ndjson")
                break
            except Exception as exc:
                retryable = is_throttling(exc) or isinstance(exc, CONNECTION_ERRORS)
                if not retryable or attempt == self.config.max_attempts:
                    # Letters stay buffered, so a later flush (or close) tries them again.
                    if isinstance(exc, CONNECTION_ERRORS):
                        raise unreachable("s3", exc) from exc
                    raise DeadLetterError(f"cannot write dead letters to s3://{self.bucket}/{self.prefix}/: "
                                          f"{error_code(exc) or type(exc).__name__}; does the bucket exist "
                                          "and may this role call s3:PutObject on it?") from exc
                await self._clock.sleep(full_jitter(attempt, self.config.backoff_base_s,
                                                    self.config.backoff_cap_s, self._rng))
        log.warning("event=dead_letters_written store=s3 bucket=%s key=%s letters=%d",
                    self.bucket, key, count)
        del self._buffer[:count]
        self.keys.append(key)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await self._client.close()


def open_dead_letters(where: str, *, clock: Clock = SYSTEM_CLOCK,
                      mask: Mask = identity) -> FileDeadLetters | S3DeadLetters:
    """``s3://bucket/prefix`` (prefix default ``dead-letters``) or a JSON-lines file path."""
    from connectors.aws import split_s3_url

    if where.startswith("s3://"):
        bucket, prefix = split_s3_url(where, "dead-letter S3 location")
        return S3DeadLetters(bucket, prefix or "dead-letters", clock=clock, mask=mask)
    return FileDeadLetters(Path(where), mask=mask)
