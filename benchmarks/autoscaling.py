"""Autoscaling benchmark: every policy on every built-in trace, under two rescale-cost profiles.

    .venv/bin/python -m benchmarks.autoscaling [--out benchmarks/results] [--traces step ramp ...]
    .venv/bin/python -m benchmarks.autoscaling --tune   # how ours' defaults were chosen

Writes ``autoscaling.json`` (per profile, trace and policy: KPU-hours, minutes over the
lag SLO, max lag, rescales, downtime, cost, and whether the issue's goals hold), a Pareto
plot (KPU-hours relative to the oracle vs minutes over the SLO) per profile, and a
timeline per trace (lambda, capacity, KPUs, lag) for the default profile.

Profiles: ``managed-flink`` is SimulationConfig() (a rescale stops processing for 60 s
and warms up for 60 s with 2 GB of state); ``in-place`` is a self-managed Flink rescale
through the adaptive scheduler (20 s down, 30 s warm-up).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from scaling.evaluation.compare import BASELINES, POLICIES, compare  # noqa: E402
from scaling.policies import TargetConfig  # noqa: E402
from scaling.evaluation.simulate import SimulationConfig, SimulationResult  # noqa: E402
from scaling.evaluation.traces import BUILTIN_TRACES, builtin_trace  # noqa: E402

PROFILES = {
    "managed-flink": SimulationConfig(),
    "in-place": replace(SimulationConfig(), downtime_base_s=10.0, downtime_per_gb_s=5.0, warmup_base_s=15.0,
                        warmup_per_gb_s=7.5),
}
KPU_RATIO_GOAL = 1.15
RESCALE_FRACTION_GOAL = 1 / 3
STEP_AT_S = 3600.0
"""When the built-in step trace steps up (see scaling.evaluation.traces)."""


def goals(trace: str, results: dict[str, SimulationResult], sim: SimulationConfig) -> dict:
    ours, oracle, aws = results["ours"], results["oracle"], results["aws-sample"]
    best_name = min(BASELINES, key=lambda n: results[n].minutes_over_slo)
    out = {
        "kpu_hours_vs_oracle": round(ours.kpu_hours / oracle.kpu_hours, 3),
        "kpu_hours_goal_met": ours.kpu_hours <= KPU_RATIO_GOAL * oracle.kpu_hours,
        "best_baseline_on_slo": best_name,
        "minutes_over_slo": {"ours": round(ours.minutes_over_slo, 2),
                             "best_baseline": round(results[best_name].minutes_over_slo, 2)},
        "slo_goal_met": ours.minutes_over_slo <= results[best_name].minutes_over_slo + 1e-9,
        "rescales": {"ours": ours.rescales, "aws-sample": aws.rescales},
        "rescale_goal_met": ours.rescales <= RESCALE_FRACTION_GOAL * aws.rescales,
    }
    # The SLO goal compares against whichever baseline lags least, whatever it pays for it: also
    # say which policies no other policy beats on both KPU-hours and minutes over the SLO.
    out["pareto_front"] = sorted(
        n for n, r in results.items()
        if not any(o.kpu_hours <= r.kpu_hours and o.minutes_over_slo <= r.minutes_over_slo
                   and (o.kpu_hours, o.minutes_over_slo) != (r.kpu_hours, r.minutes_over_slo) for o in results.values()))
    out["cost_vs_oracle"] = round(ours.cost / oracle.cost, 3)
    if trace == "step":
        ups = [d for d in ours.decisions if d["time"] >= STEP_AT_S and d["target"] > d["current"]]
        new_rate = float(builtin_trace("step").rate_at(STEP_AT_S + 60))
        right = bool(ups) and float(sim.capacity(ups[0]["target"])) >= new_rate
        out["scale_ups_after_step"] = len(ups)
        out["one_rescale_goal_met"] = len(ups) == 1 and right
    return out


def constrained_plan(trace, sim: SimulationConfig, max_rescales: int | None, slo_penalty: float):
    """The oracle's DP (same epochs and epoch costs) with a rescale budget and its own SLO penalty:
    a clairvoyant lower bound on what *any* policy pays under those constraints. Used to check
    whether the issue's goals can hold together, not as a policy."""
    import numpy as np

    from scaling.evaluation.oracle import OraclePlan, _epoch_costs, oracle_epoch  # the oracle's own cost model, reused

    sim = replace(sim, slo_penalty_kpu_hours_per_minute=slo_penalty)
    epoch_s = oracle_epoch(sim)
    levels = np.arange(sim.min_kpu, sim.max_kpu + 1)
    steady = _epoch_costs(trace, sim, epoch_s, levels, rescaled=False)
    moved = _epoch_costs(trace, sim, epoch_s, levels, rescaled=True)
    budget = len(steady) if max_rescales is None else max_rescales
    inf = float("inf")
    value = np.full((budget + 1, len(levels)), inf)
    value[0] = steady[0]
    back = []  # per epoch: (n, k) -> (n', q)
    for e in range(1, len(steady)):
        new = value + steady[e]
        src_n = np.tile(np.arange(budget + 1)[:, None], (1, len(levels)))
        src_k = np.tile(np.arange(len(levels)), (budget + 1, 1))
        for n in range(1, budget + 1):
            order = np.argsort(value[n - 1])
            best, second = order[0], order[1]
            other = np.where(np.arange(len(levels)) == best, second, best)
            move = value[n - 1][other] + moved[e]
            better = move < new[n]
            new[n] = np.where(better, move, new[n])
            src_n[n] = np.where(better, n - 1, src_n[n])
            src_k[n] = np.where(better, other, src_k[n])
        back.append((src_n, src_k))
        value = new
    n, k = np.unravel_index(int(np.argmin(value)), value.shape)
    path = [int(k)]
    for src_n, src_k in reversed(back):
        n, k = src_n[n, k], src_k[n, k]
        path.append(int(k))
    path.reverse()
    return OraclePlan(epoch_s, tuple(int(levels[i]) for i in path), float(value.min()))


