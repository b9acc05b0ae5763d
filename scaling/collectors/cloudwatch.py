"""Signals from CloudWatch GetMetricData: Managed Flink, Kinesis, MSK and custom metrics.

Each source metric is mapped onto a canonical name of scaling.signals, in its units:

====================================  ==================================  ===========  =================
canonical                             CloudWatch metric                   statistic    conversion
====================================  ==================================  ===========  =================
containerCPUUtilization, ...Memory...  AWS/KinesisAnalytics (Application)  Average      -
busyTimeMsPerSecond, backPressured...  AWS/KinesisAnalytics (Application)  Maximum      -
lastCheckpointDuration, KPUs           AWS/KinesisAnalytics (Application)  Maximum      -
processed_records_per_second           numRecordsInPerSecond (Application) Average      -
input_records_per_second               AWS/Kinesis IncomingRecords         Sum          / period
input_bytes_per_second                 AWS/Kinesis IncomingBytes           Sum          / period
millisBehindLatest (lag=iterator-age)  GetRecords.IteratorAgeMilliseconds  Maximum      -
millisBehindLatest (lag=millis-behind-latest)  AWS/KinesisAnalytics millisBehindLatest  Maximum  -
pendingRecords (lag=msk)               AWS/Kafka SumOffsetLag              Maximum      -
millisBehindLatest (lag=msk)           AWS/Kafka EstimatedMaxTimeLag       Maximum      seconds x 1000
====================================  ==================================  ===========  =================
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import botocore.exceptions

from connectors.aws import client as aws_client
from connectors.aws import error_code, is_throttling
from pipelines.clock import SYSTEM_CLOCK, Clock
from scaling.backends.base import BackendError, PermissionDenied
from scaling.decision import ScalingConfigError
from scaling.signals import (
    BACKPRESSURE,
    BUSY_TIME,
    CHECKPOINT_DURATION,
    CPU,
    INPUT_BYTES,
    INPUT_RATE,
    KPUS,
    LAG_MS,
    MEMORY,
    PENDING_RECORDS,
    PROCESSED_RATE,
    MetricHistory,
    check_metric,
)

log = logging.getLogger("shardline.scaling.cloudwatch")

LAG_SOURCES = ("iterator-age", "millis-behind-latest", "msk", "none")
STATISTICS = ("Average", "Maximum", "Minimum", "Sum", "SampleCount", "p50", "p90", "p99")
MAX_QUERIES = 500
"""GetMetricData's limit on queries per call."""


@dataclass(frozen=True)
class CustomMetric:
    metric: str
    """Canonical name it feeds (e.g. input_records_per_second) or 'custom:<Name>'."""
    namespace: str
    """CloudWatch namespace."""
    name: str
    """CloudWatch metric name."""
    dimensions: Mapping[str, str] = field(default_factory=dict)
    """Dimension name -> value."""
    stat: str = "Average"
    """Statistic (Average, Maximum, Sum, p99, ...)."""
    per_second: bool = False
    """Divide by the period (for Sum of a count)."""
    scale: float = 1.0
    """Multiply by this (e.g. 1000 for seconds -> ms)."""

    def __post_init__(self) -> None:
        check_metric(self.metric)
        if self.stat not in STATISTICS:
            raise ScalingConfigError(f"custom metric {self.name}: stat must be one of {', '.join(STATISTICS)}")


@dataclass(frozen=True)
class Query:
    """One GetMetricData MetricStat and how its values become a canonical metric."""

    metric: str
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    stat: str
    per_second: bool = False
    scale: float = 1.0


