"""The PII job's masking on the Flink workers: policy and key references from runtime properties, and metrics.

Managed Flink cannot set environment variables on its workers, so the job
takes the policy and where its keys live from group ``shardline``::

    pii.policy                  built-in policy (payments, generic) or a policy file   default: payments
    pii.keys.<name>.file        file holding key <name> of the policy (e.g. hmac, fpe)
    pii.keys.<name>.env         environment variable holding it
    pii.keys.<name>             the key itself (readable by whoever can describe the application: prefer .file)
    pii.keys.<name>.encoding    hex (default) or base64; raw too, for a file
    pii.totals.interval-s       each worker logs its masked counts by entity type at most this often   default: 60

A key given here replaces the policy's own reference of that name; keys not
given here come from the policy's references (SHARDLINE_PII_HMAC_KEY, ...).
A relative key file is found under the folder holding shardline's code (the
repository locally, ``dep/`` in the Managed Flink zip), on every machine.
A policy file is read where the job is submitted and travels as text.

``PiiJobSettings`` is pickled with the pipeline operator (``PiiMaskingSetup``),
so the workers load the same policy with the same key references.  Key
material is never logged, never in a message, never in a ``repr``.

Each worker counts masked values by entity type in Flink counters (counts
only) and logs its running totals as the other engines log theirs.  The log
line is written while records flow: PyFlink has closed a worker's log
channel by the time the operator's ``close`` runs.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.jobs.flink.pii")

PREFIX = "pii."
KEY_PREFIX = "pii.keys."
TOTALS_INTERVAL = "pii.totals.interval-s"
PUBLISH_INTERVAL_S = 1.0
PUBLISH_EVERY_RECORDS = 1_000
"""A worker's masked counts reach its Flink counters at least this often, in seconds and in records."""
KEY_OPTIONS = ("file", "env", "encoding")
ENCODINGS = ("hex", "base64", "raw")
CODE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding pipelines/ connectors/ jobs/


class PiiPropertyError(ValueError):
    """A ``pii.*`` runtime property is wrong; the message names the property, never a key."""


@dataclass(frozen=True)
class KeySource:
    """Where one of the policy's keys comes from, given by ``pii.keys.<name>[.file|.env|.encoding]``."""

    name: str
    """The key's name in the policy (``keys.<name>``)."""
    value: str | None = field(default=None, repr=False)
    """The key itself, written in ``encoding`` (never shown)."""
    file: str | None = None
    """File holding the key; relative paths are under CODE_ROOT."""
    env: str | None = None
    """Environment variable holding the key, read on each worker."""
    encoding: str = "hex"
    """How the key is written: hex, base64, or raw (a file only)."""

    @property
    def property_name(self) -> str:
        return f"{KEY_PREFIX}{self.name}"

    def policy_ref(self) -> dict[str, str]:
        """The reference that replaces the policy's ``keys.<name>``."""
        if self.file is not None:
            path = Path(self.file)
            return {"file": str(path if path.is_absolute() else CODE_ROOT / path), "encoding": self.encoding}
        # A key given as a value is handed to the policy loader as a variable of this (impossible) name.
        return {"env": self.env or f"runtime property {self.property_name}", "encoding": self.encoding}


