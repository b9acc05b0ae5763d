"""Where HLS output goes: a folder or S3 (moto locally), written so a reader never sees half a file.

A folder write goes to a temporary name beside the target and is renamed over
it; an S3 PutObject is atomic by itself.  The sink writes a segment's media
before the playlists that name it, so a player never fetches a missing file.
Throttling and dropped connections are retried with full-jitter backoff; what
is still refused after ``max_attempts`` is an ``HlsStoreError`` (fatal: the
runner stops before checkpointing, and a restart writes the segment again).
"""
from __future__ import annotations

import asyncio
import os
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, split_s3_url
from connectors.backoff import full_jitter
from connectors.clients import LazyClient
from pipelines.clock import SYSTEM_CLOCK, Clock

CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".json": "application/json"}


class HlsStoreError(RuntimeError):
    """The store refused a write after every retry; the message names the key and the error code."""


class HlsStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...
    async def keys(self, prefix: str) -> list[str]: ...
    async def close(self) -> None: ...
    def describe(self) -> str: ...


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(scratch, "wb") as fo:
            fo.write(data)
            fo.flush()
            os.fsync(fo.fileno())  # durable before flush() returns: the runner checkpoints on it
        os.replace(scratch, target)

    async def get(self, key: str) -> bytes | None:
        path = self.root / key
        return await asyncio.to_thread(path.read_bytes) if path.is_file() else None

    async def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    async def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()
                      and not p.name.endswith(".tmp"))

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class S3StoreConfig:
    max_attempts: int = 6
    """Attempts per object on throttling or a dropped connection."""
    backoff_base_s: float = 0.2
    """The first retry waits up to this long (full jitter, doubling per attempt)."""
    backoff_cap_s: float = 5.0
    """No retry waits longer than this."""


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", *, config: S3StoreConfig = S3StoreConfig(), client: Any = None,
                 clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.config = config
        self._client = LazyClient("s3", client)
        self._clock = clock
        self._rng = rng or random.Random()

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, what: str, key: str, **kwargs: Any) -> Any:
        client = await self._client.get()
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                return await getattr(client, what)(Bucket=self.bucket, **kwargs)
            except Exception as exc:  # noqa: BLE001 - sorted below into retryable and not
                code = error_code(exc)
                if code in ("NoSuchKey", "404") and what == "get_object":
                    return None
                retryable = is_throttling(exc) or isinstance(exc, CONNECTION_ERRORS) or code in ("InternalError",
                                                                                                  "SlowDown")
                if not retryable or attempt == self.config.max_attempts:
                    raise HlsStoreError(f"{what} {self.describe()}/{key} failed after {attempt} attempt(s): "
                                        f"{code or type(exc).__name__}") from None
                await self._clock.sleep(full_jitter(attempt, self.config.backoff_base_s, self.config.backoff_cap_s,
                                                    self._rng))

    async def put(self, key: str, data: bytes) -> None:
        await self._call("put_object", key, Key=self._key(key), Body=data, ContentType=content_type(key))

    async def get(self, key: str) -> bytes | None:
        response = await self._call("get_object", key, Key=self._key(key))
        if response is None:
            return None
        async with response["Body"] as body:
            return await body.read()

    async def delete(self, key: str) -> None:
        await self._call("delete_object", key, Key=self._key(key))

    async def keys(self, prefix: str) -> list[str]:
        client = await self._client.get()
        found, token = [], None
        strip = len(self.prefix) + 1 if self.prefix else 0
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
            if token:
                kwargs["ContinuationToken"] = token
            page = await client.list_objects_v2(**kwargs)
            found += [item["Key"][strip:] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(found)
            token = page["NextContinuationToken"]

    async def close(self) -> None:
        await self._client.close()


def open_store(where: str) -> FolderStore | S3Store:
    """``s3://bucket/prefix`` or a folder path."""
    if where.startswith("s3://"):
        bucket, prefix = split_s3_url(where, "HLS output")
        return S3Store(bucket, prefix)
    return FolderStore(Path(where))
