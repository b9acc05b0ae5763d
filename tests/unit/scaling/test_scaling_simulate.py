import numpy as np
import pytest

from scaling.evaluation.compare import POLICIES, make_policy
from scaling.decision import AppState, ScalingDecision
from scaling.evaluation.oracle import plan_oracle
from scaling.evaluation.simulate import SimulationConfig, simulate
from scaling.evaluation.traces import BUILTIN_TRACES, Trace, TraceError, builtin_trace, load_csv, resolve_trace

SIM = SimulationConfig()


class Fixed:
    """Holds its size, or moves to ``then`` at ``at`` seconds."""

    name = "fixed"

    def __init__(self, kpu, then=None, at=None):
        self.initial_kpu, self.then, self.at = kpu, then, at

    def decide(self, state: AppState, history, now):
        t = now - SIM.start_epoch_s
        target = self.then if self.at is not None and t >= self.at else self.initial_kpu
        return ScalingDecision(state.current_kpu, target, "fixed")


def flat(rate, hours=1.0):
    return Trace.from_points("flat", [(0, rate), (hours * 3600, rate)])


def test_constant_load_below_capacity_has_no_lag():
    r = simulate(flat(9000), Fixed(10), SIM)  # capacity(10) = 10000/1.027 = 9737 rec/s
    assert (r.max_lag_s, r.minutes_over_slo, r.rescales) == (0.0, 0.0, 0)
    assert r.kpu_hours == pytest.approx(10.0)


def test_backlog_never_negative_and_work_is_conserved():
    trace = builtin_trace("spike")
    r = simulate(trace, Fixed(12, then=20, at=3 * 3600), SIM)  # under-provisioned for the first spike
    assert np.all(r.timeline.backlog >= 0) and np.all(r.timeline.lag_s >= 0)
    # nothing created or lost: a clipped negative backlog would break this identity
    assert r.records_arrived == pytest.approx(r.records_processed + r.final_backlog, rel=1e-12)
    assert r.records_arrived == pytest.approx(float(np.sum(r.timeline.rate)) * SIM.metric_period_s, rel=1e-9)
    assert r.max_lag_s > SIM.slo_lag_s and r.final_backlog == 0.0


def test_overload_lag_grows_like_the_fluid_model():
    # lambda = 2 x capacity for 10 minutes: the oldest record waits half the elapsed time
    cap = float(SIM.capacity(10))
    trace = Trace.from_points("over", [(0, 2 * cap), (600, 2 * cap)])
    r = simulate(trace, Fixed(10), SIM)
    assert r.max_lag_s == pytest.approx(300.0, abs=SIM.dt_s)


def test_rescale_costs_its_downtime_in_lag():
    r = simulate(flat(5000), Fixed(10, then=8, at=600), SIM)
    assert (r.rescales, r.downtime_s) == (1, SIM.downtime_s)
    # nothing is processed while down, so the oldest record is as old as the outage
    assert r.max_lag_s >= SIM.downtime_s
    assert r.max_lag_s < SIM.downtime_s + SIM.warmup_s


def test_policies_never_see_the_future():
    seen = []

    class Spy(Fixed):
        def decide(self, state, history, now):
            newest = history.latest("input_records_per_second")
            if newest is not None:
                seen.append(now - newest.time)
            return super().decide(state, history, now)

    simulate(flat(5000, 0.5), Spy(10), SIM)
    assert min(seen) >= SIM.metric_period_s + SIM.metric_delay_s


def test_oracle_is_below_every_policy_cost():
    trace = Trace.from_points("short-step", [(0, 8000), (1800, 8000), (1801, 20000), (7200, 20000)])
    results = {name: simulate(trace, make_policy(name, trace, SIM), SIM) for name in POLICIES}
    oracle = results["oracle"].cost
    for name, r in results.items():
        assert oracle <= r.cost + 1e-9, name
    assert plan_oracle(trace, SIM).expected_cost == pytest.approx(oracle, rel=0.02)


def test_builtin_traces_are_deterministic():
    for name in BUILTIN_TRACES:
        a, b = builtin_trace(name), builtin_trace(name)
        assert np.array_equal(a.rates, b.rates) and a.rates.min() >= 0
    assert not np.array_equal(builtin_trace("noisy", seed=1).rates, builtin_trace("noisy", seed=2).rates)


def test_user_trace_csv(tmp_path):
    good = tmp_path / "load.csv"
    good.write_text("t_seconds,records_per_second\n0,100\n60,200\n\n120,50\n")
    trace = resolve_trace(str(good))
    assert (trace.name, trace.duration, trace.rate_at(30.0)) == ("load", 120.0, 150.0)
    cases = {
        "t,rate\n0,1\n": "line 1 must be the header",
        "t_seconds,records_per_second\n0,1\n0,2\n": "line 3: time 0.0 does not increase",
        "t_seconds,records_per_second\n0,1\n60,-5\n": "line 3: need a finite time and a rate >= 0",
        "t_seconds,records_per_second\n0,x\n": "line 2: not a number",
        "t_seconds,records_per_second\n0,1,2\n": "line 2: expected 2 columns",
        "t_seconds,records_per_second\n0,1\n": "at least two points",
    }
    for i, (text, message) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_text(text)
        with pytest.raises(TraceError, match=message):
            load_csv(bad)
    with pytest.raises(TraceError, match="unknown trace"):
        resolve_trace("sawtooth")
