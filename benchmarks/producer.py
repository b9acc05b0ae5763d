"""Producer benchmark: shardline's KinesisProducer against the ways people usually write to Kinesis.

Contenders, in one run, with the same pre-generated records (``record_bytes`` of
data, partition keys drawn from ``keys`` devices), each into its own fresh stream:

- ``naive_put_record``: a boto3 ``put_record`` loop (the baseline; time-boxed, it is slow),
- ``boto3_put_records``: boto3 ``put_records`` in 500-record batches, one call at a time, no retries
  (time-boxed),
- ``async_kinesis``: the ``async-kinesis`` package's Producer, one Kinesis record per user record
  (fewer records: it runs at about 1k records/s),
- ``async_kinesis_kpl``: ``async-kinesis`` with its KPL aggregation (it cannot keep partition keys then,
  and it aggregates with the protobuf-based ``aws-kinesis-agg``),
- ``shardline``: our producer, aggregation off, and ``shardline_aggregated``: aggregation on.

Two rates per contender: user records per wall-clock second, and user records per
CPU-second of this process (``time.process_time``).  The Kinesis emulator runs in
another process on the same (small, shared) machine, so the wall rate mostly
measures the emulator; the per-core rate measures the producer's own cost and is
the headline.  Medians over ``repeats`` repetitions; ratios are to the naive loop.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from benchmarks.report import RESULTS_DIR, write_results
from connectors.aws import AwsConfig, async_client, client as sync_client
from connectors.kinesis.producer import KinesisProducer, ProducerConfig
from connectors.kinesis.streams import create_stream_and_wait

CONTENDERS = ("naive_put_record", "boto3_put_records", "async_kinesis", "async_kinesis_kpl",
              "shardline", "shardline_aggregated")
HEADLINE = "cpu_rate"

Records = list[tuple[str, bytes]]


def make_records(count: int, record_bytes: int = 200, keys: int = 10_000, seed: int = 42) -> Records:
    """The same records for every contender: random payloads, keys drawn from ``keys`` devices."""
    rng = random.Random(seed)
    names = [f"device-{i:06d}" for i in range(keys)]
    payloads = [rng.randbytes(record_bytes) for _ in range(min(count, 1024))]
    return [(names[rng.randrange(keys)], payloads[i % len(payloads)]) for i in range(count)]


class _Meter:
    """Wall and CPU time of the block; ``records`` set by the contender."""

    def __init__(self) -> None:
        self.records = 0
        self.failed = 0
        self.kinesis_records = 0

    def __enter__(self) -> "_Meter":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu

    def result(self) -> dict:
        return {"records": self.records, "failed": self.failed, "kinesis_records": self.kinesis_records or None,
                "wall_s": round(self.wall_s, 4), "cpu_s": round(self.cpu_s, 4),
                "wall_rate": round(self.records / self.wall_s, 1),
                "cpu_rate": round(self.records / max(self.cpu_s, 1e-9), 1)}


# --- contenders --------------------------------------------------------------------------------
# Each writes one warm-up record before its meter starts: botocore loads service models on first use.

def naive_put_record(stream: str, records: Records, *, seconds: float, **_: Any) -> dict:
    kinesis = sync_client("kinesis")
    kinesis.put_record(StreamName=stream, Data=b"warm-up", PartitionKey="warm-up")
    with _Meter() as meter:
        deadline = time.perf_counter() + seconds
        for key, data in records:
            kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)
            meter.records += 1
            if meter.records % 64 == 0 and time.perf_counter() >= deadline:
                break
    return meter.result()


def boto3_put_records(stream: str, records: Records, *, seconds: float, **_: Any) -> dict:
    kinesis = sync_client("kinesis")
    kinesis.put_records(StreamName=stream, Records=[{"Data": b"warm-up", "PartitionKey": "warm-up"}])
    with _Meter() as meter:
        deadline = time.perf_counter() + seconds
        for start in range(0, len(records), 500):
            batch = [{"Data": data, "PartitionKey": key} for key, data in records[start:start + 500]]
            response = kinesis.put_records(StreamName=stream, Records=batch)
            meter.failed += response["FailedRecordCount"]  # a plain loop does not retry them
            meter.records += len(batch) - response["FailedRecordCount"]
            if time.perf_counter() >= deadline:
                break
    return meter.result()


def _async_kinesis_producer(stream: str, aggregate: bool):
    from kinesis import Producer
    from kinesis.aggregators import KPLAggregator, SimpleAggregator
    from kinesis.processors import Processor

    class RawBytes:  # records are bytes already: no JSON round trip
        def serialize(self, item: bytes) -> bytes:
            return item

        def deserialize(self, data: bytes) -> bytes:
            return data

    class RawProcessor(Processor, KPLAggregator if aggregate else SimpleAggregator, RawBytes):
        pass

    # Its defaults otherwise: 0.5 s buffer time, pacing at 1,000 records/s per shard.
    return Producer(stream, endpoint_url=os.environ.get("AWS_ENDPOINT_URL_KINESIS"),
                    region_name=AwsConfig().resolved_region(), processor=RawProcessor(),
                    batch_size=500, max_queue_size=100_000)


async def async_kinesis(stream: str, records: Records, *, aggregate: bool = False, **_: Any) -> dict:
    import logging

    logging.getLogger("kinesis").setLevel(logging.WARNING)  # it logs every flush at INFO
    producer = _async_kinesis_producer(stream, aggregate)
    await producer.__aenter__()
    await producer.put(b"warm-up", None if aggregate else "warm-up")
    await producer.flush()
    with _Meter() as meter:
        for key, data in records:
            # With KPL aggregation it refuses partition keys and makes up one per aggregate.
            await producer.put(data, None if aggregate else key)
        await producer.close()
    meter.records = len(records)  # it reports no per-record outcome; it raises if a flush fails
    return meter.result()


async def shardline(stream: str, records: Records, *, aggregate: bool = False, **_: Any) -> dict:
    producer = KinesisProducer(ProducerConfig(stream, aggregate=aggregate))
    await producer.put(b"warm-up", "warm-up")
    await producer.flush()
    before = producer.stats
    with _Meter() as meter:
        put = producer.put
        for key, data in records:
            await put(data, key)
        await producer.close()
    after = producer.stats
    meter.records = after.records_sent - before.records_sent
    meter.failed = after.failed - before.failed
    meter.kinesis_records = after.kinesis_records_sent - before.kinesis_records_sent
    return meter.result()


def _contender(name: str) -> tuple[Callable, dict]:
    return {
        "naive_put_record": (naive_put_record, {}),
        "boto3_put_records": (boto3_put_records, {}),
        "async_kinesis": (async_kinesis, {"aggregate": False}),
        "async_kinesis_kpl": (async_kinesis, {"aggregate": True}),
        "shardline": (shardline, {"aggregate": False}),
        "shardline_aggregated": (shardline, {"aggregate": True}),
    }[name]


# --- the harness -------------------------------------------------------------------------------

@contextlib.contextmanager
def _kinesis_endpoint() -> Iterator[str]:
    """The endpoint from AWS_ENDPOINT_URL_KINESIS, or a kinesalite started for this run."""
    if os.environ.get("AWS_ENDPOINT_URL_KINESIS"):
        yield "AWS_ENDPOINT_URL_KINESIS"
        return
    from connectors.testing import running_local_stack

    with running_local_stack("kinesalite"):
        yield "kinesalite (started by the benchmark)"


@contextlib.contextmanager
def _fresh_stream(shards: int) -> Iterator[str]:
    name = f"bench-producer-{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        async with async_client("kinesis") as kinesis:
            await create_stream_and_wait(kinesis, name, shards)

    asyncio.run(create())
    try:
        yield name
    finally:  # the emulator keeps records in memory: free them
        with contextlib.suppress(Exception):
            sync_client("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def _measure(name: str, records: Records, shards: int, baseline_seconds: float, slow_records: int) -> dict:
    function, kwargs = _contender(name)
    if name.startswith("async_kinesis"):
        records = records[:slow_records]  # about 1k records/s: the full count would take minutes
    with _fresh_stream(shards) as stream:
        outcome = function(stream, records, seconds=baseline_seconds, **kwargs)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
    return outcome


def profile_aggregated(records: Records, shards: int, top: int = 15) -> list[dict]:
    """Where the aggregating producer's CPU time goes: the top functions by own time."""
    profiler = cProfile.Profile()
    with _fresh_stream(shards) as stream:
        profiler.enable()
        asyncio.run(shardline(stream, records, aggregate=True))
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [{"function": f"{Path(file).name}:{line}({func})", "own_s": round(row[2], 4),
             "share": round(row[2] / total, 4), "calls": row[1]}
            for (file, line, func), row in rows]


