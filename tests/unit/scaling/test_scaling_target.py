import json
from pathlib import Path

import pytest

from pipelines.clock import FakeClock
from scaling.decision import UPDATING, AppState, ScalingConfigError
from scaling.policies import ScheduleConfig, SchedulePolicy, ScheduledTargetPolicy, ScheduleWindow, TargetConfig, TargetPolicy
from scaling.policies.target import rate_model, rescale_slo_seconds
from scaling.signals import BUSY_TIME, INPUT_RATE, KPUS, LAG_MS, PROCESSED_RATE, MetricHistory

# Pinned here, so retuning the defaults does not move these expectations.
CFG = TargetConfig(target_utilisation=0.9, scale_up_utilisation=0.95, catch_up_s=900, restart_s=120,
                   rate_window_s=300, trend_lookahead_s=0, scale_down_window_s=1800, horizon_s=3600)
CONFIRM = TargetConfig(target_utilisation=0.9, scale_up_utilisation=0.95, catch_up_s=900, restart_s=120,
                       rate_window_s=300, trend_lookahead_s=0, scale_down_window_s=1800, horizon_s=3600,
                       confirm_jumps=True)
NO_CONFIRM = TargetConfig(target_utilisation=0.9, scale_up_utilisation=0.95, catch_up_s=900, restart_s=120,
                          rate_window_s=300, trend_lookahead_s=0, scale_down_window_s=1800, horizon_s=3600,
                          confirm_jumps=False)
T0 = 1_767_225_600.0


def minute(h, m, *, rate, kpu, per_kpu=1000.0, lag_ms=0.0, processed=None, busy=None):
    """One minute of datapoints as CloudWatch returns them; ``processed``/``busy`` None = missing."""
    t = T0 + 60 * m
    capacity = kpu * per_kpu
    done = min(rate, capacity) if processed == "auto" or processed is None else processed
    h.record(INPUT_RATE, t, rate)
    h.record(PROCESSED_RATE, t, None if processed is None else done)
    h.record(BUSY_TIME, t, None if busy is None else (1000.0 * done / capacity if busy == "auto" else busy))
    h.record(KPUS, t, kpu)
    h.record(LAG_MS, t, lag_ms)


def steady(minutes, rate, kpu, **kw):
    h = MetricHistory()
    for m in range(minutes):
        minute(h, m, rate=rate, kpu=kpu, processed="auto", busy="auto", **kw)
    return h


def decide(h, state, minutes, cfg=CFG):
    return TargetPolicy(cfg).decide(state, h, T0 + 60 * minutes)


def test_required_capacity_is_the_operator_formula():
    # lag / catch_up + rate * restart / catch_up + rate / target_utilisation
    assert TargetPolicy(CFG).required(20000, 600000, True, 0.9) == pytest.approx(666.667 + 2666.667 + 22222.222, abs=0.01)
    assert TargetPolicy(CFG).required(20000, 0, False, 0.95) == pytest.approx(20000 / 0.95)


@pytest.mark.parametrize(
    "name, kpu, rate, rescaled_min_ago, target, reason",
    [
        ("right-sized", 10, 8000, None, 10, "right-sized"),
        # lazy target 10: saves 10 KPU x 3600 s; costs 10 x (120 s + 8000*120/2000 s catch-up) = 6000 KPU-s
        ("over-provisioned", 20, 8000, None, 10, "over-provisioned for 1800s"),
        ("not worth a restart", 11, 8000, None, 11, "scale-down would cost more than it saves"),
        ("stabilising", 20, 8000, 10, 20, "stabilising after the last rescale"),
    ],
)
def test_scale_down_table(name, kpu, rate, rescaled_min_ago, target, reason):
    h = steady(40, rate, kpu)
    last = None if rescaled_min_ago is None else T0 + 60 * (42 - rescaled_min_ago)
    d = decide(h, AppState(kpu, last_rescale_at=last), 42)
    assert (d.target, d.reason) == (target, reason), name


def test_step_up_is_sized_in_one_go():
    h = steady(40, 8000, 10)
    minute(h, 40, rate=20000, kpu=10, processed="auto", busy="auto", lag_ms=30_000)
    d = decide(h, AppState(10), 42, NO_CONFIRM)
    # planned 20000 rec/s, lag 30 s x 14000 rec/s = 420000 records, plus the 90 s since the middle of
    # that minute at (14000 - 10000) rec/s short = 360000 more:
    # 780000/900 + 20000*120/900 + 20000/0.9 = 25755.6 rec/s -> 26 KPU at 1000 rec/s per KPU
    assert d.target == 26
    assert d.inputs["required_capacity"] == pytest.approx(25755.6, abs=0.1)


