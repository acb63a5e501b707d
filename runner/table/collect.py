"""Concatenate the job tables of a sweep directory into one: `python -m runner.collect SWEEP_DIR`.

Reads only what is on disk, so it works for any launcher, and for a sweep
that was killed half-way (jobs without a results.csv are counted, not lost).
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from runner.table.columns import COLUMNS

from runner.table.csvfile import RESULTS_FILE, TableError, read_rows, write_rows_atomic


@dataclass
class Collected:
    rows: List[Dict[str, str]]
    columns: List[str]
    path: Path
    jobs_with_results: int
    jobs_without_results: List[Path]

    @property
    def table(self):
        """The sweep table as a pandas DataFrame of strings (pandas is imported only when asked for)."""
        import pandas as pd
        return pd.DataFrame.from_records(self.rows, columns=self.columns).astype(str)


def _natural(path: Path):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def job_dirs(sweep_dir: Path) -> List[Path]:
    """Every job directory Hydra made under the sweep (it holds .hydra/), in job order."""
    dirs = {p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")}
    dirs |= {p.parent for p in sweep_dir.rglob(RESULTS_FILE) if p.parent != sweep_dir}
    return sorted((d for d in dirs if d != sweep_dir), key=lambda d: _natural(d.relative_to(sweep_dir)))


def collect(sweep_dir: Path) -> Collected:
    """Read every job's results.csv and write the concatenated table to SWEEP_DIR/results.csv."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise TableError(f"{sweep_dir}: not a directory")
    dirs = job_dirs(sweep_dir)
    columns, missing = [], []
    by_job: Dict[str, tuple] = {}  # job key -> (mtime, order, rows): one job's rows once, however often it ran
    for order, d in enumerate(dirs):
        if not (d / RESULTS_FILE).is_file():
            missing.append(d)
            continue
        header, rows = read_rows(d / RESULTS_FILE)  # csv, not pandas: a sweep process never imports it
        columns += [c for c in header if c not in columns]
        found_rows = [dict(zip(header, row)) for row in rows]
        key = found_rows[0].get("job", "") if found_rows else f"#{order}"
        mtime = (d / RESULTS_FILE).stat().st_mtime_ns
        if key not in by_job or mtime > by_job[key][0]:  # a sweep directory reused by another sweep: the newest
            by_job[key] = (mtime, order, found_rows)
    if not by_job:
        raise TableError(f"{sweep_dir}: no job results found (looked for */{RESULTS_FILE})")
    records = [r for _, _, rows in sorted(by_job.values(), key=lambda item: item[1]) for r in rows]
    found = len(by_job)
    ordered = [c for c in COLUMNS if c in columns] + [c for c in columns if c not in COLUMNS]
    records = [{c: r.get(c, "") for c in ordered} for r in records]  # a column some jobs lack: empty cells
    path = write_rows_atomic(records, sweep_dir / RESULTS_FILE, ordered)
    return Collected(records, ordered, path, found, missing)


def summary(c: Collected) -> str:
    status = {}
    for r in c.rows:  # one status per job (its first row)
        status.setdefault(r["job"], r.get("status", ""))
    counts = Counter(status.values())
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    text = f"sweep table: {c.path} ({len(c.rows)} rows, {c.jobs_with_results} jobs: {parts})"
    if c.jobs_without_results:
        text += f"; {len(c.jobs_without_results)} job directories have no results yet"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.collect", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra sweep directory (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    try:
        print(summary(collect(args.sweep_dir)))
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