@dataclass(frozen=True)
class CloudWatchSignalsConfig:
    application: str | None = None
    """Managed Flink application (AWS/KinesisAnalytics Application dimension); None: no Flink metrics."""
    stream: str | None = None
    """Kinesis stream the job reads (AWS/Kinesis StreamName); None: no stream metrics."""
    lag: str = "iterator-age"
    """Lag source: iterator-age (AWS/Kinesis), millis-behind-latest (AWS/KinesisAnalytics), msk, none."""
    msk_cluster: str | None = None
    """MSK 'Cluster Name' dimension (lag=msk)."""
    msk_consumer_group: str | None = None
    """MSK 'Consumer Group' dimension (lag=msk)."""
    msk_topic: str | None = None
    """MSK 'Topic' dimension (lag=msk)."""
    custom: tuple[CustomMetric, ...] = ()
    """Further metrics, e.g. an input rate published by the producers."""
    period_s: int = 60
    """Datapoint period; 60 is the finest for AWS/Kinesis and Managed Flink metrics."""
    lookback_s: float = 3600.0
    """How much history each collect fetches."""
    missing_after_s: float = 180.0
    """A period that ended longer ago than this without a datapoint is recorded as missing (None)."""
    throttle_retries: int = 4
    """Retries of a throttled GetMetricData."""

    def __post_init__(self) -> None:
        if self.lag not in LAG_SOURCES:
            raise ScalingConfigError(f"lag must be one of {', '.join(LAG_SOURCES)}, got {self.lag!r}")
        if self.lag == "msk" and not (self.msk_cluster and self.msk_consumer_group and self.msk_topic):
            raise ScalingConfigError("lag 'msk' needs msk_cluster, msk_consumer_group and msk_topic")
        if self.lag == "iterator-age" and self.stream is None and self.application is not None:
            raise ScalingConfigError("lag 'iterator-age' needs stream (the Kinesis stream the application reads)")
        if self.lag == "millis-behind-latest" and self.application is None:
            raise ScalingConfigError("lag 'millis-behind-latest' needs application")
        if self.period_s < 1 or self.lookback_s < self.period_s:
            raise ScalingConfigError("need period_s >= 1 and lookback_s >= period_s")
        names = [q.metric for q in self.queries()]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ScalingConfigError(f"more than one source for {', '.join(doubled)}: drop the custom one or the built-in")
        if len(names) > MAX_QUERIES:
            raise ScalingConfigError(f"at most {MAX_QUERIES} metrics per collector")

    def queries(self) -> list[Query]:
        out: list[Query] = []
        if self.application:
            app, ns = {"Application": self.application}, "AWS/KinesisAnalytics"
            out += [Query(CPU, ns, CPU, app, "Average"), Query(MEMORY, ns, MEMORY, app, "Average"),
                    Query(BUSY_TIME, ns, BUSY_TIME, app, "Maximum"), Query(BACKPRESSURE, ns, BACKPRESSURE, app, "Maximum"),
                    Query(CHECKPOINT_DURATION, ns, CHECKPOINT_DURATION, app, "Maximum"),
                    Query(KPUS, ns, KPUS, app, "Maximum"),
                    Query(PROCESSED_RATE, ns, "numRecordsInPerSecond", app, "Average")]
            if self.lag == "millis-behind-latest":
                out.append(Query(LAG_MS, ns, "millisBehindLatest", app, "Maximum"))
        if self.stream:
            stream, ns = {"StreamName": self.stream}, "AWS/Kinesis"
            out += [Query(INPUT_RATE, ns, "IncomingRecords", stream, "Sum", per_second=True),
                    Query(INPUT_BYTES, ns, "IncomingBytes", stream, "Sum", per_second=True)]
            if self.lag == "iterator-age":
                out.append(Query(LAG_MS, ns, "GetRecords.IteratorAgeMilliseconds", stream, "Maximum"))
        if self.lag == "msk":
            dims = {"Cluster Name": self.msk_cluster, "Consumer Group": self.msk_consumer_group, "Topic": self.msk_topic}
            out += [Query(PENDING_RECORDS, "AWS/Kafka", "SumOffsetLag", dims, "Maximum"),
                    Query(LAG_MS, "AWS/Kafka", "EstimatedMaxTimeLag", dims, "Maximum", scale=1000.0)]
        out += [Query(c.metric, c.namespace, c.name, dict(c.dimensions), c.stat, c.per_second, c.scale) for c in self.custom]
        return out


class CloudWatchCollector:
    def __init__(self, config: CloudWatchSignalsConfig, *, client: Any = None, clock: Clock = SYSTEM_CLOCK,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.queries = config.queries()
        self.client = client if client is not None else aws_client("cloudwatch")
        self.clock = clock
        self.rng = rng or random.Random()

    def requests(self, now: float) -> dict[str, Any]:
        """The GetMetricData arguments for the lookback window that ends at the last whole period."""
        period = self.config.period_s
        end = math.floor(now / period) * period
        start = end - math.ceil(self.config.lookback_s / period) * period
        queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": q.namespace, "MetricName": q.name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(q.dimensions.items())]},
            "Period": period, "Stat": q.stat}} for i, q in enumerate(self.queries)]
        return {"MetricDataQueries": queries, "ScanBy": "TimestampAscending",
                "StartTime": datetime.fromtimestamp(start, timezone.utc), "EndTime": datetime.fromtimestamp(end, timezone.utc)}

    async def _get(self, **kwargs: Any) -> dict:
        for attempt in range(self.config.throttle_retries + 1):
            try:
                return await asyncio.to_thread(self.client.get_metric_data, **kwargs)
            except botocore.exceptions.ClientError as exc:
                code = error_code(exc)
                if code in ("AccessDenied", "AccessDeniedException"):
                    raise PermissionDenied("cloudwatch:GetMetricData", "*") from None
                if not is_throttling(exc) or attempt == self.config.throttle_retries:
                    raise BackendError(f"GetMetricData failed: {code or exc}") from None
                await self.clock.sleep(self.rng.uniform(0.0, min(20.0, 2.0 ** attempt)))
        raise AssertionError("unreachable")

    async def collect(self, now: float) -> MetricHistory:
        if not self.queries:
            return MetricHistory()
        request = self.requests(now)
        values: dict[str, dict[float, float]] = {f"m{i}": {} for i in range(len(self.queries))}
        token = None
        while True:
            reply = await self._get(**request, **({"NextToken": token} if token else {}))
            for result in reply.get("MetricDataResults", []):
                found = values.setdefault(result["Id"], {})
                found.update((ts.timestamp(), float(v)) for ts, v in zip(result["Timestamps"], result["Values"]))
            for message in reply.get("Messages", []):
                log.warning("event=get_metric_data_message code=%s", message.get("Code"))
            token = reply.get("NextToken")
            if not token:
                break
        return self._history(values, request["StartTime"].timestamp(), request["EndTime"].timestamp())

    def _history(self, values: dict[str, dict[float, float]], start: float, end: float) -> MetricHistory:
        period = self.config.period_s
        history = MetricHistory()
        periods = [start + i * period for i in range(int(round((end - start) / period)))]
        for i, query in enumerate(self.queries):
            found = values.get(f"m{i}", {})
            scale = query.scale / (period if query.per_second else 1.0)
            for t in periods:
                if t in found:
                    history.record(query.metric, t, found[t] * scale)
                elif end - (t + period) >= self.config.missing_after_s:
                    history.record(query.metric, t, None)  # late enough that no data means missing, not "not yet"
        return history
