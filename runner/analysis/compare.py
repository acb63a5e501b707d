"""`python -m runner.compare OLD NEW`: what changed between two results tables, cell by cell.

Exit status like diff: 0 equal, 1 different, 2 bad input. Pandas only, no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence

import pandas as pd

from runner.analysis.markdown import md_table
from runner.schema import GROUPS
from runner.table.columns import CONTRACT_COLUMNS, ENVIRONMENT_COLUMNS, TIMING_COLUMNS
from runner.table.csvfile import RESULTS_FILE, TableError, read_table

DEFAULT_IGNORED = ENVIRONMENT_COLUMNS + TIMING_COLUMNS + ["export_seconds", "export_call_seconds", "config_hash"]
KEY = ["job", "tensor"]


@dataclass
class Diff:
    changes: List[dict] = field(default_factory=list)   # job, tensor, column, old, new
    only_old: List[dict] = field(default_factory=list)  # job, tensor
    only_new: List[dict] = field(default_factory=list)
    rows_compared: int = 0
    columns: List[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.changes or self.only_old or self.only_new)

    def summary(self) -> str:
        if self.equal:
            return f"no differences ({self.rows_compared} rows, {len(self.columns)} columns compared)"
        rows = len({(c["job"], c["tensor"]) for c in self.changes})
        return (f"{len(self.changes)} changed cells in {rows} rows; {len(self.only_old)} rows only in OLD; "
                f"{len(self.only_new)} rows only in NEW ({self.rows_compared} rows compared)")


def load(path: Path) -> pd.DataFrame:
    """A results CSV, or a sweep directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    return read_table(path)


def drop_key_groups(job: str, groups: Sequence[str]) -> str:
    """The job key without `group=...` and `group.key=...` parts, for comparing across that group."""
    parts = [p for p in job.split(",") if not any(p.startswith((f"{g}=", f"{g}.")) for g in groups)]
    return ",".join(parts)


def _keyed(frame: pd.DataFrame, groups: Sequence[str], name: str) -> pd.DataFrame:
    frame = frame.copy()
    if groups:
        frame["job"] = frame["job"].map(lambda j: drop_key_groups(j, groups))
    dup = frame.duplicated(KEY)
    if dup.any():
        first = frame[dup].iloc[0]
        raise TableError(f"{name}: key (job, tensor) not unique after --ignore-key {','.join(groups)}: "
                         f"{first['job']} / {first['tensor']}; filter the table or ignore fewer groups")
    return frame.set_index(KEY)


def compare(old: pd.DataFrame, new: pd.DataFrame, ignore: Sequence[str] = (), only: Sequence[str] = (),
            ignore_key: Sequence[str] = ()) -> Diff:
    """Join on (job, tensor) and list every differing cell among the compared columns."""
    for name, frame in (("OLD", old), ("NEW", new)):
        missing = [c for c in CONTRACT_COLUMNS if c not in frame.columns]
        if missing:
            raise TableError(f"{name} is not a results table of this version: missing columns {', '.join(missing)}")
    ignored = set(ignore) | set(ignore_key) | ({"resolved_device"} if "device" in ignore_key else set())
    if only:
        unknown = [c for c in only if c not in old.columns or c not in new.columns]
        if unknown:
            raise TableError(f"--only: columns not in both tables: {', '.join(unknown)}")
        columns = [c for c in only if c not in KEY]
    else:
        columns = [c for c in old.columns if c in new.columns and c not in KEY and c not in ignored]
    a, b = _keyed(old, ignore_key, "OLD"), _keyed(new, ignore_key, "NEW")
    common = a.index.intersection(b.index, sort=False)
    diff = Diff(rows_compared=len(common), columns=columns)
    diff.only_old = [{"job": j, "tensor": t} for j, t in a.index.difference(b.index, sort=False)]
    diff.only_new = [{"job": j, "tensor": t} for j, t in b.index.difference(a.index, sort=False)]
    left, right = a.loc[common, columns], b.loc[common, columns]
    changed = left.ne(right)
    for (job, tensor), row in changed[changed.any(axis=1)].iterrows():
        for column in row.index[row.values]:
            diff.changes.append({"job": job, "tensor": tensor, "column": column,
                                 "old": left.at[(job, tensor), column], "new": right.at[(job, tensor), column]})
    return diff


def render(diff: Diff, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"equal": diff.equal, "summary": diff.summary(), "changes": diff.changes,
                           "only_in_old": diff.only_old, "only_in_new": diff.only_new}, indent=2)
    changes = pd.DataFrame(diff.changes, columns=["job", "tensor", "column", "old", "new"])
    if fmt == "csv":
        rows = [{"kind": "changed", **c} for c in diff.changes]
        rows += [{"kind": "only_in_old", **r} for r in diff.only_old]
        rows += [{"kind": "only_in_new", **r} for r in diff.only_new]
        return pd.DataFrame(rows, columns=["kind", "job", "tensor", "column", "old", "new"]).to_csv(index=False)
    lines = []
    if fmt == "markdown":
        if diff.changes:
            lines += ["## Changed cells", "", md_table(changes), ""]
        for title, rows in (("Only in OLD", diff.only_old), ("Only in NEW", diff.only_new)):
            if rows:
                lines += [f"## {title}", "", md_table(pd.DataFrame(rows, columns=KEY)), ""]
        lines.append(f"**{diff.summary()}**")
        return "\n".join(lines)
    for c in diff.changes:
        lines.append(f"{c['job']}  {c['tensor']}  {c['column']}: {c['old'] or '(empty)'} -> {c['new'] or '(empty)'}")
    lines += [f"only in OLD: {r['job']}  {r['tensor']}" for r in diff.only_old]
    lines += [f"only in NEW: {r['job']}  {r['tensor']}" for r in diff.only_new]
    lines.append(diff.summary())
    return "\n".join(lines)


def _columns(text: str) -> List[str]:
    return [c for c in text.split(",") if c]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.compare", description=__doc__.splitlines()[0],
                                     epilog="exit status: 0 equal, 1 different, 2 bad input")
    parser.add_argument("old", type=Path, help="results.csv or a sweep directory")
    parser.add_argument("new", type=Path, help="results.csv or a sweep directory")
    parser.add_argument("--ignore", type=_columns, action="extend", default=[], metavar="COLS",
                        help=f"more columns to ignore (comma-separated); always ignored: {', '.join(DEFAULT_IGNORED)}")
    parser.add_argument("--only", type=_columns, action="extend", default=[], metavar="COLS",
                        help="compare only these columns (environment and timing included if named)")
    parser.add_argument("--ignore-key", action="append", default=[], choices=GROUPS, metavar="GROUP",
                        help=f"drop a group from the join key (one of: {', '.join(GROUPS)}), e.g. device or export")
    parser.add_argument("--format", choices=["text", "markdown", "csv", "json"], default="text")
    parser.add_argument("--output", type=Path, help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    try:
        diff = compare(load(args.old), load(args.new), DEFAULT_IGNORED + args.ignore, args.only, args.ignore_key)
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    text = render(diff, args.format)
    if args.output:
        args.output.write_text(text + "\n")
        print(diff.summary())
    else:
        print(text)
    return 0 if diff.equal else 1


if __name__ == "__main__":
    sys.exit(main())
