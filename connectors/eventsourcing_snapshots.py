"""Where event-sourcing snapshots live: Avro files under an S3 prefix or a folder, named so they sort by time.

    s3://bucket/prefix/snapshot-<taken at, epoch ms, 15 digits>.avro
    FOLDER/snapshot-<...>.avro

A snapshot (``pipelines.eventsourcing.snapshots``) holds every aggregate and the stream positions it reflects,
so the latest one, and the stream read on from its positions, is the whole state; a rebuild "as of T" takes the
newest one taken at or before T.  Names sort in write order, so "latest" is the last key of a listing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from connectors.paths import atomic_write

KEEP = 10
"""Snapshots kept: older ones are removed after each save (a rebuild as of an older time needs one of them)."""
_NAME = re.compile(r"snapshot-(\d{15})\.avro$")


def snapshot_name(taken_at_ms: int) -> str:
    return f"snapshot-{taken_at_ms:015d}.avro"


def taken_at(name: str) -> int | None:
    match = _NAME.search(name)
    return int(match.group(1)) if match else None


class SnapshotLocation:
    """``save``, ``list`` (oldest first), ``latest(at_or_before_ms)``, ``read`` over S3 or a folder."""

    def __init__(self, url: str, *, keep: int = KEEP, client: Any = None) -> None:
        self.url = url.rstrip("/")
        self.keep = keep
        if url.startswith("s3://"):
            from connectors.aws import client as new_client
            from connectors.aws import split_s3_url

            self.bucket, self.prefix = split_s3_url(url, "snapshot location")
            self.s3 = client or new_client("s3")
        else:
            self.bucket, self.folder = None, Path(url)

    def save(self, data: bytes, taken_at_ms: int) -> str:
        """Store a snapshot; its URL (or path) back.  Older ones past ``keep`` are removed."""
        name = snapshot_name(taken_at_ms)
        if self.bucket is None:
            atomic_write(self.folder / name, data)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        for old in self.list()[:-self.keep]:
            self._delete(old)
        return self._url(name)

    def list(self) -> list[str]:
        """Every snapshot's URL (or path), oldest first."""
        if self.bucket is None:
            names = [path.name for path in self.folder.glob("snapshot-*.avro")] if self.folder.is_dir() else []
        else:
            names = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key("")):
                names += [item["Key"].rsplit("/", 1)[-1] for item in page.get("Contents", ())]
        return [self._url(name) for name in sorted(name for name in names if taken_at(name) is not None)]

    def latest(self, at_or_before_ms: int | None = None) -> str | None:
        for url in reversed(self.list()):
            if at_or_before_ms is None or taken_at(url) <= at_or_before_ms:  # type: ignore[operator]
                return url
        return None

    def read(self, url: str) -> bytes:
        return read_snapshot(url, self.s3 if self.bucket is not None else None)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}" if self.bucket is not None else os.fspath(self.folder / name)

    def _delete(self, url: str) -> None:
        if self.bucket is None:
            Path(url).unlink(missing_ok=True)
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=url.split("/", 3)[3])


def read_snapshot(url: str, client: Any = None) -> bytes:
    """The bytes of one snapshot, by its ``s3://bucket/key`` or path."""
    if not url.startswith("s3://"):
        return Path(url).read_bytes()
    from connectors.aws import client as new_client
    from connectors.aws import split_s3_url

    bucket, key = split_s3_url(url, "snapshot")
    return (client or new_client("s3")).get_object(Bucket=bucket, Key=key)["Body"].read()
