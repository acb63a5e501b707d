"""`python -m runner.report SWEEP_DIR`: a self-contained, reproducible report of a sweep.

Writes report.md, report.html, outcomes.png and claims.csv into the sweep
directory. Reads only the table and Hydra's multirun.yaml: no torch, and
Pillow just for the figure (runner/analysis/figure.py).
"""
from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from runner import CONFIG_DIR, PROJECT_ROOT, __version__
from runner.analysis.claims import VERDICTS, Evidence, judge_all, load_claims, verdict_frame
from runner.table.collect import collect
from runner.analysis.figure import draw
from runner.analysis.markdown import html_table, md_table
from runner.schema import GROUPS
from runner.analysis.command import sweep_command
from runner.table.columns import ENVIRONMENT_COLUMNS, NOT_MEASURED_VALUES
from runner.table.csvfile import RESULTS_FILE, TableError, read_table

DEFAULT_CLAIMS = CONFIG_DIR / "claims"
COLUMN_REFERENCE = "docs/columns.md"  # in the tensorprobe repository
RAN = ("ok", "partial")  # jobs whose rows hold measurements
OUTCOMES = ["in_parameters", "in_buffers", "listed_as", "in_state_dict", "grad", "grad_requires_grad", "updated",
            "leaf_after_update", "grad_after_zero_grad", "grad_accumulates", "follows_dtype", "follows_device",
            "restored", "export_role"]
# Facts shown in the figure: name -> (column, the values that count as true). A cell that is empty, or holds
# `error`, was not measured in that row.
EXPORTED_ROLES = ("parameter", "buffer", "constant_tensor", "initializer", "constant", "input", "folded")
HEATMAP = {
    "in_parameters": ("in_parameters", ("true",)), "in_buffers": ("in_buffers", ("true",)),
    "in_state_dict": ("in_state_dict", ("true",)), "gets grad": ("grad", ("nonzero",)),
    "updated": ("updated", ("true",)), "leaf after update": ("leaf_after_update", ("true",)),
    "grad accumulates": ("grad_accumulates", ("true",)), "follows_dtype": ("follows_dtype", ("true",)),
    "follows_device": ("follows_device", ("true",)), "restored": ("restored", ("true",)),
    "in export": ("export_role", EXPORTED_ROLES),
}
CHECKPOINT_PREFIX = "restored_"  # further round trips (restored_safetensors, ...): shown like `restored`


@dataclass
class Report:
    markdown: Path
    html: Path
    figure: Optional[Path]
    claims: Path
    verdicts: pd.DataFrame


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode == 0:
        return out.stdout.strip()
    return f"tensorprobe {__version__} (an installed package, not a git checkout)"


def environment(table: pd.DataFrame) -> pd.DataFrame:
    rows = [(c, ", ".join(sorted(set(table[c]) - {""})) or "-") for c in ENVIRONMENT_COLUMNS if c in table]
    devices = sorted(set(table.get("resolved_device", pd.Series(dtype=str))) - {""})
    rows += [("device", ", ".join(devices) or "-"), ("tensorprobe commit", git_commit())]
    return pd.DataFrame(rows, columns=["what", "value"])


def sweep_options(table: pd.DataFrame, evidence: Evidence) -> Dict[str, List[str]]:
    """Every config group and seed, then the options named in job keys (steps=2, export.opset_version=18):
    their values in this table."""
    options = {g: sorted(set(table[g])) for g in list(GROUPS) + ["seed"] if g in table}
    for name, series in evidence.key_columns().items():
        if name in options or not table["job"].str.contains(f"(?:^|,){re.escape(name)}=", regex=True).any():
            continue
        options[name] = sorted(set(series))
    return options


