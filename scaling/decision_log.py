"""The decision log: one JSON line per controller cycle, enough to recompute the decision.

Each line holds the inputs (the application state and the metric history the policy saw,
as ``[metric, time, value]`` rows, value null = missing), the decision with its reason, and
what the controller did with it. ``replay`` feeds the logged inputs to a policy again and
reports every line whose decision comes out different: after a policy change it shows what
would have been decided; on the same policy it proves the log is complete.

Consecutive cycles see nearly the same history (an hour of minutes, one minute newer), so a
line stores only how its history differs from the writer's previous line for that
application (``history_delta``: the window's start, rows new or changed, rows gone), with
the whole history (``history``) on a writer's first line and every ``KEYFRAME_EVERY`` lines.
That makes a log a tenth of the size or less.  Lines name their writer, so several processes may
append to one file; ``read`` gives every line back with its whole history.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from scaling.decision import AppState, Policy, ScalingDecision
from scaling.signals import MetricHistory

VERSION = 2
READABLE_VERSIONS = (1, 2)
KEYFRAME_EVERY = 60
"""A line with the whole history every this many lines per writer and application (an hour of cycles)."""

Rows = dict[tuple[str, float], Any]


def entry(*, time: float, app: str, policy: str, state: AppState, history: MetricHistory,
          decision: ScalingDecision, action: str, detail: str = "") -> dict[str, Any]:
    return {"v": VERSION, "time": time, "app": app, "policy": policy, "state": asdict(state),
            "history": [[r["metric"], r["time"], r["value"]] for r in history.to_records()],
            "decision": decision.to_dict(), "action": action, "detail": detail}


def _rows(history: list) -> Rows:
    return {(metric, t): value for metric, t, value in history}


def _delta(previous: Rows, current: Rows) -> dict[str, Any]:
    since = min((t for _, t in current), default=0.0)
    return {"since": since,
            "set": [[m, t, v] for (m, t), v in current.items() if (m, t) not in previous or previous[(m, t)] != v],
            "drop": [[m, t] for (m, t) in previous if t >= since and (m, t) not in current]}


def _apply(previous: Rows, delta: dict[str, Any]) -> Rows:
    since = delta["since"]
    rows = {k: v for k, v in previous.items() if k[1] >= since}
    for m, t in delta["drop"]:
        rows.pop((m, t), None)
    rows.update(((m, t), v) for m, t, v in delta["set"])
    return rows


class DecisionLog:
    """Appends entries to a JSON-lines file (one write per line, so concurrent readers see whole lines)."""

    def __init__(self, path: str | Path, *, keyframe_every: int = KEYFRAME_EVERY) -> None:
        self.path = Path(path)
        self.writer = uuid.uuid4().hex[:12]
        self.keyframe_every = keyframe_every
        self._last: dict[str, Rows] = {}
        self._since_keyframe: dict[str, int] = {}

    def append(self, record: dict[str, Any]) -> None:
        app, rows = record["app"], _rows(record["history"])
        line = {**record, "writer": self.writer}
        count = self._since_keyframe.get(app)
        if count is not None and count + 1 < self.keyframe_every:
            del line["history"]
            line["history_delta"] = _delta(self._last[app], rows)
            self._since_keyframe[app] = count + 1
        else:
            self._since_keyframe[app] = 0
        self._last[app] = rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")


def read(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every line as (line number, entry), each with its whole ``history``, whichever way it was stored."""
    state: dict[tuple[str, str], Rows] = {}  # (writer, app) -> its last history
    with Path(path).open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number} is not a decision entry")
            key = (record.get("writer", ""), record.get("app", ""))
            if "history_delta" in record:
                if key not in state:
                    raise ValueError(f"{path}: line {number} holds only changes to a history this file does not "
                                     f"have (the log was cut after writer {key[0]}'s last full line)")
                rows = _apply(state[key], record.pop("history_delta"))
                record["history"] = [[m, t, v] for (m, t), v in sorted(rows.items())]
            if "history" in record:
                state[key] = _rows(record["history"])
            yield number, record


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
        if record.get("v") not in READABLE_VERSIONS or "decision" not in record or "history" not in record:
            raise ValueError(f"{path}: line {number} is not a decision entry (versions {READABLE_VERSIONS})")
        report.checked += 1
        again = recompute(record, policy)
        logged = record["decision"]
        if again != logged:
            report.mismatches.append({"line": number, "time": record["time"], "logged": logged, "replayed": again})
    return report
