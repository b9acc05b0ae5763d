import pytest

from pipelines.clock import FakeClock
from scaling.decision import UPDATING, AppState, ScalingConfigError
from scaling.policies import StepConfig, StepPolicy
from scaling.signals import CPU, MetricHistory


def history_with(cpu_values, clock):
    """CPU datapoints for the minutes before ``clock``'s now."""
    h = MetricHistory()
    start = clock.time() - 60 * len(cpu_values)
    for i, v in enumerate(cpu_values):
        h.record(CPU, start + 60 * i, v)
    return h


HOT, COLD, MID = [95] * 5, [5] * 5, [50] * 5


@pytest.mark.parametrize(
    "config, kpu, ppk, cpu, target, parallelism",
    [
        (StepConfig(max_kpu=64), 4, 1, HOT, 8, 8),
        (StepConfig(max_kpu=64, scale_out_factor=1.5), 4, 1, HOT, 6, 6),  # float factor
        (StepConfig(max_kpu=64, scale_out_factor=1.01), 3, 1, HOT, 4, 4),  # a step always moves
        (StepConfig(max_kpu=64, operation="add", scale_out_factor=2.5), 4, 1, HOT, 7, 7),
        (StepConfig(max_kpu=64, scale_in_factor=1.5), 9, 1, COLD, 6, 6),
        (StepConfig(max_kpu=64, operation="add", scale_in_factor=3), 4, 1, COLD, 1, 1),
        (StepConfig(max_kpu=10), 8, 1, HOT, 10, 10),  # clamped to max
        (StepConfig(min_kpu=3, max_kpu=64), 4, 1, COLD, 3, 3),  # clamped to min
        (StepConfig(max_kpu=64, scale_out_factor=1.5, parallelism_per_kpu=4), 2, 4, HOT, 3, 12),  # 8 -> 12 slots
        (StepConfig(max_kpu=64, parallelism_per_kpu=4), 2, 4, COLD, 1, 4),
        (StepConfig(max_kpu=64), 4, 1, MID, 4, None),
    ],
)
def test_step_table(config, kpu, ppk, cpu, target, parallelism):
    clock = FakeClock()
    decision = StepPolicy(config).decide(AppState(kpu, parallelism_per_kpu=ppk), history_with(cpu, clock), clock.time())
    assert (decision.target, decision.parallelism) == (target, parallelism)


def test_waits_while_updating_and_during_cooldown():
    clock = FakeClock()
    policy = StepPolicy(StepConfig(max_kpu=64, cooldown_s=300))
    h = history_with(HOT, clock)
    assert not policy.decide(AppState(4, status=UPDATING), h, clock.time()).changed
    done = clock.time() - 100
    cooling = policy.decide(AppState(4, last_rescale_done_at=done), h, clock.time())
    assert (cooling.changed, cooling.reason) == (False, "cooling down")
    clock.advance(200)
    h = history_with(HOT, clock)
    assert policy.decide(AppState(4, last_rescale_done_at=done), h, clock.time()).target == 8


def test_missing_datapoints_mean_no_change():
    clock = FakeClock()
    decision = StepPolicy(StepConfig(max_kpu=64)).decide(AppState(4), history_with([95, None, 95, 95, 95], clock), clock.time())
    assert not decision.changed
    assert decision.inputs["scale_out_alarm"] == "INSUFFICIENT_DATA"
    assert not StepPolicy(StepConfig(max_kpu=64)).decide(AppState(4), MetricHistory(), clock.time()).changed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_kpu": 8, "max_kpu": 4}, "min_kpu \\(8\\) is above max_kpu \\(4\\)"),
        ({"max_kpu": 100}, "over the KPU quota \\(64\\)"),
        ({"metric": "CPUUtilisation"}, "unknown metric"),
        ({"scale_out_factor": 1.0}, "scale_out_factor must be > 1"),
        ({"operation": "add", "scale_in_factor": 0}, "scale_in_factor must be > 0"),
        ({"scale_in_threshold": 90}, "must be below scale_out_threshold"),
        ({"datapoints_to_alarm": 6}, "datapoints_to_alarm"),
        ({"operation": "divide"}, "operation must be"),
        ({"parallelism_per_kpu": 9}, "parallelism_per_kpu"),
    ],
)
def test_bad_config_is_refused_at_construction(kwargs, message):
    with pytest.raises(ScalingConfigError, match=message):
        StepConfig(**kwargs)
