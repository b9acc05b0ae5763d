"""Where the time-series pattern's device table comes from: a file, an S3 object or a DynamoDB table.

    devices.jsonl | devices.csv        rows with device_id, site, model, owner_team
    s3://bucket/key.jsonl|.csv         the same, read from S3
    dynamodb:TABLE                     items keyed by device_id (a Scan, paginated)

``device_loader(spec)`` gives a function the pattern's ``DeviceCatalog`` calls at start and on every
refresh.  The calls are synchronous (boto3, through ``connectors.aws.client``): a refresh comes every few minutes, and a device table is small.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import urlparse

from pipelines.timeseries.enrich import Device

DeviceTable = Mapping[str, Device]


class DeviceTableError(ValueError):
    """The device table cannot be read or has rows without a device id; says where, never a row's values."""


def device_loader(spec: str) -> Callable[[], DeviceTable]:
    if spec.startswith("s3://"):
        url = urlparse(spec)
        bucket, key = url.netloc, url.path.lstrip("/")
        if not bucket or not key:
            raise DeviceTableError(f"device table {spec!r}: an S3 table looks like s3://bucket/key.csv")
        return lambda: _s3_table(bucket, key, spec)
    if spec.startswith("dynamodb:"):
        table = spec.partition(":")[2]
        if not table:
            raise DeviceTableError("device table 'dynamodb:': give the table's name after 'dynamodb:'")
        return lambda: _dynamodb_table(table)
    path = Path(spec)
    return lambda: table_from_text(path.read_text(encoding="utf-8"), path.name, spec)


def table_from_text(text: str, name: str, where: str) -> DeviceTable:
    """Rows of CSV (a header line first) or JSON lines, by ``name``'s extension."""
    if name.endswith(".csv"):
        rows: Iterable[Mapping[str, object]] = csv.DictReader(io.StringIO(text))
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise DeviceTableError(f"device table {where}: line {number} is not JSON") from None
    return _table(rows, where)


def _table(rows: Iterable[Mapping[str, object]], where: str) -> DeviceTable:
    table = {}
    for number, row in enumerate(rows, start=1):
        device_id = row.get("device_id") if isinstance(row, Mapping) else None
        if not isinstance(device_id, str) or not device_id:
            raise DeviceTableError(f"device table {where}: row {number} has no device_id")
        table[device_id] = Device.from_row(row)
    return table


def _s3_table(bucket: str, key: str, where: str) -> DeviceTable:
    from connectors.aws import client

    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return table_from_text(body.decode("utf-8"), key, where)


def _dynamodb_table(name: str) -> DeviceTable:
    from boto3.dynamodb.types import TypeDeserializer

    from connectors.aws import client

    deserializer = TypeDeserializer()
    rows = []
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=name):
        rows += [{k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]]
    return _table(rows, f"dynamodb:{name}")
