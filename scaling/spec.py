"""Policy files: one YAML or JSON document that says how to size one application.

    policy: ours               # ours (schedule floor + target), target, step or schedule
    min_kpu: 1
    max_kpu: 16
    kpu_quota: 64              # the account's quota; max_kpu above it is an error
    parallelism_per_kpu: 1
    target: {catch_up_s: 15m}  # TargetConfig fields ('_s' fields take 90s / 15m / 1h)
    step: {}                   # StepConfig fields
    schedule:                  # ScheduleConfig: windows of ScheduleWindow fields
      windows: [{start: "0 8 * * MON-FRI", end: "0 18 * * MON-FRI", min_kpu: 4, timezone: Europe/Paris}]
    signals:                   # default: CloudWatch for the application (+ its stream if given)
      cloudwatch: {stream: orders}          # CloudWatchSignalsConfig fields
      flink_rest: {period_s: 60}            # FlinkRestSignalsConfig fields (url/job default to the backend's)
    backend: {type: managed-flink}          # or {type: flink-rest, url: ..., mode: auto, ...}
    controller: {interval_s: 60, decision_log: decisions.jsonl, lock: {type: file, directory: .locks}}

Everything is validated when the file is loaded, before any client is built or call made:
a bad file is a ScalingConfigError naming the key, and no scaling action can start.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from scaling.backends.flink_rest import FlinkRestBackendConfig
from scaling.collectors.cloudwatch import CloudWatchSignalsConfig, CustomMetric
from scaling.collectors.flink_rest import FlinkRestSignalsConfig
from scaling.decision import DEFAULT_KPU_QUOTA, Policy, ScalingConfigError, validate_kpu_limits
from scaling.policies import (
    ScheduleConfig,
    ScheduledTargetPolicy,
    SchedulePolicy,
    ScheduleWindow,
    StepConfig,
    StepPolicy,
    TargetConfig,
    TargetPolicy,
)

POLICY_NAMES = ("ours", "target", "step", "schedule")
BACKEND_TYPES = ("managed-flink", "flink-rest")
LOCK_TYPES = ("none", "file", "dynamodb")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, where: str = "duration") -> float:
    """Seconds from 90, "90s", "15m", "1.5h", "250ms"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ScalingConfigError(f"{where}: {value!r} is not a duration (use e.g. 90s, 15m, 1h)")
    return float(match.group(1)) * UNITS[match.group(2)]


