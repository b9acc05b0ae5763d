"""`shardline pii mask` and `shardline pii scan`: byte-identical untouched fields, dead letters, exit codes."""
import itertools
import json

import pytest
from typer.testing import CliRunner

from connectors.dead_letter import read_dead_letters
from jobs.cli import app
from pipelines.clock import FakeClock
from pipelines.records import to_json_line
from pipelines.synthetic import synthetic_records
from tests.pii_canaries import canary_payment, leaks

KEYS = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
runner = CliRunner()


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)


def payments_lines(count: int = 30) -> list[str]:
    records = itertools.islice(synthetic_records("payments", seed=2, clock=FakeClock(1_700_000_000)), count)
    return [to_json_line(r) for r in records]


def test_mask_keeps_order_and_the_exact_bytes_of_untouched_fields(tmp_path):
    flat = ('{"first_name": "Zebulon", "purchase_value": 1.10, "country": "\\u0055S", "big": 1E+5,'
            ' "notes": "caf\\u00e9; call +1 415-555-0187"}')
    lines = payments_lines() + [flat, ""]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["pii", "mask", "--policy", "payments", "--input", str(source),
                                 "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["masked"] == 31 and summary["dead_lettered"] == 0 and summary["values_masked"]["CREDIT_CARD"] >= 30
    masked = out.read_text().split("\n")
    assert len(masked) == len(lines) + 1 and masked[-2:] == ["", ""]
    for before, after in zip(lines[:-1], masked):
        original, result_line = json.loads(before), json.loads(after)
        payload = original.get("payload", original)
        masked_payload = result_line.get("payload", result_line)
        assert list(masked_payload) == list(payload)
        assert result_line.get("id") == original.get("id")
    # Untouched members keep their bytes (1.10, 1E+5, the \u escape), changed ones are replaced in place.
    assert masked[30].startswith('{"first_name": "') and masked[30].endswith(
        '", "purchase_value": 1.10, "country": "\\u0055S", "big": 1E+5, "notes": "café; call [PHONE_NUMBER]"}')
    assert "Zebulon" not in masked[30]


def test_mask_reads_stdin_and_writes_stdout():
    line = '{"id":"r","type":"t","source":"s","event_time":1,"partition_key":"k","payload":{"ssn":"536-22-1234"}}'
    result = runner.invoke(app, ["pii", "mask", "--policy", "payments"], input=line + "\n")
    assert result.exit_code == 0, result.output
    [masked] = [text for text in result.stdout.splitlines() if text.startswith("{")]
    assert "536-22-1234" not in masked and masked.startswith('{"id":"r","type":"t"')


def test_bad_lines_go_to_the_dead_letter_file_masked_and_the_exit_code_is_2(tmp_path):
    canary = json.dumps(canary_payment(1_700_000_000_000))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([
        payments_lines(1)[0].encode(),
        b"\xff\xfe" + canary.encode(),               # not UTF-8
        canary[:-10].encode(),                        # malformed JSON
        json.dumps({"email": {"nested": "zebulon.canary@example.org"}}).encode(),
        payments_lines(2)[1].encode()]) + b"\n")
    out, dlq = tmp_path / "out.jsonl", tmp_path / "bad.jsonl"
    result = runner.invoke(app, ["pii", "mask", "--policy", "payments", "--input", str(source), "--output", str(out),
                                 "--dlq", str(dlq)])
    assert result.exit_code == 2
    assert "3 line(s) could not be masked" in result.output and "line 2: not valid UTF-8" in result.output
    assert len(out.read_text().splitlines()) == 2  # the good lines, in order
    letters = list(read_dead_letters(dlq))
    assert [letter.source for letter in letters] == [f"file:in.jsonl:line {n}" for n in (2, 3, 4)]
    assert leaks({"dead letters": dlq.read_bytes(), "output": result.output, "masked": out.read_bytes()}) == []


@pytest.mark.parametrize("policy, setup, message", [
    ("policy.yaml", "version: 1\nfields:\n  ssn: {entity: US_SSN, action: redact}\nfeilds: {}\n",
     "feilds: unknown key"),
    ("policy.yaml", "fields:\n  ssn: {entity: US_SSN, action: hash, key: h}\nkeys:\n  h: {env: NO_SUCH_KEY_VAR}\n",
     "environment variable NO_SUCH_KEY_VAR is not set"),
    ("payments", "SHARDLINE_PII_FPE_KEY", "SHARDLINE_PII_FPE_KEY is not set"),
    ("nope.yaml", None, "does not exist"),
])
def test_a_bad_policy_stops_before_reading_with_exit_code_2(tmp_path, monkeypatch, policy, setup, message):
    if policy == "payments":
        monkeypatch.delenv(setup)
    elif setup is not None:
        (tmp_path / policy).write_text(setup)
    source = tmp_path / "in.jsonl"
    source.write_text(payments_lines(1)[0] + "\n")
    out = tmp_path / "out.jsonl"
    spec = policy if policy == "payments" else str(tmp_path / policy)
    result = runner.invoke(app, ["pii", "mask", "--policy", spec, "--input", str(source), "--output", str(out)])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not out.exists()


def test_scan_reports_entities_per_field_and_fields_a_policy_leaves_unmasked(tmp_path):
    lines = payments_lines(60) + [json.dumps({"contact": "zebulon.canary@example.org", "n": 1})] * 20
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["pii", "scan", "--policy", "payments", "--input", str(source), "--sample", "1",
                                 "--threshold", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    fields = {f["field"]: f for f in report["fields"]}
    assert report["records"] == report["sampled"] == 80
    assert fields["ssn"]["entities"] == {"US_SSN": 60} and fields["ssn"]["label"] == "US_SSN"
    assert fields["email"]["policy"] == "hash as EMAIL" and not fields["email"]["unmasked"]
    assert fields["contact"]["label"] == "EMAIL" and fields["contact"]["unmasked"]
    assert report["unmasked_fields"] == ["contact"]
    assert "zebulon" not in result.stdout


def test_scan_prints_a_table_and_flags_unreadable_lines(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(("\n".join(payments_lines(20)) + "\n").encode() + b"\xffnot utf-8\n")
    result = runner.invoke(app, ["pii", "scan", "--policy", "generic", "--input", str(source), "--sample", "0.5"])
    assert result.exit_code == 2
    assert "credit_card_nu" in result.stdout and "line 21: not valid UTF-8" in " ".join(result.output.split())


def test_mask_and_scan_take_the_policy_from_the_environment_like_every_engine(tmp_path, monkeypatch):
    line = ('{"id":"r","type":"t","source":"s","event_time":1,"partition_key":"k",'
            '"payload":{"note":"mail jo@example.com"}}')
    monkeypatch.setenv("SHARDLINE_PII_POLICY", "generic")
    result = runner.invoke(app, ["pii", "mask"], input=line + "\n")
    assert result.exit_code == 0, result.output
    assert "jo@example.com" not in result.stdout
    monkeypatch.setenv("SHARDLINE_PII_POLICY", "no-such-policy")
    result = runner.invoke(app, ["pii", "mask"], input=line + "\n")
    assert result.exit_code == 2 and "no-such-policy" in result.output
    source = tmp_path / "in.jsonl"
    source.write_text(line + "\n")
    result = runner.invoke(app, ["pii", "scan", "--input", str(source)])
    assert result.exit_code == 2 and "no-such-policy" in result.output, "scan reads the same variable"