def feasibility(trace_name: str, sim: SimulationConfig, results: dict[str, SimulationResult]) -> dict:
    """Clairvoyant plans under the goals' constraints, replayed in the simulator: can *anything*
    meet 'KPU-hours <= 1.15x oracle' together with 'minutes over SLO <= best baseline's' and
    'rescales <= aws-sample's / 3' on this trace?"""
    from scaling.evaluation.oracle import OraclePolicy
    from scaling.evaluation.simulate import simulate

    trace = builtin_trace(trace_name)
    oracle = results["oracle"].kpu_hours
    budget = int(results["aws-sample"].rescales * RESCALE_FRACTION_GOAL)
    out = {}
    for label, max_rescales, penalty in (("rescale_budget", budget, sim.slo_penalty_kpu_hours_per_minute),
                                         ("near_zero_slo", None, 1000.0),
                                         ("both", budget, 1000.0)):
        plan = constrained_plan(trace, sim, max_rescales, penalty)
        r = simulate(trace, OraclePolicy(plan, sim.start_epoch_s), sim)
        out[label] = {"max_rescales": max_rescales, "slo_penalty_kpu_h_per_min": penalty,
                      "kpu_hours_vs_oracle": round(r.kpu_hours / oracle, 3),
                      "minutes_over_slo": round(r.minutes_over_slo, 2), "rescales": r.rescales}
    return out


