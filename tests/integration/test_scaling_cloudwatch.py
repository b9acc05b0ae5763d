"""CloudWatch signals on moto server: put_metric_data, then the collector's GetMetricData."""
import math
import time
import uuid
from datetime import datetime, timezone

import pytest

from connectors.aws import client
from scaling.collectors.cloudwatch import CloudWatchCollector, CloudWatchSignalsConfig, CustomMetric
from scaling.signals import BUSY_TIME, CPU, INPUT_BYTES, INPUT_RATE, KPUS, LAG_MS, PENDING_RECORDS, PROCESSED_RATE

pytestmark = pytest.mark.integration


def put(cw, namespace, name, dims, t, value):
    cw.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Timestamp": datetime.fromtimestamp(t, timezone.utc), "Value": value}])


async def test_managed_flink_and_kinesis_metrics_with_a_missing_period(local_stack):
    cw = client("cloudwatch")
    app, stream = f"app-{uuid.uuid4().hex[:8]}", f"stream-{uuid.uuid4().hex[:8]}"
    now = math.floor(time.time() / 60) * 60 + 30.0
    end = now - 30  # the collector stops at the last whole minute
    minutes = [end - 60 * i for i in range(10, 0, -1)]
    for i, t in enumerate(minutes):
        put(cw, "AWS/Kinesis", "IncomingRecords", {"StreamName": stream}, t + 5, 60_000.0 + i)
        put(cw, "AWS/Kinesis", "IncomingRecords", {"StreamName": stream}, t + 25, 60_000.0)  # Sum of two
        put(cw, "AWS/Kinesis", "IncomingBytes", {"StreamName": stream}, t + 5, 6_000_000.0)
        put(cw, "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", {"StreamName": stream}, t + 5, 1000.0 * i)
        put(cw, "AWS/KinesisAnalytics", "containerCPUUtilization", {"Application": app}, t + 5, 40.0)
        put(cw, "AWS/KinesisAnalytics", "numRecordsInPerSecond", {"Application": app}, t + 5, 2000.0)
        put(cw, "AWS/KinesisAnalytics", "KPUs", {"Application": app}, t + 5, 3.0)
        if i not in (2, 9):  # minute 2 is old enough to count as missing; minute 9 may just be late
            put(cw, "AWS/KinesisAnalytics", "busyTimeMsPerSecond", {"Application": app}, t + 5, 500.0)
    config = CloudWatchSignalsConfig(application=app, stream=stream, lookback_s=600, missing_after_s=120)
    history = await CloudWatchCollector(config).collect(now)

    assert [s.time for s in history.samples(INPUT_RATE)] == minutes
    assert history.value_at(INPUT_RATE, minutes[3]) == pytest.approx((60_003.0 + 60_000.0) / 60)  # Sum / period
    assert history.value_at(INPUT_BYTES, minutes[0]) == pytest.approx(100_000.0)
    assert history.value_at(LAG_MS, minutes[4]) == 4000.0
    assert history.value_at(CPU, minutes[0]) == 40.0 and history.value_at(KPUS, minutes[0]) == 3.0
    assert history.value_at(PROCESSED_RATE, minutes[0]) == 2000.0
    busy = {s.time: s.value for s in history.samples(BUSY_TIME)}
    assert minutes[2] in busy and busy[minutes[2]] is None  # missing, explicitly: never 0
    assert minutes[9] not in busy  # too recent to call missing: CloudWatch may still publish it
    assert busy[minutes[1]] == 500.0


async def test_msk_lag_and_custom_metrics(local_stack):
    cw = client("cloudwatch")
    cluster, group = f"msk-{uuid.uuid4().hex[:8]}", "enricher"
    dims = {"Cluster Name": cluster, "Consumer Group": group, "Topic": "orders"}
    now = math.floor(time.time() / 60) * 60.0
    t = now - 120
    put(cw, "AWS/Kafka", "SumOffsetLag", dims, t + 1, 12345.0)
    put(cw, "AWS/Kafka", "EstimatedMaxTimeLag", dims, t + 1, 42.0)  # seconds
    put(cw, f"Shardline/{cluster}", "QueueDepth", {"Service": "ingest"}, t + 1, 7.0)
    config = CloudWatchSignalsConfig(lag="msk", msk_cluster=cluster, msk_consumer_group=group, msk_topic="orders",
                                     lookback_s=300, custom=(CustomMetric("custom:QueueDepth", f"Shardline/{cluster}",
                                                                          "QueueDepth", {"Service": "ingest"}, "Maximum"),))
    history = await CloudWatchCollector(config).collect(now)
    assert history.value_at(PENDING_RECORDS, t) == 12345.0
    assert history.value_at(LAG_MS, t) == 42_000.0
    assert history.value_at("custom:QueueDepth", t) == 7.0
