"""`shardline bench timeseries`, the parts that need no Flink cluster: the KCL processor's and the local runner's
cost over a few readings, and the plot over a result of the shape ``run`` writes (the Flink jobs themselves are
run by the e2e tests)."""
from __future__ import annotations

from benchmarks.timeseries import TimeseriesBenchConfig, _plot, kcl_processor_cost, local_runner_cost

SMALL = TimeseriesBenchConfig(records=1500, warmup_records=500, repeats=1, devices=5)


def test_the_kcl_processor_and_the_local_runner_are_timed_over_the_readings(tmp_path):
    kcl, local = kcl_processor_cost(SMALL), local_runner_cost(SMALL, tmp_path)
    for cost in (kcl, local):  # the figures themselves are noise at this size: start-up dominates
        assert isinstance(cost["cpu_us_per_record"], float) and isinstance(cost["records_per_s_per_core"], float)
    assert (tmp_path / "windows-long.jsonl").read_text().count('"kind":"window"') > 0


def test_the_plot_shows_every_engine(tmp_path):
    rate = {"records_per_s_per_core": 1000.0}
    result = {"flink": {"pure-sql": rate, "pattern": rate, "pattern-raw-store": rate,
                        "pattern_share_of_pure_sql_records_per_s_per_core": 1.0},
              "kcl_processor": rate, "local_runner": rate,
              "detectors": {"mad": {"precision": 0.9, "recall": 0.9}}}
    _plot(result, tmp_path / "ts.png")
    assert (tmp_path / "ts.png").stat().st_size > 1000
