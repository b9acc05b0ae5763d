"""Small runs of the PII benchmarks: both complete and write JSON and a PNG; the evaluation meets its goals.

Correctness, not speed: the recall and precision goals are asserted on a fixed
seed (the generator is deterministic), throughput figures are not.
"""
import json

from benchmarks.pii import evaluate, throughput
from benchmarks.pii.generator import GOAL_ENTITIES

PNG = b"\x89PNG\r\n\x1a\n"


def test_evaluation_meets_the_goals_on_a_fixed_seed(tmp_path):
    result = evaluate.run(records=1500, seed=7, out_dir=tmp_path)
    goals = result["goals"]
    assert goals["typed_recall_1.0"]["met"], goals
    assert goals["free_text_recall_0.995"]["met"], goals
    assert goals["free_text_precision_0.95"]["met"], goals
    assert result["free_text"]["leaks"] == {}
    entities = result["free_text"]["entities"]
    assert all(entities[e]["truth"] >= 150 for e in GOAL_ENTITIES)  # enough spans for the figures to mean something
    assert result["typed_fields"]["payments"]["plain_fields_changed"] == {}
    assert json.loads((tmp_path / "pii_eval.json").read_text())["records"] == 1500
    assert (tmp_path / "pii_eval.png").read_bytes()[:8] == PNG


def test_throughput_times_shardline_and_presidio_on_the_same_records(tmp_path):
    result = throughput.run(records=200, repeats=1, presidio_records=4, presidio_repeats=1, out_dir=tmp_path)
    assert set(result["shardline"]) == {"full_record", "typed_fields_only", "notes_only", "full_record_typical_mix"}
    assert all(v["records_per_s_median"] > 0 for v in result["shardline"].values())
    presidio = result["presidio"]
    if presidio["available"]:
        assert presidio["ratio_full_record"] > 0
        assert presidio["recall"]["records"] == 4
    else:  # not installed: the result says why and how to fix it
        assert "pip install" in presidio["reason"]
    assert result["profile_shardline"]["top_functions"]
    assert set(result["goals"]) == {"20k_records_per_s_per_core", "50x_presidio"}
    assert json.loads((tmp_path / "pii_throughput.json").read_text())["benchmark"] == "pii_throughput"
    assert (tmp_path / "pii_throughput.png").read_bytes()[:8] == PNG
