"""Speed benchmark of tensorprobe sweeps (not a test: run it, read the table).

    python tests/benchmarks/bench_sweep.py            # or: make bench

Prints one row per target with the measured value, the target and whether it holds.
Each figure comes from real subprocess runs of `python -m runner` on this machine.
"""
from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_report  # noqa: E402  (the report's own benchmark, next to this file)
GENERIC = "tensor,tensor_requires_grad,parameter,parameter_frozen,register_parameter,buffer,buffer_nonpersistent," \
          "int_buffer,unused_parameter"
EXPORTERS = "none,torch_export,onnx_dynamo,onnx_legacy"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
ROUNDS = 3


def wall(cmd) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return time.perf_counter() - started


def sweep(tmp: Path, name: str, *args: str) -> tuple[float, Path]:
    d = tmp / name
    t = wall([sys.executable, "-m", "runner", "-m", *args, f"hydra.sweep.dir={d}",
              "hydra.callbacks.sweep_table.report=false"])
    return t, d


def job_seconds(sweep_dir: Path) -> float:
    with (sweep_dir / "results.csv").open() as f:
        rows = {r["job"]: float(r["job_seconds"] or 0) for r in csv.DictReader(f)}
    return sum(rows.values())


def max_rss_mb(cmd) -> float:
    """Peak resident memory of one command, measured in a fresh helper process (ru_maxrss is per parent)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True);"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip()) / 1024  # KiB on Linux


def plain_in_two_processes(variants: str, exporters: str) -> float:
    """The plain loop split over two processes started together: the most two workers can gain here."""
    names = variants.split(",")
    halves = [",".join(names[: (len(names) + 1) // 2]), ",".join(names[(len(names) + 1) // 2:])]
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests/benchmarks/plain_loop.py"), h, exporters],
                              cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for h in halves]
    if any(p.wait() != 0 for p in procs):
        sys.exit("benchmark command failed: plain_loop.py in two processes")
    return time.perf_counter() - started


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # 1. the generic sweep against a plain loop of the same PyTorch calls; this VM's timings wander
        #    by +-5 %, so each is run ROUNDS times, alternating, and the medians are compared
        t_sweeps, t_plains = [], []
        for i in range(ROUNDS):
            t_sweeps.append(sweep(tmp, f"generic{i}", f"variant={GENERIC}", f"export={EXPORTERS}")[0])
            t_plains.append(wall([sys.executable, str(ROOT / "tests/benchmarks/plain_loop.py"), GENERIC, EXPORTERS]))
        t_sweep, t_plain = statistics.median(t_sweeps), statistics.median(t_plains)
        rows.append((f"generic x 4 exporters sweep (36 jobs), s, median of {ROUNDS}", f"{t_sweep:.2f}", "", ""))
        rows.append((f"same calls in a plain Python loop, s, median of {ROUNDS}", f"{t_plain:.2f}", "", ""))
        rows.append(("ratio sweep / plain loop", f"{t_sweep / t_plain:.2f}", "<= 1.15", t_sweep / t_plain <= 1.15))
        # 2. joblib with 2 workers
        t_joblib, _ = sweep(tmp, "joblib", f"variant={GENERIC}", f"export={EXPORTERS}", "hydra/launcher=joblib",
                            "hydra.launcher.n_jobs=2")
        rows.append(("same sweep, hydra/launcher=joblib n_jobs=2, s", f"{t_joblib:.2f}", "", ""))
        rows.append(("joblib speed-up", f"{t_sweep / t_joblib:.2f}x", ">= 1.6x", t_sweep / t_joblib >= 1.6))
        t_split = plain_in_two_processes(GENERIC, EXPORTERS)
        rows.append(("ceiling: plain loop split over 2 processes, speed-up", f"{t_plain / t_split:.2f}x", "", ""))
        # 3. per-job overhead on export=none jobs: (T(101 jobs) - T(1 job) - extra job time) / 100
        overheads = []
        for i in range(ROUNDS):
            t1, d1 = sweep(tmp, f"one{i}", "variant=parameter", "seed=0")
            t101, d101 = sweep(tmp, f"many{i}", "variant=parameter", "seed=range(0,101)")
            overheads.append((t101 - t1 - (job_seconds(d101) - job_seconds(d1))) / 100)
        overhead = statistics.median(overheads)
        rows.append((f"runner overhead per export=none job, ms, median of {ROUNDS}", f"{overhead * 1000:.1f}", "<= 30", overhead <= 0.030))
        # 4. memory: 200 jobs against 20 in one process
        base = [sys.executable, "-m", "runner", "-m", "variant=parameter", "export=none,torch_export,onnx_legacy",
                "hydra.callbacks.sweep_table.report=false"]
        rss20 = max_rss_mb(base + ["seed=range(0,7)", f"hydra.sweep.dir={tmp / 'rss20'}"])
        rss200 = max_rss_mb(base + ["seed=range(0,67)", f"hydra.sweep.dir={tmp / 'rss200'}"])
        rows.append(("max RSS after 21 jobs, MB", f"{rss20:.0f}", "", ""))
        rows.append(("max RSS after 201 jobs, MB", f"{rss200:.0f}", "", ""))
        rows.append(("RSS growth 21 -> 201 jobs, MB", f"{rss200 - rss20:.0f}", "<= 150", rss200 - rss20 <= 150))
        # 5. --help
        t_help = min(wall([sys.executable, "-m", "runner", "--help"]) for _ in range(5))
        rows.append(("python -m runner --help (best of 5), s", f"{t_help:.2f}", "<= 1.5", t_help <= 1.5))
        # 6. the report of the seeds preset's sweep, as a whole process (tests/benchmarks/bench_report.py)
        seeds = bench_report.seeds_sweep(tmp / "seeds")
        if seeds is None:
            rows.append(("python -m runner.report <seeds sweep>, s", "n/a", "<= 2", "the seeds sweep failed"))
        else:
            t_report = bench_report.report_seconds(seeds)
            rows.append((f"python -m runner.report <seeds sweep>, s, median of {bench_report.ROUNDS}",
                         f"{t_report:.2f}", "<= 2", t_report <= bench_report.TARGET_S))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  {'target':>8}  ok")
    for name, value, target, ok in rows:
        verdict = ok if isinstance(ok, str) else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:>8}  {target:>8}  {verdict}")


if __name__ == "__main__":
    main()
