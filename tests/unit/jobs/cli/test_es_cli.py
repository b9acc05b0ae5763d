"""`shardline es`: generate a faulty event stream, run the pattern over it, get the clean run's final states."""
import base64
import json

from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_stream_with_duplicates_swaps_gaps_and_bad_records_ends_in_the_expected_states(tmp_path):
    events, truth = tmp_path / "events.jsonl", tmp_path / "truth.jsonl"
    result = runner.invoke(app, ["es", "generate", "--output", str(events), "--accounts", "25",
                                 "--duplicate-rate", "0.05", "--swap-rate", "0.1", "--gap-rate", "0.3",
                                 "--refused-rate", "0.05", "--bad-rate", "0.02", "--seed", "3",
                                 "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    state, derived = tmp_path / "state.jsonl", tmp_path / "derived.jsonl"
    args = ["es", "run", "--input", str(events), "--output", str(state), "--derived", str(derived), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.splitlines()[-1])
    assert counts["duplicates"] > 0 and counts["held"] > 0 and counts["rejected"] > 0
    assert lines(state) == lines(truth)
    assert all(set(line) == {"aggregate_id", "version", "state", "status"} for line in lines(state))
    letters = lines(tmp_path / "state.jsonl.dlq.jsonl")
    reasons = {letter["reason"] for letter in letters}
    assert {"field 'type': unknown event type", "field 'version': must be a positive integer",
            "version gap not filled by the end of the input"} <= reasons
    ids = [record["id"] for record in lines(derived)]
    assert len(ids) == len(set(ids)) > 0

    first = (state.read_bytes(), derived.read_bytes())  # a replay writes the same, ids and all
    assert runner.invoke(app, args).exit_code == 0
    assert (state.read_bytes(), derived.read_bytes()) == first


def test_a_refused_event_is_a_dead_letter_with_the_owner_masked(tmp_path):
    events = tmp_path / "events.jsonl"
    opened = {"aggregate_id": "acct-1", "aggregate_type": "Account", "event_id": "e-1", "type": "AccountOpened",
              "occurred_at": 1, "data": {"owner": "Zebulon Quartermaine", "branch": "north"}}
    events.write_text("\n".join(json.dumps(e) for e in (
        {**opened, "version": 1}, {**opened, "version": 2, "event_id": "e-2"},  # opened twice: refused
        "not json",
    )) + "\n")
    events.write_text(events.read_text().replace('"not json"', "not json"))
    state = tmp_path / "state.jsonl"
    result = runner.invoke(app, ["es", "run", "--input", str(events), "--output", str(state)])
    assert result.exit_code == 0, result.output
    assert lines(state)[0]["state"]["owner"] == "Zebulon Quartermaine" and lines(state)[0]["version"] == 2
    letters = lines(tmp_path / "state.jsonl.dlq.jsonl")
    assert [letter["error_type"] for letter in letters] == ["DomainRuleError", "RecordValidationError"]
    assert all(b"Zebulon" not in base64.b64decode(letter["data"]) for letter in letters)
    assert "Zebulon" not in result.output
