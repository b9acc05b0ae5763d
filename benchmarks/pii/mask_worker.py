"""One side of ``benchmarks.pii.before_after``: mask the given payloads with whichever ``pipelines`` is importable.

    PYTHONPATH=<tree> python <this file>  < spec.json  > result.json

The spec (stdin) names a JSONL file of ``{"mix": ..., "payload": ...}`` lines, the policy and its key
environment.  Run by path rather than ``-m``: the baseline worktree has no copy of this file, and the
``pipelines`` it measures must come from PYTHONPATH (that side's tree), so this imports nothing from
``benchmarks`` and the timing loop is the same on both sides.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time


def measure(spec: dict) -> dict:
    import pipelines
    from pipelines.pii import Masker, builtin_policy

    mixes: dict[str, list[dict]] = {}
    with open(spec["records"]) as f:
        for line in f:
            row = json.loads(line)
            mixes.setdefault(row["mix"], []).append(row["payload"])
    masker = Masker(builtin_policy(spec["policy"], environ=spec["environ"]))
    out: dict = {"pipelines_file": pipelines.__file__, "mixes": {}}
    for mix, payloads in mixes.items():
        # Untimed pass: warms caches and lazily built ciphers, and fingerprints the output so a change in
        # what gets masked shows next to a change in speed.
        digest, masked = hashlib.sha256(), 0
        for p in payloads:
            result = masker.mask(p)
            masked += sum(result.counts.values())
            digest.update(json.dumps(result.payload, sort_keys=True, default=str).encode())
        # Same measure as throughput.records_per_cpu_second: records per CPU-second of this process.
        start = time.process_time()
        for p in payloads:
            masker.mask(p)
        cpu = max(time.process_time() - start, 1e-9)
        out["mixes"][mix] = {"records": len(payloads), "records_per_s": round(len(payloads) / cpu, 1),
                             "values_masked": masked, "output_sha256": digest.hexdigest()[:16]}
    return out


if __name__ == "__main__":
    json.dump(measure(json.load(sys.stdin)), sys.stdout)
