"""What a job directory already holds: used by resume to skip finished jobs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from runner.table.csvfile import RESULTS_FILE, TableError, read_rows

FINISHED = ("ok", "partial")  # statuses a resumed sweep keeps


def finished_hash(job_dir: Path) -> Optional[str]:
    """The config_hash of a job directory's results if the job ran (status ok, or partial: a measured
    outcome that a rerun would repeat), else None.

    Failed, skipped and config_error jobs are run again; a missing, truncated or unreadable file counts
    as not finished.
    """
    try:
        header, rows = read_rows(job_dir / RESULTS_FILE)
    except (OSError, TableError):
        return None
    records = [dict(zip(header, row)) for row in rows]
    hashes = {r.get("config_hash") for r in records}
    if not records or len(hashes) != 1 or any(r.get("status") not in FINISHED for r in records):
        return None
    return hashes.pop()
