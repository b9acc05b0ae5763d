"""The DynamoDB application lock on moto server: one holder at a time, leases expire, owners only release their own."""
import uuid

import pytest

from connectors.aws import client
from pipelines.clock import FakeClock
from scaling.locks import DynamoDBLock, create_lock_table

pytestmark = pytest.mark.integration


async def test_one_holder_lease_expiry_and_owner_only_release(local_stack):
    table = f"scaling-locks-{uuid.uuid4().hex[:8]}"
    dynamodb = client("dynamodb")
    create_lock_table(table, dynamodb)
    clock = FakeClock(1_767_225_600.0)
    a = DynamoDBLock(table, lease_s=600, client=dynamodb, clock=clock)
    b = DynamoDBLock(table, lease_s=600, client=dynamodb, clock=clock)
    assert await a.acquire("orders", "host-a:1")
    assert not await b.acquire("orders", "host-b:1")
    assert await b.acquire("payments", "host-b:1")  # per application
    assert await a.acquire("orders", "host-a:1")  # re-entrant for its owner (renews the lease)
    clock.advance(601)
    assert await b.acquire("orders", "host-b:1")  # host-a died: its lease ran out
    await a.release("orders", "host-a:1")  # not a's any more: must not delete b's lock
    assert not await a.acquire("orders", "host-a:1")
    await b.release("orders", "host-b:1")
    assert await a.acquire("orders", "host-a:1")
