"""scaling/'s pure modules reach no AWS SDK and read no wall clock (STYLE items 1 and 7)."""
import ast
from pathlib import Path

import scaling

ROOT = Path(scaling.__file__).parent
# The backends (kinesisanalyticsv2, Flink REST) will live beside these and may use the SDK;
# the signals -> policy -> decision core and the simulator may not.
PURE = sorted(
    [ROOT / n for n in ("decision.py", "signals.py", "errors.py")]
    + list((ROOT / "policies").rglob("*.py"))
    + list((ROOT / "evaluation").rglob("*.py"))
)
BANNED_MODULES = ("boto3", "botocore", "aiobotocore", "connectors", "jobs")
BANNED_CALLS = {("time", "time"), ("time", "monotonic"), ("datetime", "now"), ("datetime", "utcnow")}


def test_there_is_something_to_check():
    assert {"signals.py", "simulate.py", "oracle.py", "ds2.py"} <= {p.name for p in PURE}


def test_no_sdk_imports_and_no_wall_clock():
    problems = []
    for path in PURE:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            problems += [f"{path.name}: imports {n}" for n in names if n.split(".")[0] in BANNED_MODULES]
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in BANNED_CALLS:
                    problems.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert problems == []