def test_a_jump_is_confirmed_on_a_second_datapoint_then_sized_once():
    h = steady(40, 8000, 10)
    minute(h, 40, rate=20000, kpu=10, processed="auto", busy="auto", lag_ms=30_000)
    d = decide(h, AppState(10), 42, CONFIRM)
    assert (d.changed, d.reason.startswith("input jumped")) == (False, True)
    minute(h, 41, rate=20000, kpu=10, processed="auto", busy="auto", lag_ms=50_000)
    d = decide(h, AppState(10), 43, CONFIRM)
    # 50 s x 20000 + 90 s x (20000 - 10000) = 1.9M records: 1.9M/900 + 20000*120/900 + 20000/0.9 = 27000
    assert d.target == 27 and d.reason.startswith("under capacity")
    # a lag already past the SLO is not worth another minute: no confirmation
    h = steady(40, 8000, 10)
    minute(h, 40, rate=20000, kpu=10, processed="auto", busy="auto", lag_ms=90_000)
    assert decide(h, AppState(10), 42, CONFIRM).target > 20


def test_a_clear_ramp_is_scaled_ahead_and_with_room_to_grow():
    """Input climbing 100 rec/s every minute: scale up before the input reaches capacity (by the time
    a rescale decided now is done it would), and size for the growth past it, so steps are few."""
    h = MetricHistory()
    for m in range(40):
        minute(h, m, rate=6000 + 100 * m, kpu=10, processed="auto", busy="auto")
    # newest datapoint (minute 39) 9900 rec/s < 10000 capacity, but 9900 + 1.67/s x 150 s > 10000
    ramp = TargetConfig(target_utilisation=0.9, scale_up_utilisation=1.0, trend_lookahead_s=1800, restart_s=120)
    d = decide(h, AppState(10), 41, ramp)
    assert d.changed and d.reason.startswith("under capacity")
    # planned: 9850 + 1.667 * (90 + 120 + 1800) = 13200 rec/s -> 13200 / 0.9 + 13200 * 120 / 1800 = 15547
    assert d.inputs["planned_input_rate"] == pytest.approx(13200, rel=0.01)
    assert d.target == 16
    # the same history without the trend term waits until the input itself crosses capacity
    flat = TargetConfig(target_utilisation=0.9, scale_up_utilisation=1.0, predictive=False)
    assert not decide(h, AppState(10), 41, flat).changed


def test_noise_is_not_a_trend():
    h = MetricHistory()
    for m in range(40):
        minute(h, m, rate=9000 + (400 if m % 2 else -400), kpu=10, processed="auto", busy="auto")
    d = decide(h, AppState(10), 41, TargetConfig())
    assert d.inputs["trend_per_s"] == 0.0 and not d.changed


def test_a_rescale_priced_in_slo_seconds():
    cfg = TargetConfig()  # downtime 60 s = the 60 s SLO: any size under 2x the input overshoots it
    assert rescale_slo_seconds(10000, 25000, 0.0, cfg) == 0.0
    small, big = rescale_slo_seconds(10000, 12500, 0.0, cfg), rescale_slo_seconds(10000, 18000, 0.0, cfg)
    assert small > big > 0
    assert rescale_slo_seconds(10000, 12500, 30.0, cfg) > small  # existing lag adds to it


def test_lag_that_drains_in_time_is_not_a_reason_to_restart():
    h = steady(40, 8000, 12, lag_ms=60_000)  # 480000 records, drains at 4000 rec/s in 120 s < 900 s
    assert decide(h, AppState(12), 42).target == 12
    h = steady(40, 8000, 8, lag_ms=1_000)  # 8000 > 0.95 * 8000: the input alone needs more
    assert decide(h, AppState(8), 42).target == 10  # 8000/0.9 + 8000*120/900 + lag -> 10 KPU


@pytest.mark.parametrize(
    "name, build, minutes",
    [
        ("no input rate at all", lambda: MetricHistory(), 42),
        ("input rate stale", lambda: steady(10, 20000, 10), 42),
        ("no busy time", lambda: _without_busy(), 42),
    ],
)
def test_missing_data_means_no_change(name, build, minutes):
    d = decide(build(), AppState(10), minutes)
    assert not d.changed and d.reason.startswith("missing data"), name


def _without_busy():
    h = MetricHistory()
    for m in range(40):
        minute(h, m, rate=20000, kpu=10, processed=10000.0, busy=None)
    return h


def test_missing_lag_blocks_scale_down_only():
    h = steady(40, 8000, 20, lag_ms=None)  # every lag datapoint explicitly missing
    d = decide(h, AppState(20), 42)
    assert (d.changed, d.reason) == (False, "missing data: no lag, so no scale-down")
    h = steady(40, 8000, 7, lag_ms=None)  # but the input alone still shows 7 KPU are too few
    # (and 150 s at 1000 rec/s short since the newest minute's middle: 8889 + 1067 + 167 -> 11)
    assert decide(h, AppState(7), 42).target == 11


def test_contention_is_fitted_from_two_sizes():
    h = MetricHistory()
    sigma = 0.01
    for m in range(60):
        kpu = 10 if m < 30 else 20
        per_kpu = 1000.0 / (1 + sigma * (kpu - 1))
        minute(h, m, rate=5000, kpu=kpu, per_kpu=per_kpu, processed="auto", busy="auto")
    model = rate_model(h, T0 + 60 * 62, CFG)
    assert model.contention == pytest.approx(sigma, rel=1e-6)
    assert model.per_kpu == pytest.approx(1000.0)
    assert model.capacity(40) == pytest.approx(40_000 / 1.39)