def run(records: int = 200_000, out_dir: Path = RESULTS_DIR, *, repeats: int = 3, shards: int = 32,
        record_bytes: int = 200, keys: int = 10_000, baseline_seconds: float = 5.0, slow_records: int = 20_000,
        contenders: tuple[str, ...] = CONTENDERS, profile: bool = False, plot: bool = True,
        progress: Callable[[str], None] | None = None) -> dict:
    """Run every contender ``repeats`` times; write producer.json (and producer.png) to ``out_dir``.

    ``records``: user records per contender.  The boto3 loops stop after ``baseline_seconds``;
    the async-kinesis runs send only the first ``slow_records``.  ``shards``: enough that the
    producers' per-shard pacing (1,000 records/s, 1 MiB/s) does not bind.
    """
    data = make_records(records, record_bytes, keys)
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    with _kinesis_endpoint() as endpoint:
        for repeat in range(repeats):
            for name in contenders:  # interleaved, so drift on a shared machine hits every contender alike
                runs[name].append(_measure(name, data, shards, baseline_seconds, slow_records))
                if progress:
                    progress(f"repeat {repeat + 1}/{repeats} {name}: {runs[name][-1]['cpu_rate']:,.0f} records/s/core")
        hot_spots = profile_aggregated(data, shards) if profile else None
    result = _summarise(runs, endpoint, records=records, repeats=repeats, shards=shards,
                        record_bytes=record_bytes, keys=keys, baseline_seconds=baseline_seconds,
                        slow_records=slow_records)
    if hot_spots is not None:
        result["profile_shardline_aggregated"] = hot_spots
    write_results(result, Path(out_dir), "producer", _plot if plot else None)
    return result


