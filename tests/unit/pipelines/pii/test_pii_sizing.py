"""`shardline bench pii`: a policy timed on the user's own records, the costly fields, cores for a rate."""
import itertools
import json

from typer.testing import CliRunner

from benchmarks.pii.sizing import SizingConfig, size_masking
from jobs.cli import app
from pipelines.clock import FakeClock
from pipelines.pii import builtin_policy
from pipelines.records import to_json_line
from pipelines.synthetic import synthetic_records

KEYS = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
QUICK = SizingConfig(repeats=1)


def payments(count=60):
    return list(itertools.islice(synthetic_records("payments", seed=4, clock=FakeClock(1_700_000_000)), count))


def test_the_scanned_free_text_field_is_where_the_time_goes():
    report = size_masking(builtin_policy("payments", environ=KEYS), [r.payload for r in payments()], QUICK)
    assert report["records"] == 60 and report["refused"] == 0 and report["records_per_s_per_core"] > 0
    costs = report["field_us_per_record"]
    assert next(iter(costs)) == "notes" and list(costs.values()) == sorted(costs.values(), reverse=True)
    assert len(costs) == QUICK.top_fields and report["other_fields_us_per_record"] >= 0


def test_cores_for_a_rate_are_counted_at_the_target_utilisation():
    report = size_masking(builtin_policy("payments", environ=KEYS), [r.payload for r in payments(20)],
                          SizingConfig(repeats=1, target_utilisation=0.5), rate=1_000_000)
    sizing, per_core = report["sizing"], report["records_per_s_per_core"]
    cores = 1_000_000 / per_core
    assert abs(sizing["cores_at_full_use"] - cores) < 0.01
    kpus = sizing["kpus_for_masking"]  # the fewest that keep each at or under half a core's use
    assert kpus * 0.5 >= cores - 0.01 and (kpus - 1) * 0.5 < cores + 0.01


def test_records_the_policy_refuses_are_counted_not_timed():
    payloads = [r.payload for r in payments(10)] + [{"ssn": {"nested": "536-22-1234"}}]
    report = size_masking(builtin_policy("payments", environ=KEYS), payloads, QUICK)
    assert report["records"] == 11 and report["refused"] == 1


def test_the_command_reads_envelopes_and_flat_objects_and_reports_json(tmp_path, monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    records = payments(30)
    sample = tmp_path / "sample.jsonl"
    sample.write_text("\n".join([to_json_line(r) for r in records[:15]] + [json.dumps(r.payload) for r in records[15:]]
                                + ["not json", ""]) + "\n")
    result = CliRunner().invoke(app, ["bench", "pii", "--policy", "payments", "--input", str(sample),
                                      "--records", "25", "--repeats", "1", "--rate", "5000", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["records"] == 25 and report["unreadable_lines"] == 0 and report["sizing"]["rate"] == 5000
    table = CliRunner().invoke(app, ["bench", "pii", "--policy", "payments", "--input", str(sample), "--repeats", "1"])
    assert table.exit_code == 0 and "where the time goes" in table.stdout and "notes" in table.stdout
    assert "1 left out" in table.stdout  # the line that is not JSON


def test_a_file_without_records_is_a_clear_error(tmp_path, monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("[1, 2]\n\n")
    result = CliRunner().invoke(app, ["bench", "pii", "--policy", "payments", "--input", str(empty)])
    assert result.exit_code == 2 and "holds no record to mask" in result.output
