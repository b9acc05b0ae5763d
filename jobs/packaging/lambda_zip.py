"""The autoscaler's Lambda package: the zip ``scaling/deploy/template.yaml`` loads from CodeBucket/CodeKey.

Layout (a Lambda zip puts its root on ``sys.path``)::

    scaling/ pipelines/ connectors/   shardline's code (the handlers are scaling.deploy.handlers.*)
    croniter/ yaml/ prometheus_client/ ...
                                      third-party packages the handlers import that the Lambda
                                      Python runtime does not already have (it has boto3)

Packages come from this environment's installed files, as for the Flink zip
(``jobs.packaging.flink``).  C extensions are never copied: the runtime's CPython and
architecture are rarely this interpreter's.  A package that only *accelerates* itself with one
(PyYAML's libyaml binding) travels as its pure-Python part; any other stops packaging with the
``pip download`` line that fetches the right wheel.  Same inputs, same zip bytes.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from jobs.packaging.flink import (
    FlinkPackageError, _add, _canonical, dependency_closure, installed_files, is_native, shardline_files,
)

HANDLER_REQUIREMENTS = ("croniter", "pyyaml", "prometheus-client")
"""What scaling.deploy.handlers imports beyond the standard library and boto3 (see the layout test)."""


class LambdaPackageError(FlinkPackageError):
    """The Lambda zip cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class LambdaPackageConfig:
    """Target runtime of the zip.  Every default is here."""

    python_version: str = "3.12"
    """The template's Lambda runtime (python3.12)."""
    provided_by_runtime: str = "boto3"
    """Distribution whose dependency tree every Lambda Python runtime has installed (not copied)."""
    native_optional: frozenset[str] = frozenset({"pyyaml"})
    """Distributions whose C extension is an optional speed-up: copied without it."""
    packages: tuple[str, ...] = ("scaling", "pipelines", "connectors")
    """shardline packages the handlers need (scaling imports the other two)."""


def build_lambda_zip(out: Path, config: LambdaPackageConfig = LambdaPackageConfig()) -> Path:
    """Write the autoscaler's Lambda zip to ``out`` and return ``out``."""
    provided = dependency_closure([config.provided_by_runtime])
    if not provided:
        raise LambdaPackageError(f"{config.provided_by_runtime} is not installed here, so packaging cannot tell "
                                 "what the Lambda runtime provides; pip install boto3")
    vendored = sorted(dependency_closure(HANDLER_REQUIREMENTS) - provided)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in shardline_files(config.packages):
            _add(archive, name, path.read_bytes())
        for name, path in _pure_python_files(vendored, config):
            _add(archive, name, path.read_bytes())
    partial.replace(out)
    return out


def _pure_python_files(names: list[str], config: LambdaPackageConfig) -> Iterator[tuple[str, Path]]:
    for name in names:
        files = installed_files(name)
        if any(is_native(path) for _, path in files) and _canonical(name) not in config.native_optional:
            raise LambdaPackageError(
                f"{name} has C extensions built for this interpreter, not for the Lambda runtime (CPython "
                f"{config.python_version}); fetch its wheel with `pip download {name} --only-binary=:all: "
                f"--platform manylinux2014_x86_64 --python-version {config.python_version}` and add it to the zip")
        yield from ((relative, path) for relative, path in files if not is_native(path))
