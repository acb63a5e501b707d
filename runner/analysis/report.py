"""`python -m runner.report SWEEP_DIR`: a self-contained, reproducible report of a sweep.

Writes report.md, report.html (one self-contained page: runner/analysis/reportpage.py),
outcomes.png and claims.csv into the sweep directory, or --out DIR. Reads only the table and Hydra's multirun.yaml: no torch, and
Pillow just for the figure (runner/analysis/figure.py).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd
import yaml

from runner import CONFIG_DIR, PROJECT_ROOT, __version__
from runner.analysis.claims import VERDICTS, Evidence, judge_all, load_claims, verdict_frame
from runner.table.collect import collect
from runner.analysis.figure import draw
from runner.analysis.browser import BrowserError, find_chromium, screenshot
from runner.analysis.compare import DEFAULT_IGNORED, compare, load, render
from runner.analysis.reportpage import Page, render_html, render_md
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
# `error`, was not measured in that row. Export roles are no yes/no fact (an initializer is not a baked
# constant): one column of categories per exporter, `role: <exporter>`, where `error` shows as an error.
HEATMAP = {
    "in_parameters": ("in_parameters", ("true",)), "in_buffers": ("in_buffers", ("true",)),
    "in_state_dict": ("in_state_dict", ("true",)), "gets grad": ("grad", ("nonzero",)),
    "updated": ("updated", ("true",)), "leaf after update": ("leaf_after_update", ("true",)),
    "grad accumulates": ("grad_accumulates", ("true",)), "follows_dtype": ("follows_dtype", ("true",)),
    "follows_device": ("follows_device", ("true",)), "restored": ("restored", ("true",)),
}
CHECKPOINT_PREFIX = "restored_"  # further round trips (restored_safetensors, ...): shown like `restored`


@dataclass
class Report:
    markdown: Path
    html: Path
    figure: Optional[Path]
    claims: Path
    verdicts: pd.DataFrame
    about: set = field(default_factory=set)  # ids of the claims this sweep is about (the rest: about others)


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


def _export_roles(table: pd.DataFrame, keys: list, order: list) -> Dict[str, Dict[tuple, tuple]]:
    """Per exporter that ran, per (variant, tensor): (the role, or `a/b` when jobs disagree, or None where no
    job of that exporter measured it; whether some of its jobs did not). `error` is a role here: the
    exporter failed, which is what a reader must see, not a hatched gap."""
    if "export_role" not in table or "export" not in table:
        return {}
    found: Dict[str, Dict[tuple, list]] = {}
    for key, exporter, role in zip(keys, table["export"].tolist(), table["export_role"].tolist()):
        if exporter in ("", "none"):
            continue
        found.setdefault(exporter, {}).setdefault(key, []).append(role)
    result = {}
    for exporter in sorted(found):
        cells = {}
        for key in order:
            roles = found[exporter].get(key, [])
            measured = [r for r in roles if r != ""]
            text = "/".join(sorted(set(measured))) or None
            cells[key] = (text, len(measured) < len(roles) or not roles)
        if any(text is not None for text, _ in cells.values()):
            result[exporter] = cells
    return result


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
    names = list(facts)
    for exporter, roles in _export_roles(table, keys, order).items():
        names.append(f"role: {exporter}")
        for row, key in zip(shares, order):
            row.append(roles[key])
    return [f"{v} / {t}" for v, t in order], names, shares


def heatmap(table: pd.DataFrame, path: Path) -> Optional[Path]:
    """Share of the jobs (that measured it) in which each fact holds, per (variant, tensor), on a neutral
    single-hue scale: these are facts, not passes and failures. Unmeasured cells are grey, hatched, `n/a`."""
    labels, facts, shares = _shares(table)
    return draw(labels, facts, shares, path)


def about_this_sweep(verdict, evidence: Evidence) -> bool:
    """Whether a claim is about this sweep: decided by its rows, or untested although rows match it and every
    column it names was measured somewhere (its rows failed or were left unmeasured). A claim no row matches,
    or one on a stage this sweep never ran (its columns empty in every row), is about other sweeps."""
    if verdict.verdict != "untested":
        return True
    if not verdict.not_measured:
        return False
    claim = verdict.claim
    for name in list(claim.where) + [k for u in claim.exclusions for k in u] + list(claim.expect):
        column = evidence.column(name)
        if column is None:
            return False
        if not evidence.always_measured(name) and not (column.ne("") & ~column.isin(NOT_MEASURED_VALUES)).any():
            return False
    return True


def preset_claims(sweep_dir: Path) -> Optional[List[Path]]:
    """The claim files the sweep's preset named (hydra.callbacks.sweep_table.claims in its multirun.yaml), or
    None when it named none (then every file of conf/claims is judged)."""
    meta = Path(sweep_dir) / "multirun.yaml"
    try:
        hydra = (yaml.safe_load(meta.read_text()) or {}).get("hydra", {}) if meta.is_file() else {}
    except yaml.YAMLError:
        return None
    names = ((hydra.get("callbacks") or {}).get("sweep_table") or {}).get("claims")
    return [DEFAULT_CLAIMS / f"{name}.yaml" for name in names] if names else None


def write_report(sweep_dir: Path, claim_files: Optional[Sequence[Path]] = None, out_dir: Optional[Path] = None,
                 against: Optional[Path] = None) -> Report:
    """Judge the claims, draw the heat map and write report.md, report.html, outcomes.png and claims.csv
    into out_dir (default: the sweep directory); `against`: a table to compare this sweep with."""
    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else sweep_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = sweep_dir / RESULTS_FILE
    table = read_table(table_path) if table_path.is_file() else collect(sweep_dir).table
    if claim_files is None:
        claim_files = preset_claims(sweep_dir) or sorted(DEFAULT_CLAIMS.glob("*.yaml"))
    claim_files = list(claim_files)
    evidence = Evidence(table)
    verdicts = judge_all(load_claims(claim_files), table)
    claims = verdict_frame(verdicts)
    claims_path = out_dir / "claims.csv"
    claims.to_csv(claims_path, index=False)

    measured = table[table["status"].isin(RAN)] if "status" in table else table
    options = sweep_options(table, evidence)
    groups = [g for g, values in options.items() if g != "variant" and len(values) > 1 and g in table]
    jobs = table.drop_duplicates("job")
    status = jobs["status"].value_counts().to_dict()
    command = sweep_command(sweep_dir)
    figure = heatmap(measured, out_dir / "outcomes.png") if len(measured) else None
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
    verdict_rules = ("A claim counts only rows that measured what it expects (rows of jobs that did not run, "
                     "cells left empty by a failed stage and error cells are not measured): holds = every "
                     "counted row matches; refuted = some do not (the detail names the tensor property that "
                     "separates them when one does); depends = the swept options alone decide; untested = "
                     "no row counted (the detail says why).")
    comparison = None
    if against is not None:
        diff = compare(load(against), table, DEFAULT_IGNORED, align=True)
        comparison = [f"{against} (OLD) against this sweep (NEW)"] + render(diff, "text").splitlines()
    about = {v.claim.id for v in verdicts if about_this_sweep(v, evidence)}
    page = Page(jobs=len(jobs), rows=len(table), status=status, environment=environment(table), options=option_frame,
                verdicts=verdicts, claim_files=[Path(f).name for f in claim_files], command=command, not_ok=not_ok,
                matrices=matrices, figure=figure, verdict_rules=verdict_rules,
                column_reference=(f"Column reference: {COLUMN_REFERENCE} in the tensorprobe repository (what each "
                                  "column means, its values, which stage fills it)."),
                job_keys=sorted(set(table["job"])), comparison=comparison,
                about=about)
    md_path = out_dir / "report.md"
    md_path.write_text(render_md(page, figure.name if figure else None), encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(page), encoding="utf-8")
    return Report(md_path, html_path, figure, claims_path, claims, about)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep directory (holds results.csv or job directories)")
    parser.add_argument("--claims", type=Path, nargs="+", metavar="FILE",
                        help=f"claim files (default: those the sweep's preset named, else {DEFAULT_CLAIMS}/*.yaml)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write the report here and keep the sweep's own report (default: the sweep directory)")
    parser.add_argument("--against", type=Path, metavar="OTHER",
                        help="a results.csv or sweep directory to compare this sweep with (a Comparison section)")
    parser.add_argument("--screenshot", action="store_true",
                        help="also write report.png, the page as headless Chromium shows it at 1400 px")
    args = parser.parse_args(argv)
    if args.screenshot and find_chromium() is None:
        print("tensorprobe: error: --screenshot needs Chromium (chromium or chromium-browser on PATH; "
              "Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        report = write_report(args.sweep_dir, args.claims, args.out, args.against)
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    shown = report.verdicts[report.verdicts["id"].isin(report.about)]
    counts = shown["verdict"].value_counts().to_dict()
    others = len(report.verdicts) - len(shown)
    print(f"report: {report.markdown} (and {report.html.name}, {report.claims.name}"
          f"{', ' + report.figure.name if report.figure else ''}); claims: "
          + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
          + (f" ({others} more about rows or stages this sweep does not have)" if others else ""))
    if args.screenshot:
        try:
            print(f"screenshot: {screenshot(report.html, report.html.with_suffix('.png'))}")
        except BrowserError as exc:
            print(f"tensorprobe: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
