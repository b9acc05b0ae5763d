"""PII evaluation on the Unicode mix: recall and precision per entity and per written form.

    .venv/bin/python -m benchmarks.pii.evaluate_unicode [--records 5000] [--seed 11] [--out-dir DIR]
    shardline bench pii-unicode

Writes ``unicode_eval.json`` and ``unicode_eval.png`` (``benchmarks/results`` by default).

The match rules are evaluate.py's (``SpanScore``).  Per (entity, form) this adds:

- ``recall`` / ``covered_recall``: as per entity, over the values written in that form.
- ``precision``: of the detections labelled with the entity that overlap a value
  written in the form (of any entity: forms are shared, "nbsp" cards and
  "nbsp" phones), the share that overlap a value of that entity.  False
  positives on hard negatives and plain text belong to no form; they are
  counted per negative ``kind:style`` in ``negatives_by_style``.

Leaks, after masking the notes with the payments policy: ``verbatim`` (the value
is still in the text), ``digits_only`` (``evaluate.count_leaks``' rule: 7+ of its
digits in a row, whatever lies between them), ``stripped`` (the value with
separators, invisible characters and dots/slashes removed and every script's
digits read as ASCII, found in the masked text so stripped), and ``any``.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from benchmarks.pii.evaluate import (
    BENCH_KEYS, PRECISION_GOAL, RECALL_GOAL, Detection, SpanScore, _covered, _overlaps, _ratio, count_leaks,
    plot_scores, scanner_for,
)
from benchmarks.pii.generator import LabelledRecord, Span
from benchmarks.pii.unicode_mix import FORMS, UnicodeRecordGenerator
from benchmarks.report import RESULTS_DIR, write_results
from pipelines.pii import Masker, builtin_policy

NAME = "unicode_eval"
_STRIPPED_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Pd"})  # spaces, controls, invisibles, dashes


class FormScore(SpanScore):
    """``SpanScore`` plus, per (entity, form), covered values and the labels of the detections on them."""

    def __init__(self) -> None:
        super().__init__()
        self.form_covered: Counter[tuple[str, str]] = Counter()
        self.form_detections: Counter[tuple[str, str]] = Counter()
        self.form_true: Counter[tuple[str, str]] = Counter()
        self.negative_styles: Counter[str] = Counter()
        self.negative_styles_hit: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, text: str, truth: Sequence[Span], negatives: Sequence[Span],
            detections: Sequence[Detection]) -> None:
        super().add(text, truth, negatives, detections)
        for span in truth:
            same = [d for d in detections if d[0] == span.entity and _overlaps(d[1], d[2], span.start, span.end)]
            self.form_covered[(span.entity, span.variant)] += bool(same) and _covered(span, same)
        for entity, start, end in detections:
            hits = [s for s in truth if _overlaps(start, end, s.start, s.end)]
            if hits:
                right = next((s for s in hits if s.entity == entity), None)
                self.form_detections[(entity, (right or hits[0]).variant)] += 1
                self.form_true[(entity, (right or hits[0]).variant)] += right is not None
        for neg in negatives:
            self.negative_styles[neg.variant] += 1
            for entity, start, end in detections:
                if _overlaps(start, end, neg.start, neg.end):
                    self.negative_styles_hit[neg.variant][entity] += 1

    def forms(self, entity: str) -> dict[str, dict]:
        """Per form of ``entity`` (in ``FORMS`` order): truth, found, recall, covered_recall, precision."""
        truth: Counter[str] = Counter()
        found: Counter[str] = Counter()
        for (variant, hit), n in self.variants[entity].items():
            truth[variant] += n
            found[variant] += n if hit else 0
        order = {form: i for i, form in enumerate(FORMS.get(entity, ()))}
        return {form: {"truth": truth[form], "found": found[form], "recall": _ratio(found[form], truth[form]),
                       "covered_recall": _ratio(self.form_covered[(entity, form)], truth[form]),
                       "detections": self.form_detections[(entity, form)],
                       "precision": _ratio(self.form_true[(entity, form)], self.form_detections[(entity, form)])}
                for form in sorted(truth, key=lambda f: (order.get(f, len(order)), f))}

    def by_style(self) -> dict[str, dict]:
        """Per hard negative ``kind:style``: how many, how many detected, and as what."""
        return {style: {"count": n, "detected": sum(self.negative_styles_hit[style].values()),
                        "as": dict(self.negative_styles_hit[style].most_common())}
                for style, n in sorted(self.negative_styles.items())}


def stripped(text: str) -> str:
    """``text`` without separators, invisible characters, dots and slashes, every script's digits as ASCII."""
    out = []
    for ch in text:
        if ch in "./" or unicodedata.category(ch) in _STRIPPED_CATEGORIES:
            continue
        digit = unicodedata.decimal(ch, None)
        out.append(str(digit) if digit is not None else ch)
    return "".join(out)


