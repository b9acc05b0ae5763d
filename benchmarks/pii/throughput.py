"""PII masking throughput on one core: shardline's masker against Presidio, same records, same run.

    .venv/bin/python -m benchmarks.pii.throughput [--records 5000] [--repeats 7]
        [--presidio-records 300] [--presidio-repeats 3] [--no-presidio] [--no-profile]

Records are the generator's: the 15-field payment transaction plus a ~150
character ``notes`` field, in the evaluation mix (most notes carry PII and hard
negatives, harder than typical traffic: the headline) and, for context, in
``TYPICAL_MIX`` (one PII value in half the notes).  shardline masks them with the
payments policy (typed fields by name, ``notes`` scanned).  Presidio analyzes
and anonymizes the same PII fields (the nine typed ones plus ``notes``; it has
no way to mask a field by name), and, as an upper bound for it, ``notes`` alone.

Rates are records per CPU-second of this process (``time.process_time``), so
other work on a shared machine distorts them less; medians over repetitions.
Presidio's recall is scored on the same ground truth with the evaluation's
match rules, for context.  Writes ``benchmarks/results/pii_throughput.json`` and
``pii_throughput.png``.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.pii.evaluate import BENCH_KEYS, scanner_for, score_free_text, variant_groups
from benchmarks.pii.generator import (
    GOAL_ENTITIES, TYPED_FIELDS, TYPICAL_MIX, LabelledRecord, PaymentRecordGenerator,
)
from benchmarks.pii.presidio_baseline import PresidioBaseline, PresidioUnavailable, versions
from benchmarks.report import RESULTS_DIR, write_results
from pipelines.pii import Masker, builtin_policy

RATE_GOAL = 20_000
RATIO_GOAL = 50
PRESIDIO_FIELDS = (*TYPED_FIELDS, "notes")


def records_per_cpu_second(fn: Callable[[Any], Any], items: Sequence[Any], repeats: int) -> list[float]:
    """Items per CPU-second of this process that ``fn`` handles, one figure per pass over ``items``."""
    out = []
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            fn(item)
        out.append(len(items) / max(time.process_time() - start, 1e-9))
    return out


def _summary(rates: list[float], records: int) -> dict:
    return {"records": records, "repeats": len(rates), "records_per_s_median": round(statistics.median(rates), 1),
            "records_per_s_best": round(max(rates), 1), "runs": [round(r, 1) for r in rates]}


def profile_masker(masker: Masker, payloads: Sequence[dict], top: int = 15) -> dict:
    """Where the masker's time goes: the hottest functions and the share per module."""
    profiler = cProfile.Profile()
    profiler.enable()
    for p in payloads:
        masker.mask(p)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values()) or 1e-9  # type: ignore[attr-defined]
    by_module: dict[str, float] = defaultdict(float)
    rows = []
    for (path, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        module = _module_of(path)
        by_module[module] += tottime
        rows.append({"function": f"{module}:{line}({func})", "calls": calls, "tottime_s": round(tottime, 4),
                     "cumtime_s": round(cumtime, 4)})
    ours = sorted((r for r in rows if r["function"].startswith("pipelines/")), key=lambda r: -r["cumtime_s"])
    rows.sort(key=lambda r: -r["tottime_s"])
    return {"profiled_records": len(payloads), "profiled_seconds": round(total, 3),
            "self_time_share_by_module": {m: round(t / total, 3) for m, t in
                                          sorted(by_module.items(), key=lambda kv: -kv[1])[:15]},
            "cumulative_share_pipelines": {r["function"]: round(r["cumtime_s"] / total, 3) for r in ours[:top]},
            "top_functions": rows[:top]}


def _module_of(path: str) -> str:
    if path.startswith("~") or path.startswith("<"):
        return "builtins"
    parts = Path(path).parts
    for anchor in ("pipelines", "phonenumbers", "cryptography", "re"):
        if anchor in parts:
            i = parts.index(anchor)
            return "/".join(parts[i:])
    return Path(path).name


def _presidio_typed_recall(baseline: PresidioBaseline, records: Sequence[LabelledRecord]) -> dict:
    """Share of typed PII field values Presidio finds (a same-type detection anywhere in the value)."""
    values: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    for rec in records:
        for name, entity in TYPED_FIELDS.items():
            values[entity] += 1
            found[entity] += any(d[0] == entity for d in baseline.detect(str(rec.payload[name])))
    return {e: round(found[e] / values[e], 4) for e in sorted(values)}


def run(records: int = 5_000, repeats: int = 7, *, presidio_records: int = 300, presidio_repeats: int = 3,
        seed: int = 7, out_dir: Path | None = RESULTS_DIR, presidio: bool = True, profile: bool = True,
        plot: bool = True) -> dict:
    """Time shardline and Presidio on the same records; write pii_throughput.json/.png to ``out_dir``."""
    data = PaymentRecordGenerator(seed).records(max(records, presidio_records))
    payloads = [r.payload for r in data[:records]]
    masker = Masker(builtin_policy("payments", environ=BENCH_KEYS))
    for p in payloads[:500]:  # warm caches and lazily built cipher objects
        masker.mask(p)
    typed_only = [{k: v for k, v in p.items() if k != "notes"} for p in payloads]
    notes_only = [{"notes": p["notes"]} for p in payloads]
    typical = [r.payload for r in PaymentRecordGenerator(seed + 1, mix=TYPICAL_MIX).records(records)]
    shardline = {
        "full_record": _summary(records_per_cpu_second(masker.mask, payloads, repeats), len(payloads)),
        "typed_fields_only": _summary(records_per_cpu_second(masker.mask, typed_only, repeats), len(payloads)),
        "notes_only": _summary(records_per_cpu_second(masker.mask, notes_only, repeats), len(payloads)),
        "full_record_typical_mix": _summary(records_per_cpu_second(masker.mask, typical, repeats), len(typical)),
    }
    result: dict[str, Any] = {
        "benchmark": "pii_throughput", "headline": "records_per_s_median (per core, process time)",
        "seed": seed, "policy": "payments", "fields": len(payloads[0]),
        "note_chars_avg": round(sum(len(p["notes"]) for p in payloads) / len(payloads), 1),
        "shardline": shardline, "environment": _environment(),
    }
    if presidio:
        result["presidio"] = _run_presidio(data[:presidio_records], typical[:presidio_records], presidio_repeats,
                                           masker)
    if profile:
        result["profile_shardline"] = profile_masker(masker, payloads[:2000])
    result["goals"] = _goals(result)
    write_results(result, out_dir, "pii_throughput", _plot if plot else None)
    return result


def _run_presidio(data: Sequence[LabelledRecord], typical: Sequence[dict], repeats: int, masker: Masker) -> dict:
    try:
        baseline = PresidioBaseline()
    except PresidioUnavailable as exc:
        return {"available": False, "reason": str(exc), "versions": versions()}
    try:
        payloads = [r.payload for r in data]
        for p in payloads[:10]:
            baseline.mask(p, PRESIDIO_FIELDS)
        full = records_per_cpu_second(lambda p: baseline.mask(p, PRESIDIO_FIELDS), payloads, repeats)
        notes = records_per_cpu_second(lambda p: baseline.mask(p, ("notes",)), payloads, repeats)
        typical_mix = records_per_cpu_second(lambda p: baseline.mask(p, PRESIDIO_FIELDS), typical, repeats)
        # shardline on exactly these records, in the same process, for a like-for-like ratio.
        copies = max(1, 2000 // max(len(payloads), 1))
        ours = records_per_cpu_second(masker.mask, payloads * copies, repeats)
        ours_typical = records_per_cpu_second(masker.mask, list(typical) * copies, repeats)
        presidio_free = score_free_text(data, baseline.detect).summary(examples=False)
        ours_free = score_free_text(data, scanner_for("payments")).summary(examples=False)
        return {
            "available": True, "versions": versions(), "nlp_engine": "spacy.blank('en') via SpacyNlpEngine",
            "fields_analyzed": list(PRESIDIO_FIELDS),
            "full_record": _summary(full, len(payloads)), "notes_only": _summary(notes, len(payloads)),
            "full_record_typical_mix": _summary(typical_mix, len(typical)),
            "shardline_same_records_per_s_median": round(statistics.median(ours), 1),
            "ratio_full_record": _ratio(ours, full),
            "ratio_full_record_typical_mix": _ratio(ours_typical, typical_mix),
            "ratio_vs_presidio_notes_only": _ratio(ours, notes),
            "recall": {
                "free_text_presidio": {e: v["recall"] for e, v in presidio_free["entities"].items()},
                "free_text_presidio_precision": {e: v["precision"] for e, v in presidio_free["entities"].items()},
                "free_text_shardline": {e: v["recall"] for e, v in ours_free["entities"].items()},
                "free_text_presidio_by_shape": {label: round(found / truth, 3) for label, truth, found in
                                                 variant_groups(presidio_free["entities"]) if truth},
                "typed_fields_presidio": _presidio_typed_recall(baseline, data),
                "records": len(data),
                "match_rule": "as in pii_eval.json; Presidio at its default score threshold, types mapped to ours",
            },
        }
    finally:
        baseline.close()


def _ratio(ours: list[float], theirs: list[float]) -> float:
    return round(statistics.median(ours) / statistics.median(theirs), 1)


def _environment() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}


def _goals(result: dict) -> dict:
    rate = result["shardline"]["full_record"]["records_per_s_median"]
    typical = result["shardline"]["full_record_typical_mix"]["records_per_s_median"]
    goals: dict[str, Any] = {f"{RATE_GOAL // 1000}k_records_per_s_per_core": {
        "met": rate >= RATE_GOAL, "value": rate, "on": "the evaluation mix (full_record)",
        "typical_mix": {"value": typical, "at_or_above": typical >= RATE_GOAL}}}
    presidio = result.get("presidio", {})
    if presidio.get("available"):
        ratio = presidio["ratio_full_record"]
        goals[f"{RATIO_GOAL}x_presidio"] = {"met": ratio >= RATIO_GOAL, "value": ratio,
                                            "vs_presidio_notes_only": presidio["ratio_vs_presidio_notes_only"]}
    else:
        goals[f"{RATIO_GOAL}x_presidio"] = {"met": None, "reason": presidio.get("reason", "not run")}
    return goals


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [(f"shardline {k.replace('_', ' ')}", v["records_per_s_median"], "tab:blue")
            for k, v in result["shardline"].items()]
    presidio = result.get("presidio", {})
    if presidio.get("available"):
        bars += [("presidio full record", presidio["full_record"]["records_per_s_median"], "tab:orange"),
                 ("presidio full record typical mix", presidio["full_record_typical_mix"]["records_per_s_median"],
                  "tab:orange"),
                 ("presidio notes only", presidio["notes_only"]["records_per_s_median"], "tab:orange")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    left.barh([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    left.set_xscale("log")
    left.axvline(RATE_GOAL, color="green", linestyle="--", linewidth=1, label=f"goal {RATE_GOAL:,}/s")
    for i, b in enumerate(bars):
        left.text(b[1], i, f" {b[1]:,.0f}", va="center", fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("records per CPU-second (median, one core)")
    title = "PII masking, payments policy"
    if presidio.get("available"):
        title += f": {presidio['ratio_full_record']:.0f}x Presidio"
    left.set_title(title)
    left.legend(fontsize=8, loc="lower right")
    if presidio.get("available"):
        recall = presidio["recall"]
        names = list(GOAL_ENTITIES)
        xs = range(len(names))
        right.bar([x - 0.2 for x in xs], [recall["free_text_shardline"].get(n) or 0 for n in names], 0.4,
                  label="shardline")
        right.bar([x + 0.2 for x in xs], [recall["free_text_presidio"].get(n) or 0 for n in names], 0.4,
                  label="presidio (blank spaCy)", color="tab:orange")
        right.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
        right.set_ylim(0, 1.05)
        right.set_title(f"free-text recall on the same {recall['records']} records")
        right.legend(fontsize=8)
    else:
        right.axis("off")
        right.text(0.5, 0.5, f"Presidio not run:\n{presidio.get('reason', '')}", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--presidio-records", type=int, default=300)
    parser.add_argument("--presidio-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.records, args.repeats, presidio_records=args.presidio_records,
                 presidio_repeats=args.presidio_repeats, seed=args.seed, out_dir=args.out_dir,
                 presidio=not args.no_presidio, profile=not args.no_profile, plot=not args.no_plot)
    print(json.dumps({"shardline": {k: v["records_per_s_median"] for k, v in result["shardline"].items()}}))
    presidio = result.get("presidio", {})
    if presidio.get("available"):
        print(json.dumps({k: presidio[k] for k in ("ratio_full_record", "ratio_full_record_typical_mix",
                                                    "ratio_vs_presidio_notes_only",
                                                    "shardline_same_records_per_s_median")}
                         | {"presidio_full_record": presidio["full_record"]["records_per_s_median"],
                            "presidio_notes_only": presidio["notes_only"]["records_per_s_median"]}))
        print(json.dumps(presidio["recall"]))
    if "profile_shardline" in result:
        print(json.dumps(result["profile_shardline"]["self_time_share_by_module"]))
    print(json.dumps(result["goals"]))


if __name__ == "__main__":
    main()
