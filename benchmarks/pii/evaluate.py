"""PII evaluation: precision and recall per entity type, for typed fields and for free text.

    .venv/bin/python -m benchmarks.pii.evaluate [--records 10000] [--seed 7]

Writes ``benchmarks/results/pii_eval.json`` and ``pii_eval.png``.

Match rules (span level, on the ``notes`` field):

- A **detection is a true positive** if it overlaps (shares at least one
  character with) a ground-truth span of the same entity type; otherwise it is
  a false positive, attributed to what it overlaps: a hard negative (by kind),
  a ground-truth span of another type ("type:<ENTITY>"), or plain text.
- A **ground-truth span is found** (recall) if a detection of the same type
  overlaps it.  Two stricter figures sit beside it: ``covered_recall`` (the
  same-type detections cover every character of the span, so nothing of it is
  left after masking) and ``masked_any`` (some detection of any type overlaps
  it: the value is masked, perhaps under another label).
- ``leaks``: after ``Masker.mask`` with the policy, ground-truth values still
  present in the masked notes, verbatim or as their digits.

Typed fields: a PII field (``TYPED_FIELDS``) is recalled if the masked record
no longer holds its value; precision is the share of changed fields that hold
PII (``PLAIN_FIELDS`` changed by the policy count against it).  Under the
payments policy fields are masked by name, so recall is 1.0 by construction;
the generic policy (cell scanning with field-name hints, for unknown schemas)
shows what the same records get without a schema.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from benchmarks.pii.generator import (
    FIELDS, GOAL_ENTITIES, PLAIN_FIELDS, TYPED_FIELDS, LabelledRecord, PaymentRecordGenerator, Span,
)
from benchmarks.report import RESULTS_DIR, write_results
from pipelines.pii import Masker, Scanner, builtin_policy

#: Fixed benchmark keys (hex), so tokens and hashes are reproducible run to run.  Never use outside benchmarks.
BENCH_KEYS = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
RECALL_GOAL = 0.995
PRECISION_GOAL = 0.95
_EXAMPLES = 8
_NOT_DIGITS = re.compile(r"\D+")

#: (entity, start, end): what a detector under test returns for one text.
Detection = tuple[str, int, int]


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _covered(span: Span, detections: Sequence[Detection]) -> bool:
    """True if detections of the span's type cover every character of it."""
    pos = span.start
    for _, start, end in sorted(d for d in detections if d[0] == span.entity):
        if start > pos:
            break
        pos = max(pos, end)
        if pos >= span.end:
            return True
    return pos >= span.end


