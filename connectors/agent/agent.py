"""The agent: tail each flow's files, ship the records, checkpoint what was acknowledged.

Each flow loops: read what is new (``FlowTailer``), convert it
(``dataProcessingOptions``), hand it to the destination (our
``KinesisProducer`` or ``FirehoseSink``, which batch, pace and retry), and
when the flow caught up with its files (at most once a second), or
``maxBufferSizeRecords`` x 20 records or ``maxBufferAgeMillis`` went by, flush
the destination and only then write the checkpoints.  A crash therefore re-sends at most what was read
since the last checkpoint, with the same record ids.

What goes on the wire is what Kinesis Agent sends: the record's bytes as read
(newline included), or the converters' output.  The record id
(``<fingerprint>:<offset>``, see ``tailer.py``) is the Kinesis partition key,
so a consumer drops duplicates by partition key (KPL aggregation keeps each
user record's key).  The shard still follows ``partitionKeyOption``: RANDOM
spreads by the id's hash; DETERMINISTIC routes by an explicit hash key equal
to Kinesis Agent's (the MD5 of the MD5-hex of the data); FIELD routes by the
named JSON field.  Firehose has no key: there the id is not on the wire.

A record a converter refuses, or one too large after conversion, goes to the
dead-letter file in the state directory with its reason and id (never its
content in a log line).  A delivery failure that outlasts the destination's
retries rewinds the flow to its last checkpoint and tries again after a
backoff.  SIGTERM: flush, checkpoint, exit 0.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from connectors.agent.checkpoints import CheckpointStore
from connectors.agent.config import AgentConfig, FlowConfig
from connectors.agent.tailer import FlowTailer, TailRecord
from connectors.aws import AwsConfig
from connectors.backoff import full_jitter
from connectors.dead_letter import DeadLetter, FileDeadLetters
from connectors.kinesis.producer import KinesisProducer, ProducerConfig, ProducerError, RecordTooLargeError
from connectors.sinks.firehose import FirehoseSink, FirehoseSinkConfig
from connectors.sinks.types import SinkConfig, SinkError
from pipelines.agent.processing import Unprocessable, build_converter
from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.agent")

CHECKPOINT_EVERY_BUFFERS = 20
"""Checkpoint at least every this many full buffers (maxBufferSizeRecords) while a flow keeps busy."""
CAUGHT_UP_CHECKPOINT_S = 1.0
"""A flow that caught up checkpoints once its oldest unacknowledged record is this old: each checkpoint waits
for the records in flight and costs an fsync, so doing it after every trickle of lines would slow delivery."""
READ_BUDGET_BYTES = 4 * 1024 * 1024
"""Bytes read per flow per pass before its records are handed on."""


@dataclass(frozen=True)
class AgentMetrics:
    lines: Counter
    bytes: Counter
    dead_letters: Counter
    checkpoints: Counter
    rewinds: Counter
    files: Gauge
    rotations: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> "AgentMetrics":
        label = ["flow"]  # the flow's index: file paths can name people, so they stay out of labels
        return cls(
            Counter("shardline_agent_records_total", "Records handed to the destination.", label, registry=registry),
            Counter("shardline_agent_read_bytes_total", "Bytes of records read from files.", label, registry=registry),
            Counter("shardline_agent_dead_letters_total", "Records sent to the dead letters.", label,
                    registry=registry),
            Counter("shardline_agent_checkpoints_total", "Checkpoints written after acknowledgement.", label,
                    registry=registry),
            Counter("shardline_agent_rewinds_total", "Delivery failures that rewound a flow to its checkpoint.",
                    label, registry=registry),
            Gauge("shardline_agent_tracked_files", "Files being tailed.", label, registry=registry),
            Counter("shardline_agent_rotations_total", "Files rotated away (renamed or deleted) or truncated.",
                    label, registry=registry),
        )


class _Sendable:
    """What the Firehose sink carries: the bytes, and an id for its messages."""

    __slots__ = ("id", "data")

    def __init__(self, record_id: str, data: bytes) -> None:
        self.id, self.data = record_id, data


class KinesisDestination:
    def __init__(self, flow: FlowConfig, config: AgentConfig, client: Any, registry: CollectorRegistry,
                 clock: Clock) -> None:
        self.flow = flow
        aws = AwsConfig(region=config.kinesis_region, extra={"parameter_validation": False})
        self.producer = KinesisProducer(ProducerConfig(
            stream_name=flow.kinesis_stream, aggregate=flow.kpl_aggregation,
            max_batch_records=flow.max_buffer_records,
            max_batch_bytes=max(1024 * 1024, min(flow.max_buffer_bytes, 5 * 1024 * 1024)),
            backoff_base_s=flow.retry_initial_backoff_s, backoff_cap_s=flow.retry_max_backoff_s, aws=aws),
            client=client, registry=registry, clock=clock)

    async def start(self) -> None:
        await self.producer.start()

    async def put(self, record_id: str, data: bytes) -> None:
        flow = self.flow
        if flow.partition_key_option == "RANDOM":
            await self.producer.put(data, record_id)
            return
        if flow.partition_key_option == "DETERMINISTIC":
            # Kinesis Agent's key is md5-hex(data), and Kinesis hashes keys with MD5: same shard as there.
            route = hashlib.md5(hashlib.md5(data).hexdigest().encode()).digest()
        else:
            route = hashlib.md5(_field_key(data, flow.partition_key_field).encode("utf-8")).digest()
        await self.producer.put(data, record_id, str(int.from_bytes(route, "big")))

    async def flush(self) -> None:
        await self.producer.flush()

    async def close(self) -> None:
        with contextlib.suppress(ProducerError):
            await self.producer.close()


class FirehoseDestination:
    def __init__(self, flow: FlowConfig, config: AgentConfig, client: Any, registry: CollectorRegistry,
                 clock: Clock) -> None:
        self.flow = flow
        batching = SinkConfig(max_batch_records=flow.max_buffer_records,
                              max_batch_bytes=min(flow.max_buffer_bytes, 4 * 1024 * 1024),
                              max_age_s=flow.max_buffer_age_s, backoff_base_s=flow.retry_initial_backoff_s,
                              backoff_cap_s=flow.retry_max_backoff_s, flush_in_background=False)
        self.sink = FirehoseSink(FirehoseSinkConfig(flow.delivery_stream, batching),
                                 encode=lambda sendable: sendable.data, client=client, clock=clock,
                                 registry=registry)
        self._joined: list[bytes] = []  # aggregatedRecordSizeBytes: records joined into one Firehose record
        self._joined_size = 0
        self._joined_id = ""

    async def start(self) -> None:
        pass

    async def put(self, record_id: str, data: bytes) -> None:
        limit = self.flow.aggregated_record_size_bytes
        if not limit:
            await self.sink.add(_Sendable(record_id, data))
            return
        if self._joined and self._joined_size + len(data) > limit:
            await self._emit_joined()
        if not self._joined:
            self._joined_id = record_id
        self._joined.append(data)
        self._joined_size += len(data)

    async def _emit_joined(self) -> None:
        if self._joined:
            joined, self._joined, self._joined_size = b"".join(self._joined), [], 0
            await self.sink.add(_Sendable(self._joined_id, joined))

    async def flush(self) -> None:
        await self._emit_joined()
        await self.sink.flush()

    async def close(self) -> None:
        with contextlib.suppress(SinkError):
            await self.sink.close()


def _field_key(data: bytes, name: str | None) -> str:
    try:
        value = json.loads(data)[name]
    except (ValueError, KeyError, TypeError):
        raise Unprocessable(f"partitionKeyField {name!r} is missing (the record must be a JSON object with it)") \
            from None
    if value is None or value == "":
        raise Unprocessable(f"partitionKeyField {name!r} is empty")
    return value if isinstance(value, str) else json.dumps(value)


class FlowShipper:
    """One flow's loop: read, convert, send, and checkpoint after acknowledgement."""

    def __init__(self, index: int, flow: FlowConfig, agent: "Agent") -> None:
        self.index, self.flow, self.agent = index, flow, agent
        self._label = str(index)
        self._convert = build_converter(flow.processing)
        self._tailer: FlowTailer | None = None
        self._destination: KinesisDestination | FirehoseDestination | None = None
        self._unacked = 0
        self._oldest_unacked: float | None = None
        self._failures = 0
        self._rotations_counted = 0
        self._unflushed = False

    async def open(self) -> None:
        agent = self.agent
        self._tailer = FlowTailer(self.index, self.flow, agent.store.load(self.index), clock=agent.clock)
        cls = KinesisDestination if self.flow.kinesis_stream else FirehoseDestination
        client = agent.kinesis_client if self.flow.kinesis_stream else agent.firehose_client
        self._destination = cls(self.flow, agent.config, client, agent.registry, agent.clock)
        await self._destination.start()
        self._unacked, self._oldest_unacked, self._rotations_counted, self._unflushed = 0, None, 0, False

    async def close(self) -> None:
        if self._destination is not None:
            await self._destination.close()
        if self._tailer is not None:
            self._tailer.close()

    async def step(self) -> bool:
        """One pass; True if it read anything (the caller naps when no flow did)."""
        tailer, metrics = self._tailer, self.agent.metrics
        records = tailer.read(READ_BUDGET_BYTES)
        new_rows = tailer.take_new_rows()
        if new_rows:
            self.agent.store.save(new_rows)  # fingerprints are durable before any record carrying them leaves
        if records:
            await self._send(records)
        metrics.files.labels(self._label).set(tailer.tracked)
        if not records and self._unflushed:
            # Caught up: push what the destination still holds (an open KPL aggregate waits for more records
            # otherwise), so a trickle of lines is not delayed; the checkpoint itself can wait.
            await self._destination.flush()
            self._unflushed = False
        age = self.agent.clock.monotonic() - self._oldest_unacked if self._unacked else 0.0
        due = self._unacked and (self._unacked >= CHECKPOINT_EVERY_BUFFERS * self.flow.max_buffer_records
                                 or age >= self.flow.max_buffer_age_s or (not records and age >= CAUGHT_UP_CHECKPOINT_S))
        if due or (not records and tailer.has_retired):
            await self.checkpoint()
        return bool(records)

    @property
    def settling(self) -> bool:
        return self._tailer is not None and self._tailer.settling

    async def _send(self, records: list[TailRecord]) -> None:
        metrics, destination, convert = self.agent.metrics, self._destination, self._convert
        now = self.agent.clock.time()
        limit = self.flow.max_record_bytes
        sent = size = 0
        for record in records:
            data = record.data
            size += len(data)
            try:
                if convert is not None:
                    data = convert(data, now)
                if len(data) + len(record.id) > limit:
                    raise Unprocessable(f"{len(data)} bytes after processing, over the {limit}-byte record limit")
                await destination.put(record.id, data)
            except (Unprocessable, RecordTooLargeError) as exc:
                await self._dead_letter(record, str(exc), type(exc).__name__)
                continue
            sent += 1
        metrics.lines.labels(self._label).inc(sent)
        metrics.bytes.labels(self._label).inc(size)
        if self._oldest_unacked is None:
            self._oldest_unacked = self.agent.clock.monotonic()
        self._unacked += len(records)
        self._unflushed = True

    async def _dead_letter(self, record: TailRecord, reason: str, error_type: str) -> None:
        self.agent.metrics.dead_letters.labels(self._label).inc()
        log.warning("event=agent_dead_letter flow=%d id=%s error_type=%s", self.index, record.id, error_type)
        await self.agent.dead_letters.put(DeadLetter(
            reason=reason, error_type=error_type, source=f"agent:flow[{self.index}]:{record.id}", attempts=0,
            data=record.data, time=self.agent.clock.time()))

    async def checkpoint(self) -> None:
        """Flush the destination; once it acknowledged everything, write where every file stands."""
        await self._destination.flush()
        await self.agent.dead_letters.flush()
        self.agent.store.save(self._tailer.checkpoints())
        self.agent.metrics.checkpoints.labels(self._label).inc()
        rotations = self._tailer.rotations + self._tailer.truncations
        self.agent.metrics.rotations.labels(self._label).inc(rotations - self._rotations_counted)
        self._rotations_counted = rotations
        self._unacked, self._oldest_unacked, self._failures, self._unflushed = 0, None, 0, False

    async def rewind(self, exc: BaseException) -> None:
        """Delivery failed past the destination's retries: start again from the last checkpoint."""
        self._failures += 1
        self.agent.metrics.rewinds.labels(self._label).inc()
        delay = full_jitter(self._failures, self.flow.retry_initial_backoff_s, self.flow.retry_max_backoff_s,
                            self.agent.rng)
        log.warning("event=agent_rewind flow=%d error=%s failures=%d delay_s=%.2f", self.index,
                    type(exc).__name__, self._failures, delay)
        await self.close()
        await self.agent.clock.sleep(delay)
        await self.open()

    @property
    def failures(self) -> int:
        return self._failures


