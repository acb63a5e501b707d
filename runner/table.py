"""The results table: its columns (the contract of DESIGN.md), CSV encoding, atomic writes, reading back.

No torch here: compare, collect and report read tables without it. pandas is imported only by the
functions that return or take a DataFrame: a sweep process writes and collects tables with csv alone.
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, List, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd

KEY_COLUMNS = ["job", "variant", "optimizer", "update", "device", "export", "seed"]
CONTRACT_COLUMNS = KEY_COLUMNS + [
    "status", "reason", "tensor",
    "declared_as", "persistent", "requires_grad", "dtype", "shape",
    "in_parameters", "in_buffers", "in_state_dict",
    "grad", "updated", "update_error",
    "follows_dtype", "follows_device", "restored",
    "export_role", "export_name", "export_error", "mutated_by_export", "ort_max_abs_diff",
    "torch_version", "onnx_version", "onnxruntime_version", "python_version", "platform",
    "job_seconds",
]
# Further columns, after the contract ones: details that explain an outcome.
EXTRA_COLUMNS = [
    "alias_of",          # first path of the same tensor object (tied weights), else empty
    "has_is_param",      # the tensor carries the _is_param attribute
    "grad_after_zero_grad",  # none|zero|nonzero after optimizer.zero_grad() (model.zero_grad() for manual styles)
    "train_error_at",    # setup | forward | loss | backward | update: where update_error was raised
    "loss",              # the last training loss (non-finite stops training, see update_error)
    "move_error",        # an exception from module.to(...)
    "restore_error",     # an exception from the state_dict round trip
    "resolved_device",   # the torch device the job ran on (device=auto resolves here)
    "export_file",       # the artifact written into the job directory
    "export_seconds",    # wall time of the export stage: copy, export call, locating, verifying
    "export_call_seconds",  # wall time of the bare exporter call (torch.export.export / torch.onnx.export)
    "ort_outputs_compared",  # ONNX with verify: how many tensor outputs ort_max_abs_diff compared
    "config_hash",       # hash of the job's resolved config (resume, dedup)
]
COLUMNS = CONTRACT_COLUMNS + EXTRA_COLUMNS
ENVIRONMENT_COLUMNS = ["torch_version", "onnx_version", "onnxruntime_version", "python_version", "platform"]
TIMING_COLUMNS = ["job_seconds"]
RESULTS_FILE = "results.csv"


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
