"""A small run of the PyFlink job benchmark: the jobs run bounded, write every record, and are measured.

Correctness of the harness, not speed: the figures of so small a run are noise.
"""
import json
import os

import pytest

from benchmarks.pii.flink_job import JOBS, JobBenchConfig, _plot, run, session_cpu_seconds, summarise

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(540)]


def test_every_job_runs_over_both_streams_and_every_process_is_counted(tmp_path):
    # Two of the jobs, one without Python and one with: the harness is the same for all, and every job has
    # e2e tests of its own (each run here costs a MiniCluster start).
    jobs = ("sql-only", "pii")
    result = run(JobBenchConfig(records=600, warmup_records=200, repeats=1, jobs=jobs, output_stream=True,
                                steady_rate=250, steady_seconds=4), out_dir=tmp_path)
    assert sorted(result["jobs"]) == sorted(jobs)
    for job in jobs:
        runs = result["jobs"][job]["runs"]
        assert [r["written"] for r in runs["short"] + runs["long"]] == [200, 600]  # run() checks S3 holds them
        for r in runs["short"] + runs["long"]:
            assert r["cpu_s"]["jvm"] > 1 and r["cpu_s"]["python"] > 0.2  # the JVM and the Python workers were seen
            assert 0 < r["jit_s"] < r["cpu_s"]["jvm"]  # its JIT compiler threads, a part of the JVM's CPU
            assert "steady" in r  # too short a run for a window (None), but its progress was read
    assert result["masker_alone_us_per_record"] > 0
    steady = result["steady"]  # the unbounded job fed at a steady rate: every record in S3, masked (run() checks)
    assert steady["produced"] == 1_000 and steady["offered_records_per_s"] == 250 and steady["producer_kept_up"]
    assert 0 < steady["latency_p50_ms"] <= steady["latency_p99_ms"] <= steady["latency_max_ms"]
    assert 0 < steady["written_records_per_second"] <= 1_000 / 3  # 4 s of records; S3 times are in seconds
    assert json.loads((tmp_path / "pii_flink_job.json").read_text())["benchmark"] == "pii_flink_job"
    assert (tmp_path / "pii_flink_job.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_cost_of_a_record_is_the_long_run_less_the_short_one():
    def runs(short, long, jit=(0.0, 0.0)):
        return {"short": [{"cpu_s": {"jvm": short[0], "python": short[1]}, "cpu_total_s": sum(short), "jit_s": jit[0]}],
                "long": [{"cpu_s": {"jvm": long[0], "python": long[1]}, "cpu_total_s": sum(long), "jit_s": jit[1]}]}
    result = summarise({"passthrough": runs((10.0, 2.0), (12.0, 6.0), jit=(3.0, 3.5)),
                        "pii-datastream": runs((10.0, 2.5), (12.0, 10.5)),
                        "pii": runs((12.0, 2.0), (14.0, 3.0)), "passthrough-sql": runs((12.0, 2.0), (13.0, 3.0))},
                       {"short": 1_000, "long": 21_000}, {"us_per_record": 50.0}, JobBenchConfig())
    assert result["jobs"]["passthrough"]["us_per_record"] == 300.0  # (2 + 4) s over 20,000 records
    # Of which 0.5 s compiling: 25 us a record, taken out of what a job that has run a while pays.
    assert (result["jobs"]["passthrough"]["jit_us_per_record"], result["jobs"]["passthrough"][
        "us_per_record_without_jit"], result["jobs"]["passthrough"]["records_per_s_per_core_without_jit"]) == (
        25.0, 275.0, 3636.4)
    assert result["jobs"]["pii"]["us_per_record_without_jit"] == 150.0  # no compiling measured: all of it
    assert result["jobs"]["pii-datastream"]["us_per_record_by_process"] == {"jvm": 100.0, "python": 400.0}
    assert result["jobs"]["pii-datastream"]["records_per_s_per_core"] == 2000.0
    assert result["masking_us_per_record_in_job"] == {"datastream": 200.0, "sql": 50.0}
    assert result["pii_to_passthrough_sql_cost"] == 1.5
    assert result["jobs"]["pii"]["us_per_record"] == 150.0 and result["pii_to_pii_datastream_cost"] == 0.3
    assert result["pii_to_masker_alone_cost"] == 3.0
    assert result["kpus_per_10k_records_per_s"] == {"pii": 1.67, "pii-datastream": 5.56}
    assert result["jobs"]["pii"]["in_run"] is None and result["pii_to_masker_alone_cost_in_run"] is None


def test_the_in_run_measure_is_the_median_of_the_long_runs_windows():
    def window(total, jit):
        return {"records": 100_000, "us_per_record": total, "us_per_record_by_process": {"jvm": total - 40.0,
                                                                                         "python": 40.0},
                "jit_us_per_record": jit, "us_per_record_without_jit": total - jit}
    long = [{"cpu_s": {"jvm": 20.0, "python": 10.0}, "cpu_total_s": 30.0, "steady": window(total, jit)}
            for total, jit in ((100.0, 10.0), (140.0, 20.0), (120.0, 30.0))]
    short = [{"cpu_s": {"jvm": 10.0, "python": 2.0}, "cpu_total_s": 12.0, "steady": None}] * 3
    result = summarise({"pii": {"short": short, "long": long}}, {"short": 1_000, "long": 21_000},
                       {"us_per_record": 60.0}, JobBenchConfig())
    in_run = result["jobs"]["pii"]["in_run"]
    assert (in_run["us_per_record"], in_run["us_per_record_range"], in_run["us_per_record_without_jit"]) == (
        120.0, [100.0, 140.0], 90.0)  # each median of its own: 90, 120 and 90 without JIT
    assert result["pii_to_masker_alone_cost_in_run"] == 2.0


def test_a_run_too_short_to_measure_says_so_and_still_plots(tmp_path):
    def runs(short, long):
        return {"short": [{"cpu_s": {"jvm": short, "python": 1.0}, "cpu_total_s": short + 1}],
                "long": [{"cpu_s": {"jvm": long, "python": 1.0}, "cpu_total_s": long + 1}]}
    # Start-up noise larger than the records' cost: the long run took less CPU than the short one.
    result = summarise({job: runs(12.0, 11.5) for job in JOBS},
                       {"short": 200, "long": 600}, {"us_per_record": 50.0}, JobBenchConfig())
    assert result["jobs"]["pii"]["records_per_s_per_core"] is None and result["kpus_per_10k_records_per_s"] == {}
    _plot(result, tmp_path / "short.png")
    assert (tmp_path / "short.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_processes_of_a_session_are_found():
    seen = {}
    session_cpu_seconds(os.getsid(0), seen)
    assert os.getpid() in seen and seen[os.getpid()][1] == "python" and seen[os.getpid()][0] > 0


def test_an_unknown_job_is_refused_with_the_names_to_choose_from(tmp_path):
    with pytest.raises(ValueError, match="unknown jobs \\['pii-fast'\\]: choose among sql-only, "):
        run(JobBenchConfig(records=600, warmup_records=200, jobs=("pii", "pii-fast")), out_dir=tmp_path)
