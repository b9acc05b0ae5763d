"""`shardline bench pii-before-after`: the committed masker against the working tree's, same payloads, one run.

Shape and bookkeeping only; speed is the benchmark's business, not the test's.
"""
import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.pii import before_after
from jobs.cli import app


def worktrees() -> str:
    return subprocess.run(["git", "-C", str(before_after.ROOT), "worktree", "list", "--porcelain"],
                          capture_output=True, text=True, check=True).stdout


def test_both_sides_mask_the_same_records_each_from_its_own_tree(tmp_path):
    result = before_after.run("HEAD", records=200, rounds=1, out_dir=tmp_path, plot=False)

    assert json.loads((tmp_path / "pii_before_after.json").read_text()) == result
    assert set(result["mixes"]) == {"evaluation", "typical", "notes_only"}
    for mix in result["mixes"].values():
        assert mix["before"]["records"] == mix["after"]["records"] == 200
        assert len(mix["before"]["runs"]) == len(mix["after"]["runs"]) == 1
        assert mix["ratio"] > 0 and isinstance(mix["within_5pct"], bool)
    assert isinstance(result["within_5pct"], bool) and isinstance(result["after"]["dirty"], bool)
    assert len(result["before"]["commit"]) == len(result["after"]["commit"]) == 40

    worktree = Path(result["before"]["worktree"])
    assert Path(result["before"]["pipelines_file"]).is_relative_to(worktree)
    assert Path(result["after"]["pipelines_file"]).is_relative_to(before_after.ROOT)
    assert not worktree.exists() and str(worktree) not in worktrees()


def test_the_worktree_is_removed_when_a_round_fails(tmp_path, monkeypatch):
    seen = []

    def failing(tree, records_path):
        seen.append(tree)
        raise RuntimeError("worker failed")

    monkeypatch.setattr(before_after, "measure_side", failing)
    try:
        before_after.run("HEAD", records=5, rounds=1, out_dir=tmp_path, plot=False)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failure was swallowed")
    assert seen and not seen[0].exists() and str(seen[0]) not in worktrees()


def test_the_cli_reports_the_medians_and_the_verdict(tmp_path, monkeypatch):
    fake = {"within_5pct": True, "before": {"commit": "a" * 40}, "after": {"commit": "b" * 40, "dirty": True},
            "mixes": {"evaluation": {"before": {"records_per_s_median": 100.0},
                                     "after": {"records_per_s_median": 98.0}, "ratio": 0.98,
                                     "within_5pct": True, "same_output": False}}}
    calls = []
    monkeypatch.setattr(before_after, "run", lambda *args, **kw: calls.append((args, kw)) or fake)

    out = CliRunner().invoke(app, ["bench", "pii-before-after", "--baseline", "HEAD~1", "--records", "10",
                                   "--rounds", "2", "--out-dir", str(tmp_path)])

    assert out.exit_code == 0, out.output
    assert calls == [(("HEAD~1", 10, 2), {"out_dir": tmp_path})]
    assert json.loads(out.stdout)["mixes"]["evaluation"]["ratio"] == 0.98
