"""Agent benchmark: lines tailed and shipped per CPU-second, against a naive loop, and write-to-stream latency.

Contenders, in one run, each on its own fresh stream, over the same file of
``lines`` lines of ``line_bytes`` bytes:

- ``naive``: read a line, ``put_record`` it, repeat (boto3; time-boxed, it is slow): the baseline;
- ``agent``: shardline's agent (``--once``) with KPL aggregation.

Streams have 4 shards: the agent paces each shard to its 1 MB/s write limit, so with one
shard the wall rate would only measure that limit.

Rates are lines per wall-clock second and per CPU-second of this process
(``time.process_time``): the Kinesis emulator runs in another process on the
same small, shared machine, so the per-core rate is the agent's own cost and is
the headline (goal: 50k lines/s per core, 30x the naive loop).

Latency: the agent runs as a daemon while a writer appends ``latency_lines``
lines at ``latency_rate`` lines/s, each stamped with its write time; a reader
polls the stream (GetRecords every 20 ms, which adds up to that much) and
records when each line arrives.  Reported: p50, p99, max in milliseconds.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

from prometheus_client import CollectorRegistry

from benchmarks.report import RESULTS_DIR, write_results
from connectors.agent.agent import Agent
from connectors.agent.config import parse_config
from connectors.aws import client as sync_client
from connectors.kinesis.aggregation import deaggregate

HEADLINE = "cpu_rate"


@contextlib.contextmanager
def _kinesis_endpoint() -> Iterator[None]:
    """The caller's Kinesis (AWS_ENDPOINT_URL_KINESIS, or AWS), else a local kinesalite for the run."""
    if os.environ.get("AWS_ENDPOINT_URL_KINESIS"):
        yield
        return
    from connectors.testing import running_local_stack

    with running_local_stack("kinesalite"):
        yield


def _new_stream(kinesis, shards: int = 4) -> str:
    name = f"bench-agent-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return name


def _write_file(path: Path, lines: int, line_bytes: int) -> None:
    pad = "x" * max(0, line_bytes - 20)
    with open(path, "w") as out:
        out.writelines(f"{i:012d} {pad}\n" for i in range(lines))


def _config(folder: Path, stream: str, state: Path, **flow):
    return parse_config({"stateDirectory": str(state), "flows": [{
        "filePattern": str(folder / "*.log"), "kinesisStream": stream, "kplAggregation": True,
        "initialPosition": "START_OF_FILE", **flow}]})


def run_naive(path: Path, kinesis, stream: str, seconds: float) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            kinesis.put_record(StreamName=stream, Data=line, PartitionKey=str(count))
            count += 1
            if time.perf_counter() - started >= seconds:
                break
    return _rates(count, time.perf_counter() - started, time.process_time() - cpu)


def run_agent(folder: Path, stream: str, state: Path) -> dict:
    agent = Agent(_config(folder, stream, state), registry=CollectorRegistry())
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(agent.run(once=True))
    count = agent.registry.get_sample_value("shardline_agent_records_total", {"flow": "0"}) or 0
    return _rates(int(count), time.perf_counter() - started, time.process_time() - cpu)


def _rates(count: int, wall: float, cpu: float) -> dict:
    return {"lines": count, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "wall_rate": round(count / wall, 1) if wall else None,
            "cpu_rate": round(count / cpu, 1) if cpu else None}


