"""One decision in flight per application, across controller processes.

``FileLock`` (fcntl, one host: released by the kernel if the process dies) and
``DynamoDBLock`` (any number of hosts: a conditional PutItem with a lease, so a crashed
holder's lock expires). Both are non-blocking: a controller that cannot take the lock
skips its cycle instead of queueing a second decision behind the first.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import re
from pathlib import Path
from typing import Any, Protocol

import botocore.exceptions

from connectors.aws import client as aws_client
from connectors.aws import error_code
from pipelines.clock import SYSTEM_CLOCK, Clock


class AppLock(Protocol):
    async def acquire(self, app: str, owner: str) -> bool:
        """Take the lock for ``app``; False if someone else holds it."""

    async def release(self, app: str, owner: str) -> None:
        """Give it back (only if ``owner`` holds it)."""


def _safe(app: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", app)


class FileLock:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._held: dict[str, int] = {}

    async def acquire(self, app: str, owner: str) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{_safe(app)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, owner.encode())  # for humans: who holds it
        self._held[app] = fd
        return True

    async def release(self, app: str, owner: str) -> None:
        fd = self._held.pop(app, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class DynamoDBLock:
    """Items ``{lock_key: app, owner, expires_at}``; the table's partition key is ``lock_key`` (S)."""

    def __init__(self, table: str, *, lease_s: float = 3600.0, client: Any = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.table = table
        self.lease_s = lease_s
        """A holder that dies keeps the lock this long; longer than the slowest rescale."""
        self.client = client if client is not None else aws_client("dynamodb")
        self.clock = clock

    async def acquire(self, app: str, owner: str) -> bool:
        now = self.clock.time()
        try:
            await asyncio.to_thread(
                self.client.put_item, TableName=self.table,
                Item={"lock_key": {"S": app}, "owner": {"S": owner}, "expires_at": {"N": repr(now + self.lease_s)}},
                ConditionExpression="attribute_not_exists(lock_key) OR expires_at < :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":owner": {"S": owner}})
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def release(self, app: str, owner: str) -> None:
        try:
            await asyncio.to_thread(
                self.client.delete_item, TableName=self.table, Key={"lock_key": {"S": app}},
                ConditionExpression="#o = :owner", ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}})
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # expired and taken over: not ours to delete
                raise


def create_lock_table(table: str, client: Any = None) -> None:
    """Create the lock table (on demand) and wait for it; CloudFormation does this when deployed."""
    client = client if client is not None else aws_client("dynamodb")
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "lock_key", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "lock_key", "KeyType": "HASH"}])
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