def leaks(records: Sequence[LabelledRecord], masked_notes: Sequence[str]) -> dict:
    """Values still readable after masking, per entity for each way of reading them, and per form (any way)."""
    ways = ("verbatim", "digits_only", "stripped", "any")
    counts: dict[str, Counter[str]] = {way: Counter() for way in ways}
    by_form: dict[str, Counter[str]] = defaultdict(Counter)
    for rec, masked in zip(records, masked_notes):
        masked_stripped = stripped(masked)
        for span in rec.spans:
            value = rec.payload["notes"][span.start:span.end]
            verbatim = value in masked
            # count_leaks on this one span: its digits rule, reused rather than restated.
            digits = not verbatim and bool(count_leaks([dataclasses.replace(rec, spans=(span,))], [masked]))
            skeleton = stripped(value)
            found = {"verbatim": verbatim, "digits_only": digits,
                     "stripped": len(skeleton) >= 4 and skeleton in masked_stripped}
            found["any"] = any(found.values())
            for way in ways:
                counts[way][span.entity] += found[way]
            by_form[span.entity][span.variant] += found["any"]
    return {**{way: {e: n for e, n in sorted(c.items()) if n} for way, c in counts.items()},
            "by_form": {e: {f: n for f, n in sorted(c.items()) if n} for e, c in sorted(by_form.items())}}


def run(records: int = 5000, seed: int = 11, out_dir: Path | None = RESULTS_DIR, *, plot: bool = True,
        examples: bool = True) -> dict:
    """Generate the Unicode mix, score the payments policy's scanner on it; write unicode_eval.json/.png."""
    started = time.perf_counter()
    data = UnicodeRecordGenerator(seed).records(records)
    generated = time.perf_counter() - started

    score, detect = FormScore(), scanner_for("payments")
    for rec in data:
        score.add(rec.payload["notes"], rec.spans, rec.negatives, detect(rec.payload["notes"]))
    free = score.summary(examples=examples)
    for entity, entry in free["entities"].items():
        del entry["variants"]  # the same counts, richer, under "forms"
        entry["forms"] = score.forms(entity)
    masker = Masker(builtin_policy("payments", environ=BENCH_KEYS))
    masked_notes = [masker.mask({"notes": rec.payload["notes"]}).payload["notes"] for rec in data]
    result = {
        "benchmark": NAME, "records": records, "seed": seed, "policy": "payments",
        "note_chars_avg": round(sum(len(r.payload["notes"]) for r in data) / max(records, 1), 1),
        "forms": {e: list(f) for e, f in FORMS.items()},
        **free,
        "negatives_by_style": score.by_style(),
        "leaks": leaks(data, masked_notes),
        "goals": _goals(free["entities"]),
        "python": platform.python_version(),
        "seconds": {"generate": round(generated, 2), "total": round(time.perf_counter() - started, 2)},
    }
    write_results(result, out_dir, NAME, _plot if plot else None)
    return result


def _goals(entities: dict) -> dict:
    """The goals of evaluate.py, for every entity of the mix."""
    recall = {e: entities.get(e, {}).get("recall") for e in FORMS}
    precision = {e: entities.get(e, {}).get("precision") for e in FORMS}
    return {
        f"recall_{RECALL_GOAL}": {"met": all(r is not None and r >= RECALL_GOAL for r in recall.values()),
                                  "missed": sorted(e for e, r in recall.items() if r is None or r < RECALL_GOAL),
                                  "values": recall},
        f"precision_{PRECISION_GOAL}": {
            "met": all(p is not None and p >= PRECISION_GOAL for p in precision.values()),
            "missed": sorted(e for e, p in precision.items() if p is None or p < PRECISION_GOAL), "values": precision},
    }


def table(result: dict) -> str:
    """The figures as text: per entity, per form, the hard negatives, leaks and goals."""
    def cell(x: float | None) -> str:
        return "   -  " if x is None else f"{x:.4f}"

    lines = [f"{'entity / form':<40}{'n':>6}  recall  covered  precision"]
    for entity in FORMS:
        e = result["entities"].get(entity)
        if e is None:
            continue
        lines.append(f"{entity:<40}{e['truth']:>6}  {cell(e['recall'])}  {cell(e['covered_recall'])}   "
                     f"{cell(e['precision'])}")
        for form, f in e["forms"].items():
            lines.append(f"  {form:<38}{f['truth']:>6}  {cell(f['recall'])}  {cell(f['covered_recall'])}   "
                         f"{cell(f['precision'])}")
    others = {k: v["detections"] for k, v in result["entities"].items() if k not in FORMS}
    lines += [f"detections of entities not in the mix (all false): {others}", "",
              f"{'hard negative kind:style':<40}{'n':>6}  detected  as"]
    for style, v in result["negatives_by_style"].items():
        lines.append(f"{style:<40}{v['count']:>6}  {v['detected']:>8}  {v['as'] or ''}")
    lines += ["", "leaks: " + ", ".join(f"{way} {result['leaks'][way]}"
                                         for way in ("verbatim", "digits_only", "stripped", "any"))]
    lines += [f"goal {name}: {'met' if g['met'] else 'NOT met: ' + ', '.join(g['missed'])}"
              for name, g in result["goals"].items()]
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    entities = result["entities"]
    names = [e for e in FORMS if e in entities]
    rows = [(f"{e} {form}", f["truth"], f["recall"] or 0.0) for e in names for form, f in entities[e]["forms"].items()]
    plot_scores(path, entities, names, rows,
                title=f"Unicode mix ({result['records']} notes, seed {result['seed']}): payments policy",
                rows_title="recall by entity and form (red: under the goal)", y_range=(0, 1.02), x_low=0,
                rows_width=1.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    print(table(run(args.records, args.seed, args.out_dir, plot=not args.no_plot)))


if __name__ == "__main__":
    main()
