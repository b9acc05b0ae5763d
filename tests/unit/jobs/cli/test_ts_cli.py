"""`shardline ts`: generate, run over a file, query back; bad lines go to the dead letters and stop nothing."""
import base64
import json
import math
from collections import defaultdict

from typer.testing import CliRunner

from jobs.cli import app
from pipelines.timeseries.readings import event_time_ms

runner = CliRunner()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_windows_equal_a_brute_force_over_the_clean_readings(tmp_path):
    readings = tmp_path / "readings.jsonl"
    result = runner.invoke(app, ["ts", "generate", "--output", str(readings), "--records", "6000", "--rate", "20",
                                 "--devices", "3", "--duplicate-rate", "0", "--jitter", "0", "--seed", "4"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "windows.jsonl"
    result = runner.invoke(app, ["ts", "run", "--input", str(readings), "--output", str(out), "--window", "1m",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["readings"] == 6000
    expected = defaultdict(list)
    for reading in lines(readings):
        start = reading["event_time"] - reading["event_time"] % 60_000
        expected[(f"{reading['device_id']}/{reading['metric']}", start)].append(reading["value"])
    windows = [w for w in lines(out) if w["kind"] == "window"]
    assert len(windows) == len(expected)
    for window in windows:
        values = sorted(expected[(window["series"], event_time_ms(window["window_start"]))])
        assert event_time_ms(window["window_end"]) - event_time_ms(window["window_start"]) == 60_000
        assert (window["count"], window["min"], window["max"]) == (len(values), values[0], values[-1])
        assert window["mean"] == math.fsum(values) / len(values)
        assert window["p95"] == values[math.ceil(0.95 * len(values)) - 1]
    assert [w["window_end"] for w in windows] == sorted(w["window_end"] for w in windows), "in order of end"


def test_bad_lines_become_dead_letters_with_reasons_and_the_run_goes_on(tmp_path):
    good = {"device_id": "d-1", "metric": "temperature", "value": 20.0, "event_time": "2026-01-01T00:00:00Z"}
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps(good),
        "this is not JSON",
        json.dumps({k: v for k, v in good.items() if k != "metric"}),
        json.dumps({**good, "value": "warm"}),
        json.dumps({**good, "event_time": "9999-06-01T00:00:00Z"}),
        json.dumps({**good, "event_time": "2026-01-01T00:00:30Z", "value": 22.0}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["ts", "run", "--input", str(source), "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["rejected"] == 4
    letters = lines(tmp_path / "out.jsonl.dlq.jsonl")
    assert [(letter["source"], letter["error_type"], letter["reason"]) for letter in letters] == [
        ("file:in.jsonl:line 2", "RecordValidationError", letters[0]["reason"]),
        ("file:in.jsonl:line 3", "ReadingError", "field 'metric': is required"),
        ("file:in.jsonl:line 4", "ReadingError", "field 'value': must be a number"),
        ("file:in.jsonl:line 5", "ReadingError", "field 'event_time': is more than 86400 s ahead of the clock"),
    ]
    assert "JSON" in letters[0]["reason"] and b"warm" in base64.b64decode(letters[2]["data"])
    assert [(w["series"], w["count"], w["mean"]) for w in lines(out)] == [("d-1/temperature", 2, 21.0)]


def test_late_readings_go_to_their_side_output(tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [{"device_id": "d", "metric": "m", "value": 1.0, "event_time": t} for t in (0, 90_000, 10_000)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["ts", "run", "--input", str(source), "--output", str(out)]).exit_code == 0
    late = lines(tmp_path / "out.jsonl.late.jsonl")
    assert [(r["series"], r["event_time"], r["watermark"]) for r in late] == [
        ("d/m", "1970-01-01T00:00:10Z", "1970-01-01T00:01:25Z")]
    assert [w["count"] for w in lines(out)] == [1, 1]


def test_query_reads_a_series_back_and_plots_it(tmp_path):
    readings, out, png = tmp_path / "r.jsonl", tmp_path / "w.jsonl", tmp_path / "plot.png"
    runner.invoke(app, ["ts", "generate", "--output", str(readings), "--records", "4000", "--rate", "10",
                        "--devices", "2", "--anomaly-rate", "0.02"])
    assert runner.invoke(app, ["ts", "run", "--input", str(readings), "--output", str(out)]).exit_code == 0
    result = runner.invoke(app, ["ts", "query", "--input", str(out), "--series", "device-0001/pressure",
                                 "--from", "2026-01-01T00:01:00Z", "--to", "2026-01-01T00:04:00Z", "--json",
                                 "--plot", str(png)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert [w["window_start"] for w in answer["windows"]] == [1767225660000, 1767225720000, 1767225780000]
    assert all(1767225660000 <= a["event_time"] < 1767225840000 for a in answer["anomalies"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_settings_errors_are_one_line(tmp_path):
    config = tmp_path / "ts.yaml"
    config.write_text("window_s: 60\nslide_s: 7\n")
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    result = runner.invoke(app, ["ts", "run", "--input", str(source), "--config", str(config)])
    assert result.exit_code == 2 and "whole number of slides" in result.output
    result = runner.invoke(app, ["ts", "run", "--input", str(source), "--window", "soon"])
    assert result.exit_code == 2 and "is not a duration" in result.output


def test_run_takes_a_file_or_a_stream_and_a_stream_needs_its_state_and_outputs(tmp_path):
    readings = tmp_path / "readings.jsonl"
    readings.write_text("")
    both = runner.invoke(app, ["ts", "run", "--input", str(readings), "--stream", "telemetry"])
    neither = runner.invoke(app, ["ts", "run"])
    no_state = runner.invoke(app, ["ts", "run", "--stream", "telemetry", "--aggregate-table", "t", "--dlq", "d.jsonl"])
    no_table = runner.invoke(app, ["ts", "run", "--stream", "telemetry", "--snapshots", str(tmp_path / "state"),
                                   "--dlq", "d.jsonl"])
    assert both.exit_code == neither.exit_code == no_state.exit_code == no_table.exit_code == 2
    assert "--input FILE or --stream NAME" in both.output and "--input FILE or --stream NAME" in neither.output
    assert "--snapshots" in no_state.output and "aggregate table" in no_table.output


def test_stats_of_every_shard_add_up():
    from pipelines.timeseries.pattern import TimeseriesStats

    total, one = TimeseriesStats(), TimeseriesStats(read=3, readings=2, rejected=1, rejected_by_reason={"value": 1})
    total.add(one)
    total.add(one)
    assert (total.read, total.readings, total.rejected, total.rejected_by_reason) == (6, 4, 2, {"value": 2})
