"""The Lambda zip's contents: shardline's code, pure-Python dependencies, nothing the runtime has."""
import zipfile

import pytest

from jobs.packaging.lambda_zip import LambdaPackageConfig, LambdaPackageError, _pure_python_files, build_lambda_zip


def test_the_zip_holds_the_handlers_and_their_pure_python_dependencies_only(tmp_path):
    names = zipfile.ZipFile(build_lambda_zip(tmp_path / "a.zip")).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "scaling/deploy/handlers.py" in names and {"croniter", "yaml", "prometheus_client"} <= tops
    assert not tops & {"boto3", "botocore", "dateutil", "numpy", "jobs", "tests"}  # the runtime has boto3
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc"))]
    assert (tmp_path / "a.zip").read_bytes() == build_lambda_zip(tmp_path / "b.zip").read_bytes()  # reproducible


def test_a_dependency_that_needs_its_c_extension_stops_packaging_with_the_fix():
    with pytest.raises(LambdaPackageError, match=r"pip download cryptography .*--python-version 3\.12"):
        list(_pure_python_files(["cryptography"], LambdaPackageConfig()))
