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

from scaling.compare import BASELINES, POLICIES, compare  # noqa: E402
from scaling.policies import TargetConfig  # noqa: E402
from scaling.simulate import SimulationConfig, SimulationResult  # noqa: E402
from scaling.traces import BUILTIN_TRACES, builtin_trace  # noqa: E402

PROFILES = {
    "managed-flink": SimulationConfig(),
    "in-place": replace(SimulationConfig(), downtime_base_s=10.0, downtime_per_gb_s=5.0, warmup_base_s=15.0,
                        warmup_per_gb_s=7.5),
}
KPU_RATIO_GOAL = 1.15
RESCALE_FRACTION_GOAL = 1 / 3
STEP_AT_S = 3600.0
"""When the built-in step trace steps up (see scaling.traces)."""


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
    if trace == "step":
        ups = [d for d in ours.decisions if d["time"] >= STEP_AT_S and d["target"] > d["current"]]
        new_rate = float(builtin_trace("step").rate_at(STEP_AT_S + 60))
        right = bool(ups) and float(sim.capacity(ups[0]["target"])) >= new_rate
        out["scale_ups_after_step"] = len(ups)
        out["one_rescale_goal_met"] = len(ups) == 1 and right
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
    "target_utilisation": (0.85, 0.9),
    "catch_up_s": (900.0, 1800.0, 3600.0),
    "scale_down_window_s": (600.0, 1200.0, 1800.0),
    "scale_up_utilisation": (0.95, 1.0),
}
"""Swept by --tune (horizon_s 1800 and trend_lookahead_s 600 were fixed after a wider first sweep)."""
HELD_OUT_SEEDS = (11, 12, 13, 14, 15)
"""Noisy traces with these seeds are not in the tuning set: they check the choice out of sample."""


def tune(out: Path, sim: SimulationConfig = PROFILES["managed-flink"]) -> dict:
    """Sweep ours' config on the built-in traces; keep the configs within KPU_RATIO_GOAL x the oracle's
    KPU-hours on every trace, and pick the one with the fewest minutes over the SLO in total."""
    from itertools import product

    from scaling.compare import make_policy
    from scaling.simulate import simulate

    traces = {name: builtin_trace(name) for name in BUILTIN_TRACES}
    oracle = {name: compare(t, ("oracle",), sim)["oracle"] for name, t in traces.items()}
    rows = []
    for values in product(*TUNING_GRID.values()):
        cfg = TargetConfig(**dict(zip(TUNING_GRID, values)))
        per_trace = {}
        for name, trace in traces.items():
            r = simulate(trace, make_policy("ours", trace, sim, cfg), sim)
            per_trace[name] = {"kpu_hours_vs_oracle": round(r.kpu_hours / oracle[name].kpu_hours, 3),
                               "minutes_over_slo": round(r.minutes_over_slo, 2), "rescales": r.rescales}
        rows.append({"config": dict(zip(TUNING_GRID, values)), "traces": per_trace,
                     "max_kpu_ratio": max(v["kpu_hours_vs_oracle"] for v in per_trace.values()),
                     "total_minutes_over_slo": round(sum(v["minutes_over_slo"] for v in per_trace.values()), 2)})
    eligible = [r for r in rows if r["max_kpu_ratio"] <= KPU_RATIO_GOAL] or rows
    chosen = min(eligible, key=lambda r: (r["total_minutes_over_slo"], r["max_kpu_ratio"]))
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
