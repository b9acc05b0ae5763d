"""Small stream helpers shared by the Kinesis producer, consumer and tests.

Each takes an aiobotocore Kinesis client (or anything with the same async
methods) so callers decide how clients are built and closed.
"""
from __future__ import annotations

from typing import Any

from connectors.aws import CONNECTION_ERRORS, error_code, unreachable
from pipelines.clock import SYSTEM_CLOCK, Clock


class StreamNotReadyError(TimeoutError):
    """A stream did not become ACTIVE in time."""


async def wait_stream_active(client: Any, stream_name: str, *, timeout_s: float = 60.0,
                             poll_s: float = 0.1, clock: Clock = SYSTEM_CLOCK) -> None:
    """Poll DescribeStreamSummary until the stream is ACTIVE (after create or UpdateShardCount)."""
    deadline = clock.monotonic() + timeout_s
    status = "unknown"
    while clock.monotonic() < deadline:
        try:
            summary = await client.describe_stream_summary(StreamName=stream_name)
            status = summary["StreamDescriptionSummary"]["StreamStatus"]
            if status == "ACTIVE":
                return
        except CONNECTION_ERRORS as exc:
            raise unreachable("kinesis", exc) from exc
        except Exception as exc:  # noqa: BLE001 - a stream being created may not be found yet
            if error_code(exc) != "ResourceNotFoundException":
                raise
        await clock.sleep(poll_s)
    raise StreamNotReadyError(f"stream {stream_name!r} is still {status} after {timeout_s:.0f}s")


async def create_stream_and_wait(client: Any, stream_name: str, shard_count: int = 1, *,
                                 timeout_s: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
    """Create a provisioned stream (no error if it exists) and wait until it is ACTIVE."""
    try:
        await client.create_stream(StreamName=stream_name, ShardCount=shard_count)
    except CONNECTION_ERRORS as exc:
        raise unreachable("kinesis", exc) from exc
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) != "ResourceInUseException":
            raise
    await wait_stream_active(client, stream_name, timeout_s=timeout_s, clock=clock)


async def list_shards(client: Any, stream_name: str) -> list[dict[str, Any]]:
    """Every shard of the stream that is within retention (open and closed), all pages.

    ListShards rejects StreamName together with NextToken, so later pages carry only the token.
    """
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamName": stream_name}
    try:
        while True:
            page = await client.list_shards(**kwargs)
            shards.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}
    except CONNECTION_ERRORS as exc:
        raise unreachable("kinesis", exc) from exc