def build(cls: type, values: Any, where: str, defaults: Mapping[str, Any] | None = None) -> Any:
    """``cls(**values)`` with unknown keys, wrong shapes and '_s' durations turned into clear errors."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ScalingConfigError(f"{where}: expected a mapping of keys to values, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ScalingConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
    kwargs = {k: v for k, v in (defaults or {}).items() if k in names}
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key.endswith("_s") and value is not None:
            value = parse_duration(value, f"{where}.{key}")
            if int in typing.get_args(hints.get(key)) + (hints.get(key),) and value.is_integer():
                value = int(value)  # e.g. a CloudWatch period, which must be a whole number of seconds
        elif isinstance(value, list):
            value = tuple(value)
        _check_type(hints.get(key), value, f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ScalingConfigError as exc:
        raise ScalingConfigError(f"{where}: {exc}") from None
    except TypeError as exc:  # a missing required key, or a value of the wrong type compared in __post_init__
        raise ScalingConfigError(f"{where}: {exc}") from None


SCALARS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _check_type(hint: Any, value: Any, where: str) -> None:
    """Scalars only (int, float, str, bool and their Optionals); anything richer is checked by the dataclass."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if value is None and type(None) in allowed:
        return
    scalars = [t for t in allowed if t in SCALARS]
    if not scalars or len(scalars) != len([t for t in allowed if t is not type(None)]):
        return
    ok = any(isinstance(value, t) and not (t is not bool and isinstance(value, bool)) for t in scalars) or (
        float in scalars and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ScalingConfigError(f"{where}: must be {' or '.join(SCALARS[t] for t in scalars)}, got {value!r}")


@dataclass(frozen=True)
class LockSpec:
    type: str = "file"
    """none, file (one host) or dynamodb (several hosts)."""
    directory: str = ".shardline/locks"
    """Lock files go here (type file)."""
    table: str | None = None
    """DynamoDB table with partition key lock_key (type dynamodb)."""
    lease_s: float = 3600.0
    """A crashed holder's DynamoDB lock expires after this."""

    def __post_init__(self) -> None:
        if self.type not in LOCK_TYPES:
            raise ScalingConfigError(f"lock type must be one of {', '.join(LOCK_TYPES)}, got {self.type!r}")
        if self.type == "dynamodb" and not self.table:
            raise ScalingConfigError("lock type dynamodb needs table")


@dataclass(frozen=True)
class ControllerSpec:
    interval_s: float = 60.0
    """Seconds between cycles."""
    wait_timeout_s: float | None = None
    """How long a rescale may take to reach RUNNING; None: the backend's default."""
    decision_log: str | None = None
    """JSON-lines decision log; None: no log."""
    lock: LockSpec = field(default_factory=LockSpec)
    """Cross-process lock."""


@dataclass(frozen=True)
class PolicySpec:
    policy: str = "ours"
    """ours (schedule floor + target), target, step or schedule."""
    min_kpu: int = 1
    """Never below this many KPUs."""
    max_kpu: int = 8
    """Never above this many KPUs (<= kpu_quota)."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """The account's KPU quota per application."""
    parallelism_per_kpu: int = 1
    """Flink ParallelismPerKPU."""
    step: Mapping[str, Any] = field(default_factory=dict)
    """StepConfig fields (policy step)."""
    target: Mapping[str, Any] = field(default_factory=dict)
    """TargetConfig fields (policies target and ours)."""
    schedule: Mapping[str, Any] = field(default_factory=dict)
    """ScheduleConfig fields, windows as a list of ScheduleWindow fields (policies schedule and ours)."""
    signals: Mapping[str, Any] = field(default_factory=dict)
    """cloudwatch: CloudWatchSignalsConfig fields; flink_rest: FlinkRestSignalsConfig fields."""
    backend: Mapping[str, Any] = field(default_factory=dict)
    """type (managed-flink or flink-rest) and that backend's config fields."""
    controller: Mapping[str, Any] = field(default_factory=dict)
    """ControllerSpec fields, lock as LockSpec fields."""

    def __post_init__(self) -> None:
        if self.policy not in POLICY_NAMES:
            raise ScalingConfigError(f"policy must be one of {', '.join(POLICY_NAMES)}, got {self.policy!r}")
        validate_kpu_limits(self.min_kpu, self.max_kpu, self.kpu_quota, self.parallelism_per_kpu)
        if self.backend_type not in BACKEND_TYPES:
            raise ScalingConfigError(f"backend type must be one of {', '.join(BACKEND_TYPES)}, got {self.backend_type!r}")
        unknown = sorted(set(self.signals) - {"cloudwatch", "flink_rest"})
        if unknown:
            raise ScalingConfigError(f"signals: unknown key(s) {', '.join(unknown)}; valid keys: cloudwatch, flink_rest")
        self.build_policy()
        self.backend_config("validate")
        self.signals_configs("validate")
        self.controller_spec()

    @property
    def limits(self) -> dict[str, int]:
        return {"min_kpu": self.min_kpu, "max_kpu": self.max_kpu, "kpu_quota": self.kpu_quota,
                "parallelism_per_kpu": self.parallelism_per_kpu}

    @property
    def backend_type(self) -> str:
        return dict(self.backend).get("type", "managed-flink")

    def build_policy(self) -> Policy:
        if self.policy == "step":
            return StepPolicy(build(StepConfig, self.step, "step", self.limits))
        target = TargetPolicy(build(TargetConfig, self.target, "target", self.limits))
        if self.policy == "target":
            return target
        raw = dict(self.schedule or {})
        windows = tuple(build(ScheduleWindow, w, f"schedule.windows[{i}]") for i, w in enumerate(raw.pop("windows", []) or []))
        schedule = SchedulePolicy(build(ScheduleConfig, {**raw, "windows": windows}, "schedule", self.limits))
        return schedule if self.policy == "schedule" else ScheduledTargetPolicy(schedule, target)

    def backend_config(self, app: str) -> Any:
        values = {k: v for k, v in dict(self.backend).items() if k != "type"}
        if self.backend_type == "managed-flink":
            from scaling.backends.managed_flink import ManagedFlinkConfig  # boto3 only where it is used

            return build(ManagedFlinkConfig, values, "backend", {"application": app, "kpu_quota": self.kpu_quota})
        return build(FlinkRestBackendConfig, values, "backend",
                     {"job": app, "kpu_quota": self.kpu_quota, "parallelism_per_kpu": self.parallelism_per_kpu})

    def signals_configs(self, app: str) -> list[Any]:
        cw, rest = self.signals.get("cloudwatch"), self.signals.get("flink_rest")
        managed = self.backend_type == "managed-flink"
        out: list[Any] = []
        if cw is not None or (rest is None and managed):
            cw = dict(cw or {})
            custom = tuple(build(CustomMetric, c, f"signals.cloudwatch.custom[{i}]") for i, c in enumerate(cw.pop("custom", []) or []))
            out.append(build(CloudWatchSignalsConfig, {**cw, "custom": custom}, "signals.cloudwatch",
                             {"application": app if managed else None,
                              "lag": "iterator-age" if cw.get("stream") else "millis-behind-latest" if managed else "none"}))
        if rest is not None or not managed:
            backend = self.backend_config(app) if not managed else None
            defaults = {"parallelism_per_kpu": self.parallelism_per_kpu}
            if backend is not None:
                defaults.update(url=backend.url, job=backend.job)
            out.append(build(FlinkRestSignalsConfig, rest or {}, "signals.flink_rest", defaults))
        return out

    def controller_spec(self) -> ControllerSpec:
        raw = dict(self.controller or {})
        lock = build(LockSpec, raw.pop("lock", None), "controller.lock")
        return build(ControllerSpec, {**raw, "lock": lock}, "controller")

    def to_json(self) -> str:
        """The spec as JSON (what the Lambda handlers take in their POLICY environment variable)."""
        return json.dumps({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, default=dict)


def parse_spec(document: Any, where: str = "policy") -> PolicySpec:
    return build(PolicySpec, document, where)


def load_spec(path: str | Path) -> PolicySpec:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScalingConfigError(f"policy file {path} does not exist") from None
    try:
        document = yaml.safe_load(text)  # YAML is a superset of JSON: one parser for both
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ScalingConfigError(f"{path}: not valid YAML/JSON{at}") from None
    return parse_spec(document, str(path))
