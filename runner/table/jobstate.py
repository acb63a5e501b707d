"""What a job directory already holds: used by resume to skip finished jobs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from runner.table.csvfile import RESULTS_FILE, TableError, read_rows


def finished_hash(job_dir: Path) -> Optional[str]:
    """The config_hash of a job directory's results if every row of it is status=ok, else None.

    Failed or skipped jobs are run again; a missing, partial or unreadable file counts as not finished.
    """
    try:
        header, rows = read_rows(job_dir / RESULTS_FILE)
    except (OSError, TableError):
        return None
    records = [dict(zip(header, row)) for row in rows]
    hashes = {r.get("config_hash") for r in records}
    if not records or len(hashes) != 1 or any(r.get("status") != "ok" for r in records):
        return None
    return hashes.pop()
