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


# --- the module graph: no cycles, and every package imports only what DESIGN.md lets it ---------------------

PACKAGES = ("pipelines", "connectors", "jobs", "scaling", "benchmarks")
ALLOWED = {
    "pipelines": {"pipelines"},
    "connectors": {"connectors", "pipelines"},
    "jobs": {"jobs", "connectors", "pipelines", "scaling", "benchmarks"},
    "scaling": {"scaling", "pipelines.clock", "connectors.aws"},
    "benchmarks": {"benchmarks", "connectors", "pipelines", "scaling"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _runtime_imports(tree: ast.AST):
    """Every module named by an import that runs (function-level ones too; ``if TYPE_CHECKING:`` ones not)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _ours(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def module_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = {_ours(imported) for imported in _runtime_imports(ast.parse(path.read_text()))}
        graph[name] = {t for t in targets if t and t != name and not name.startswith(f"{t}.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_even_through_others():
    assert cycles(module_graph()) == []


def test_each_package_imports_only_what_the_dependency_rule_allows():
    broken = []
    for name, targets in module_graph().items():
        allowed = ALLOWED[name.split(".")[0]]
        broken += [f"{name} -> {t}" for t in targets
                   if not any(t == a or t.startswith(f"{a}.") for a in allowed)]
    assert broken == []


def test_the_autoscalers_runtime_never_imports_its_evaluation():
    """signals -> policy -> decision -> backend run in production; the simulator and its baselines judge them."""
    leaks = [f"{name} -> {target}" for name, targets in module_graph().items()
             if name.startswith("scaling.") and not name.startswith("scaling.evaluation")
             for target in targets if target.startswith("scaling.evaluation")]
    assert leaks == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