def run_latency(kinesis, lines: int, rate: float) -> dict:
    """Write-to-stream latency with the agent running as a daemon."""
    stream = _new_stream(kinesis, shards=1)  # one shard: the reader below follows one
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "app.log"
        log.touch()
        agent = Agent(_config(folder, stream, folder / "state", minTimeBetweenFilePollsMillis=10),
                      registry=CollectorRegistry())
        arrivals: dict[int, float] = {}
        done = threading.Event()
        reader = threading.Thread(target=_read_arrivals, args=(kinesis, stream, arrivals, lines, done), daemon=True)
        reader.start()

        async def main() -> None:
            task = asyncio.create_task(agent.run())
            await asyncio.sleep(0.5)
            with open(log, "a") as out:
                for i in range(lines):
                    out.write(f"{i} {time.time():.6f}\n")
                    out.flush()
                    await asyncio.sleep(1 / rate)
            await asyncio.to_thread(done.wait, 30)
            agent.stop()
            await task
        asyncio.run(main())
    latencies = sorted(arrivals.values())
    if not latencies:
        return {"lines": lines, "arrived": 0}
    return {"lines": lines, "arrived": len(latencies), "rate": rate,
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
            "max_ms": round(1000 * latencies[-1], 1), "latencies_ms": [round(1000 * x, 2) for x in latencies]}


def _read_arrivals(kinesis, stream: str, arrivals: dict, expected: int, done: threading.Event) -> None:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    deadline = time.monotonic() + 120
    while len(arrivals) < expected and time.monotonic() < deadline:
        page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        now = time.time()
        for record in page["Records"]:
            for user in deaggregate(record["Data"], record["PartitionKey"]):
                number, written = user.data.split()
                arrivals.setdefault(int(number), now - float(written))
        iterator = page["NextShardIterator"]
        time.sleep(0.02)
    done.set()


def run(lines: int = 200_000, line_bytes: int = 120, naive_seconds: float = 5.0, latency_lines: int = 2_000,
        latency_rate: float = 1_000.0, out_dir: Path | None = RESULTS_DIR) -> dict:
    with _kinesis_endpoint(), tempfile.TemporaryDirectory() as tmp:
        kinesis = sync_client("kinesis")
        folder = Path(tmp) / "logs"
        folder.mkdir()
        _write_file(folder / "app.log", lines, line_bytes)
        naive = run_naive(folder / "app.log", kinesis, _new_stream(kinesis), naive_seconds)
        agent = run_agent(folder, _new_stream(kinesis), Path(tmp) / "state")
        latency = run_latency(kinesis, latency_lines, latency_rate)
    result = {
        "benchmark": "agent", "lines": lines, "line_bytes": line_bytes, "headline": HEADLINE,
        "contenders": {"naive": naive, "agent": agent},
        "speedup_cpu": round(agent["cpu_rate"] / naive["cpu_rate"], 1) if naive["cpu_rate"] else None,
        "speedup_wall": round(agent["wall_rate"] / naive["wall_rate"], 1) if naive["wall_rate"] else None,
        "latency": latency,
        "goals": {"cpu_rate_at_least": 50_000, "speedup_at_least": 30},
    }
    write_results(result, out_dir, "agent", plot)
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, latency) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["contenders"])
    rates.bar(names, [result["contenders"][n]["cpu_rate"] or 0 for n in names], color=["#999", "#2a7"])
    rates.axhline(result["goals"]["cpu_rate_at_least"], ls="--", color="#c33", label="goal: 50k lines/s/core")
    rates.set_ylabel("lines per CPU-second")
    rates.set_title(f"tailed and shipped ({result['speedup_cpu']}x the naive loop)")
    rates.legend()
    points = result["latency"].get("latencies_ms") or []
    if points:
        latency.plot(points, [i / len(points) for i in range(len(points))])
        latency.axvline(result["latency"]["p99_ms"], ls="--", color="#c33",
                        label=f"p99 {result['latency']['p99_ms']} ms")
        latency.legend()
    latency.set_xlabel("write to stream, ms")
    latency.set_ylabel("fraction of lines")
    latency.set_title("latency (GetRecords polled every 20 ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--line-bytes", type=int, default=120)
    parser.add_argument("--naive-seconds", type=float, default=5.0)
    parser.add_argument("--latency-lines", type=int, default=2_000)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args.lines, args.line_bytes, args.naive_seconds, args.latency_lines, out_dir=args.out_dir)
    result["latency"].pop("latencies_ms", None)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
