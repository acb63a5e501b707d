"""Results tables on disk: CSV cell encoding, atomic writes, strict reading back.

No torch here: compare, collect and report read tables without it. pandas is imported only by the
functions that return or take a DataFrame: a sweep process writes and collects tables with csv alone.
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from runner.table.columns import COLUMNS

RESULTS_FILE = "results.csv"  # each job's table, and the sweep's, under this name

if TYPE_CHECKING:
    import pandas as pd


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_frame(rows: Iterable[Mapping]) -> "pd.DataFrame":
    """Rows (dicts) to a table of strings in contract order; missing cells are empty."""
    import pandas as pd
    records = [{c: _cell(r.get(c)) for c in COLUMNS} for r in rows]
    return pd.DataFrame(records, columns=COLUMNS, dtype=str)


def write_rows_atomic(rows: Iterable[Mapping], path: os.PathLike, columns: Sequence[str] = COLUMNS) -> Path:
    """Rows (dicts) as CSV with these columns, atomically, without building a DataFrame."""
    def write(f):
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(r.get(c)) for c in columns] for r in rows)
    return _atomic(path, write)


def _atomic(path: os.PathLike, write) -> Path:
    """Write to a temporary file in the same directory, then rename: a reader, or a sweep killed at any
    moment, never sees half a file (the rename is atomic; SIGKILL cannot leave a partial results.csv)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class TableError(ValueError):
    """A file that is not a readable results table."""


def read_rows(path: Path) -> tuple:
    """(header, rows) of a CSV, every line with as many fields as the header: a truncated or
    hand-mangled file is refused, not padded."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise TableError(f"{path}: empty file, not a results table")
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise TableError(f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                                     f"{len(header)}: truncated or malformed CSV")
                rows.append(row)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"{path}: not a readable CSV ({type(exc).__name__}); binary or corrupted file?") from None
    missing = [c for c in ("job", "tensor") if c not in header]
    if missing:
        raise TableError(f"{path}: not a results table, missing columns {', '.join(missing)}")
    return header, rows


def read_table(path: os.PathLike) -> "pd.DataFrame":
    """Read a results CSV as strings; raise TableError (one line) if it is not one."""
    import pandas as pd
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    header, rows = read_rows(path)  # one parse: checks shape and the key columns
    if len(set(header)) != len(header):
        raise TableError(f"{path}: repeated column names in the header")
    return pd.DataFrame(rows, columns=header, dtype=str)
