"""Managed Flink packaging: one zip per PyFlink job.

Layout (what Amazon Managed Service for Apache Flink expects of a Python app)::

    main.py                       calls the job's main()
    lib/<one fat jar>             the Kinesis connector (jarfile)
    dep/                          Python code on the workers' path (pyFiles): shardline's
                                  pipelines/ connectors/ jobs/ and the third-party packages the
                                  job needs that the runtime's apache-flink does not bring
    application_properties.json   example runtime properties, incl. kinesis.analytics.flink.run.options

Third-party packages are copied from this environment's installed files.  Pure-Python
packages travel as they are; a package with C extensions is only copied when this
interpreter matches the runtime's (CPython ``python_version`` on x86_64 Linux), otherwise
packaging stops and says how to fetch the right wheel.  Entries get fixed timestamps, so the
same inputs give the same zip bytes.
"""
from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_OPTIONS_GROUP = "kinesis.analytics.flink.run.options"
SHARDLINE_PACKAGES = ("pipelines", "connectors", "jobs")
ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)

# Job name -> (module with main(), top-level distributions it imports, example "shardline" properties).
# The pipeline job runs any pipeline (property ``pipeline``) on the DataStream path: Python decodes, encodes and
# batches S3 objects in keyed state.  The baseline of bench pii-job; "pipeline" is the SQL path now.
_PIPELINE_JOB = ("jobs.flink.pipeline_job", ("boto3", "fastavro"), {
    "input.stream": "shardline-input",
    "output.stream": "shardline-output",
    "output.s3": "s3://my-bucket/records",
    "dead_letter.s3": "s3://my-bucket/dead-letters",
    "source.init.position": "TRIM_HORIZON",
    "pipeline": "jobs.local.runner:identity",
})
# The pipeline job on the SQL path: the same properties ("pipeline": "none" runs no Python at all), so an
# application made with the DataStream job only needs the new zip.
_PIPELINE_SQL_JOB = ("jobs.flink.pipeline_sql_job", *_PIPELINE_JOB[1:])
_PII_JOB = ("jobs.flink.pii_job", ("boto3", "fastavro", "pyyaml", "phonenumbers", "python-stdnum", "cryptography"), {
    "input.stream": "payments",
    "output.stream": "payments-masked",
    "output.s3": "s3://my-bucket/curated/payments",
    "output.firehose": "payments-search",
    "output.firehose.index": "payments",
    "dead_letter.s3": "s3://my-bucket/dead-letters",
    "source.init.position": "TRIM_HORIZON",
    "pii.policy": "payments",
    "pii.keys.hmac.file": "keys/pii-hmac.hex",
    "pii.keys.fpe.file": "keys/pii-fpe.hex",
})
_TIMESERIES_JOB = ("jobs.flink.timeseries_job", ("boto3", "fastavro", "pyyaml", "phonenumbers", "python-stdnum",
                                                  "cryptography"), {
    "input.stream": "telemetry",
    "aggregate.table": "telemetry-windows",
    "alert.stream": "telemetry-alerts",
    "raw.s3": "s3://my-bucket/raw",
    "late.s3": "s3://my-bucket/late",
    "dead_letter.s3": "s3://my-bucket/dead-letters",
    "devices": "s3://my-bucket/devices.csv",
    "ts.window_s": "60",
    "ts.valid_ranges": '{"temperature": [-50, 150]}',
})
JOBS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    # Any pipeline, on the SQL path; "passthrough" (identity) and "pipeline-sql" are its older names.
    "pipeline": _PIPELINE_SQL_JOB,
    "passthrough": _PIPELINE_SQL_JOB,
    "pipeline-sql": _PIPELINE_SQL_JOB,
    "pipeline-datastream": _PIPELINE_JOB,
    # The PII masking job (on the SQL path): the pipeline job's properties plus pii.* (jobs.flink.pii_masking).
    # Relative key files are found under dep/ in the zip: add them there, or give absolute paths or
    # pii.keys.<name>.env.
    "pii": _PII_JOB,
    # The DataStream PII job it replaced, with the same properties: the baseline of bench pii-job.
    "pii-datastream": ("jobs.flink.pii_datastream_job", *_PII_JOB[1:]),
    # The time-series pattern: windows to DynamoDB, alerts, raw and late readings (jobs.flink.timeseries_config).
    # Its dead letters are masked with the generic PII policy, hence the PII libraries.
    "timeseries": _TIMESERIES_JOB,
    # The event-sourcing pattern: projections and branch totals to DynamoDB, derived events to a stream
    # (jobs.flink.eventsourcing_config).  Its dead letters are masked with the generic PII policy too.
    "eventsourcing": ("jobs.flink.eventsourcing_job", _TIMESERIES_JOB[1], {
        "input.stream": "account-events",
        "projection.table": "account-projections",
        "totals.table": "branch-totals",
        "derived.stream": "account-derived-events",
        "dead_letter.s3": "s3://my-bucket/dead-letters",
        "source.init.position": "TRIM_HORIZON",
        "es.gap_timeout_s": "300",
        "es.large_withdrawal": "10000",
    }),
}


class FlinkPackageError(RuntimeError):
    """The zip cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class PackageConfig:
    """Target runtime of the zip.  Every default is here."""

    python_version: str = "3.12"
    """CPython version of the Managed Flink runtime's Python workers (FLINK-2_2 runs 3.12)."""
    provided_by_runtime: str = "apache-flink"
    """Distribution whose dependency tree the runtime already has installed (not copied)."""