def outcome_matrix(table: pd.DataFrame, outcome: str, groups: Sequence[str]) -> Optional[pd.DataFrame]:
    """Rows (variant, tensor), one column per combination of the swept options that change this outcome.

    Only rows that measured it take part (an empty cell is not a value); `n/a`: no job of that combination
    measured it. None when no row did."""
    values = table[outcome].tolist()
    used = [i for i, v in enumerate(values) if v != ""]
    if not used:
        return None
    variants, tensors = table["variant"].tolist(), table["tensor"].tolist()
    option = {g: table[g].tolist() for g in groups}

    def determined(keep: Sequence[str]) -> bool:
        seen: Dict[tuple, str] = {}
        for i in used:
            key = (variants[i], tensors[i], *(option[g][i] for g in keep))
            if seen.setdefault(key, values[i]) != values[i]:
                return False
        return True

    keep = list(groups)
    for g in list(keep):  # the fewest swept options that, with (variant, tensor), determine the outcome
        trial = [k for k in keep if k != g]
        if determined(trial):
            keep = trial
    cells: Dict[tuple, Dict[str, set]] = {}
    configs: Dict[str, None] = {}
    for i in used:
        config = " ".join(f"{g}={option[g][i]}" for g in keep) if keep else "every swept config"
        configs.setdefault(config)
        cells.setdefault((variants[i], tensors[i]), {}).setdefault(config, set()).add(values[i])
    columns = sorted(configs)
    records = [[v, t] + ["/".join(sorted(by_config[c])) if c in by_config else "n/a" for c in columns]
               for (v, t), by_config in cells.items()]
    return pd.DataFrame(records, columns=["variant", "tensor"] + columns)


def _shares(table: pd.DataFrame) -> tuple:
    """(row labels, fact names, shares): per (variant, tensor) and fact, the share of the jobs that measured it
    in which it is true (None: no job measured it), and whether some jobs did not measure it."""
    facts = {name: spec for name, spec in HEATMAP.items() if spec[0] in table}
    facts.update({c: (c, ("true",)) for c in table.columns if c.startswith(CHECKPOINT_PREFIX)
                  and not c.endswith("_error")})
    facts = {n: s for n, s in facts.items() if (table[s[0]].ne("") & ~table[s[0]].isin(NOT_MEASURED_VALUES)).any()}
    keys = list(zip(table["variant"].tolist(), table["tensor"].tolist()))
    order = list(dict.fromkeys(keys))
    counts = {n: {k: [0, 0, 0] for k in order} for n in facts}  # true, measured, rows
    for name, (column, true_values) in facts.items():
        by_key = counts[name]
        for key, value in zip(keys, table[column].tolist()):
            cell = by_key[key]
            cell[2] += 1
            if value != "" and value not in NOT_MEASURED_VALUES:
                cell[1] += 1
                cell[0] += value in true_values
    shares = [[(c[0] / c[1] if c[1] else None, c[1] < c[2]) for c in (counts[n][k] for n in facts)]
              for k in order]
    return [f"{v} / {t}" for v, t in order], list(facts), shares


def heatmap(table: pd.DataFrame, path: Path) -> Optional[Path]:
    """Share of the jobs (that measured it) in which each fact holds, per (variant, tensor), on a neutral
    single-hue scale: these are facts, not passes and failures. Unmeasured cells are grey, hatched, `n/a`."""
    labels, facts, shares = _shares(table)
    return draw(labels, facts, shares, path)


def _claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """What the report shows of claims.csv: the verdict with its counts and filter, then the text."""
    shown = claims.rename(columns={"rows": "rows counted", "not_measured": "not measured"})
    return shown[["id", "verdict", "rows counted", "not measured", "where", "expect", "detail", "statement",
                  "source"]]


