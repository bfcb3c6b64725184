"""The benchmark suite runs end to end at its smallest scale and prints its table (no speed is asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
STAGES = ("1 Parse", "2 Store", "3 End to end", "4 Search", "5 Imports")


def test_smoke_run_prints_every_stage(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Stage | Measure | Figure | Baseline (same run) | Ratio | Target | Met |"
    assert {row.split(" | ")[0].removeprefix("| ") for row in rows[2:]} == set(STAGES)
    assert all(row.count(" | ") == 6 for row in rows)
