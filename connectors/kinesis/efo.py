"""Enhanced fan-out: each registered consumer gets its own 2 MB/s per shard, pushed over SubscribeToShard.

Real AWS only (kinesalite has no EFO and kinesis-mock's did not work through
botocore), so the live path is untested here; the decisions (where to
(re)subscribe, when to renew a subscription) are pure functions with unit tests.
A subscription lasts at most 5 minutes; the reader then re-subscribes after
the ContinuationSequenceNumber of the last event.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from connectors.aws import error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.kinesis.batches import StartPosition
from connectors.kinesis.reader import TRANSIENT_ERRORS, ShardReader
from pipelines.clock import Clock

log = logging.getLogger("shardline.kinesis.efo")
# A new SubscribeToShard while the previous one on the same shard is still closing
# fails with ResourceInUseException for a few seconds: wait and retry.
RESUBSCRIBE_CODES = frozenset({"ResourceInUseException"})


def starting_position(position: StartPosition) -> dict[str, Any]:
    """SubscribeToShard's StartingPosition for a reader's start or resume position."""
    out: dict[str, Any] = {"Type": position.type}
    if position.sequence_number is not None:
        out["SequenceNumber"] = position.sequence_number
    if position.timestamp is not None:
        out["Timestamp"] = position.timestamp
    return out


def next_position(event: Mapping[str, Any], current: StartPosition) -> StartPosition | None:
    """Where the next subscription starts after this event; None at SHARD_END (no continuation)."""
    continuation = event.get("ContinuationSequenceNumber")
    if continuation is None:
        return None
    if not event.get("Records") and continuation == current.sequence_number:
        return current  # nothing new: keep a pending skip_through
    return StartPosition.after(continuation)


def subscription_due(started_at: float, now: float, resubscribe_s: float) -> bool:
    """True when this worker should end the subscription and open a new one."""
    return now - started_at >= resubscribe_s


async def register_consumer(client: Any, stream_name: str, consumer_name: str, *, clock: Clock,
                            timeout_s: float) -> str:
    """Register (or find) the stream consumer and wait until it is ACTIVE; returns its ARN."""
    summary = await client.describe_stream_summary(StreamName=stream_name)
    stream_arn = summary["StreamDescriptionSummary"]["StreamARN"]
    try:
        response = await client.register_stream_consumer(StreamARN=stream_arn, ConsumerName=consumer_name)
        arn = response["Consumer"]["ConsumerARN"]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) != "ResourceInUseException":
            raise
        arn = None
    deadline = clock.monotonic() + timeout_s
    while True:
        kwargs = {"ConsumerARN": arn} if arn else {"StreamARN": stream_arn, "ConsumerName": consumer_name}
        description = (await client.describe_stream_consumer(**kwargs))["ConsumerDescription"]
        arn = description["ConsumerARN"]
        if description["ConsumerStatus"] == "ACTIVE":
            return arn
        if clock.monotonic() >= deadline:
            raise TimeoutError(f"EFO consumer {consumer_name} is still {description['ConsumerStatus']} "
                               f"after {timeout_s:.0f}s")
        await clock.sleep(1.0)


def resubscribable(exc: BaseException) -> bool:
    """Errors after which a new subscription from the last position is the fix (not a fatal stop)."""
    return isinstance(exc, TRANSIENT_ERRORS) or is_throttling(exc) or error_code(exc) in RESUBSCRIBE_CODES


class EfoShardReader(ShardReader):
    """Reads one shard through SubscribeToShard; same emit/metrics/dead-letter path as polling."""

    consumer_arn: str = ""

    async def run(self) -> None:
        self.position: StartPosition | None = self.resume
        failures = 0
        while self.position is not None:
            try:
                await self.subscription()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - classified by resubscribable
                if not resubscribable(exc):
                    raise
                failures += 1
                if isinstance(exc, TRANSIENT_ERRORS) and failures > self.config.max_transient_retries:
                    raise unreachable("kinesis", exc) from exc
                self.metrics.retries.labels(self.config.stream_name, error_code(exc) or "transient").inc()
                await self.clock.sleep(full_jitter(failures, self.config.backoff_base_s,
                                                   self.config.backoff_max_s, self.rng))

    async def subscription(self) -> None:
        """One SubscribeToShard from ``self.position``; moves it along as events arrive."""
        assert self.position is not None
        response = await self.call("subscribe_to_shard", retry_codes=RESUBSCRIBE_CODES,
                                   ConsumerARN=self.consumer_arn, ShardId=self.shard_id,
                                   StartingPosition=starting_position(self.position))
        started = self.clock.monotonic()
        stream = response["EventStream"]
        try:
            async for message in stream:
                event = message.get("SubscribeToShardEvent")
                if event is None:
                    continue
                following = next_position(event, self.position)
                await self.deliver(event.get("Records", []), event.get("MillisBehindLatest"),
                                   following is None, self.position.skip_through)
                self.position = following
                if following is None:
                    log.info("event=shard_end stream=%s shard_id=%s efo=1", self.config.stream_name, self.shard_id)
                    return
                if subscription_due(started, self.clock.monotonic(), self.config.efo_resubscribe_s):
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        log.info("event=efo_resubscribe stream=%s shard_id=%s", self.config.stream_name, self.shard_id)
