"""`shardline bench eventsourcing` over a small stream: every figure is there and the two rebuilds agree."""
import json

from benchmarks.eventsourcing import EventSourcingBenchConfig, run


def test_a_small_run_reports_rates_and_the_rebuild_ratio(tmp_path):
    result = run(EventSourcingBenchConfig(events=3000, runner_events=1000, repeats=1, tail=0.1, engines=False),
                 tmp_path)
    assert result["pattern"]["events"] > 2000 and result["pattern"]["events_per_s_per_core"] > 0
    assert result["rebuild"]["tail_events"] < result["rebuild"]["events"] and result["rebuild"]["speedup"] > 0
    assert "us_per_event" in result["local_runner"]
    step = result["flink_python_step"]
    assert step["events"] > 900 and step["outputs"] > 10 and step["to_pattern_cost"] > 0
    assert json.loads((tmp_path / "eventsourcing.json").read_text())["benchmark"] == "eventsourcing"
    assert (tmp_path / "eventsourcing.png").stat().st_size > 1000
