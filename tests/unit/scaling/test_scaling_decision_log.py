"""The decision log stores each line's history as changes to the previous one; reading gives every history back whole."""
import json
import random

import pytest

from scaling.decision import AppState, ScalingDecision
from scaling.decision_log import DecisionLog, entry, read
from scaling.signals import MetricHistory

METRICS = ("busyTimeMsPerSecond", "containerCPUUtilization", "input_records_per_second", "millisBehindLatest")


def history_at(now: float, rng: random.Random, revised: dict) -> MetricHistory:
    """An hour of minutes per metric, some missing, some late datapoints revised since the last cycle."""
    history = MetricHistory()
    for metric in METRICS:
        for t in range(int(now) - 3600, int(now), 60):
            key = (metric, float(t))
            if key not in revised or rng.random() < 0.03:  # first seen, or CloudWatch revised it
                revised[key] = None if rng.random() < 0.05 else round(rng.uniform(0, 1000), 3)
            history.record(metric, float(t), revised[key])
    return history


def write(log: DecisionLog, app: str, now: float, history: MetricHistory) -> dict:
    record = entry(time=now, app=app, policy="target", state=AppState(current_kpu=4), history=history,
                   decision=ScalingDecision(4, 4, "steady"), action="kept")
    log.append(record)
    return json.loads(json.dumps(record))


def test_every_history_reads_back_exactly_with_two_writers_and_two_apps_interleaved(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "decisions.jsonl"
    writers = [DecisionLog(path, keyframe_every=5), DecisionLog(path, keyframe_every=5)]
    revised: dict = {}
    written = []
    for cycle in range(23):
        now = 1_767_225_600.0 + 60 * cycle
        for app in ("orders", "payments"):
            history = history_at(now, rng, revised.setdefault(app, {}))
            written.append(write(writers[(cycle + len(app)) % 2], app, now, history))
    read_back = [record for _, record in read(path)]
    assert [(r["app"], r["time"], r["history"]) for r in read_back] == \
        [(w["app"], w["time"], w["history"]) for w in written]
    lines = path.read_text().splitlines()
    assert sum("history_delta" in line for line in lines) > len(lines) / 2  # most lines are deltas


def three_cycles(path, seed: int):
    """One writer, one app, three cycles a minute apart."""
    rng, revised, log = random.Random(seed), {}, DecisionLog(path)
    for cycle in range(3):
        now = 1_767_225_600.0 + 60 * cycle
        write(log, "orders", now, history_at(now, rng, revised))
    return path


def test_a_delta_line_is_a_small_fraction_of_a_full_one(tmp_path):
    path = three_cycles(tmp_path / "decisions.jsonl", seed=1)
    full, *deltas = [len(line) for line in path.read_text().splitlines()]
    assert all(d < full / 5 for d in deltas)


def test_a_log_cut_after_its_full_line_is_a_clear_error(tmp_path):
    path = three_cycles(tmp_path / "decisions.jsonl", seed=2)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(ValueError, match="line 1 holds only changes to a history this file does not have"):
        list(read(cut))


def test_version_1_lines_still_read(tmp_path):
    path = tmp_path / "old.jsonl"
    old = {"v": 1, "time": 60.0, "app": "orders", "policy": "step", "state": {"current_kpu": 2},
           "history": [["containerCPUUtilization", 0.0, 95.0]], "decision": {"target": 4}, "action": "applied"}
    path.write_text(json.dumps(old) + "\n")
    [(number, record)] = list(read(path))
    assert number == 1 and record == old
