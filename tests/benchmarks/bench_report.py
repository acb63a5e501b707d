"""Speed of `python -m runner.report SWEEP_DIR` on the seeds preset's sweep, as a whole process (not a test).

    python tests/benchmarks/bench_report.py [SWEEP_DIR]   # also row 6 of bench_sweep.py (make bench)

Without SWEEP_DIR, runs `python -m runner -m +experiment=seeds` once (report off) into a temporary directory.
Prints the median wall time of ROUNDS report runs; the target is 2 s.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
ROUNDS = 5
TARGET_S = 2.0


def report_seconds(sweep_dir: Path, rounds: int = ROUNDS) -> float:
    """Median wall time of `python -m runner.report sweep_dir`, each a fresh interpreter."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "runner.report", str(sweep_dir)], cwd=ROOT, env=ENV,
                             capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if out.returncode != 0:
            raise RuntimeError(f"python -m runner.report failed: {out.stderr[-1000:]}")
    return statistics.median(times)


def seeds_sweep(target: Path) -> Optional[Path]:
    """The seeds preset's sweep (no report), or None when it does not run here."""
    out = subprocess.run([sys.executable, "-m", "runner", "-m", "+experiment=seeds", f"hydra.sweep.dir={target}",
                          "hydra.callbacks.sweep_table.report=false"], cwd=ROOT, env=ENV, capture_output=True,
                         text=True)
    return target if out.returncode == 0 and (target / "results.csv").is_file() else None


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(argv[0]) if argv else seeds_sweep(Path(tmp) / "seeds")
        if sweep is None:
            sys.exit("the seeds preset's sweep failed: nothing to report on")
        seconds = report_seconds(sweep)
    print(f"python -m runner.report <seeds sweep>, s, median of {ROUNDS}: {seconds:.2f} "
          f"(target <= {TARGET_S}: {'yes' if seconds <= TARGET_S else 'NO'})")


if __name__ == "__main__":
    main()
