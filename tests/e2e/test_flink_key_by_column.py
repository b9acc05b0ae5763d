"""``connectors.flink.key_by_column``: a stream of ``Row(key, value)`` keyed in Java, with no Python step.

It builds PyFlink's KeyedStream from its parts (what ``key_by`` does after its Python step), so this runs a
keyed Python function over it on the MiniCluster: each key's values reach the function of that key, in order,
with its keyed state, and the plan holds no key-by step of PyFlink's.
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
from pyflink.datastream.state import ValueStateDescriptor
from connectors.flink import FlinkConfig, key_by_column, stream_environment


class Running(KeyedProcessFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_state(ValueStateDescriptor("seen", Types.STRING()))

    def process_element(self, value, ctx):
        seen = (self.seen.value() or "") + value[0]
        self.seen.update(seen)
        yield ctx.get_current_key() + "=" + seen


VALUE = Types.ROW_NAMED(["letter"], [Types.STRING()])
env = stream_environment(FlinkConfig(parallelism=2, checkpoint_interval_ms=0))
elements = [Row(key, Row(letter)) for key, letter in
            [("a", "x"), ("b", "p"), ("a", "y"), ("c", "m"), ("b", "q"), ("a", "z")]]
stream = env.from_collection(elements, type_info=Types.ROW([Types.STRING(), VALUE])).set_parallelism(1)
out = key_by_column(stream, Types.STRING(), VALUE).process(Running(), output_type=Types.STRING())
plan = env.get_execution_plan()
print(json.dumps({"out": sorted(out.execute_and_collect()), "python_key_step": "_stream_key_by_map_operator" in plan}))
'''


def test_each_key_s_values_reach_its_keyed_state_in_order_with_no_python_key_step():
    done = subprocess.run([sys.executable, "-c", JOB], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["python_key_step"] is False
    assert result["out"] == sorted(["a=x", "a=xy", "a=xyz", "b=p", "b=pq", "c=m"])
