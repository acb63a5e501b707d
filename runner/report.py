"""`python -m runner.report SWEEP_DIR`: a self-contained, reproducible report of a sweep.

Writes report.md, report.html, outcomes.png and claims.csv into the sweep
directory. Reads only the table and Hydra's multirun.yaml: no torch.
"""
from __future__ import annotations

import argparse
import html
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd
import yaml

from .claims import judge_all, load_claims, verdict_frame
from .collect import collect
from .markdown import html_table, md_table
from .schema import GROUPS
from .table import ENVIRONMENT_COLUMNS, RESULTS_FILE, TableError, read_table

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLAIMS = PROJECT_ROOT / "conf" / "claims"
OUTCOMES = ["in_parameters", "in_buffers", "in_state_dict", "grad", "updated", "grad_after_zero_grad",
            "follows_dtype", "follows_device", "restored", "export_role"]
HEATMAP = {  # column shown in the figure -> how a cell counts as true
    "in_parameters": lambda s: s == "true", "in_buffers": lambda s: s == "true",
    "in_state_dict": lambda s: s == "true", "gets grad": None, "updated": lambda s: s == "true",
    "follows_dtype": lambda s: s == "true", "follows_device": lambda s: s == "true",
    "restored": lambda s: s == "true", "in export": None,
}
# roles whose tensor the exported artifact depends on ("folded": only transformed or merged into another value)
EXPORTED_ROLES = {"parameter", "buffer", "constant_tensor", "initializer", "constant", "input", "folded"}


@dataclass
class Report:
    markdown: Path
    html: Path
    figure: Optional[Path]
    claims: Path
    verdicts: pd.DataFrame


def sweep_command(sweep_dir: Path) -> str:
    """The command that reruns this sweep, from Hydra's multirun.yaml (task and hydra overrides)."""
    meta = sweep_dir / "multirun.yaml"
    if not meta.is_file():
        return "(unknown: no multirun.yaml in the sweep directory)"
    try:
        overrides = (yaml.safe_load(meta.read_text()) or {}).get("hydra", {}).get("overrides", {})
    except yaml.YAMLError:
        return "(unknown: multirun.yaml is not readable)"
    hydra_overrides = [o for o in overrides.get("hydra", []) if not o.startswith(("hydra.sweep.dir", "hydra.mode"))]
    args = list(overrides.get("task", [])) + hydra_overrides
    return " ".join(["python -m runner -m"] + [shlex.quote(a) for a in args])


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


def environment(table: pd.DataFrame) -> pd.DataFrame:
    rows = [(c, ", ".join(sorted(set(table[c]) - {""})) or "-") for c in ENVIRONMENT_COLUMNS if c in table]
    devices = sorted(set(table.get("resolved_device", pd.Series(dtype=str))) - {""})
    rows += [("device", ", ".join(devices) or "-"), ("tensorprobe commit", git_commit())]
    return pd.DataFrame(rows, columns=["what", "value"])


def swept_groups(table: pd.DataFrame) -> List[str]:
    """Groups (and seed) that take more than one value in this table, variant excluded."""
    return [g for g in list(GROUPS[1:]) + ["seed"] if g in table and table[g].nunique() > 1]


def relevant_groups(ok: pd.DataFrame, outcome: str, groups: Sequence[str]) -> List[str]:
    """The fewest swept groups that, with (variant, tensor), determine the outcome: only they need columns."""
    keep = list(groups)
    for g in list(keep):
        trial = [k for k in keep if k != g]
        if ok.groupby(["variant", "tensor"] + trial, sort=False)[outcome].nunique().max() <= 1:
            keep = trial
    return keep


def outcome_matrix(ok: pd.DataFrame, outcome: str, groups: Sequence[str]) -> pd.DataFrame:
    """Rows (variant, tensor), one column per combination of the groups that change this outcome."""
    keep = relevant_groups(ok, outcome, groups)
    frame = ok.assign(_config=ok[keep].apply(lambda r: " ".join(f"{g}={r[g]}" for g in keep), axis=1)
                      if keep else "every swept config")
    matrix = frame.pivot_table(index=["variant", "tensor"], columns="_config", values=outcome,
                               aggfunc=lambda s: "/".join(sorted(set(s))), sort=False)
    matrix.columns.name = None
    return matrix.fillna("")


