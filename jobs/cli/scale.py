"""`shardline scale ...`: plan, run and replay the KPU autoscaler, and simulate policies on traces.

Every error a user can fix (a bad policy file, an unknown trace, a KPU count over the quota, a
missing IAM permission, an unreachable endpoint) is one line on stderr and exit code 2. Policy
files are validated before any client is built, so a bad one can never start a scaling action.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from jobs.cli.errors import fail, fail_on_aws

scale_app = typer.Typer(help="Size Flink applications in KPUs: plan, run, replay, simulate.", no_args_is_help=True)


def _clients() -> Optional[dict[str, Any]]:
    """AWS clients to use instead of building them from the environment (tests replace this)."""
    return None


def _expected_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    from connectors.aws import EndpointUnreachable
    from scaling.backends.base import BackendError
    from scaling.errors import ScalingConfigError, TraceError

    return (ScalingConfigError, BackendError, TraceError, EndpointUnreachable, BotoCoreError, ClientError)


def _guarded(work):
    """Run ``work()`` (maybe a coroutine), turning expected errors into one line and exit code 2."""
    try:
        result = work()
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except _expected_errors() as exc:
        fail_on_aws(exc)  # credentials, endpoints and permissions: the line that says what to do
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130)


def _cycle_dict(app: str, cycle) -> dict[str, Any]:
    d = cycle.decision
    return {"app": app, "time": cycle.time, "action": cycle.action, "detail": cycle.detail,
            "status": cycle.state.status if cycle.state else None,
            **({"current": d.current, "target": d.target, "parallelism": d.parallelism, "reason": d.reason,
                "inputs": dict(d.inputs)} if d else {})}


def _print_cycle(app: str, cycle, as_json: bool) -> None:
    row = _cycle_dict(app, cycle)
    if as_json:
        print(json.dumps(row, default=str), flush=True)
    elif cycle.decision is None:
        print(f"{app}: {cycle.action}: {cycle.detail}", flush=True)
    else:
        change = f"{row['current']} -> {row['target']} KPU" if row["target"] != row["current"] else f"keep {row['current']} KPU"
        extra = f" [{cycle.detail}]" if cycle.detail else ""
        print(f"{app}: {cycle.action}: {change} ({row['reason']}){extra}", flush=True)


def _controller(app: str, policy: Path, dry_run: bool, decision_log: Optional[Path]):
    from scaling.spec import load_spec
    from scaling.wiring import build_controller

    spec = load_spec(policy)  # validated here: nothing below runs for a bad file
    return build_controller(spec, app, dry_run=dry_run, clients=_clients(),
                            decision_log=str(decision_log) if decision_log else None)


@scale_app.command("plan")
def plan(app: str = typer.Option(..., "--app", help="Managed Flink application (or Flink job) name"),
         policy: Path = typer.Option(..., "--policy", help="Policy file (YAML or JSON)"),
         decision_log: Optional[Path] = typer.Option(None, help="Append the decision to this JSON-lines log"),
         as_json: bool = typer.Option(False, "--json")):
    """Show what the policy would do now; change nothing."""
    cycle = _guarded(lambda: _controller(app, policy, True, decision_log).plan())
    _print_cycle(app, cycle, as_json)


@scale_app.command("policy-json")
def policy_json(policy: Path = typer.Argument(..., help="Policy file (YAML or JSON)")):
    """Validate a policy file and print it as one line of JSON (the template's PolicyJson parameter)."""
    from scaling.spec import load_spec

    def validated():
        spec = load_spec(policy)
        spec.build_policy()  # builds every part, so a bad cron or KPU limit fails here, not in the Lambda
        return spec

    print(_guarded(validated).to_json())


@scale_app.command("run")
def run(app: str = typer.Option(..., "--app", help="Managed Flink application (or Flink job) name"),
        policy: Path = typer.Option(..., "--policy", help="Policy file (YAML or JSON)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="Decide and log, never rescale"),
        cycles: int = typer.Option(0, min=0, help="Stop after this many cycles (0: run until interrupted)"),
        decision_log: Optional[Path] = typer.Option(None, help="JSON-lines decision log (overrides the policy file's)"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per cycle")):
    """Run the controller: every interval, decide and (unless --dry-run) rescale."""
    async def loop() -> None:
        controller = _controller(app, policy, dry_run, decision_log)
        done = 0
        while not cycles or done < cycles:
            started = controller.clock.monotonic()
            _print_cycle(app, await controller.step(), as_json)
            done += 1
            if not cycles or done < cycles:
                await controller.clock.sleep(controller.config.interval_s - (controller.clock.monotonic() - started))

    _guarded(loop)


@scale_app.command("replay")
def replay_log(log: Path = typer.Argument(..., help="Decision log (JSON lines)"),
               policy: Path = typer.Option(..., "--policy", help="Policy file to recompute the decisions with"),
               as_json: bool = typer.Option(False, "--json")):
    """Recompute every logged decision from its logged inputs; exit 1 if any comes out different."""
    from scaling.decision_log import replay
    from scaling.spec import load_spec

    if not log.exists():
        fail(f"decision log {log} does not exist")
    report = _guarded(lambda: replay(log, load_spec(policy).build_policy()))
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"{report.checked} decisions, {report.checked - len(report.mismatches)} match")
        for m in report.mismatches:
            print(f"  line {m['line']}: logged {m['logged']['target']} KPU ({m['logged']['reason']}), "
                  f"now {m['replayed']['target']} KPU ({m['replayed']['reason']})")
    if not report.ok:
        raise typer.Exit(1)


@scale_app.command("simulate")
def simulate(trace: str = typer.Option(..., "--trace", help="step, ramp, diurnal, spike, noisy, or a CSV file"),
             policy: str = typer.Option("all", "--policy", help="ours, aws-sample, builtin, flink-operator, ds2, "
                                                                 "static-peak, oracle, or all"),
             slo_lag: str = typer.Option("60s", "--slo-lag", help="Lag SLO, e.g. 60s or 2m"),
             rate_per_kpu: Optional[float] = typer.Option(
                 None, "--rate-per-kpu", min=0.001, help="Records/s one KPU of your job processes when busy "
                 "(shardline bench pii-job measures the PII job's); default 1000"),
             as_json: bool = typer.Option(False, "--json")):
    """Run policies through the fluid simulator on a trace and compare them."""
    from scaling.evaluation.compare import POLICIES, compare
    from scaling.evaluation.simulate import SimulationConfig
    from scaling.spec import parse_duration
    from scaling.evaluation.traces import resolve_trace

    names = POLICIES if policy == "all" else (policy,)
    if policy != "all" and policy not in POLICIES:
        fail(f"unknown policy {policy!r}: use one of {', '.join(POLICIES)} or all")
    measured = {"rate_per_kpu": rate_per_kpu} if rate_per_kpu is not None else {}
    results = _guarded(lambda: compare(resolve_trace(trace), names,
                                       SimulationConfig(slo_lag_s=parse_duration(slo_lag, "--slo-lag"), **measured)))
    rows = {name: r.to_dict() for name, r in results.items()}
    first = next(iter(results.values()))
    if as_json:
        print(json.dumps({"trace": first.trace, "slo_lag_s": parse_duration(slo_lag), "results": rows}, indent=2))
        return
    oracle = rows.get("oracle", {}).get("kpu_hours")
    table = Table("policy", "KPU-hours", *(["x oracle"] if oracle else []), "min over SLO", "max lag s", "rescales",
                  "downtime s", title=f"trace {first.trace}, lag SLO {parse_duration(slo_lag):g}s")
    for name, r in rows.items():
        table.add_row(name, f"{r['kpu_hours']:.1f}", *([f"{r['kpu_hours'] / oracle:.2f}"] if oracle else []),
                      f"{r['minutes_over_slo']:.1f}", f"{r['max_lag_s']:.0f}", str(r["rescales"]), f"{r['downtime_s']:.0f}")
    console = Console()
    (console if console.is_terminal else Console(width=120)).print(table)  # piped: do not squeeze to 80 columns
