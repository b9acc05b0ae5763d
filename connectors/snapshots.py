"""Where a stateful processor keeps its state beside its checkpoints: one snapshot per shard and position.

A KCL checkpoint holds a sequence number only, so a pattern with windows open would lose them when its
worker dies.  The processor therefore writes its state here first, named by the position it reflects, and
moves the checkpoint after; whoever takes the shard next (the same worker restarted, or another after a
lease move) loads the snapshot named by the checkpoint it resumes from, and reads on.  A crash between the
two writes leaves a snapshot newer than the checkpoint, which nobody loads; ``prune`` removes it later.

    FILE_DIR                  gzipped JSON files under FILE_DIR/<shard>/ (one worker, or a shared disk)
    s3://bucket/prefix        objects under prefix/<shard>/ (workers on many hosts)

Names sort in position order: ``<sequence number, 64 digits>-<sub-sequence, 10 digits>.json.gz``.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Protocol

from connectors.kinesis.checkpoints import Checkpoint
from connectors.paths import atomic_write

KEEP = 3
"""Snapshots kept per shard: the one the checkpoint names may trail the newest by one."""


class SnapshotStore(Protocol):
    def save(self, shard_id: str, position: Checkpoint, state: dict[str, Any]) -> None: ...
    def load(self, shard_id: str, position: Checkpoint) -> dict[str, Any] | None: ...
    def prune(self, shard_id: str) -> None: ...


def snapshot_name(position: Checkpoint) -> str:
    return f"{int(position.sequence_number):064d}-{position.sub_sequence_number:010d}.json.gz"


def _encode(state: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(state, separators=(",", ":")).encode("utf-8"), compresslevel=1)


def _decode(data: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(data))


class FileSnapshots:
    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def save(self, shard_id: str, position: Checkpoint, state: dict[str, Any]) -> None:
        atomic_write(self.folder / shard_id / snapshot_name(position), _encode(state))

    def load(self, shard_id: str, position: Checkpoint) -> dict[str, Any] | None:
        path = self.folder / shard_id / snapshot_name(position)
        return _decode(path.read_bytes()) if path.exists() else None

    def prune(self, shard_id: str) -> None:
        for old in sorted((self.folder / shard_id).glob("*.json.gz"))[:-KEEP]:
            old.unlink(missing_ok=True)


class S3Snapshots:
    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        from connectors.aws import client as new_client

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.s3 = client or new_client("s3")

    def _key(self, shard_id: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, shard_id, name) if part) + ("" if name else "/")

    def save(self, shard_id: str, position: Checkpoint, state: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(shard_id, snapshot_name(position)), Body=_encode(state))

    def load(self, shard_id: str, position: Checkpoint) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(shard_id, snapshot_name(position)))["Body"]
        except self.s3.exceptions.NoSuchKey:
            return None
        return _decode(body.read())

    def prune(self, shard_id: str) -> None:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=self._key(shard_id)):
            keys += [item["Key"] for item in page.get("Contents", ())]
        old = sorted(keys)[:-KEEP]
        if old:
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in old]})


def open_snapshots(spec: str) -> SnapshotStore:
    if spec.startswith("s3://"):
        from connectors.aws import split_s3_url

        bucket, prefix = split_s3_url(spec, "snapshot location")
        return S3Snapshots(bucket, prefix)
    return FileSnapshots(spec)