def test_warm_up_periods_are_not_used_for_the_true_rate():
    h = steady(30, 8000, 10)
    minute(h, 30, rate=8000, kpu=20, processed=8000.0, busy=1000.0)  # warming up: looks like 400/KPU
    minute(h, 31, rate=8000, kpu=20, processed=8000.0, busy=400.0)
    assert rate_model(h, T0 + 60 * 33, CFG).per_kpu == pytest.approx(1000.0)


def test_recorded_history_from_the_simulator():
    """A history recorded from the fluid model just after a load step (how: the file's "source")."""
    rows = json.loads((Path(__file__).parent / "data" / "step_history.json").read_text())
    h = MetricHistory.from_records(rows["datapoints"])
    d = TargetPolicy(NO_CONFIRM).decide(AppState(rows["kpu"]), h, rows["now"])
    assert d.target == rows["expected_target"]
    assert d.reason.startswith("under capacity")


def test_bad_target_config():
    with pytest.raises(ScalingConfigError, match="target_utilisation"):
        TargetConfig(target_utilisation=0.97, scale_up_utilisation=0.95)
    with pytest.raises(ScalingConfigError, match="over the KPU quota"):
        TargetConfig(max_kpu=80)
    with pytest.raises(ScalingConfigError, match="catch_up_s must be > 0"):
        TargetConfig(catch_up_s=0)
    window = ScheduleWindow("0 8 * * *", "0 9 * * *", 70)
    with pytest.raises(ScalingConfigError, match="above the target policy's max_kpu 64"):
        ScheduledTargetPolicy(SchedulePolicy(ScheduleConfig(windows=(window,), max_kpu=100, kpu_quota=100)),
                              TargetPolicy(CFG))


def test_schedule_floor_then_reactive():
    # 2026-01-01 00:00 UTC is T0; a window 00:30-01:00 UTC with a 30 KPU floor
    window = ScheduleWindow("30 0 * * *", "0 1 * * *", 30)
    policy = ScheduledTargetPolicy(SchedulePolicy(ScheduleConfig(windows=(window,))), TargetPolicy(CFG))
    h = steady(70, 8000, 10)
    assert policy.decide(AppState(10), h, T0 + 60 * 20).target == 10
    inside = policy.decide(AppState(10), h, T0 + 60 * 35)
    assert (inside.target, inside.reason.startswith("schedule floor 30")) == (30, True)
    assert not policy.decide(AppState(30, status=UPDATING), h, T0 + 60 * 35).changed
    # after the window the floor is gone and the lazy scale-down brings it back
    after = policy.decide(AppState(30, last_rescale_at=T0 + 60 * 30), h, T0 + 60 * 68)
    assert after.target == 10


def test_tick_by_tick_step_and_back():
    """A fake collector hands the policy one minute of datapoints per tick, one minute late
    (CloudWatch's delay); the test applies each decision as the backend would."""
    clock = FakeClock(T0)
    policy = TargetPolicy(CONFIRM)
    h = MetricHistory()
    kpu, last_rescale, updating_until = 10, None, -1.0
    changes = []

    def world(m):  # the load the collector observes in minute m, at the size the job ran with
        rate = 20000 if 40 <= m < 60 else 8000
        return rate

    sizes = {}
    for tick in range(0, 100):
        sizes[tick] = kpu
        if tick >= 2:  # minute tick-2 has just been published
            m = tick - 2
            rate, size = world(m), sizes[m]
            lag = 30_000.0 if (m == 40) else 0.0
            minute(h, m, rate=rate, kpu=size, processed="auto", busy="auto", lag_ms=lag)
        status = UPDATING if clock.time() < updating_until else "RUNNING"
        d = policy.decide(AppState(kpu, status=status, last_rescale_at=last_rescale), h, clock.time())
        if d.changed:
            changes.append((tick, d.current, d.target))
            kpu, last_rescale, updating_until = d.target, clock.time(), clock.time() + 60
        clock.advance(60)
    # up once, on the second datapoint that shows the step (the first is a jump to confirm); down once, when the
    # 30-minute window no longer holds a 20000 rec/s minute (minute 59 leaves it at tick 90)
    assert changes == [(43, 10, 26), (90, 26, 10)]


def test_a_busy_period_that_processed_nothing_is_not_a_true_rate():
    # seen on a real cluster: tasks busy initialising (busy 1000 ms/s) before the first record
    h = steady(10, 8000, 10)
    minute(h, 10, rate=8000, kpu=10, processed=0.0, busy=1000.0)
    d = decide(h, AppState(10), 11)
    assert d.inputs["true_rate_per_kpu"] == pytest.approx(1000.0)  # from the other minutes; no division by 0