def build_managed_flink_zip(job: str, out: Path, *, jar: Path | None = None,
                            properties: Mapping[str, str] | None = None,
                            config: PackageConfig = PackageConfig()) -> Path:
    """Write the Managed Flink zip for ``job`` (a name in JOBS) to ``out`` and return ``out``.

    ``jar`` defaults to shardline's connector (built with Maven if missing); ``properties``
    replaces the example ``shardline`` property group.
    """
    if job not in JOBS:
        raise FlinkPackageError(f"unknown Flink job {job!r}; choose one of {sorted(JOBS)}")
    module, requirements, example = JOBS[job]
    if jar is None:
        from connectors.flink import build_connector_jar

        jar = build_connector_jar()
    if not jar.is_file():
        raise FlinkPackageError(f"connector jar {jar} does not exist; run `make setup`")
    vendored = vendored_distributions(requirements, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "main.py", _main_py(module).encode())
        _add(archive, f"lib/{jar.name}", jar.read_bytes())
        for name, path in shardline_files():
            _add(archive, f"dep/{name}", path.read_bytes())
        for name, path in _distribution_files(vendored, config):
            _add(archive, f"dep/{name}", path.read_bytes())
        _add(archive, "application_properties.json",
             json.dumps(example_properties(jar.name, properties or example), indent=2).encode() + b"\n")
    partial.replace(out)
    return out


def example_properties(jar_name: str, job_properties: Mapping[str, str]) -> list[dict[str, Any]]:
    """Runtime properties in the service's list-of-groups format (also what a local run reads)."""
    return [
        {"PropertyGroupId": RUN_OPTIONS_GROUP,
         "PropertyMap": {"python": "main.py", "jarfile": f"lib/{jar_name}", "pyFiles": "dep/"}},
        {"PropertyGroupId": "shardline", "PropertyMap": dict(job_properties)},
    ]


def _main_py(module: str) -> str:
    return (f'"""Managed Flink entry point (generated by jobs.packaging.flink): runs {module}.main()."""\n'
            f"from {module} import main\n\n"
            'if __name__ == "__main__":\n'
            "    main()\n")


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def shardline_files(packages: tuple[str, ...] = SHARDLINE_PACKAGES) -> Iterator[tuple[str, Path]]:
    for package in packages:
        # Code, and the data files the code reads (the PII pattern's built-in policies).
        for path in sorted([*(REPO_ROOT / package).rglob("*.py"), *(REPO_ROOT / package).rglob("*.yaml")]):
            relative = path.relative_to(REPO_ROOT)
            if "__pycache__" not in relative.parts and "flink_java" not in relative.parts:
                yield relative.as_posix(), path


# --- third-party packages ----------------------------------------------------

def _requirement_names(distribution: str) -> list[str]:
    """Names a distribution depends on, leaving out extras (``; extra == ...``)."""
    names = []
    for requirement in importlib.metadata.requires(distribution) or []:
        name, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
        if match:
            names.append(match.group(1))
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(roots: tuple[str, ...] | list[str]) -> set[str]:
    """Every installed distribution ``roots`` need, themselves included (canonical names)."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = _canonical(pending.pop())
        if name in seen:
            continue
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional or platform-specific dependency that is not installed here
        seen.add(name)
        pending.extend(_requirement_names(name))
    return seen


def vendored_distributions(requirements: tuple[str, ...], config: PackageConfig) -> list[str]:
    """The job's dependency tree minus what the runtime's apache-flink already installs."""
    provided = dependency_closure([config.provided_by_runtime])
    if not provided:
        raise FlinkPackageError(f"{config.provided_by_runtime} is not installed here; "
                                "pip install 'shardline[flink]' so packaging knows what the runtime provides")
    return sorted(dependency_closure(requirements) - provided)


def is_native(path: Path) -> bool:
    """A compiled extension: built for one interpreter and platform only."""
    return path.suffix in (".so", ".pyd")


def installed_files(name: str) -> list[tuple[str, Path]]:
    """An installed distribution's files as (path inside a zip, path here): code and data, no metadata or bytecode."""
    distribution = importlib.metadata.distribution(name)
    files = [f for f in distribution.files or []
             if not f.parts[0].endswith((".dist-info", ".egg-info")) and f.parts[0] != ".."
             and "__pycache__" not in f.parts and f.suffix != ".pyc"]
    return [(file.as_posix(), Path(distribution.locate_file(file))) for file in sorted(files, key=str)]


def _distribution_files(names: list[str], config: PackageConfig) -> Iterator[tuple[str, Path]]:
    native_ok = (sys.implementation.name == "cpython" and platform.system() == "Linux"
                 and platform.machine() == "x86_64"
                 and f"{sys.version_info[0]}.{sys.version_info[1]}" == config.python_version)
    for name in names:
        files = installed_files(name)
        if not native_ok and any(is_native(path) for _, path in files):
            raise FlinkPackageError(
                f"{name} has C extensions built for this interpreter, not for CPython {config.python_version} "
                f"on x86_64 Linux; package on a matching machine, or fetch the wheel with `pip download {name} "
                f"--only-binary=:all: --platform manylinux2014_x86_64 --python-version {config.python_version}`")
        yield from files
