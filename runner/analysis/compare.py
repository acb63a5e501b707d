"""`python -m runner.compare OLD NEW`: what changed between two results tables, summarised by column and
transition (`--cells`: cell by cell). Two tables whose job keys differ in one option are joined without it.

Exit status like diff: 0 equal, 1 different, 2 bad input. Pandas only, no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from runner.analysis import diffsummary
from runner.analysis.align import drop_options, find_alignment, kept_parts, row_label, varying_parts
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
    joined_without: List[str] = field(default_factory=list)  # options dropped from the join key
    automatic: bool = False                                    # ... found by compare, not named by the user
    transitions: List[Tuple[str, str]] = field(default_factory=list)  # their values, OLD -> NEW, per job pair
    labels: Dict[Tuple[str, str], str] = field(default_factory=dict)  # (job, tensor) -> seed_notebook/my_tensor

    def alignment(self) -> Optional[str]:
        """`aligned on everything but export: onnx_dynamo → onnx_legacy`, or None for a plain join."""
        if not self.joined_without:
            return None
        shown = "; ".join(f"{a} → {b}" for a, b in self.transitions[:3])
        more = f"; … ({len(self.transitions) - 3} more)" if len(self.transitions) > 3 else ""
        how = "aligned" if self.automatic else "joined"
        return f"{how} on everything but {', '.join(self.joined_without)}: {shown}{more}"

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
    return drop_options(job, groups)


def _keyed(frame: pd.DataFrame, groups: Sequence[str], name: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["_job"] = frame["job"]
    if groups:
        frame["job"] = frame["job"].map(lambda j: drop_key_groups(j, groups))
    dup = frame.duplicated(KEY)
    if dup.any():
        first = frame[dup].iloc[0]
        raise TableError(f"{name}: key (job, tensor) not unique after --ignore-key {','.join(groups)}: "
                         f"{first['job']} / {first['tensor']}; filter the table or ignore fewer groups")
    return frame.set_index(KEY)


def compare(old: pd.DataFrame, new: pd.DataFrame, ignore: Sequence[str] = (), only: Sequence[str] = (),
            ignore_key: Sequence[str] = (), align: bool = False) -> Diff:
    """Join on (job, tensor) and list every differing cell among the compared columns. With `align` and no
    `ignore_key`, two tables that share no job key but match one to one without one option join without it."""
    for name, frame in (("OLD", old), ("NEW", new)):
        missing = [c for c in CONTRACT_COLUMNS if c not in frame.columns]
        if missing:
            raise TableError(f"{name} is not a results table of this version: missing columns {', '.join(missing)}")
    automatic = False
    if align and not ignore_key:
        found = find_alignment(old["job"], new["job"])
        if found:
            ignore_key, automatic = [found[0]], True
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
    diff = Diff(rows_compared=len(common), columns=columns, joined_without=list(ignore_key), automatic=automatic)
    if ignore_key:
        pairs = {(kept_parts(o, ignore_key), kept_parts(n, ignore_key))
                 for o, n in zip(a.loc[common, "_job"], b.loc[common, "_job"])}
        diff.transitions = sorted(pairs)
    options = varying_parts(set(a.index.get_level_values("job")) | set(b.index.get_level_values("job")))
    diff.labels = {(j, t): row_label(j, t, options) for j, t in a.index.union(b.index, sort=False)}
    diff.only_old = [{"job": j, "tensor": t} for j, t in a.index.difference(b.index, sort=False)]
    diff.only_new = [{"job": j, "tensor": t} for j, t in b.index.difference(a.index, sort=False)]
    left, right = a.loc[common, columns], b.loc[common, columns]
    changed = left.ne(right)
    for (job, tensor), row in changed[changed.any(axis=1)].iterrows():
        for column in row.index[row.values]:
            diff.changes.append({"job": job, "tensor": tensor, "column": column,
                                 "old": left.at[(job, tensor), column], "new": right.at[(job, tensor), column]})
    return diff


def _labels(diff: Diff, rows: Sequence[dict]) -> List[str]:
    return [diff.labels.get((r["job"], r["tensor"]), r["tensor"]) for r in rows]


def summary_entries(diff: Diff) -> List[dict]:
    """The summary as rows: changed transitions (and each column's remaining ones), then the one-sided rows."""
    entries = diffsummary.summary_lines(diffsummary.groups(diff.changes, diff.labels, diff.columns))
    for kind, rows in (("only_in_old", diff.only_old), ("only_in_new", diff.only_new)):
        if rows:
            entries.append({"kind": kind, "column": "", "old": "", "new": "", "rows": len(rows),
                            "examples": diffsummary.examples_text(_labels(diff, rows))})
    return entries


def render_summary(diff: Diff, fmt: str) -> str:
    """The default output: the alignment, one line per column and transition, the one-sided rows, the counts."""
    entries = summary_entries(diff)
    if fmt == "json":
        return json.dumps({"equal": diff.equal, "summary": diff.summary(), "aligned": diff.alignment(),
                           "groups": entries, "changes": diff.changes,
                           "only_in_old": diff.only_old, "only_in_new": diff.only_new}, indent=2, default=str)
    if fmt == "csv":
        return pd.DataFrame(entries, columns=["kind", "column", "old", "new", "rows", "examples"]).to_csv(index=False)
    head = [diff.alignment()] if diff.alignment() else []
    if fmt == "markdown":
        table = pd.DataFrame([{"column": e["column"] or e["kind"].replace("_", " "),
                               "change": "" if e["kind"] != "changed" else
                               f"{e['old']} → {e['new']}",
                               "rows": e["rows"], "examples": e["examples"]} for e in entries],
                             columns=["column", "change", "rows", "examples"])
        lines = [f"*{h}*" for h in head] + ([""] if head else [])
        lines += ([md_table(table), ""] if entries else []) + [f"**{diff.summary()}**"]
        return "\n".join(lines)
    lines = head
    for e in entries:
        if e["kind"] in ("changed", "more"):
            lines.append(diffsummary.text_line(e))
        else:
            title = "only in OLD" if e["kind"] == "only_in_old" else "only in NEW"
            lines.append(f"{title}: {diffsummary.rows_word(e['rows'])}: {e['examples']}")
    lines.append(diff.summary())
    return "\n".join(lines)


def render(diff: Diff, fmt: str, cells: bool = False) -> str:
    """The summary (default), or with `cells` one entry per changed cell and per one-sided row."""
    fmt = "markdown" if fmt == "md" else fmt
    if not cells:
        return render_summary(diff, fmt)
    if fmt == "json":
        return json.dumps({"equal": diff.equal, "summary": diff.summary(), "aligned": diff.alignment(),
                           "changes": diff.changes, "only_in_old": diff.only_old, "only_in_new": diff.only_new},
                          indent=2, default=str)
    changes = pd.DataFrame(diff.changes, columns=["job", "tensor", "column", "old", "new"])
    if fmt == "csv":
        rows = [{"kind": "changed", **c} for c in diff.changes]
        rows += [{"kind": "only_in_old", **r} for r in diff.only_old]
        rows += [{"kind": "only_in_new", **r} for r in diff.only_new]
        return pd.DataFrame(rows, columns=["kind", "job", "tensor", "column", "old", "new"]).to_csv(index=False)
    lines = [diff.alignment()] if diff.alignment() else []
    if fmt == "markdown":
        lines = [f"*{line}*\n" for line in lines]
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
    parser.add_argument("--format", choices=["text", "md", "markdown", "csv", "json"], default="text",
                        help="text (default), md (or markdown), csv or json")
    parser.add_argument("--cells", action="store_true",
                        help="one entry per changed cell instead of the summary by column and transition")
    parser.add_argument("--no-align", action="store_true",
                        help="join on the full job key even when the tables differ in exactly one option")
    parser.add_argument("--output", type=Path, help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    try:
        diff = compare(load(args.old), load(args.new), DEFAULT_IGNORED + args.ignore, args.only, args.ignore_key,
                       align=not args.no_align)
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    text = render(diff, args.format, cells=args.cells)
    if args.output:
        args.output.write_text(text + "\n")
        print("\n".join(filter(None, [diff.alignment(), diff.summary()])))
    else:
        print(text)
    return 0 if diff.equal else 1


if __name__ == "__main__":
    sys.exit(main())
