"""The event-sourcing Flink job's Python step (``ApplyEvents``) in this process, without Flink.

    python -m jobs.flink.eventsourcing_step [--events 100000] [--repeats 3]    # its cost a event, as JSON

``shardline bench eventsourcing`` runs it beside the pattern alone.  The whole job's figures
(``benchmarks.eventsourcing_flink``) move by a fifth from run to run on a shared machine, most of it in the
JVM; this one moves by a few percent, so a change to the step shows here first.  Keyed state and timers are
in-memory stand-ins of PyFlink's (``KeyedHarness``): what it leaves out is PyFlink's own cost (Beam's coders,
state requests to the JVM, gRPC).  Events go in as the job gets them: payload JSON text, in batches of a
bucket's records (``apply.buckets``, ``apply.batch.records``, ``apply.batch.ms``), with processing time moving
at ``rate`` events a second so that batches close and flush ticks (``projection.flush.ms``) fire as they would.
"""
from __future__ import annotations

import heapq
import statistics
import time
import zlib
from typing import Any


class KeyedHarness:
    """Keyed state and timers as a keyed operator sees them, for the key set last (``key``)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.maps: dict[Any, dict] = {}
        self.values: dict[Any, Any] = {}
        self.timers: list[tuple[int, Any]] = []
        self.now_ms = 0
        harness = self

        class MapState:
            def get(self, key):
                return harness.maps.get(harness.key, {}).get(key)

            def put(self, key, value) -> None:
                harness.maps.setdefault(harness.key, {})[key] = value

            def keys(self):
                return list(harness.maps.get(harness.key, {}))

        class ValueState:
            def value(self):
                return harness.values.get(harness.key)

            def update(self, value) -> None:
                harness.values[harness.key] = value

        class Metrics:
            def counter(self, name):
                return self

            def inc(self, n: int = 1) -> None:
                pass

        class Runtime:
            def get_map_state(self, descriptor):
                return MapState()

            def get_state(self, descriptor):
                return ValueState()

            def get_metrics_group(self):
                return Metrics()

        class Timers:
            def current_processing_time(self) -> int:
                return harness.now_ms

            def register_processing_time_timer(self, at: int) -> None:
                heapq.heappush(harness.timers, (at, harness.key))

            def register_event_time_timer(self, at: int) -> None:
                pass  # the end of input: not reached in a timed run

        class Context:
            def get_current_key(self):
                return harness.key

            def timer_service(self):
                return Timers()

        self.runtime, self.context = Runtime(), Context()

    def due(self):
        """(time, key) of each processing-time timer due by ``now_ms``, the key set to its own."""
        while self.timers and self.timers[0][0] <= self.now_ms:
            at, self.key = heapq.heappop(self.timers)
            yield at


def apply_once(texts: list[tuple[str, str]], buckets: int = 32, batch: int = 500, batch_ms: int = 200,
               rate: int = 5_000, flush_ms: int = 1_000) -> tuple[float, int]:
    """CPU seconds ``ApplyEvents`` took over ``texts`` ((payload JSON, aggregate id) pairs), and its outputs.  A
    bucket's batch goes when it holds ``batch`` records or its first is ``batch_ms`` old, as ``BucketBatcher``
    sends it (about 30 records at 5,000 events a second), and what is left at the end."""
    from jobs.flink.eventsourcing_job import ApplyEvents
    from pipelines.eventsourcing.config import EventSourcingConfig

    harness = KeyedHarness()
    apply = ApplyEvents(EventSourcingConfig(), "bench", 10_000, True, flush_ms, buckets, 1_000_000)
    apply.open(harness.runtime)
    pending: dict[int, list[tuple]] = {bucket: [] for bucket in range(buckets)}
    deadlines: list[tuple[int, int]] = []
    opened: dict[int, int] = {}  # bucket -> its open batch's deadline (one in the heap may be stale)
    outputs = 0

    def send(bucket: int) -> int:
        harness.key, rows, pending[bucket] = bucket, pending[bucket], []
        opened.pop(bucket, None)
        return sum(1 for _ in apply.process_element(list(map(list, zip(*rows))), harness.context))

    started = time.process_time()
    for n, (text, aggregate_id) in enumerate(texts):
        now = harness.now_ms = 1_767_225_600_000 + n * 1000 // rate
        for at in harness.due():
            outputs += sum(1 for _ in apply.on_timer(at, harness.context))
        while deadlines and deadlines[0][0] <= now:
            deadline, bucket = heapq.heappop(deadlines)
            if opened.get(bucket) == deadline:
                outputs += send(bucket)
        bucket = zlib.crc32(aggregate_id.encode()) % buckets
        if not pending[bucket]:
            opened[bucket] = now + batch_ms
            heapq.heappush(deadlines, (now + batch_ms, bucket))
        pending[bucket].append((text, None, b"", "shardId-000000000000:0"))
        if len(pending[bucket]) >= batch:
            outputs += send(bucket)
    for bucket, rows in pending.items():
        if rows:
            outputs += send(bucket)
    return time.process_time() - started, outputs


def apply_rate(payloads: list[dict], repeats: int, seed: int = 0) -> dict[str, Any]:
    """``ApplyEvents`` over ``payloads`` (bank events, in their envelopes), ``repeats`` times: CPU a event,
    median."""
    from pipelines.eventsourcing.synthetic import bank_envelope
    from pipelines.records import payload_to_json

    envelopes = [bank_envelope(payload, n, seed) for n, payload in enumerate(payloads)]
    texts = [(payload_to_json(envelope.payload), envelope.partition_key) for envelope in envelopes]
    runs = [apply_once(texts) for _ in range(repeats)]
    seconds = [cpu for cpu, _ in runs]
    median = statistics.median(seconds)
    return {"events": len(texts), "outputs": runs[0][1], "cpu_s": [round(s, 3) for s in seconds],
            "us_per_event": round(median / len(texts) * 1e6, 1),
            "events_per_s_per_core": round(len(texts) / median, 1) if median > 0 else None,
            "note": "the Flink job's Python step in process: keyed state and timers in memory, no PyFlink"}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from benchmarks.eventsourcing import EventSourcingBenchConfig, events

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="about this many bank events (50 an account)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    payloads = events(EventSourcingBenchConfig(events=args.events, seed=args.seed))  # the bench's bank stream
    print(json.dumps(apply_rate(payloads, args.repeats, args.seed)))


if __name__ == "__main__":
    main()
