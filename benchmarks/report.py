"""Where every benchmark leaves its results: ``<name>.json`` and ``<name>.png`` under ``benchmarks/results``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(result: dict, out_dir: Path | None, name: str,
                  plot: Callable[[dict, Path], None] | None = None) -> None:
    """Write ``<name>.json`` into ``out_dir`` (nothing when it is None) and, given ``plot``, ``<name>.png`` by it."""
    if out_dir is None:
        return
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if plot is not None:
        plot(result, out_dir / f"{name}.png")