class SpanScore:
    """Accumulates the free-text counts of one detector over many notes."""

    def __init__(self) -> None:
        self.truth: Counter[str] = Counter()
        self.found: Counter[str] = Counter()
        self.covered: Counter[str] = Counter()
        self.masked_any: Counter[str] = Counter()
        self.detections: Counter[str] = Counter()
        self.true_detections: Counter[str] = Counter()
        self.variants: dict[str, Counter[tuple[str, bool]]] = defaultdict(Counter)
        self.false_positives: dict[str, Counter[str]] = defaultdict(Counter)
        self.negatives: Counter[str] = Counter()
        self.negatives_hit: Counter[str] = Counter()
        self.misses: dict[str, list[dict]] = defaultdict(list)
        self.fp_examples: dict[str, list[dict]] = defaultdict(list)

    def add(self, text: str, truth: Sequence[Span], negatives: Sequence[Span],
            detections: Sequence[Detection]) -> None:
        for span in truth:
            same = [d for d in detections if d[0] == span.entity and _overlaps(d[1], d[2], span.start, span.end)]
            found = bool(same)
            self.truth[span.entity] += 1
            self.found[span.entity] += found
            self.covered[span.entity] += found and _covered(span, same)
            self.masked_any[span.entity] += any(_overlaps(d[1], d[2], span.start, span.end) for d in detections)
            self.variants[span.entity][(span.variant, found)] += 1
            if not found and len(self.misses[span.entity]) < _EXAMPLES:
                self.misses[span.entity].append({"variant": span.variant, "value": text[span.start:span.end],
                                                 "text": text})
        for neg in negatives:
            kind = neg.variant.split(":", 1)[0]
            self.negatives[kind] += 1
            self.negatives_hit[kind] += any(_overlaps(d[1], d[2], neg.start, neg.end) for d in detections)
        for entity, start, end in detections:
            self.detections[entity] += 1
            if any(s.entity == entity and _overlaps(start, end, s.start, s.end) for s in truth):
                self.true_detections[entity] += 1
                continue
            reason = next((f"type:{s.entity}" for s in truth if _overlaps(start, end, s.start, s.end)), None)
            reason = reason or next((n.variant for n in negatives if _overlaps(start, end, n.start, n.end)), "text")
            self.false_positives[entity][reason] += 1
            if len(self.fp_examples[entity]) < _EXAMPLES:
                self.fp_examples[entity].append({"reason": reason, "value": text[start:end], "text": text})

    def summary(self, *, examples: bool = True) -> dict:
        entities = {}
        for entity in sorted(set(self.truth) | set(self.detections)):
            truth, detections = self.truth[entity], self.detections[entity]
            variants: dict[str, dict] = {}
            for (variant, found), n in sorted(self.variants[entity].items()):
                v = variants.setdefault(variant, {"truth": 0, "found": 0})
                v["truth"] += n
                v["found"] += n if found else 0
            for v in variants.values():
                v["recall"] = round(v["found"] / v["truth"], 4)
            entry = {
                "truth": truth, "found": self.found[entity], "detections": detections,
                "true_detections": self.true_detections[entity],
                "recall": _ratio(self.found[entity], truth), "covered_recall": _ratio(self.covered[entity], truth),
                "masked_any": _ratio(self.masked_any[entity], truth),
                "precision": _ratio(self.true_detections[entity], detections),
                "false_positives": dict(self.false_positives[entity].most_common()),
                "variants": variants,
            }
            if examples:
                entry["missed_examples"] = self.misses.get(entity, [])
                entry["false_positive_examples"] = self.fp_examples.get(entity, [])
            entities[entity] = entry
        truth_all, det_all = sum(self.truth.values()), sum(self.detections.values())
        return {
            "entities": entities,
            "micro": {"recall": _ratio(sum(self.found.values()), truth_all),
                      "precision": _ratio(sum(self.true_detections.values()), det_all),
                      "truth": truth_all, "detections": det_all},
            "negatives": {kind: {"count": n, "detected": self.negatives_hit[kind]}
                          for kind, n in sorted(self.negatives.items())},
        }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 5) if den else None


def score_free_text(records: Iterable[LabelledRecord], detect: Callable[[str], Sequence[Detection]],
                    field: str = "notes") -> SpanScore:
    """Run ``detect`` on every record's notes and score it against the ground truth."""
    score = SpanScore()
    for rec in records:
        text = rec.payload[field]
        score.add(text, rec.spans, rec.negatives, detect(text))
    return score


def scanner_for(policy_name: str = "payments") -> Callable[[str], list[Detection]]:
    """The scanner a ``Masker`` builds for the policy's free text, as a detection function."""
    settings = builtin_policy(policy_name, environ=BENCH_KEYS).scan
    scanner = Scanner.from_settings(settings)
    return lambda text: [(m.entity, m.start, m.end) for m in scanner.scan(text)]


def count_leaks(records: Sequence[LabelledRecord], masked_notes: Sequence[str]) -> dict[str, int]:
    """Ground-truth values still readable in the masked notes (verbatim, or as 7+ of their digits in a row)."""
    leaks: Counter[str] = Counter()
    for rec, masked in zip(records, masked_notes):
        masked_digits = _NOT_DIGITS.sub("", masked)
        for span in rec.spans:
            value = rec.payload["notes"][span.start:span.end]
            digits = _NOT_DIGITS.sub("", value)
            if value in masked or (len(digits) >= 7 and digits in masked_digits):
                leaks[span.entity] += 1
    return dict(leaks)


# --- typed fields --------------------------------------------------------------------