class Agent:
    """All flows of one ``agent.json``.  ``await run()``; ``stop()`` (SIGTERM) ends it cleanly."""

    def __init__(self, config: AgentConfig, *, clock: Clock = SYSTEM_CLOCK, registry: CollectorRegistry | None = None,
                 kinesis_client: Any = None, firehose_client: Any = None, max_failures: int | None = None) -> None:
        self.config, self.clock = config, clock
        self.registry = registry or REGISTRY
        self.metrics = AgentMetrics.create(self.registry)
        self.kinesis_client, self.firehose_client = kinesis_client, firehose_client
        self.max_failures = max_failures
        self.rng = random.Random()
        self.store = CheckpointStore(config.checkpoint_path)
        self.dead_letters = FileDeadLetters(config.dead_letter_path, quiet=True)
        self._stop = asyncio.Event()
        self._shippers = [FlowShipper(i, flow, self) for i, flow in enumerate(config.flows)]

    def stop(self) -> None:
        self._stop.set()

    async def _ship(self, once: bool, poll: float) -> None:
        """Pass over the flows until stopped (``once``: until no flow has anything left to read)."""
        while not self._stop.is_set():
            busy = False
            for shipper in self._shippers:
                try:
                    busy |= await shipper.step()
                except (ProducerError, SinkError) as exc:
                    await self._rewind_or_raise(shipper, exc)
                    busy = True
            if once and not busy and not any(shipper.settling for shipper in self._shippers):
                return
            if not busy:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), poll)

    async def _final_checkpoint(self) -> bool:
        """Flush and checkpoint every flow; False if one had to rewind (``--once`` then ships again)."""
        for shipper in self._shippers:
            try:
                await shipper.checkpoint()
            except (ProducerError, SinkError) as exc:
                if self._stop.is_set():
                    raise  # stopping: what was not acknowledged is sent again at the next start
                await self._rewind_or_raise(shipper, exc)
                return False
        return True

    async def _rewind_or_raise(self, shipper: "FlowShipper", exc: BaseException) -> None:
        if self.max_failures is not None and shipper.failures >= self.max_failures:
            raise exc
        await shipper.rewind(exc)

    async def run(self, *, once: bool = False) -> None:
        """Ship until stopped (``once``: until every flow caught up with its files), then flush and checkpoint."""
        self.store.prune(self.clock.time() - self.config.checkpoint_ttl_days * 86_400)
        try:
            for shipper in self._shippers:
                await shipper.open()
            poll = min(flow.poll_s for flow in self.config.flows)
            await self._ship(once, poll)
            while not await self._final_checkpoint():
                await self._ship(once, poll)
            log.info("event=agent_stopped flows=%d", len(self._shippers))
        finally:
            for shipper in self._shippers:
                await shipper.close()
            await self.dead_letters.close()
            self.store.close()


def apply_endpoints(config: AgentConfig) -> None:
    """Point the AWS clients where agent.json says, through the standard variables (see DESIGN.md)."""
    if config.kinesis_endpoint:
        os.environ["AWS_ENDPOINT_URL_KINESIS"] = config.kinesis_endpoint
    if config.firehose_endpoint:
        os.environ["AWS_ENDPOINT_URL_FIREHOSE"] = config.firehose_endpoint
    if config.aws_access_key_id and config.aws_secret_access_key:
        os.environ["AWS_ACCESS_KEY_ID"] = config.aws_access_key_id
        os.environ["AWS_SECRET_ACCESS_KEY"] = config.aws_secret_access_key
