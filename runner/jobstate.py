"""What a job directory already holds: used by resume to skip finished jobs."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

from .table import RESULTS_FILE


def finished_hash(job_dir: Path) -> Optional[str]:
    """The config_hash of a job directory's results if every row of it is status=ok, else None.

    Failed or skipped jobs are run again; a partial or unreadable file counts as not finished.
    """
    path = job_dir / RESULTS_FILE
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    hashes = {r.get("config_hash") for r in rows}
    if not rows or len(hashes) != 1 or any(r.get("status") != "ok" for r in rows):
        return None
    return hashes.pop()
