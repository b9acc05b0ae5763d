"""``connectors.flink.batch_by_bucket`` and ``unbatch`` on the MiniCluster: a keyed Python function gets batches
of records in columns keyed by bucket, every key's values in order and in one bucket, the final watermark only
after the last batch, and what it sends back as batches in columns comes out row by row.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REPO_ROOT = Path(__file__).resolve().parents[2]

JOB = r'''
import json
from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from connectors.flink import FlinkConfig, batch_by_bucket, columns_of, stream_environment, unbatch

END = 2**63 - 2


class Collect(KeyedProcessFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_map_state(MapStateDescriptor("seen", Types.STRING(), Types.STRING()))
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

    def process_element(self, batch, ctx):
        bucket = ctx.get_current_key()
        keys, letters = batch
        for key, letter in zip(keys, letters):
            self.seen.put(key, (self.seen.get(key) or "") + letter)
        self.count.update((self.count.value() or 0) + len(keys))
        ctx.timer_service().register_event_time_timer(END)
        yield Row([f"batch {bucket} {len(keys)}"] + [f"key {key} {bucket}" for key in keys])

    def on_timer(self, timestamp, ctx):
        bucket = ctx.get_current_key()
        yield Row([f"end {bucket} {self.count.value()}"] + [f"seen {key} {value}" for key, value in self.seen.items()])


VALUE = Types.ROW_NAMED(["key", "letter"], [Types.STRING(), Types.STRING()])
LINE = Types.ROW_NAMED(["line"], [Types.STRING()])
env = stream_environment(FlinkConfig(parallelism=2, checkpoint_interval_ms=0))
keys = [f"acct-{n}" for n in range(40)]
elements = [Row(keys[n % 40], Row(keys[n % 40], chr(ord("a") + (n // 40) % 26))) for n in range(2_000)]
stream = env.from_collection(elements, type_info=Types.ROW([Types.STRING(), VALUE])).set_parallelism(1)
batches = batch_by_bucket(stream, VALUE, buckets=4, max_records=7, max_delay_ms=50)
out = unbatch(batches.process(Collect(), output_type=columns_of(LINE)), LINE)
print(json.dumps([row[0] for row in out.execute_and_collect()]))
'''


def test_batches_by_bucket_keep_each_key_s_order_and_come_before_the_final_watermark():
    done = subprocess.run([sys.executable, "-c", JOB], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split(" ") for line in json.loads(done.stdout.strip().splitlines()[-1])]
    sizes = [int(size) for kind, _, size in (line for line in lines if line[0] == "batch")]
    assert sum(sizes) == 2_000 and max(sizes) == 7 and len(sizes) < 2_000 / 3  # batches, none over the cap
    buckets_of = {}
    for _, key, bucket in (line for line in lines if line[0] == "key"):
        buckets_of.setdefault(key, set()).add(bucket)
    assert len(buckets_of) == 40 and all(len(buckets) == 1 for buckets in buckets_of.values())
    # Each bucket's end-of-input timer saw every record of the bucket: no batch came after the final watermark.
    ends = {bucket: int(count) for _, bucket, count in (line for line in lines if line[0] == "end")}
    assert sum(ends.values()) == 2_000 and len(ends) == len({b for bs in buckets_of.values() for b in bs})
    seen = {key: value for _, key, value in (line for line in lines if line[0] == "seen")}
    letters = "".join(chr(ord("a") + n % 26) for n in range(50))
    assert seen == {f"acct-{n}": letters for n in range(40)}
