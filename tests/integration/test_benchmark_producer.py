"""A small run of the producer benchmark: it completes, counts every record, writes JSON and a PNG."""
import json

import pytest

from benchmarks.producer import CONTENDERS, run

pytestmark = pytest.mark.integration


def test_producer_benchmark_smoke(local_stack, tmp_path):
    result = run(records=400, out_dir=tmp_path, repeats=1, shards=2, baseline_seconds=0.2, slow_records=200,
                 keys=50)
    assert set(result["contenders"]) == set(CONTENDERS)
    for name in ("boto3_put_records", "shardline", "shardline_aggregated"):
        assert result["contenders"][name]["records"] == 400
        assert result["contenders"][name]["failed"] == 0
    assert result["contenders"]["async_kinesis"]["records"] == 200
    assert result["contenders"]["naive_put_record"]["cpu_rate_vs_naive"] == 1.0
    assert set(result["goals"]) == {"100k_records_per_s_per_core", "20x_naive_per_core",
                                    "ahead_of_async_kinesis_per_core"}
    assert json.loads((tmp_path / "producer.json").read_text())["headline"] == "cpu_rate"
    assert (tmp_path / "producer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
