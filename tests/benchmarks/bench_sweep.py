"""Speed benchmark of tensorprobe sweeps (not a test: run it, read the table).

    python tests/benchmarks/bench_sweep.py                              # or: make bench
    python tests/benchmarks/bench_sweep.py --only pool --workers 4,8,16 --seeds 4   # on a many-core machine

Prints one row per target with the measured value, the target and whether it holds.
Each figure comes from real subprocess runs of `python -m runner` on this machine.
Sections: loop (sweep vs plain loop), pool (warm pool and joblib vs a forked pool of plain-loop workers),
overhead (per job), memory (long sweep), plan (10,000-job dry run), help, report.
"""
from __future__ import annotations

import argparse
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


def peak(cmd) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one command."""
    started = time.perf_counter()
    rss = max_rss_mb(cmd)
    return time.perf_counter() - started, rss


def plain(variants: str, exporters: str, seeds: int = 1, workers: int = 1) -> float:
    return wall([sys.executable, str(ROOT / "tests/benchmarks/plain_loop.py"), variants, exporters, str(seeds),
                 str(workers)])


def section_loop(tmp: Path, rows: list) -> float:
    """The generic sweep against a plain loop of the same PyTorch calls; this VM's timings wander by
    +-5 %, so each is run ROUNDS times, alternating, and the medians are compared."""
    t_sweeps, t_plains = [], []
    for i in range(ROUNDS):
        t_sweeps.append(sweep(tmp, f"generic{i}", f"variant={GENERIC}", f"export={EXPORTERS}")[0])
        t_plains.append(plain(GENERIC, EXPORTERS))
    t_sweep, t_plain = statistics.median(t_sweeps), statistics.median(t_plains)
    rows.append((f"generic x 4 exporters sweep (36 jobs), s, median of {ROUNDS}", f"{t_sweep:.2f}", "", ""))
    rows.append((f"same calls in a plain Python loop, s, median of {ROUNDS}", f"{t_plain:.2f}", "", ""))
    rows.append(("ratio sweep / plain loop", f"{t_sweep / t_plain:.2f}", "<= 1.15", t_sweep / t_plain <= 1.15))
    return t_sweep


def section_pool(tmp: Path, rows: list, workers: list, seeds: int) -> None:
    """The warm pool (hydra.launcher.n_jobs) and joblib against the same jobs in a pool of plain-loop
    workers forked after warming up: the ceiling of any pool here."""
    jobs = 9 * 4 * seeds
    seed_arg = f"seed=range(0,{seeds})"
    t_in, d_in = sweep(tmp, "pool_in", f"variant={GENERIC}", f"export={EXPORTERS}", seed_arg)
    t_plain = plain(GENERIC, EXPORTERS, seeds)
    rows.append((f"{jobs} jobs in-process, s", f"{t_in:.2f}", "", ""))
    rows.append((f"{jobs} jobs, plain loop, s", f"{t_plain:.2f}", "", ""))
    for n in workers:
        t_pool, d_pool = sweep(tmp, f"pool{n}", f"variant={GENERIC}", f"export={EXPORTERS}", seed_arg,
                               f"hydra.launcher.n_jobs={n}")
        same = subprocess.run([sys.executable, "-m", "runner.compare", str(d_in), str(d_pool)], cwd=ROOT,
                              capture_output=True).returncode == 0
        t_ceiling = plain(GENERIC, EXPORTERS, seeds, n)
        t_joblib, _ = sweep(tmp, f"joblib{n}", f"variant={GENERIC}", f"export={EXPORTERS}", seed_arg,
                            "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n}")
        rows.append((f"n_jobs={n}: warm pool, s (speed-up vs in-process)", f"{t_pool:.2f}",
                     f"{t_in / t_pool:.2f}x", "same table" if same else "TABLE DIFFERS"))
        rows.append((f"n_jobs={n}: plain-loop workers forked warm, s (speed-up)", f"{t_ceiling:.2f}",
                     f"{t_in / t_ceiling:.2f}x", ""))
        rows.append((f"n_jobs={n}: warm pool / forked plain-loop pool", f"{t_pool / t_ceiling:.2f}", "<= 1.15",
                     t_pool / t_ceiling <= 1.15))
        rows.append((f"n_jobs={n}: joblib (loky), s (speed-up)", f"{t_joblib:.2f}", f"{t_in / t_joblib:.2f}x", ""))


def section_overhead(tmp: Path, rows: list) -> None:
    """Per-job overhead on export=none jobs: (T(101 jobs) - T(1 job) - extra job time) / 100."""
    overheads = []
    for i in range(ROUNDS):
        t1, d1 = sweep(tmp, f"one{i}", "variant=parameter", "seed=0")
        t101, d101 = sweep(tmp, f"many{i}", "variant=parameter", "seed=range(0,101)")
        overheads.append((t101 - t1 - (job_seconds(d101) - job_seconds(d1))) / 100)
    overhead = statistics.median(overheads)
    rows.append((f"runner overhead per export=none job, ms, median of {ROUNDS}", f"{overhead * 1000:.1f}", "<= 30",
                 overhead <= 0.030))


def section_memory(tmp: Path, rows: list) -> None:
    """Memory flat over a long sweep: 201 jobs against 21 in one process."""
    base = [sys.executable, "-m", "runner", "-m", "variant=parameter", "export=none,torch_export,onnx_legacy",
            "hydra.callbacks.sweep_table.report=false"]
    rss20 = max_rss_mb(base + ["seed=range(0,7)", f"hydra.sweep.dir={tmp / 'rss20'}"])
    rss200 = max_rss_mb(base + ["seed=range(0,67)", f"hydra.sweep.dir={tmp / 'rss200'}"])
    rows.append(("max RSS after 21 jobs, MB", f"{rss20:.0f}", "", ""))
    rows.append(("max RSS after 201 jobs, MB", f"{rss200:.0f}", "", ""))
    rows.append(("RSS growth 21 -> 201 jobs, MB", f"{rss200 - rss20:.0f}", "<= 150", rss200 - rss20 <= 150))


def section_plan(tmp: Path, rows: list) -> None:
    """Planning scales: a dry run of 10,000 trivial jobs (composed, named, validated; rows counted)."""
    t, rss = peak([sys.executable, "-m", "runner", "-m", "variant=parameter", "seed=range(0,10000)", "dry_run=true",
                   f"hydra.sweep.dir={tmp / 'plan'}"])
    rows.append(("dry run of 10,000 jobs, s", f"{t:.1f}", "<= 15", t <= 15))
    rows.append(("dry run of 10,000 jobs, peak RSS MB", f"{rss:.0f}", "<= 400", rss <= 400))


def section_help(tmp: Path, rows: list) -> None:
    t_help = min(wall([sys.executable, "-m", "runner", "--help"]) for _ in range(5))
    rows.append(("python -m runner --help (best of 5), s", f"{t_help:.2f}", "<= 1.5", t_help <= 1.5))


def section_report(tmp: Path, rows: list) -> None:
    """The report of the seeds preset's sweep, as a whole process (tests/benchmarks/bench_report.py)."""
    seeds = bench_report.seeds_sweep(tmp / "seeds")
    if seeds is None:
        rows.append(("python -m runner.report <seeds sweep>, s", "n/a", "<= 2", "the seeds sweep failed"))
        return
    t_report = bench_report.report_seconds(seeds)
    rows.append((f"python -m runner.report <seeds sweep>, s, median of {bench_report.ROUNDS}",
                 f"{t_report:.2f}", "<= 2", t_report <= bench_report.TARGET_S))


SECTIONS = ["loop", "pool", "overhead", "memory", "plan", "help", "report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--workers", default=str(min(os.cpu_count() or 2, 8)),
                        help="worker counts of the pool section, comma-separated (default: cores, at most 8)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per job in the pool section (144 jobs: 4)")
    args = parser.parse_args()
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.only or SECTIONS:
            if name == "pool":
                section_pool(tmp, rows, [int(n) for n in args.workers.split(",")], args.seeds)
            else:
                globals()[f"section_{name}"](tmp, rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  {'target':>8}  ok")
    for name, value, target, ok in rows:
        verdict = ok if isinstance(ok, str) else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:>8}  {target:>8}  {verdict}")


if __name__ == "__main__":
    main()
