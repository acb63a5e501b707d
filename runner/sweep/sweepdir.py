"""One sweep per sweep directory: a reused `hydra.sweep.dir` resumes the same sweep, never mixes two.

The sweeper writes `sweep.json` (each job's number, directory and key) into the sweep directory before
any job runs. Run again with the same jobs, the sweep resumes; with other jobs, it is refused before
anything runs or is overwritten (one line naming the directory and the first job that differs, exit 2),
so the sweep table and its report always hold one sweep's jobs. A directory written before this file
existed is checked against the job keys its results.csv files hold.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from runner.errors import ConfigError

MANIFEST = "sweep.json"


def _recorded(sweep_dir: Path) -> Optional[Dict[str, str]]:
    """job directory (relative) -> key, as the sweep that used this directory planned it; None if unknown."""
    try:
        data = json.loads((sweep_dir / MANIFEST).read_text())
        return {str(j["dir"]): str(j["key"]) for j in data["jobs"]}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("hydra.sweep.dir", f"{sweep_dir / MANIFEST} is unreadable ({exc}); allowed: a sweep "
                          f"directory written by tensorprobe, or a new hydra.sweep.dir") from None


def _found(sweep_dir: Path) -> Dict[str, str]:
    """job directory (relative) -> key, read from the results.csv files a sweep left (no sweep.json)."""
    from runner.table.collect import job_dirs
    from runner.table.csvfile import RESULTS_FILE, TableError, read_rows
    found = {}
    for d in job_dirs(sweep_dir):
        try:
            header, rows = read_rows(d / RESULTS_FILE)
        except (OSError, TableError):
            continue
        if rows and "job" in header:
            found[str(d.relative_to(sweep_dir))] = rows[0][header.index("job")]
    return found


def _label(key: Optional[str]) -> str:
    return f"`{key}`" if key else "no job"


def check_same_sweep(sweep_dir: Path, plans: Sequence, job_dir: Callable[[int], Path]) -> None:
    """Raise a ConfigError if `sweep_dir` holds results of a sweep with other jobs than `plans`."""
    if not sweep_dir.is_dir():
        return
    planned = {str(job_dir(p.idx).relative_to(sweep_dir)): p.key for p in plans}
    recorded = _recorded(sweep_dir)
    old = recorded if recorded is not None else _found(sweep_dir)
    if not old:
        return
    if recorded is not None:
        differs = [d for d in sorted(set(old) | set(planned), key=_natural) if old.get(d) != planned.get(d)]
    else:  # older directories: only job directories with results tell
        differs = [d for d in sorted(old, key=_natural) if old[d] != planned.get(d)]
    if not differs:
        return
    d = differs[0]
    raise ConfigError("hydra.sweep.dir", (
        f"{sweep_dir} holds another sweep ({len(old)} jobs; {len(differs)} differ from this one's {len(planned)}): "
        f"job {d} there is {_label(old.get(d))}, here {_label(planned.get(d))}; nothing was run or overwritten; "
        f"allowed: the same sweep again (it resumes), or a new hydra.sweep.dir"))


def record_sweep(sweep_dir: Path, plans: Sequence, job_dir: Callable[[int], Path]) -> Path:
    """Write sweep.json: the jobs this directory holds (atomically: a killed sweep leaves the old or new one)."""
    jobs: List[dict] = [{"idx": p.idx, "dir": str(job_dir(p.idx).relative_to(sweep_dir)), "key": p.key}
                        for p in plans]
    path = sweep_dir / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"jobs": jobs}, indent=1) + "\n")
    tmp.replace(path)
    return path


def _natural(text: str):
    import re
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]