def _summarise(runs: dict[str, list[dict]], endpoint: str, **settings: Any) -> dict:
    summary: dict[str, dict] = {}
    for name, measured in runs.items():
        summary[name] = {
            "wall_rate": statistics.median(m["wall_rate"] for m in measured),
            "cpu_rate": statistics.median(m["cpu_rate"] for m in measured),
            "records": statistics.median(m["records"] for m in measured),
            "failed": max(m["failed"] for m in measured),
            "runs": measured,
        }
    base = summary.get("naive_put_record")
    for entry in summary.values():
        for rate in ("wall_rate", "cpu_rate"):
            entry[f"{rate}_vs_naive"] = round(entry[rate] / base[rate], 2) if base else None
    result: dict[str, Any] = {
        "benchmark": "producer",
        "headline": HEADLINE,
        "headline_means": "user records per CPU-second of the producing process (the emulator runs elsewhere)",
        "settings": settings,
        "environment": {"endpoint": endpoint, "python": platform.python_version(), "cpus": os.cpu_count(),
                        "machine": platform.machine()},
        "contenders": summary,
    }
    ours = summary.get("shardline_aggregated")
    if ours:
        rivals = [summary[n]["cpu_rate"] for n in ("async_kinesis", "async_kinesis_kpl") if n in summary]
        result["goals"] = {
            "100k_records_per_s_per_core": ours["cpu_rate"] >= 100_000,
            "20x_naive_per_core": bool(base) and ours["cpu_rate_vs_naive"] >= 20,
            "ahead_of_async_kinesis_per_core": bool(rivals) and ours["cpu_rate"] > max(rivals),
        }
    return result


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["contenders"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.6 * len(names) + 1.8), sharey=True)
    for axis, rate, title in ((axes[0], "cpu_rate", "user records / s / core (headline)"),
                              (axes[1], "wall_rate", "user records / s, wall clock")):
        values = [result["contenders"][n][rate] for n in names]
        colours = ["tab:orange" if n.startswith("shardline") else "tab:gray" for n in names]
        axis.barh(names, values, color=colours)
        axis.set_xscale("log")
        axis.set_title(title)
        for y, name in enumerate(names):
            ratio = result["contenders"][name].get(f"{rate}_vs_naive")
            label = f"{values[y]:,.0f}" + (f"  ({ratio:g}x)" if ratio else "")
            axis.text(values[y], y, " " + label, va="center", fontsize=8)
        axis.margins(x=0.45)
    axes[0].invert_yaxis()
    settings = result["settings"]
    fig.suptitle(f"Kinesis producers, {settings['record_bytes']}-byte records, {settings['shards']} shards, "
                 f"median of {settings['repeats']} ({result['environment']['endpoint']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.producer", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=32)
    parser.add_argument("--record-bytes", type=int, default=200)
    parser.add_argument("--baseline-seconds", type=float, default=5.0, help="time box of the boto3 loops")
    parser.add_argument("--slow-records", type=int, default=20_000, help="records for the async-kinesis runs")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--profile", action="store_true", help="also profile the aggregating producer")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args.records, args.out_dir, repeats=args.repeats, shards=args.shards,
                 record_bytes=args.record_bytes, baseline_seconds=args.baseline_seconds,
                 slow_records=args.slow_records,
                 contenders=tuple(args.contenders.split(",")), profile=args.profile,
                 progress=lambda line: print(line, flush=True))
    print(json.dumps({name: {k: v for k, v in entry.items() if k != "runs"}
                      for name, entry in result["contenders"].items()}, indent=2))
    if "goals" in result:
        print(json.dumps(result["goals"]))


if __name__ == "__main__":
    main()