def score_typed(records: Sequence[LabelledRecord], mask: Callable[[dict], Mapping[str, Any]]) -> dict:
    """Recall per entity of the typed PII fields, and how many plain fields the policy changed."""
    values: Counter[str] = Counter()
    masked: Counter[str] = Counter()
    variants: dict[str, Counter[tuple[str, bool]]] = defaultdict(Counter)
    misses: dict[str, list[dict]] = defaultdict(list)
    plain_changed: Counter[str] = Counter()
    for rec in records:
        out = mask(rec.payload)
        for name, entity in TYPED_FIELDS.items():
            raw = rec.payload[name]
            after = out.get(name)
            hidden = after is None or (after != raw and str(raw) not in str(after))
            values[entity] += 1
            masked[entity] += hidden
            variants[entity][(rec.field_variants.get(name, name), hidden)] += 1
            if not hidden and len(misses[entity]) < _EXAMPLES:
                misses[entity].append({"field": name, "value": raw})
        for name in PLAIN_FIELDS:
            if out.get(name) != rec.payload[name]:
                plain_changed[name] += 1
    changed_pii, changed_plain = sum(masked.values()), sum(plain_changed.values())
    entities = {}
    for entity in sorted(values):
        per_variant: dict[str, dict] = {}
        for (variant, hit), n in sorted(variants[entity].items()):
            v = per_variant.setdefault(variant, {"values": 0, "masked": 0})
            v["values"] += n
            v["masked"] += n if hit else 0
        entities[entity] = {"values": values[entity], "masked": masked[entity],
                            "recall": _ratio(masked[entity], values[entity]),
                            "missed_examples": misses.get(entity, []),
                            "variants": {k: v for k, v in per_variant.items() if v["masked"] < v["values"]}}
    return {"entities": entities, "plain_fields_changed": dict(plain_changed),
            "precision": _ratio(changed_pii, changed_pii + changed_plain),
            "recall": _ratio(changed_pii, sum(values.values()))}


# --- the run ---------------------------------------------------------------------------

def run(records: int = 10_000, seed: int = 7, out_dir: Path | None = RESULTS_DIR, *, plot: bool = True,
        examples: bool = True) -> dict:
    """Generate ``records`` labelled records, score both policies; write pii_eval.json/.png to ``out_dir``."""
    started = time.perf_counter()
    data = PaymentRecordGenerator(seed).records(records)
    generated = time.perf_counter() - started

    free = score_free_text(data, scanner_for("payments")).summary(examples=examples)
    payments = Masker(builtin_policy("payments", environ=BENCH_KEYS))
    masked_notes = [payments.mask({"notes": rec.payload["notes"]}).payload["notes"] for rec in data]
    free["leaks"] = count_leaks(data, masked_notes)

    typed = {name: score_typed(data, lambda p, m=Masker(builtin_policy(name, environ=BENCH_KEYS)): m.mask(p).payload)
             for name in ("payments", "generic")}
    result = {
        "benchmark": "pii_eval", "records": records, "seed": seed, "fields": list(FIELDS) + ["notes"],
        "note_chars_avg": round(sum(len(r.payload["notes"]) for r in data) / max(records, 1), 1),
        "match_rule": ("a detection is a true positive if it overlaps a ground-truth span of the same entity "
                       "type; a span is found if a same-type detection overlaps it (covered_recall: they cover "
                       "all of it; masked_any: a detection of any type overlaps it)"),
        "free_text": {"policy": "payments", **free},
        "typed_fields": typed,
        "goals": _goals(free, typed["payments"]),
        "python": platform.python_version(), "seconds": {"generate": round(generated, 2),
                                                         "total": round(time.perf_counter() - started, 2)},
    }
    write_results(result, out_dir, "pii_eval", _plot if plot else None)
    return result


def _goals(free: dict, typed_payments: dict) -> dict:
    entities = free["entities"]
    recall = {e: entities.get(e, {}).get("recall") for e in GOAL_ENTITIES}
    precision = {e: entities.get(e, {}).get("precision") for e in GOAL_ENTITIES}
    typed_recall = {e: v["recall"] for e, v in typed_payments["entities"].items()}
    return {
        "typed_recall_1.0": {"met": all(r == 1.0 for r in typed_recall.values()), "values": typed_recall},
        f"free_text_recall_{RECALL_GOAL}": {"met": all(r is not None and r >= RECALL_GOAL for r in recall.values()),
                                            "values": recall},
        f"free_text_precision_{PRECISION_GOAL}": {
            "met": all(p is not None and p >= PRECISION_GOAL for p in precision.values()), "values": precision},
    }


