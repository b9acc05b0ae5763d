"""`make demo`'s job end to end, briefly: an unbounded PII job started as the demo starts it, fed at a steady
rate, every record in S3 masked.  (The SQL-path job once returned as soon as it was submitted, taking its
local cluster with it: only a run like this one shows that.)"""
from __future__ import annotations

import shutil

import pytest

from benchmarks.demo import run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300),
              pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java 11+")]


def test_the_demo_s_pii_job_masks_every_record_it_is_fed():
    summary = run_demo(rate=200, seconds=5, job="pii")
    assert summary["ok"], summary["report"]
    assert summary["written"] == summary["produced"] == 1_000
    assert summary["pii_values_left"] == 0 and summary["pii_values_checked"] > 0
    assert summary["latency_p99_ms"] is not None
    assert "S3 objects written at each 5 s checkpoint" in summary["report"]
