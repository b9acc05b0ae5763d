"""The decision log: one JSON line per controller cycle, enough to recompute the decision.

Each line holds the inputs (the application state and the metric history the policy saw,
as ``[metric, time, value]`` rows, value null = missing), the decision with its reason, and
what the controller did with it. ``replay`` feeds the logged inputs to a policy again and
reports every line whose decision comes out different: after a policy change it shows what
would have been decided; on the same policy it proves the log is complete.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from scaling.decision import AppState, Policy, ScalingDecision
from scaling.signals import MetricHistory

VERSION = 1


def entry(*, time: float, app: str, policy: str, state: AppState, history: MetricHistory,
          decision: ScalingDecision, action: str, detail: str = "") -> dict[str, Any]:
    return {"v": VERSION, "time": time, "app": app, "policy": policy, "state": asdict(state),
            "history": [[r["metric"], r["time"], r["value"]] for r in history.to_records()],
            "decision": decision.to_dict(), "action": action, "detail": detail}


class DecisionLog:
    """Appends entries to a JSON-lines file (one write per line, so concurrent readers see whole lines)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")


def read(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with Path(path).open() as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None


@dataclass
class ReplayReport:
    checked: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "matched": self.checked - len(self.mismatches), "mismatches": self.mismatches}


def recompute(record: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The decision ``policy`` makes on a logged entry's inputs, as the log would hold it."""
    state = AppState(**record["state"])
    history = MetricHistory.from_records({"metric": m, "time": t, "value": v} for m, t, v in record["history"])
    decision = policy.decide(state, history, record["time"])
    return json.loads(json.dumps(decision.to_dict()))  # the same JSON round trip the log went through


def replay(path: str | Path, policy: Policy) -> ReplayReport:
    report = ReplayReport()
    for number, record in read(path):
        if record.get("v") != VERSION or "decision" not in record:
            raise ValueError(f"{path}: line {number} is not a version-{VERSION} decision entry")
        report.checked += 1
        again = recompute(record, policy)
        logged = record["decision"]
        if again != logged:
            report.mismatches.append({"line": number, "time": record["time"], "logged": logged, "replayed": again})
    return report
