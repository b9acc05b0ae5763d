"""``connectors.flink.side_output``: a Python operator's side output read in Java, with no Python step.

PyFlink's ``get_side_output`` puts a Python identity ``map`` behind the side output; this runs a Python function
with a main and two side outputs (batches in columns) on the MiniCluster and reads them through ``side_output``
and ``unbatch``: every row arrives as the function wrote it, and the plan holds no ``Map``.
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
from pyflink.datastream import OutputTag, ProcessFunction
from connectors.flink import FlinkConfig, columns_of, side_output, stream_environment, unbatch

ROW = Types.ROW_NAMED(["kind", "text", "length"], [Types.STRING(), Types.STRING(), Types.LONG()])
WORDS, LENGTHS = OutputTag("words", columns_of(ROW)), OutputTag("lengths", columns_of(ROW))


class Split(ProcessFunction):
    def process_element(self, value, ctx):
        yield Row("main", value.upper(), None)
        yield WORDS, Row(["word"] * 2, [value, value[::-1]], [None, None])
        yield LENGTHS, Row(["length"], [None], [len(value)])


env = stream_environment(FlinkConfig(parallelism=1, checkpoint_interval_ms=0))
main = env.from_collection(["zażółć", "a", "bcd"], type_info=Types.STRING()).process(Split(), output_type=ROW)
# As the event-sourcing job reads its derived events: batches in columns, unbatched in Java.
every = main.union(unbatch(side_output(main, WORDS), ROW), unbatch(side_output(main, LENGTHS), ROW))
plan = json.loads(env.get_execution_plan())
rows = [[row[0], row[1], row[2]] for row in every.execute_and_collect()]
print(json.dumps({"rows": rows, "operators": [node["type"] for node in plan["nodes"]]}))
'''


def test_side_outputs_arrive_in_their_tag_s_type_with_no_python_map():
    done = subprocess.run([sys.executable, "-c", JOB], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [["main", "ZAŻÓŁĆ", None], ["main", "A", None], ["main", "BCD", None], ["word", "zażółć", None],
                ["word", "ćłóżaz", None], ["word", "a", None], ["word", "a", None], ["word", "bcd", None],
                ["word", "dcb", None], ["length", None, 6], ["length", None, 1], ["length", None, 3]]
    assert sorted(map(json.dumps, result["rows"])) == sorted(map(json.dumps, expected))
    assert "Map" not in result["operators"], result["operators"]
