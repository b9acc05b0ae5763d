import math

import pytest

from scaling.decision import ScalingConfigError
from scaling.signals import (
    ALARM,
    CPU,
    INPUT_RATE,
    INSUFFICIENT_DATA,
    OK,
    MetricHistory,
    check_metric,
    evaluate_alarm,
)


def test_missing_data_is_none_never_zero():
    h = MetricHistory()
    h.record(INPUT_RATE, 0, 10.0)
    h.record(INPUT_RATE, 60, None)
    h.record(INPUT_RATE, 120, 30.0)
    assert [s.value for s in h.samples(INPUT_RATE)] == [10.0, None, 30.0]
    assert h.values(INPUT_RATE) == [10.0, 30.0]
    assert h.mean(INPUT_RATE) == 20.0
    assert h.latest(INPUT_RATE, at_or_before=90).value == 10.0
    assert h.value_at(INPUT_RATE, 60) is None
    assert h.mean(CPU) is None and h.latest(CPU) is None


def test_history_rejects_time_travel_nan_and_unknown_metrics():
    h = MetricHistory()
    h.record(INPUT_RATE, 60, 1.0)
    with pytest.raises(ValueError, match="older than"):
        h.record(INPUT_RATE, 0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        h.record(INPUT_RATE, 120, math.nan)
    with pytest.raises(ScalingConfigError, match="unknown metric 'IncomingRecord'"):
        h.record("IncomingRecord", 0, 1.0)
    assert check_metric("custom:QueueDepth") == "custom:QueueDepth"


def test_same_period_is_revised_not_duplicated():
    h = MetricHistory()
    h.record(INPUT_RATE, 60, 1.0)
    h.record(INPUT_RATE, 60, 2.0)
    assert [s.value for s in h.samples(INPUT_RATE)] == [2.0]


def test_records_round_trip():
    h = MetricHistory()
    h.record(CPU, 0, 50.0)
    h.record(CPU, 60, None)
    again = MetricHistory.from_records(h.to_records())
    assert again.to_records() == h.to_records()


@pytest.mark.parametrize(
    "values, m, n, expected",
    [
        ([90, 90, 90, 90, 90], 5, 5, ALARM),
        ([90, 90, 90, 90, 70], 5, 5, OK),
        ([90, 70, 90, 90, 90], 4, 5, ALARM),
        ([90, None, 90, 90, 90], 5, 5, INSUFFICIENT_DATA),  # missing is not breaching, and not OK either
        ([90, None, 90, 90, 90], 4, 5, ALARM),
        ([None, None, None, None, None], 1, 5, INSUFFICIENT_DATA),
    ],
)
def test_m_of_n_alarm(values, m, n, expected):
    h = MetricHistory()
    for i, v in enumerate(values):
        h.record(CPU, i * 60.0, v)
    state, window = evaluate_alarm(h, CPU, 5 * 60.0, threshold=80, comparison=">", evaluation_periods=n,
                                   datapoints_to_alarm=m)
    assert state == expected
    assert window == values[-n:]