def heatmap(ok: pd.DataFrame, path: Path) -> Optional[Path]:
    """Share of jobs in which each boolean outcome is true, per (variant, tensor)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    values = pd.DataFrame(index=ok.index)
    for column, test in HEATMAP.items():
        if column == "gets grad":
            values[column] = ok["grad"] == "nonzero"
        elif column == "in export":
            if (ok["export_role"] == "").all():
                continue
            values[column] = ok["export_role"].isin(EXPORTED_ROLES)
        else:
            values[column] = test(ok[column])
    share = values.groupby([ok["variant"], ok["tensor"]], sort=False).mean()
    labels = [f"{v} / {t}" for v, t in share.index]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(share.columns), 1.2 + 0.28 * len(share)))
    image = ax.imshow(share.values.astype(float), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(share.columns)), share.columns, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    if len(share) * len(share.columns) <= 600:
        for (i, j), v in pd.DataFrame(share.values).stack().items():
            ax.text(j, i, f"{v:.0%}" if 0 < v < 1 else ("yes" if v == 1 else "no"), ha="center", va="center",
                    fontsize=7)
    fig.colorbar(image, ax=ax, label="share of jobs where true", shrink=0.6)
    ax.set_title("tensor outcomes (green = always, red = never)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(sweep_dir: Path, claim_files: Optional[Sequence[Path]] = None) -> Report:
    sweep_dir = Path(sweep_dir)
    table_path = sweep_dir / RESULTS_FILE
    table = read_table(table_path) if table_path.is_file() else collect(sweep_dir).table
    claim_files = sorted(DEFAULT_CLAIMS.glob("*.yaml")) if claim_files is None else list(claim_files)
    verdicts = judge_all(load_claims(claim_files), table)
    claims = verdict_frame(verdicts)
    claims_path = sweep_dir / "claims.csv"
    claims.to_csv(claims_path, index=False)

    ok = table[table["status"] == "ok"]
    groups = swept_groups(table)
    jobs = table.drop_duplicates("job")
    status = jobs["status"].value_counts().to_dict()
    command = sweep_command(sweep_dir)
    figure = heatmap(ok, sweep_dir / "outcomes.png") if len(ok) else None
    options = pd.DataFrame([(g, ", ".join(sorted(table[g].unique()))) for g in GROUPS if g in table],
                           columns=["group", "options in this sweep"])
    not_ok = jobs[jobs["status"] != "ok"][["job", "status", "reason"]]
    matrices: Dict[str, pd.DataFrame] = {o: outcome_matrix(ok, o, groups) for o in OUTCOMES
                                         if o in ok and len(ok) and (ok[o] != "").any()}
    summary = (f"{len(jobs)} jobs ({', '.join(f'{n} {s}' for s, n in sorted(status.items()))}), "
               f"{len(table)} rows; claims: " + ", ".join(f"{(claims.verdict == v).sum()} {v}"
                                                          for v in ("holds", "refuted", "depends", "untested")))

    md = ["# tensorprobe report", "", summary, "", "## Reproduce", "", "```bash", command, "```", "",
          "## Environment", "", md_table(environment(table)), "", "## Sweep", "", md_table(options), ""]
    if len(not_ok):
        md += ["Jobs that did not run to the end:", "", md_table(not_ok), ""]
    md += ["## Claims", "", md_table(claims[["id", "verdict", "statement", "source", "detail"]]), ""]
    if figure:
        md += ["## Outcomes at a glance", "", f"![outcomes]({figure.name})", ""]
    md += ["## Outcomes", "", "Each table shows one outcome per (variant, tensor); columns are only the "
           "swept options that change it.", ""]
    for outcome, matrix in matrices.items():
        md += [f"### {outcome}", "", md_table(matrix, index=True), ""]
    md_path = sweep_dir / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    esc = html.escape
    parts = [f"<h1>tensorprobe report</h1><p>{esc(summary)}</p>",
             f"<h2>Reproduce</h2><pre>{esc(command)}</pre>",
             f"<h2>Environment</h2>{html_table(environment(table))}", f"<h2>Sweep</h2>{html_table(options)}"]
    if len(not_ok):
        parts.append(f"<p>Jobs that did not run to the end:</p>{html_table(not_ok)}")
    parts.append(f"<h2>Claims</h2>{html_table(claims[['id', 'verdict', 'statement', 'source', 'detail']])}")
    if figure:
        parts.append(f'<h2>Outcomes at a glance</h2><img src="{esc(figure.name)}" alt="outcomes heat map">')
    parts.append("<h2>Outcomes</h2>")
    parts += [f"<h3>{esc(o)}</h3>{html_table(m, index=True)}" for o, m in matrices.items()]
    style = ("body{font-family:sans-serif;margin:2em}table.t{border-collapse:collapse;font-size:13px}"
             "table.t td,table.t th{border:1px solid #ccc;padding:2px 6px}pre{background:#f4f4f4;padding:6px}")
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
          + ", ".join(f"{counts.get(v, 0)} {v}" for v in ("holds", "refuted", "depends", "untested")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
