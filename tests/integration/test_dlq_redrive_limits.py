"""`shardline dlq redrive --max-failures --concurrency`: a DynamoDB sink that refused some records, fixed, redriven.

A proxy in front of moto refuses every BatchWriteItem that holds a poisoned record (a ValidationException, as a
bad item gets); the sink splits the call until the record is alone and dead-letters it.  A redrive while the
fault is still there stops at ``--max-failures`` and keeps the letters it did not send; once the fault is gone,
redriving what is left gives the table a clean run gives.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from typer.testing import CliRunner

from connectors.aws import client
from connectors.dead_letter import FileDeadLetters, read_dead_letters
from connectors.sinks import DynamoDBSink, DynamoDBSinkConfig
from connectors.testing import FaultProxy, patched_environ
from jobs.cli import app
from jobs.local.dlq import FailureLimit, iter_letters, letter_record, redrive
from pipelines.records import Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
runner = CliRunner()


def records() -> list[Record]:
    return [Record(id=f"pay-{n:04d}", type="payment", source="test", partition_key=f"customer-{n % 9}",
                   event_time=1_767_225_600_000 + n, payload={"amount": n, "currency": "EUR"}) for n in range(1400)]


POISON = {record.id for record in records() if int(record.id[4:]) % 2 == 0}


def create_table(name: str) -> None:
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    dynamodb.get_waiter("table_exists").wait(TableName=name)


def refuse_poisoned(target: str, body: dict):
    if target.endswith(".BatchWriteItem"):
        ids = {request["PutRequest"]["Item"]["id"]["S"] for requests in body["RequestItems"].values()
               for request in requests}
        if ids & POISON:
            return 400, "ValidationException", "One or more parameter values were invalid"
    return None


async def write(table: str, letters_path) -> None:
    letters = FileDeadLetters(letters_path)
    sink = DynamoDBSink(DynamoDBSinkConfig(table_name=table), dead_letters=letters)
    for record in records():
        await sink.add(record)
    await sink.close()
    await letters.close()


def items(table: str) -> list[dict]:
    found = []
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=table):
        found += page["Items"]
    return sorted(found, key=lambda item: item["id"]["S"])


def test_a_redrive_stops_at_its_failure_limit_and_after_the_fix_the_table_equals_a_clean_run(local_stack, tmp_path):
    table, clean = f"pay-{uuid.uuid4().hex[:8]}", f"pay-clean-{uuid.uuid4().hex[:8]}"
    create_table(table)
    create_table(clean)
    asyncio.run(write(clean, tmp_path / "clean.dlq.jsonl"))
    first = tmp_path / "first.dlq.jsonl"
    with FaultProxy(os.environ["AWS_ENDPOINT_URL_DYNAMODB"], refuse_poisoned) as proxy, \
            patched_environ({"AWS_ENDPOINT_URL_DYNAMODB": proxy.url}):
        asyncio.run(write(table, first))
        assert {letter_record(letter).id for letter in read_dead_letters(first)} == POISON

        # The cause is not fixed yet: the redrive stops once more than 5% were refused again.
        rest, again = tmp_path / "rest.dlq.jsonl", tmp_path / "again.dlq.jsonl"
        result = asyncio.run(redrive(iter_letters(str(first)), f"dynamodb:{table}", remaining=rest,
                                     dead_letters=again, concurrency=3, max_failures=FailureLimit.parse("5%"),
                                     check_every=100))
        assert result.stopped_by_limit and result.redriven == 100 and result.failed_again == 100
        assert result.left_by_limit == len(POISON) - 100
        assert len(list(read_dead_letters(rest))) == result.left_by_limit  # nothing lost

        cli = runner.invoke(app, ["dlq", "redrive", str(rest), "--to", f"dynamodb:{table}", "--max-failures", "10",
                                  "--remaining", str(tmp_path / "rest2.dlq.jsonl"), "--json"])
        assert cli.exit_code == 3, cli.output  # stopped by the limit: a failure a script sees

        proxy.faults = False  # the fix
        for letters in (again, rest):
            result = asyncio.run(redrive(iter_letters(str(letters)), f"dynamodb:{table}", concurrency=4,
                                         dead_letters=tmp_path / "final.dlq.jsonl"))
            assert result.failed_again == 0 and not result.stopped_by_limit
    assert items(table) == items(clean) and len(items(clean)) == len(records())
