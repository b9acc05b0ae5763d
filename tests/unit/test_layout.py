"""The dependency rule from DESIGN.md, enforced by walking the imports."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_PIPELINES = {"connectors", "jobs", "scaling", "boto3", "botocore", "aiobotocore", "pyflink",
                          "amazon_kclpy", "av"}


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_pipelines_import_no_io_layers(path):
    assert not set(imported_modules(path)) & FORBIDDEN_IN_PIPELINES


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_pipelines_take_time_from_a_clock(path):
    if path.name == "clock.py":
        return
    source = path.read_text()
    assert "time.time()" not in source and "time.monotonic()" not in source