def pareto_plot(profile: str, table: dict[str, dict[str, SimulationResult]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = dict(zip(POLICIES, "o^vsDPX*"))
    for i, (trace, results) in enumerate(table.items()):
        oracle = results["oracle"].kpu_hours
        for name, r in results.items():
            ax.scatter(r.kpu_hours / oracle, r.minutes_over_slo + 0.1, marker=markers[name], color=f"C{i}",
                       s=70 if name == "ours" else 36, edgecolors="black" if name == "ours" else "none")
    for name in POLICIES:
        ax.scatter([], [], marker=markers[name], color="grey", label=name)
    for i, trace in enumerate(table):
        ax.scatter([], [], color=f"C{i}", marker="s", label=f"trace: {trace}")
    ax.set_xlabel("KPU-hours / oracle's")
    ax.set_ylabel("minutes over the lag SLO (+0.1, log)")
    ax.set_yscale("log")
    ax.axvline(KPU_RATIO_GOAL, color="grey", linestyle=":", linewidth=1)
    ax.set_title(f"Autoscaling policies, profile {profile}: cost vs lag (lower-left is better)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timeline_plot(trace: str, results: dict[str, SimulationResult], path: Path) -> None:
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ours = results["ours"].timeline
    hours = ours.t / 3600.0
    axes[0].plot(hours, ours.rate, color="black", label="input λ")
    for name in ("ours", "oracle", "flink-operator", "aws-sample"):
        tl = results[name].timeline
        axes[0].plot(hours, tl.capacity, label=f"capacity {name}", linewidth=1)
        axes[1].step(hours, tl.kpu, where="post", label=name, linewidth=1)
        axes[2].plot(hours, tl.lag_s, label=name, linewidth=1)
    axes[2].axhline(PROFILES["managed-flink"].slo_lag_s, color="grey", linestyle=":", label="SLO")
    axes[0].set_ylabel("records/s")
    axes[1].set_ylabel("KPUs")
    axes[2].set_ylabel("lag (s, max per min)")
    axes[2].set_yscale("symlog", linthresh=10)
    axes[2].set_ylim(bottom=0)
    axes[2].set_xlabel("hours")
    for ax in axes:
        ax.legend(fontsize=7, ncol=3)
    axes[0].set_title(f"trace {trace} (profile managed-flink)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


TUNING_GRID = {
    "target_utilisation": (0.88, 0.9, 0.92),
    "scale_up_utilisation": (0.95, 1.0),
    "catch_up_s": (1200.0, 1800.0),
    "confirm_jumps": (True, False),
}
"""Swept by --tune. A wider first sweep (target_utilisation 0.85-0.95, catch_up_s 600/1800,
trend_lookahead_s 600/1800, scale_down_window_s 600/1200) fixed trend_lookahead_s 1800 and
scale_down_window_s 600; horizon_s 1800, trend_window_s 1200 and slo_minute_cost_kpu_s 3600 are fixed."""
HELD_OUT_SEEDS = (11, 12, 13, 14, 15)
"""Noisy traces with these seeds are not in the tuning set: they check the choice out of sample."""


def tune(out: Path, sim: SimulationConfig = PROFILES["managed-flink"]) -> dict:
    """Sweep ours' config on the built-in traces; keep the configs within KPU_RATIO_GOAL x the oracle's
    KPU-hours on every trace, and pick the one with the fewest minutes over the SLO in total."""
    from itertools import product

    from scaling.evaluation.compare import make_policy
    from scaling.evaluation.simulate import simulate

    traces = {name: builtin_trace(name) for name in BUILTIN_TRACES}
    oracle = {name: compare(t, ("oracle",), sim)["oracle"] for name, t in traces.items()}
    rows = []
    for values in product(*TUNING_GRID.values()):
        params = dict(zip(TUNING_GRID, values))
        if params["target_utilisation"] > params["scale_up_utilisation"]:
            continue
        cfg = TargetConfig(**params)
        per_trace = {}
        for name, trace in traces.items():
            r = simulate(trace, make_policy("ours", trace, sim, cfg), sim)
            per_trace[name] = {"kpu_hours_vs_oracle": round(r.kpu_hours / oracle[name].kpu_hours, 3),
                               "minutes_over_slo": round(r.minutes_over_slo, 2), "rescales": r.rescales}
        per_trace_total_rescales = sum(v["rescales"] for v in per_trace.values())
        rows.append({"config": dict(zip(TUNING_GRID, values)), "traces": per_trace,
                     "max_kpu_ratio": max(v["kpu_hours_vs_oracle"] for v in per_trace.values()),
                     "total_minutes_over_slo": round(sum(v["minutes_over_slo"] for v in per_trace.values()), 2),
                     "total_rescales": per_trace_total_rescales})
    eligible = [r for r in rows if r["max_kpu_ratio"] <= KPU_RATIO_GOAL] or rows
    chosen = min(eligible, key=lambda r: (r["total_minutes_over_slo"], r["total_rescales"], r["max_kpu_ratio"]))
    cfg = TargetConfig(**chosen["config"])
    held_out = {}
    for seed in HELD_OUT_SEEDS:
        trace = builtin_trace("noisy", seed=seed)
        res = compare(trace, ("ours", "oracle", *BASELINES), sim, cfg)
        held_out[f"noisy-seed-{seed}"] = {
            "kpu_hours_vs_oracle": round(res["ours"].kpu_hours / res["oracle"].kpu_hours, 3),
            "minutes_over_slo": round(res["ours"].minutes_over_slo, 2),
            "best_baseline_minutes_over_slo": round(min(res[b].minutes_over_slo for b in BASELINES), 2),
        }
    report = {"rule": "max KPU-hours/oracle <= 1.15 on every built-in trace, then fewest total minutes over SLO",
              "grid": {k: list(v) for k, v in TUNING_GRID.items()}, "chosen": chosen,
              "chosen_is_default": all(getattr(TargetConfig(), k) == v for k, v in chosen["config"].items()),
              "held_out": held_out, "rows": rows}
    (out / "autoscaling_tuning.json").write_text(json.dumps(report, indent=2) + "\n")
    print("chosen", chosen["config"], "max ratio", chosen["max_kpu_ratio"], "SLO min", chosen["total_minutes_over_slo"],
          "| default?", report["chosen_is_default"])
    for name, v in held_out.items():
        print(f"  held out {name}: {v}")
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--traces", nargs="*", default=list(BUILTIN_TRACES))
    parser.add_argument("--tune", action="store_true", help="sweep ours' config instead (about 10 minutes)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.tune:
        return tune(out)
    started = time.perf_counter()
    report: dict = {"ours_config": asdict(TargetConfig()), "goals": {"kpu_hours_vs_oracle_max": KPU_RATIO_GOAL,
                    "rescales_vs_aws_sample_max": RESCALE_FRACTION_GOAL, "baselines": list(BASELINES)}, "profiles": {}}
    for profile, sim in PROFILES.items():
        table = {name: compare(builtin_trace(name), POLICIES, sim) for name in args.traces}
        report["profiles"][profile] = {
            "simulation": asdict(sim),
            "traces": {t: {p: r.to_dict() for p, r in res.items()} for t, res in table.items()},
            "goals": {t: goals(t, res, sim) for t, res in table.items()},
        }
        if profile == "managed-flink":
            report["profiles"][profile]["feasibility"] = {t: feasibility(t, sim, res) for t, res in table.items()}
        pareto_plot(profile, table, out / f"autoscaling_pareto_{profile}.png")
        if profile == "managed-flink":
            for trace, results in table.items():
                timeline_plot(trace, results, out / f"autoscaling_timeline_{trace}.png")
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "autoscaling.json").write_text(json.dumps(report, indent=2) + "\n")
    for profile, data in report["profiles"].items():
        print(f"== {profile}")
        for trace, g in data["goals"].items():
            row = data["traces"][trace]
            print(f"  {trace:8s} ours {row['ours']['kpu_hours']:8.1f} KPU-h ({g['kpu_hours_vs_oracle']:.2f}x oracle)"
                  f"  SLO min ours {g['minutes_over_slo']['ours']:6.1f} vs {g['best_baseline_on_slo']}"
                  f" {g['minutes_over_slo']['best_baseline']:6.1f}  rescales {g['rescales']['ours']}"
                  f" vs aws {g['rescales']['aws-sample']}  goals kpu={g['kpu_hours_goal_met']}"
                  f" slo={g['slo_goal_met']} rescale={g['rescale_goal_met']}"
                  + (f" one-step={g['one_rescale_goal_met']}" if "one_rescale_goal_met" in g else ""))
    return report


if __name__ == "__main__":
    main()