def write_report(sweep_dir: Path, claim_files: Optional[Sequence[Path]] = None) -> Report:
    sweep_dir = Path(sweep_dir)
    table_path = sweep_dir / RESULTS_FILE
    table = read_table(table_path) if table_path.is_file() else collect(sweep_dir).table
    claim_files = sorted(DEFAULT_CLAIMS.glob("*.yaml")) if claim_files is None else list(claim_files)
    evidence = Evidence(table)
    verdicts = judge_all(load_claims(claim_files), table)
    claims = verdict_frame(verdicts)
    claims_path = sweep_dir / "claims.csv"
    claims.to_csv(claims_path, index=False)

    measured = table[table["status"].isin(RAN)] if "status" in table else table
    options = sweep_options(table, evidence)
    groups = [g for g, values in options.items() if g != "variant" and len(values) > 1 and g in table]
    jobs = table.drop_duplicates("job")
    status = jobs["status"].value_counts().to_dict()
    command = sweep_command(sweep_dir)
    figure = heatmap(measured, sweep_dir / "outcomes.png") if len(measured) else None
    option_frame = pd.DataFrame([(g, ", ".join(v)) for g, v in options.items()],
                                columns=["option", "values in this sweep"])
    not_ok = jobs[jobs["status"] != "ok"][["job", "status", "reason"]]
    outcomes = OUTCOMES + [c for c in table.columns if c.startswith(CHECKPOINT_PREFIX) and c not in OUTCOMES]
    matrices: Dict[str, pd.DataFrame] = {}
    if len(measured):
        for o in outcomes:
            if o in measured:
                matrix = outcome_matrix(measured, o, groups)
                if matrix is not None:
                    matrices[o] = matrix
    counts = claims["verdict"].value_counts().to_dict()
    summary = (f"{len(jobs)} jobs ({', '.join(f'{n} {s}' for s, n in sorted(status.items()))}), "
               f"{len(table)} rows; claims: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    reference = (f"Column reference: `{COLUMN_REFERENCE}` in the tensorprobe repository (what each column means, "
                 "its values, which stage fills it).")
    verdict_rules = ("A claim counts only rows that measured what it expects (rows of jobs that did not run, "
                     "cells left empty by a failed stage and `error` cells are *not measured*): `holds` = every "
                     "counted row matches; `refuted` = some do not (the detail names the tensor property that "
                     "separates them when one does); `depends` = the swept options alone decide; `untested` = "
                     "no row counted (the detail says why).")
    claims_shown = _claims_table(claims)

    md = ["# tensorprobe report", "", summary, "", reference, "", "## Reproduce", "", "```bash", command, "```", "",
          "## Environment", "", md_table(environment(table)), "", "## Sweep", "", md_table(option_frame), ""]
    if len(not_ok):
        md += ["Jobs that did not run to the end:", "", md_table(not_ok), ""]
    md += ["## Claims", "", verdict_rules, "", md_table(claims_shown), ""]
    if figure:
        md += ["## Outcomes at a glance", "", f"![outcomes]({figure.name})", ""]
    md += ["## Outcomes", "", "Each table shows one outcome per (variant, tensor); columns are only the "
           "swept options that change it; `n/a`: not measured.", ""]
    for outcome, matrix in matrices.items():
        md += [f"### {outcome}", "", md_table(matrix), ""]
    md_path = sweep_dir / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    esc = html.escape
    parts = [f"<h1>tensorprobe report</h1><p>{esc(summary)}</p>",
             f"<p>Column reference: <code>{esc(COLUMN_REFERENCE)}</code> in the tensorprobe repository (what each "
             "column means, its values, which stage fills it).</p>",
             f"<h2>Reproduce</h2><pre>{esc(command)}</pre>",
             f"<h2>Environment</h2>{html_table(environment(table))}", f"<h2>Sweep</h2>{html_table(option_frame)}"]
    if len(not_ok):
        parts.append(f"<p>Jobs that did not run to the end:</p>{html_table(not_ok)}")
    rules = esc(verdict_rules).replace("`", "").replace("*", "")
    parts.append(f"<h2>Claims</h2><p>{rules}</p>{html_table(claims_shown)}")
    if figure:
        parts.append(f'<h2>Outcomes at a glance</h2><img src="{esc(figure.name)}" alt="outcomes heat map">')
    parts.append("<h2>Outcomes</h2>")
    parts += [f"<h3>{esc(o)}</h3>{html_table(m)}" for o, m in matrices.items()]
    style = ("body{font-family:sans-serif;margin:2em}table.t{border-collapse:collapse;font-size:13px}"
             "table.t td,table.t th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}"
             "pre{background:#f4f4f4;padding:6px}")
    html_path = sweep_dir / "report.html"
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>tensorprobe report</title>"
                         f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n", encoding="utf-8")
    return Report(md_path, html_path, figure, claims_path, claims)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep directory (holds results.csv or job directories)")
    parser.add_argument("--claims", type=Path, nargs="+", metavar="FILE",
                        help=f"claim files (default: {DEFAULT_CLAIMS}/*.yaml)")
    args = parser.parse_args(argv)
    try:
        report = write_report(args.sweep_dir, args.claims)
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    counts = report.verdicts["verdict"].value_counts().to_dict()
    print(f"report: {report.markdown} (and {report.html.name}, {report.claims.name}"
          f"{', ' + report.figure.name if report.figure else ''}); claims: "
          + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