@dataclass(frozen=True)
class PiiJobSettings:
    """The policy and key sources the workers mask with; built from the ``pii.*`` properties."""

    policy: str = "payments"
    """Built-in policy name or policy file (as given)."""
    policy_text: str | None = field(default=None, repr=False)
    """A policy file's text, read where the job is submitted (None for a built-in policy)."""
    policy_dir: str | None = None
    """The policy file's folder: key files the policy names relative to it are found there."""
    keys: Mapping[str, KeySource] = field(default_factory=dict)
    """Key sources by name, replacing the policy's references of those names."""
    totals_interval_s: float = 60.0
    """A worker logs its masked counts at most this often (0: after every record, for tests)."""

    @classmethod
    def from_properties(cls, properties: Mapping[str, str], *, default_policy: str = "payments") -> "PiiJobSettings":
        """Settings from the ``pii.*`` keys of group ``shardline`` (other keys are ignored)."""
        from pipelines.pii.policy import BUILTIN_POLICIES

        options: dict[str, dict[str, str]] = {}
        for key, value in properties.items():
            if not key.startswith(PREFIX) or key in ("pii.policy", TOTALS_INTERVAL):
                continue
            if not key.startswith(KEY_PREFIX) or len(key) == len(KEY_PREFIX):
                raise PiiPropertyError(f"unknown property {key}; known: pii.policy, {TOTALS_INTERVAL}, "
                                       f"pii.keys.<name>, pii.keys.<name>.{{{','.join(KEY_OPTIONS)}}}")
            name, _, option = key[len(KEY_PREFIX):].partition(".")
            if option and option not in KEY_OPTIONS:
                raise PiiPropertyError(f"unknown property {key}; a key takes pii.keys.{name} (the key), "
                                       f"or pii.keys.{name}.{{{','.join(KEY_OPTIONS)}}}")
            options.setdefault(name, {})[option or "value"] = value
        keys = {name: _key_source(name, given) for name, given in sorted(options.items())}
        try:
            interval = float(properties.get(TOTALS_INTERVAL, cls.totals_interval_s))
            if not interval >= 0:
                raise ValueError
        except ValueError:
            raise PiiPropertyError(f"property {TOTALS_INTERVAL}: expected seconds >= 0, "
                                   f"got {properties[TOTALS_INTERVAL]!r}") from None
        spec = properties.get("pii.policy") or default_policy
        if spec in BUILTIN_POLICIES:
            return cls(policy=spec, keys=keys, totals_interval_s=interval)
        path = Path(spec)
        if not path.is_absolute() and not path.exists() and (CODE_ROOT / path).exists():
            path = CODE_ROOT / path  # e.g. a policy shipped in the Managed Flink zip
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise PiiPropertyError(f"property pii.policy: {spec!r} is no built-in policy "
                                   f"({', '.join(BUILTIN_POLICIES)}) and no such file exists") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PiiPropertyError(f"property pii.policy: cannot read policy file {path} "
                                   f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
        return cls(policy=spec, policy_text=text, policy_dir=str(path.resolve().parent), keys=keys,
                   totals_interval_s=interval)

    def load_policy(self, environ: Mapping[str, str] | None = None):
        """The ``MaskingPolicy`` with its keys loaded (``environ`` defaults to this process's environment)."""
        import yaml

        from pipelines.pii import PolicyError
        from pipelines.pii.policy import parse_policy

        environ = dict(os.environ if environ is None else environ)
        text = self.policy_text if self.policy_text is not None else _builtin_text(self.policy)
        base_dir = Path(self.policy_dir) if self.policy_dir else None
        if not self.keys:
            return parse_policy(text, environ=environ, base_dir=base_dir)
        try:
            data: Any = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("keys") or {}, dict):
            return parse_policy(text, environ=environ, base_dir=base_dir)  # raises, saying what is wrong
        refs = dict(data.get("keys") or {})
        for name, source in self.keys.items():
            if name not in refs:
                raise PolicyError("keys", f"property {source.property_name} names key '{name}', which policy "
                                          f"{self.policy!r} does not have (its keys: {', '.join(sorted(refs))})")
            refs[name] = source.policy_ref()
            if source.value is not None:
                environ[refs[name]["env"]] = source.value
        return parse_policy({**data, "keys": refs}, environ=environ, base_dir=base_dir)


def _key_source(name: str, given: Mapping[str, str]) -> KeySource:
    where = f"{KEY_PREFIX}{name}"
    sources = [option for option in ("value", "file", "env") if given.get(option)]
    if len(sources) != 1:
        raise PiiPropertyError(f"key '{name}': give exactly one of {where} (the key), {where}.file or {where}.env"
                               + (f"; got {', '.join(s if s != 'value' else where for s in sources)}"
                                  if sources else ""))
    encoding = given.get("encoding", "hex")
    if encoding not in ENCODINGS or (encoding == "raw" and sources[0] != "file"):
        raise PiiPropertyError(f"property {where}.encoding: {encoding!r} is not one of "
                               f"{', '.join(ENCODINGS if sources[0] == 'file' else ENCODINGS[:2])}")
    value = given.get("value")
    if value is not None:
        try:
            key = binascii.unhexlify(value.strip()) if encoding == "hex" else base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PiiPropertyError(f"property {where}: not valid {encoding}") from None  # never the value
        if not key:
            raise PiiPropertyError(f"property {where}: the key is empty")
    return KeySource(name, value=value, file=given.get("file"), env=given.get("env"), encoding=encoding)


