"""The PII masker's throughput before and after a change, measured in the same run.

    .venv/bin/python -m benchmarks.pii.before_after [--baseline HEAD] [--records 5000] [--rounds 5]
        [--out-dir benchmarks/results]

"Before" is the committed code at ``--baseline``, checked out with ``git worktree add --detach`` into a
temporary directory (removed afterwards, even on error); "after" is the working tree.  The records are
generated once, by this tree, and both sides mask exactly the same payloads with the payments policy and
``BENCH_KEYS``: the evaluation mix, ``TYPICAL_MIX`` and the evaluation mix's ``notes`` alone.  Each side
runs in its own process with ``PYTHONPATH`` set to its tree, so each imports its own ``pipelines``; the
sides alternate (before, after, before, ...) so that machine noise hits both.  Rates are records per
process-CPU-second; medians over rounds.  The issue's bound: after >= 95% of before on the evaluation and
typical mixes.  Writes ``pii_before_after.json`` and ``.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.pii.evaluate import BENCH_KEYS
from benchmarks.pii.generator import TYPICAL_MIX, PaymentRecordGenerator
from benchmarks.pii.throughput import _environment
from benchmarks.report import RESULTS_DIR, write_results

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "mask_worker.py"
BOUND = 0.05
GATED_MIXES = ("evaluation", "typical")  # the issue names these two; notes_only is for context


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.rstrip()  # not strip(): status --porcelain lines start with a meaningful space


def write_records(path: Path, records: int, seed: int) -> None:
    """The payloads both sides mask, one JSON line each, tagged with their mix."""
    evaluation = [r.payload for r in PaymentRecordGenerator(seed).records(records)]
    typical = [r.payload for r in PaymentRecordGenerator(seed + 1, mix=TYPICAL_MIX).records(records)]
    mixes = {"evaluation": evaluation, "typical": typical, "notes_only": [{"notes": p["notes"]} for p in evaluation]}
    with open(path, "w") as f:
        for mix, payloads in mixes.items():
            for p in payloads:
                f.write(json.dumps({"mix": mix, "payload": p}) + "\n")


def measure_side(tree: Path, records_path: Path) -> dict:
    """One round of one side: a fresh process importing ``pipelines`` from ``tree``."""
    # PYTHONHASHSEED fixed so set and dict-of-str orders, and so the work done, are the same on both sides.
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    spec = {"records": str(records_path), "policy": "payments", "environ": BENCH_KEYS}
    done = subprocess.run([sys.executable, str(WORKER)], input=json.dumps(spec), capture_output=True, text=True,
                          cwd=tree, env=env, timeout=900)
    if done.returncode:
        raise RuntimeError(f"the worker failed in {tree}: {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout)
    if not Path(out["pipelines_file"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the worker for {tree} imported {out['pipelines_file']}, not that tree's pipelines")
    return out


def run(baseline_ref: str = "HEAD", records: int = 5_000, rounds: int = 5, seed: int = 7,
        out_dir: Path | None = RESULTS_DIR, plot: bool = True) -> dict:
    """Alternate ``rounds`` times between the code at ``baseline_ref`` and the working tree; write the results."""
    if records < 1 or rounds < 1:
        raise ValueError("records and rounds must each be at least 1")
    baseline_commit = git("rev-parse", "--verify", f"{baseline_ref}^{{commit}}")
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="shardline-before-after-") as tmp:
        records_path, worktree = Path(tmp) / "records.jsonl", Path(tmp) / "baseline"
        write_records(records_path, records, seed)
        try:
            git("worktree", "add", "--detach", str(worktree), baseline_commit)
            for _ in range(rounds):
                runs["before"].append(measure_side(worktree, records_path))
                runs["after"].append(measure_side(ROOT, records_path))
        finally:
            # --force: the worker leaves __pycache__ behind; prune drops the entry if the add failed halfway.
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
    mixes = {mix: _compare(mix, runs) for mix in runs["after"][0]["mixes"]}
    result = {
        "benchmark": "pii_before_after",
        "headline": "records per process-CPU-second, median over rounds, one core; ratio = after / before",
        "bound": f"after >= {1 - BOUND:.2f} x before on {' and '.join(GATED_MIXES)}",
        "within_5pct": all(mixes[m]["within_5pct"] for m in GATED_MIXES),
        "policy": "payments", "seed": seed, "records": records, "rounds": rounds,
        "before": {"ref": baseline_ref, "commit": baseline_commit, "worktree": str(worktree),
                   "pipelines_file": runs["before"][0]["pipelines_file"]},
        "after": {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "changed_paths": changed,
                  "pipelines_file": runs["after"][0]["pipelines_file"]},
        "mixes": mixes, "environment": _environment(),
    }
    write_results(result, out_dir, "pii_before_after", _plot if plot else None)
    return result


def _compare(mix: str, runs: dict[str, list[dict]]) -> dict:
    sides = {side: [r["mixes"][mix] for r in rounds] for side, rounds in runs.items()}
    medians = {side: statistics.median(r["records_per_s"] for r in rs) for side, rs in sides.items()}
    ratio = medians["after"] / medians["before"]
    out: dict = {side: {"records": rs[0]["records"], "records_per_s_median": round(medians[side], 1),
                        "runs": [r["records_per_s"] for r in rs], "values_masked": rs[0]["values_masked"],
                        "output_sha256": rs[0]["output_sha256"]} for side, rs in sides.items()}
    return out | {"ratio": round(ratio, 4), "within_5pct": ratio >= 1 - BOUND,
                  "same_output": sides["before"][0]["output_sha256"] == sides["after"][0]["output_sha256"]}


def summary(result: dict) -> dict:
    """The figures a reader wants first: medians, ratio and verdict per mix."""
    return {"within_5pct": result["within_5pct"], "before": result["before"]["commit"][:10],
            "after": result["after"]["commit"][:10] + (" + uncommitted changes" if result["after"]["dirty"] else ""),
            "mixes": {mix: {"before": m["before"]["records_per_s_median"], "after": m["after"]["records_per_s_median"],
                            "ratio": m["ratio"], "within_5pct": m["within_5pct"], "same_output": m["same_output"]}
                      for mix, m in result["mixes"].items()}}


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["mixes"])
    mixes = [result["mixes"][n] for n in names]
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(9, 5))
    for offset, side, color in ((-0.2, "before", "tab:gray"), (0.2, "after", "tab:blue")):
        ax.bar([x + offset for x in xs], [m[side]["records_per_s_median"] for m in mixes], 0.4, color=color,
               label=side)
    for x, m in zip(xs, mixes):
        top = max(m["before"]["records_per_s_median"], m["after"]["records_per_s_median"])
        ax.text(x, top, f"after/before x{m['ratio']:.3f}", ha="center", va="bottom", fontsize=9,
                color="black" if m["within_5pct"] else "red")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("records per CPU-second (median over rounds, one core)")
    after = result["after"]["commit"][:8] + (" + uncommitted" if result["after"]["dirty"] else "")
    verdict = "within" if result["within_5pct"] else "OUTSIDE"
    ax.set_title(f"PII masker: {result['before']['ref']} ({result['before']['commit'][:8]}) vs {after}; "
                 f"{verdict} the 5% bound, {result['rounds']} rounds", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git ref whose committed code is 'before'")
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.baseline, args.records, args.rounds, args.seed, args.out_dir, plot=not args.no_plot)
    print(json.dumps(summary(result), indent=2))


if __name__ == "__main__":
    main()
