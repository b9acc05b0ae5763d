"""The Managed Flink zip: layout, run options, vendored packages, and that its code imports from the zip."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from jobs.packaging.flink import (RUN_OPTIONS_GROUP, FlinkPackageError, PackageConfig, _distribution_files,
                                build_managed_flink_zip, vendored_distributions)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    work = tmp_path_factory.mktemp("package")
    jar = work / "shardline-flink-kinesis-0.1.0.jar"
    jar.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty jar stands in: Maven is not run in unit tests
    out = build_managed_flink_zip("passthrough", work / "out" / "passthrough.zip", jar=jar)
    return work, out, zipfile.ZipFile(out)


def test_zip_has_main_py_at_the_root_and_exactly_one_jar_in_lib(package):
    _, _, archive = package
    names = archive.namelist()
    assert "main.py" in names
    assert [n for n in names if n.startswith("lib/")] == ["lib/shardline-flink-kinesis-0.1.0.jar"]
    assert "from jobs.flink.pipeline_sql_job import main" in archive.read("main.py").decode()


def test_run_options_point_at_the_files_in_the_zip(package):
    _, _, archive = package
    groups = {g["PropertyGroupId"]: g["PropertyMap"] for g in json.loads(archive.read("application_properties.json"))}
    options = groups[RUN_OPTIONS_GROUP]
    assert options == {"python": "main.py", "jarfile": "lib/shardline-flink-kinesis-0.1.0.jar", "pyFiles": "dep/"}
    names = set(archive.namelist())
    assert options["python"] in names and options["jarfile"] in names
    assert groups["shardline"]["input.stream"]


def test_dep_holds_shardline_and_what_the_runtime_lacks_but_not_what_it_has(package):
    _, _, archive = package
    names = set(archive.namelist())
    for module in ("dep/pipelines/records.py", "dep/connectors/flink.py", "dep/connectors/aws.py",
                   "dep/jobs/local/runner.py", "dep/jobs/flink/pipeline_sql_job.py", "dep/boto3/__init__.py",
                   "dep/botocore/__init__.py"):
        assert module in names, module
    # apache-flink already depends on these, so Managed Flink has them.
    assert not any(n.startswith(("dep/fastavro/", "dep/pyflink/", "dep/dateutil/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "flink_java" in n for n in names)


def test_job_module_imports_from_the_unpacked_zip(package):
    work, out, archive = package
    unpacked = work / "unpacked"
    archive.extractall(unpacked)
    # dep/ goes first on the path, as pyFiles puts it there on Managed Flink.
    code = "import sys; sys.path.insert(0, 'dep'); import jobs.flink.pipeline_sql_job as m, boto3; " \
           "print(m.__file__); print(boto3.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(line.startswith(str(unpacked / "dep")) for line in result.stdout.split())


def test_same_inputs_give_the_same_zip(package, tmp_path):
    jar = package[0] / "shardline-flink-kinesis-0.1.0.jar"
    first = build_managed_flink_zip("passthrough", tmp_path / "first.zip", jar=jar)
    second = build_managed_flink_zip("passthrough", tmp_path / "second.zip", jar=jar)
    assert first.read_bytes() == second.read_bytes()


def test_unknown_job_and_missing_jar_are_refused(tmp_path):
    with pytest.raises(FlinkPackageError, match="unknown Flink job"):
        build_managed_flink_zip("nope", tmp_path / "x.zip", jar=tmp_path / "x.jar")
    with pytest.raises(FlinkPackageError, match="does not exist"):
        build_managed_flink_zip("passthrough", tmp_path / "x.zip", jar=tmp_path / "missing.jar")


def test_native_packages_need_a_matching_interpreter():
    # fastavro has C extensions; pretend the runtime provides nothing, on another Python version.
    config = PackageConfig(python_version="3.99", provided_by_runtime="py4j")
    assert "fastavro" in vendored_distributions(("fastavro",), config)
    with pytest.raises(FlinkPackageError, match="C extensions"):
        list(_distribution_files(["fastavro"], config))


def test_the_pii_job_ships_its_policies_and_the_detectors_libraries():
    from jobs.packaging.flink import JOBS, shardline_files

    names = {name for name, _ in shardline_files()}
    assert {"pipelines/pii/policies/payments.yaml", "pipelines/pii/policies/generic.yaml",
            "jobs/flink/pii_job.py", "pipelines/pii/pipeline.py"} <= names
    module, requirements, _ = JOBS["pii"]
    assert module == "jobs.flink.pii_job"
    assert {"phonenumbers", "python-stdnum", "cryptography"} <= set(vendored_distributions(requirements, PackageConfig()))


@pytest.mark.parametrize("job", ["pipeline", "pii", "timeseries"])
def test_a_sql_path_zip_runs_its_job_module_from_the_unpacked_zip(package, tmp_path, job):
    from jobs.packaging.flink import JOBS

    out = build_managed_flink_zip(job, tmp_path / f"{job}.zip", jar=package[0] / "shardline-flink-kinesis-0.1.0.jar")
    zipfile.ZipFile(out).extractall(tmp_path / "unpacked")
    module = JOBS[job][0]
    assert f"from {module} import main" in (tmp_path / "unpacked" / "main.py").read_text()
    code = f"import sys; sys.path.insert(0, 'dep'); import {module} as m, jobs.flink.sql_job as s; " \
           "print(m.__file__); print(s.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "unpacked", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(line.startswith(str(tmp_path / "unpacked" / "dep")) for line in result.stdout.split())