def _builtin_text(name: str) -> str:
    from importlib import resources

    from pipelines.pii.policy import BUILTIN_POLICIES, builtin_policy

    if name not in BUILTIN_POLICIES:
        builtin_policy(name)  # raises PolicyError naming the built-in policies
    return resources.files("pipelines.pii").joinpath("policies").joinpath(f"{name}.yaml").read_text("utf-8")


class MaskedCounters:
    """Flink counters of a worker's masking: counts only, the entity type the only label.

    ``shardline_pii_masked_records`` and, in key/value group ``entity=<TYPE>``,
    ``shardline_pii_masked_values`` (Managed Flink reports the group as a dimension).  ``publish`` adds what the
    masking pipeline's running totals gained since the last call: a PyFlink counter's ``inc`` costs most of a
    microsecond, and a record of the payments policy made nine of them (a twentieth of the job's Python time).
    """

    def __init__(self, group) -> None:
        self.group = group
        self.records = group.counter("shardline_pii_masked_records")
        self.values: dict[str, Any] = {}
        self.published_records = 0
        self.published: dict[str, int] = {}

    def publish(self, records: int, totals: Mapping[str, int]) -> None:
        """Add to the Flink counters what ``records`` and ``totals`` (running, by entity type) gained."""
        if records > self.published_records:
            self.records.inc(records - self.published_records)
            self.published_records = records
        for entity, total in totals.items():
            delta = total - self.published.get(entity, 0)
            if not delta:
                continue
            counter = self.values.get(entity)
            if counter is None:
                counter = self.values[entity] = self.group.add_group("entity", entity) \
                    .counter("shardline_pii_masked_values")
            counter.inc(delta)
            self.published[entity] = total


class PiiMaskingSetup:
    """The ``PipelineSetup`` of the PII job: the masking pipeline, built on the worker from ``settings``."""

    def __init__(self, settings: PiiJobSettings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock
        self.logged_at: float | None = None
        self.published_at: float | None = None
        self.counters: MaskedCounters | None = None
        self.masking = None

    def open(self, metrics):
        from pipelines.pii.pipeline import masking_pipeline

        self.counters = MaskedCounters(metrics)
        self.masking = masking_pipeline(self.settings.load_policy(), observe=self.observe)
        return self.masking

    def observe(self, counts: Mapping[str, int]) -> None:
        """The pipeline's hook, after each record: it keeps the running totals, so ``counts`` is not read again."""
        now = self.clock.monotonic()
        if self.published_at is None or now - self.published_at >= PUBLISH_INTERVAL_S \
                or self.masking.records - self.counters.published_records >= PUBLISH_EVERY_RECORDS:
            self.published_at = now
            self.counters.publish(self.masking.records, self.masking.totals)
        if self.logged_at is None or now - self.logged_at >= self.settings.totals_interval_s:
            self.logged_at = now
            self.log_totals()

    def log_totals(self) -> None:
        """This worker's running totals, in the line ``jobs.local.pii.log_totals`` writes for the other
        engines (that module needs prometheus-client, which the Managed Flink zip does not carry)."""
        values = ",".join(f"{e}:{n}" for e, n in sorted(self.masking.totals.items())) or "none"
        log.info("event=pii_masked engine=flink records=%d values=%s", self.masking.records, values)

    def close(self) -> None:
        """The counts not yet published (a log line here would be lost: see the module's docstring)."""
        if self.counters is not None:
            self.counters.publish(self.masking.records, self.masking.totals)


def prepare(properties: Mapping[str, str]) -> tuple[dict[str, str], PiiMaskingSetup]:
    """Take the ``pii.*`` properties out of group ``shardline``, load the policy with its keys, and return the
    rest with the workers' setup; both PII jobs (SQL and DataStream) start here.

    Exits with a message (never key material) when the policy or a key cannot be loaded.
    """
    import sys

    from pipelines.pii import PolicyError
    from pipelines.pii.pipeline import PiiPipelineConfig

    try:
        # Without pii.policy: SHARDLINE_PII_POLICY where the job is submitted, else payments (as the other engines).
        settings = PiiJobSettings.from_properties(properties, default_policy=PiiPipelineConfig().policy)
        settings.load_policy()
    except PiiPropertyError as exc:
        sys.exit(f"property group 'shardline': {exc}")
    except PolicyError as exc:
        sys.exit(f"PII policy {settings.policy!r}: {exc}")
    rest = {key: value for key, value in properties.items() if not key.startswith(PREFIX)}
    return rest, PiiMaskingSetup(settings)