_SHORT = {"US_SSN": "ssn", "CREDIT_CARD": "card", "EMAIL": "email", "PHONE_NUMBER": "phone", "IP_ADDRESS": "ip"}


def _natural(label: str) -> tuple:
    """Sort key putting "card 9 digits" before "card 12 digits"."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label))


def variant_groups(entities: dict) -> list[tuple[str, int, int]]:
    """(label, truth, found) for the goal entities' variants; cards grouped by brand, length and grouping."""
    rows: list[tuple[str, int, int]] = []
    for entity in GOAL_ENTITIES:
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for variant, v in entities.get(entity, {}).get("variants", {}).items():
            if entity == "CREDIT_CARD":
                brand, length, grouping = variant.split("-")
                keys = (f"card {brand}", f"card {length} digits", f"card {grouping}")
            else:
                keys = (f"{_SHORT[entity]} {variant}",)
            for key in keys:
                groups[key][0] += v["truth"]
                groups[key][1] += v["found"]
        rows.extend((k, t, f) for k, (t, f) in sorted(groups.items(), key=lambda kv: _natural(kv[0])))
    return rows


def _plot(result: dict, path: Path) -> None:
    entities = result["free_text"]["entities"]
    names = [e for e in GOAL_ENTITIES if e in entities] + sorted(e for e in entities if e not in GOAL_ENTITIES)
    rows = [(label, n, found / n if n else 0) for label, n, found in variant_groups(entities)]
    lowest = min([entities[n][k] or 0 for n in names for k in ("recall", "precision")] or [1])
    plot_scores(path, entities, names, rows,
                title=f"free text ({result['records']} notes, seed {result['seed']}): payments policy",
                rows_title="free-text recall by shape (red: under the goal)", y_range=(min(0.9, lowest - 0.02), 1.005),
                x_low=min(0.9, min((r[2] for r in rows), default=1) - 0.01), rows_width=1.1)


def plot_scores(path: Path, entities: dict, names: list[str], rows: list[tuple[str, int, float]], *, title: str,
                rows_title: str, y_range: tuple[float, float], x_low: float, rows_width: float) -> None:
    """Recall and precision per entity (left), and recall per row (label, count, recall) beside it, red where
    under the goal: the figure of this evaluation and of the Unicode one (``evaluate_unicode``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(15, max(6, 0.17 * len(rows))),
                                      gridspec_kw={"width_ratios": [1, rows_width]})
    xs = range(len(names))
    left.bar([x - 0.2 for x in xs], [entities[n]["recall"] or 0 for n in names], 0.4, label="recall")
    left.bar([x + 0.2 for x in xs], [entities[n]["precision"] or 0 for n in names], 0.4, label="precision")
    left.axhline(RECALL_GOAL, color="green", linestyle="--", linewidth=1, label=f"recall goal {RECALL_GOAL}")
    left.axhline(PRECISION_GOAL, color="red", linestyle=":", linewidth=1, label=f"precision goal {PRECISION_GOAL}")
    left.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
    left.set_ylim(*y_range)
    left.set_title(title)
    left.legend(fontsize=8, loc="lower left")
    recalls = [r[2] for r in rows]
    right.barh(range(len(rows)), recalls, color=["tab:blue" if r >= RECALL_GOAL else "tab:red" for r in recalls])
    right.set_yticks(range(len(rows)), [f"{label} (n={n})" for label, n, _ in rows], fontsize=6)
    right.invert_yaxis()
    right.set_xlim(x_low, 1.0)
    right.axvline(RECALL_GOAL, color="green", linestyle="--", linewidth=1)
    right.set_title(rows_title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.records, args.seed, args.out_dir, plot=not args.no_plot)
    free = result["free_text"]["entities"]
    print(json.dumps({e: {k: free[e][k] for k in ("truth", "recall", "covered_recall", "precision")}
                      for e in free}, indent=1))
    print(json.dumps({"leaks": result["free_text"]["leaks"], "negatives": result["free_text"]["negatives"]}))
    print(json.dumps({k: v for k, v in result["goals"].items()}))


if __name__ == "__main__":
    main()
