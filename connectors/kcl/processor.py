"""The processor side of the KCL: one Python process per shard, started by the MultiLangDaemon.

``PipelineRecordProcessor`` runs a pipeline function over each record, hands
the outputs to a sink, and checkpoints only after the sink flushed, so a record
is checkpointed only once its outputs are durable (at-least-once).

The daemon already de-aggregates KPL records: the KCL's ``ProcessTask`` calls
``AggregatorUtil.deaggregate`` before the records reach the processor, and each
user record arrives with its own ``subSequenceNumber``.  So the processor does
not decode aggregates again; doing so would mangle a user record that happens
to start with the KPL magic bytes.

stdout is the KCL protocol: nothing here may print.  Logs go to stderr, which
the daemon relays into its own log.

Errors, by kind:

- checkpoint ``ThrottlingException`` / ``KinesisClientLibDependencyException``:
  retried with full-jitter backoff; if they persist the next batch checkpoints
  (the records are already in the sink, so the cost is replays, not loss);
- checkpoint ``ShutdownException``: the lease is gone; stop checkpointing, the
  new owner resumes from the last checkpoint;
- checkpoint ``InvalidStateException`` (the KCL cannot write its lease table)
  and sink errors: fatal.  The process exits, which makes the daemon exit; no
  record past the last checkpoint is lost, and a restarted worker replays them.
  kclpy would otherwise log the exception and ask for the next batch, whose
  checkpoint would silently skip the failed one;
- the pipeline raising for one record: that record goes to the dead-letter
  destination (fatal when there is none: nothing is silently dropped).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Protocol, TypeVar

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor as kclpy_v3
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from connectors.backoff import BackpressureConfig, BackpressureTimeout, add_with_backpressure, full_jitter
from connectors.dead_letter import DeadLetter, DeadLetterSink
from connectors.kcl.daemon import STREAM_VARIABLE
from connectors.kinesis.batches import ConsumedRecord
from connectors.kinesis.checkpoints import Checkpoint
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import PipelineFn, RecordPath, Rejected, kinesis_source, rejection

log = logging.getLogger("shardline.kcl")

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
RETRYABLE_CHECKPOINT_ERRORS = frozenset({"ThrottlingException", "KinesisClientLibDependencyException"})
EXIT_FATAL = 1


class OutputSink(Protocol[T_contra]):
    async def add(self, item: T_contra) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


Pipeline = Callable[[ConsumedRecord], Iterable[T]]
"""One record in, zero or more outputs for the sink.  A pattern's ``Record`` pipeline goes through
``record_pipeline``, which runs the same ``RecordPath`` as every other engine."""


class RecordRejected(Exception):
    """Raised by ``record_pipeline`` for a record its ``RecordPath`` refused; carries the ``Rejected``."""

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(rejected.reason)
        self.rejected = rejected


def record_pipeline(pipeline: PipelineFn) -> Pipeline:
    """A ``Record -> records`` pipeline as a KCL one: decode, validate and run it as every engine does."""
    path = RecordPath(pipeline)

    def run(consumed: ConsumedRecord) -> list:
        outcome = path.from_bytes(consumed.data)
        if isinstance(outcome, Rejected):
            raise RecordRejected(outcome)
        return outcome
    return run


@dataclass(frozen=True)
class ProcessorConfig:
    """How a KCL record processor checkpoints and retries.  Every default is here."""

    checkpoint_interval_s: float = 0.0
    """Seconds between checkpoints; 0: after every batch (fewest replays after a failover, one DynamoDB write each)."""
    checkpoint_attempts: int = 6
    """Checkpoint tries on ThrottlingException / KinesisClientLibDependencyException."""
    backoff_base_s: float = 0.2
    """First checkpoint or backpressure retry waits up to this long (full jitter, doubling)."""
    backoff_cap_s: float = 5.0
    """No retry waits longer than this."""
    max_backpressure_wait_s: float = 300.0
    """Give up (fatal) when the sink pushes back for longer than this on one record."""


class ProcessorMetrics:
    _by_registry: dict[CollectorRegistry, "ProcessorMetrics"] = {}

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter("shardline_kcl_records", "Records a KCL processor handled, by outcome.",
                               ["outcome"], registry=registry)
        self.checkpoints = Counter("shardline_kcl_checkpoints", "KCL checkpoint attempts, by outcome.",
                                   ["outcome"], registry=registry)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None) -> "ProcessorMetrics":
        registry = REGISTRY if registry is None else registry
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]


class ProcessorState(Protocol):
    """A pipeline that keeps state across records (windows): saved before each checkpoint, named by the
    position it reflects, and restored from the one the checkpoint names when a processor takes the shard."""

    def restore(self, shard_id: str, position: "Checkpoint | None") -> None:
        """Continue from the state saved at ``position`` (None: the shard starts without a checkpoint)."""

    def save(self, shard_id: str, position: "Checkpoint") -> None:
        """Store the state as of ``position`` (the last record delivered), before the checkpoint moves there."""

    def finish(self) -> Iterable[Any]:
        """The shard ended: whatever the state still holds, as outputs for the sink."""


class FatalProcessorError(RuntimeError):
    """The processor cannot go on without losing records; the worker must stop."""


def to_consumed_record(record: Any, shard_id: str) -> ConsumedRecord:
    """An ``amazon_kclpy.messages.Record`` as the ConsumedRecord every shardline engine hands to pipelines."""
    return ConsumedRecord(data=record.binary_data, partition_key=record.partition_key, shard_id=shard_id,
                          sequence_number=record.sequence_number,
                          sub_sequence_number=int(record.sub_sequence_number or 0),
                          arrival_time=record.timestamp_millis / 1000.0)


class PipelineRecordProcessor(kclpy_v3.RecordProcessorBase):
    """A kclpy v3 record processor: pipeline per record, outputs to ``sink``, checkpoint after flush."""

    def __init__(self, pipeline: Pipeline, sink: OutputSink, *, dead_letters: DeadLetterSink | None = None,
                 config: ProcessorConfig = ProcessorConfig(), clock: Clock = SYSTEM_CLOCK,
                 registry: CollectorRegistry | None = None, rng: random.Random | None = None,
                 stream_name: str | None = None, state: ProcessorState | None = None) -> None:
        self.pipeline = pipeline
        self.state = state
        self.sink = sink
        self.dead_letters = dead_letters
        self.config = config
        self.clock = clock
        self.metrics = ProcessorMetrics.for_registry(registry)
        self.rng = rng or random.Random()
        self.stream_name = stream_name if stream_name is not None else os.environ.get(STREAM_VARIABLE, "")
        self.shard_id = ""
        self._loop = asyncio.new_event_loop()
        self._last_checkpoint = 0.0
        self._lease_gone = False
        self._closed = False
        self._position: Checkpoint | None = None
        """The last record delivered: where a stateful processor checkpoints (its state is saved as of it)."""

    # -- the kclpy v3 callbacks ------------------------------------------------------------------
    def initialize(self, initialize_input: Any) -> None:
        self.shard_id = initialize_input.shard_id
        self._last_checkpoint = self.clock.monotonic()
        log.info("event=kcl_processor_initialized shard=%s resume_from=%s", self.shard_id,
                 initialize_input.sequence_number)
        if self.state is not None:
            resume = initialize_input.sequence_number
            position = (Checkpoint(resume, int(initialize_input.sub_sequence_number or 0))
                        if resume and str(resume).isdigit() else None)  # else TRIM_HORIZON, LATEST, AT_TIMESTAMP
            self._fatal_guard(self.state.restore, self.shard_id, position)

    def process_records(self, process_records_input: Any) -> None:
        self._fatal_guard(self._process, process_records_input)

    def lease_lost(self, lease_lost_input: Any) -> None:
        # Checkpointing is no longer allowed; every batch was flushed before the next was taken.
        self._lease_gone = True
        log.info("event=kcl_lease_lost shard=%s", self.shard_id)
        self._fatal_guard(self._close)

    def shard_ended(self, shard_ended_input: Any) -> None:
        # Must checkpoint, or the KCL retries shard end and never starts the child shards.
        def end() -> None:
            if self.state is not None:
                self._run(self._add_all(self.state.finish()))
            self._run(self.sink.flush())
            self._checkpoint(shard_ended_input.checkpointer, why="shard_end")
            self._close()
        self._fatal_guard(end)

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        # The worker is stopping or handing the lease over; leaseLost (or end of input) follows.
        def shutdown() -> None:
            self._run(self.sink.flush())
            self._checkpoint(shutdown_requested_input.checkpointer, why="shutdown")
        self._fatal_guard(shutdown)

    def close(self) -> None:
        """Close the sink and dead-letter store (once); ``run_processor`` calls it when the daemon goes away."""
        self._fatal_guard(self._close)

    # -- work -------------------------------------------------------------------------------------
    def _process(self, process_records_input: Any) -> None:
        self._run(self._deliver(process_records_input.records))
        now = self.clock.monotonic()
        if now - self._last_checkpoint >= self.config.checkpoint_interval_s:
            self._checkpoint(process_records_input.checkpointer, why="batch")
            self._last_checkpoint = now

    async def _deliver(self, raw_records: Iterable[Any]) -> None:
        """Pipeline and sink for one batch, in one trip through the event loop; flushed before returning."""
        for raw in raw_records:
            record = to_consumed_record(raw, self.shard_id)
            self._position = Checkpoint(record.sequence_number, record.sub_sequence_number)
            try:
                outputs = list(self.pipeline(record))
            except Exception as exc:  # noqa: BLE001 - a pipeline error is about this record only
                await self._dead_letter(record, exc)
                continue
            for output in outputs:
                await self._add(output)
            self.metrics.records.labels("processed").inc()
        await self.sink.flush()

    async def _add_all(self, outputs: Iterable[Any]) -> None:
        for output in outputs:
            await self._add(output)

    async def _add(self, output: Any) -> None:
        backpressure = BackpressureConfig(self.config.backoff_base_s, self.config.backoff_cap_s,
                                          self.config.max_backpressure_wait_s)
        try:
            await add_with_backpressure(self.sink, output, self.clock, backpressure, self.rng,
                                        where=f" on shard {self.shard_id}")
        except BackpressureTimeout as exc:
            raise FatalProcessorError(str(exc)) from exc

    async def _dead_letter(self, record: ConsumedRecord, exc: Exception) -> None:
        rejected = exc.rejected if isinstance(exc, RecordRejected) else rejection(exc, "pipeline")
        if self.dead_letters is None:
            raise FatalProcessorError(
                f"a record was rejected ({rejected.error_type}) on shard {self.shard_id} at sequence "
                f"{record.sequence_number} and no dead-letter destination is configured; fix the pipeline or give "
                "one") from exc
        source = kinesis_source(self.stream_name, self.shard_id, record.sequence_number, record.sub_sequence_number)
        letter = DeadLetter.of(rejected, source, record.data, self.clock.time())
        await self.dead_letters.put(letter)
        await self.dead_letters.flush()   # durable before the checkpoint moves past the record
        self.metrics.records.labels("dead_lettered").inc()

    def _checkpoint(self, checkpointer: Any, *, why: str) -> bool:
        """Checkpoint at the end of the last delivered batch; False when it could not (and need not) be done."""
        if self._lease_gone:
            return False
        at: tuple = ()
        if self.state is not None and why != "shard_end":
            if self._position is None:
                return False  # nothing delivered since the shard was taken: the checkpoint is where it was
            self.state.save(self.shard_id, self._position)  # before the checkpoint names it
            at = (self._position.sequence_number, self._position.sub_sequence_number)
        for attempt in range(1, self.config.checkpoint_attempts + 1):
            try:
                checkpointer.checkpoint(*at)
                self.metrics.checkpoints.labels("ok").inc()
                return True
            except kcl.CheckpointError as err:
                code = str(err.value)
            if code == "ShutdownException":
                # Another worker holds the lease now and resumes from the last checkpoint.
                self._lease_gone = True
                self.metrics.checkpoints.labels("lease_gone").inc()
                log.info("event=kcl_checkpoint_skipped reason=lease_gone shard=%s why=%s", self.shard_id, why)
                return False
            if code not in RETRYABLE_CHECKPOINT_ERRORS:
                self.metrics.checkpoints.labels("failed").inc()
                raise FatalProcessorError(
                    f"the KCL refused to checkpoint shard {self.shard_id}: {code}. InvalidStateException means "
                    "the worker cannot write its lease table: check that the DynamoDB table named after the "
                    "application exists and that the worker's credentials may write it")
            self.metrics.checkpoints.labels("retried").inc()
            if attempt < self.config.checkpoint_attempts:
                self._run(self.clock.sleep(full_jitter(attempt, self.config.backoff_base_s,
                                                       self.config.backoff_cap_s, self.rng)))
        # Outputs are in the sink already: a later checkpoint covers these records; a failover replays them.
        log.warning("event=kcl_checkpoint_gave_up shard=%s why=%s error=%s attempts=%d", self.shard_id, why, code,
                    self.config.checkpoint_attempts)
        return False

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._run(self.sink.close())
        if self.dead_letters is not None:
            self._run(self.dead_letters.close())

    def _run(self, awaitable: Awaitable[Any]) -> Any:
        return self._loop.run_until_complete(awaitable)

    def _fatal_guard(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - also sink/store failures: records past the checkpoint
            self._exit(exc)       # must be replayed, so the worker stops instead of taking the next batch

    def _exit(self, exc: BaseException) -> None:
        log.error("event=kcl_processor_fatal shard=%s error_type=%s message=%s", self.shard_id,
                  type(exc).__name__, exc if isinstance(exc, FatalProcessorError) else "see the traceback above",
                  exc_info=not isinstance(exc, FatalProcessorError))
        # kclpy re-raises SystemExit; the daemon sees its child die and exits (MultiLangShardRecordProcessor).
        raise SystemExit(EXIT_FATAL)


def configure_stderr_logging(level: int = logging.INFO) -> None:
    """One event per line on stderr: stdout belongs to the KCL protocol."""
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("shardline")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_processor(processor: PipelineRecordProcessor) -> None:
    """Speak the KCL protocol on stdin/stdout until the daemon closes stdin, then close the sinks."""
    try:
        kcl.KCLProcess(processor).run()
    finally:
        processor.close()
