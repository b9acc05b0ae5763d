"""The wheel works outside the repository: built, installed in a clean venv, run from another folder.

What a user gets from ``pip install shardline[flink]`` must carry its data (the
PII policies, the connector's Java sources, the deploy templates) and must not
write into site-packages: state goes to ``SHARDLINE_HOME`` (here a temporary
folder; the user's cache by default).
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD = ('{"id":"r","type":"t","source":"s","event_time":1,"partition_key":"k",'
          '"payload":{"ssn":"536-22-1234","email":"jo@example.com"}}')


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", REPO_ROOT, "--no-deps", "--no-build-isolation", "-q",
        "-w", work / "dist")
    [wheel] = (work / "dist").glob("shardline-*.whl")
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", work / "venv")
    run(work / "venv" / "bin" / "python", "-m", "pip", "install", "-q", f"{wheel}[flink]")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SHARDLINE_HOME=str(work / "state"), SHARDLINE_PII_HMAC_KEY="5a" * 32, SHARDLINE_PII_FPE_KEY="c3" * 16,
               PATH=f"{work / 'venv' / 'bin'}:{env['PATH']}")
    (work / "elsewhere").mkdir()
    return work, env, wheel


def shardline(installed, *args, **kwargs):
    work, env, _ = installed
    return run(work / "venv" / "bin" / "shardline", *args, cwd=work / "elsewhere", env=env, **kwargs)


def test_the_wheel_carries_its_data(installed):
    names = set(zipfile.ZipFile(installed[2]).namelist())
    assert {"pipelines/pii/policies/payments.yaml", "connectors/flink_java/pom.xml",
            "scaling/deploy/template.yaml", "scaling/deploy/iam_policy.json"} <= names
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)


def test_pii_mask_runs_from_the_installed_package(installed):
    masked = shardline(installed, "pii", "mask", "--policy", "payments", input=RECORD + "\n").stdout
    assert masked.startswith('{"id":"r"') and "536-22-1234" not in masked and "jo@example.com" not in masked


def test_scale_simulate_runs_from_the_installed_package(installed):
    out = shardline(installed, "scale", "simulate", "--trace", "step", "--json").stdout
    assert '"oracle"' in out


def test_package_flink_builds_the_jar_in_the_users_state_folder_not_site_packages(installed):
    work, _, _ = installed
    shardline(installed, "package", "flink", "--job", "pii", "--out", work / "pii.zip")
    names = zipfile.ZipFile(work / "pii.zip").namelist()
    assert "main.py" in names and any(name.startswith("lib/shardline-flink-kinesis-") for name in names)
    assert "dep/pipelines/pii/policies/payments.yaml" in names
    assert list((work / "state" / "jars").glob("shardline-flink-kinesis-*.jar"))
    site = next((work / "venv" / "lib").glob("python3*/site-packages"))
    assert not (site / ".shardline").exists() and not (site / "connectors" / "flink_java" / "target").exists()
