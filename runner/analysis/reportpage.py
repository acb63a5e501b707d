"""The report as a reader meets it, in HTML and Markdown, in one order: a summary (what was tested, where,
what holds and what is refuted and why), one linkable section per claim with the rows that decide it,
then the heat map, the outcome tables, the comparison, how to reproduce and the environment.

The HTML page is one self-contained file (the figure a data: URI, CSS inline, no script, no network) that
fits the width of a 1400 px screen or a phone: tables wrap their cells instead of scrolling sideways.
Rendering only: report.py computes what is shown."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from runner.analysis.align import key_parts, varying_parts
from runner.analysis.claims import VERDICTS, Verdict, conditions_text, where_text
from runner.analysis.markdown import html_table, md_table

COUNTEREXAMPLES = 5  # rows shown per claim
FIRST = ("refuted", "depends")  # verdicts a reader came for: listed first in the summary
STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.45;color:#1b1b1b;margin:0;padding:0 12px}
main{max-width:980px;margin:0 auto;padding:1em 0 3em}
h1{font-size:1.7em;margin:.4em 0}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{margin:.2em 0}
p,li,dd,td,th,blockquote,code,pre,summary{overflow-wrap:anywhere;word-break:break-word}
pre{white-space:pre-wrap;background:#f4f4f4;padding:8px;border-radius:4px}
code{background:#f4f4f4;padding:0 3px}
table.t{border-collapse:collapse;width:100%;table-layout:fixed;font-size:13px;margin:.4em 0}
table.t td,table.t th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
table.t th{background:#f4f4f4}
img{max-width:100%;height:auto}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:.85em;font-weight:600;color:#fff;
 white-space:nowrap;vertical-align:middle}
.holds{background:#2e7d32}.refuted{background:#c62828}.depends{background:#b26a00}.untested{background:#757575}
.claim{border:1px solid #ddd;border-left:5px solid #757575;border-radius:4px;padding:.6em .9em;margin:1em 0}
.claim.v-holds{border-left-color:#2e7d32}.claim.v-refuted{border-left-color:#c62828}
.claim.v-depends{border-left-color:#b26a00}
blockquote{margin:.4em 0;padding-left:.8em;border-left:3px solid #ccc;color:#333}
dl{display:grid;grid-template-columns:minmax(6em,max-content) 1fr;gap:2px 12px;margin:.5em 0}
dt{font-weight:600;color:#555}dd{margin:0;min-width:0}
.summary h2{margin-top:.3em}.summary{background:#fafafa;border:1px solid #e2e2e2;border-radius:6px;padding:.5em 1em}
.findings li{margin:.25em 0}.muted{color:#666}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
"""


@dataclass
class Page:
    """What the report shows, computed by report.py."""
    jobs: int
    rows: int
    status: Dict[str, int]
    environment: pd.DataFrame          # what, value
    options: pd.DataFrame              # option, values in this sweep
    verdicts: List[Verdict]
    claim_files: List[str]
    command: str
    not_ok: pd.DataFrame
    matrices: Dict[str, pd.DataFrame]
    figure: Optional[Path]
    column_reference: str
    verdict_rules: str
    job_keys: List[str] = field(default_factory=list)
    comparison: Optional[List[str]] = None  # compare's summary lines against another table
    about: set = field(default_factory=set)  # ids of the claims this sweep's rows are about


def anchor(claim_id: str) -> str:
    return "claim-" + re.sub(r"[^A-Za-z0-9_-]+", "-", claim_id).strip("-")


def reason(verdict: Verdict) -> str:
    """One sentence: what decides the verdict and, for a refuted claim, one counterexample by its variant and
    tensor (the detail's own example names the long job key)."""
    text = re.split(r"[;,] e\.g\. |; \d+ rows? matching but not measured", verdict.detail, maxsplit=1)[0]
    text = text if len(text) <= 220 else text[:219] + "…"
    examples = counterexample_frame(verdict, ())
    if verdict.verdict == "refuted" and len(examples):
        first = examples.iloc[0]
        text += f"; e.g. {first['variant']}/{first['tensor']}: {first['measured']} (expected {first['expected']})"
    return text


def found_text(verdict: Verdict) -> str:
    """The detail, its counterexample named by variant and tensor instead of the whole job key."""
    rows = verdict.counterexamples
    if rows is None or not len(rows) or "job" not in rows or "variant" not in rows:
        return verdict.detail
    first = rows.iloc[0]
    return verdict.detail.replace(f"e.g. {first['job']} / {first['tensor']}: ",
                                  f"e.g. {first['variant']}/{first['tensor']}: ", 1)


def environment_line(env: pd.DataFrame) -> str:
    values = dict(zip(env["what"], env["value"]))
    names = [("torch", "torch_version"), ("onnx", "onnx_version"), ("onnxruntime", "onnxruntime_version"),
             ("Python", "python_version"), ("", "platform"), ("device", "device")]
    return " · ".join(f"{label} {values[k]}".strip() for label, k in names if values.get(k, "-") not in ("-", ""))


def applicable(page: "Page") -> List[Verdict]:
    """The claims this sweep is about (report.py decides: `about`); the others are listed once, collapsed."""
    return [v for v in page.verdicts if v.claim.id in page.about]


ORDER = {"refuted": 0, "depends": 1, "holds": 2, "untested": 3}


def ordered(verdicts: Sequence[Verdict]) -> List[Verdict]:
    """Refuted, then depends, then holds, then untested; the claim files' order within each."""
    return sorted(verdicts, key=lambda v: ORDER.get(v.verdict, 4))


def counterexample_frame(verdict: Verdict, varying: Sequence[str]) -> pd.DataFrame:
    """Up to COUNTEREXAMPLES failing rows: variant, tensor, the options that vary, expected and measured."""
    rows = verdict.counterexamples
    if rows is None or not len(rows):
        return pd.DataFrame()
    expected = conditions_text(verdict.claim.expect)
    records = []
    for _, row in rows.head(COUNTEREXAMPLES).iterrows():
        options = ", ".join(p for p in key_parts(str(row.get("job", ""))) if p in varying
                            and not p.startswith("variant="))
        measured = ", ".join(f"{c}={row[c] if row[c] != '' else chr(34) * 2}" for c in verdict.claim.expect
                             if c in row.index)
        records.append({"variant": row.get("variant", ""), "tensor": row.get("tensor", ""),
                        "options": options or "-", "expected": expected, "measured": measured})
    return pd.DataFrame(records, columns=["variant", "tensor", "options", "expected", "measured"])


def counts_text(verdict: Verdict) -> str:
    return f"{verdict.rows} rows counted, {verdict.not_measured} not measured"


def sweep_line(page: Page) -> str:
    status = ", ".join(f"{n} {s}" for s, n in sorted(page.status.items()))
    swept = "; ".join(f"{o}: {v}" for o, v in zip(page.options["option"], page.options["values in this sweep"])
                      if o in ("variant", "update", "export", "optimizer", "device"))
    return f"{page.jobs} jobs ({status}), {page.rows} rows (one per job and tensor). {swept}"


def verdict_counts(verdicts: Sequence[Verdict]) -> Dict[str, int]:
    return {v: sum(1 for x in verdicts if x.verdict == v) for v in VERDICTS}


# ---------------------------------------------------------------------------------------------- HTML
def _badge(verdict: str, text: Optional[str] = None) -> str:
    return f'<span class="badge {html.escape(verdict)}">{html.escape(text or verdict)}</span>'


def _figure_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _claim_html(v: Verdict, varying: Sequence[str]) -> str:
    esc = html.escape
    c = v.claim
    examples = counterexample_frame(v, varying)
    table = ""
    if len(examples):
        more = f" (first {COUNTEREXAMPLES} of {len(v.counterexamples)})" if len(v.counterexamples) > COUNTEREXAMPLES else ""
        table = f"<p><strong>Rows that refute it{more}:</strong></p>{html_table(examples)}"
    return (f'<section class="claim v-{esc(v.verdict)}" id="{anchor(c.id)}"><h3>{_badge(v.verdict)} '
            f'<a href="#{anchor(c.id)}">{esc(c.id)}</a></h3><blockquote>{esc(c.statement)}</blockquote>'
            f'<dl><dt>source</dt><dd>{esc(c.source)}</dd><dt>about</dt><dd>the rows with {esc(where_text(c))}</dd>'
            f'<dt>expects</dt><dd>{esc(conditions_text(c.expect))}</dd><dt>found</dt><dd>{esc(found_text(v))}</dd>'
            f'<dt>counts</dt><dd>{esc(counts_text(v))}</dd></dl>{table}</section>')


def render_html(page: Page) -> str:
    esc = html.escape
    shown = applicable(page)
    skipped = [v for v in page.verdicts if v not in shown]
    counts = verdict_counts(shown)
    varying = varying_parts(page.job_keys)
    parts = ['<main><h1>tensorprobe report</h1><section class="summary" id="summary"><h2>Summary</h2>',
             f"<p>{esc(sweep_line(page))}</p>", f"<p class=\"muted\">{esc(environment_line(page.environment))}</p>"]
    if shown:
        parts.append("<p>" + " ".join(_badge(v, f"{counts[v]} {v}") for v in VERDICTS if counts[v]) + "</p>")
        first = [v for v in ordered(shown) if v.verdict in FIRST]
        if first:
            parts.append('<ul class="findings">' + "".join(
                f'<li>{_badge(v.verdict)} <a href="#{anchor(v.claim.id)}">{esc(v.claim.id)}</a>: {esc(reason(v))}</li>'
                for v in first) + "</ul>")
        held = [v for v in shown if v.verdict == "holds"]
        if held:
            parts.append("<p>Holds: " + ", ".join(f'<a href="#{anchor(v.claim.id)}">{esc(v.claim.id)}</a>'
                                                  for v in held) + "</p>")
    if skipped:
        files = ", ".join(page.claim_files) or "the claim files"
        parts.append(f'<p class="muted">{len(skipped)} claims of {esc(files)} are about rows or stages this '
                     "sweep does not have (untested, listed at the end of the claims).</p>")
    if not page.verdicts:
        parts.append('<p class="muted">No claim file judged this sweep.</p>')
    parts.append("</section>")
    if shown or skipped:
        parts.append(f'<section id="claims"><h2>Claims</h2><p class="muted">{esc(page.verdict_rules)}</p>')
        parts += [_claim_html(v, varying) for v in ordered(shown)]
        if skipped:
            parts.append(f"<details><summary>{len(skipped)} claims no row of this sweep is about</summary>"
                         + html_table(pd.DataFrame([(v.claim.id, v.detail) for v in skipped],
                                                   columns=["claim", "why untested"])) + "</details>")
        parts.append("</section>")
    if page.comparison:
        parts.append('<section id="comparison"><h2>Comparison</h2><pre>'
                     + esc("\n".join(page.comparison)) + "</pre></section>")
    if page.figure:
        parts.append('<section id="heatmap"><h2>Outcomes at a glance</h2>'
                     f'<img src="{_figure_uri(page.figure)}" alt="heat map: share of jobs in which each fact '
                     'holds, per tensor"></section>')
    if page.matrices:
        parts.append('<section id="outcomes"><h2>Outcomes per tensor</h2><p class="muted">One table per outcome: '
                     "rows (variant, tensor), columns only the swept options that change it; n/a: not "
                     "measured.</p>")
        parts += [f"<details><summary>{esc(o)}</summary>{html_table(m)}</details>" for o, m in page.matrices.items()]
        parts.append("</section>")
    parts.append(f'<section id="reproduce"><h2>Reproduce</h2><pre>{esc(page.command)}</pre>'
                 f"<p>{esc(page.column_reference)}</p></section>")
    parts.append(f'<section id="environment"><h2>Environment</h2>{html_table(page.environment)}'
                 f"<h3>Sweep</h3>{html_table(page.options)}")
    if len(page.not_ok):
        parts.append(f"<p>Jobs that did not run to the end:</p>{html_table(page.not_ok)}")
    parts.append("</section></main>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>tensorprobe report</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


# ------------------------------------------------------------------------------------------ Markdown
def _claim_md(v: Verdict, varying: Sequence[str]) -> List[str]:
    c = v.claim
    lines = [f'<a id="{anchor(c.id)}"></a>', f"### {c.id} — **{v.verdict}**", "", f"> {c.statement}", "",
             f"- source: {c.source}", f"- about: the rows with `{where_text(c)}`",
             f"- expects: `{conditions_text(c.expect)}`", f"- found: {found_text(v)}", f"- counts: {counts_text(v)}", ""]
    examples = counterexample_frame(v, varying)
    if len(examples):
        lines += [md_table(examples), ""]
    return lines


def render_md(page: Page, figure_name: Optional[str]) -> str:
    shown = applicable(page)
    skipped = [v for v in page.verdicts if v not in shown]
    counts = verdict_counts(shown)
    varying = varying_parts(page.job_keys)
    md = ["# tensorprobe report", "", "## Summary", "", sweep_line(page), "", environment_line(page.environment), ""]
    if shown:
        md += ["Claims: " + ", ".join(f"**{counts[v]} {v}**" for v in VERDICTS if counts[v]), ""]
        md += [f"- **{v.verdict}** [{v.claim.id}](#{anchor(v.claim.id)}): {reason(v)}"
               for v in ordered(shown) if v.verdict in FIRST]
        held = [v for v in shown if v.verdict == "holds"]
        md += (["", "Holds: " + ", ".join(f"[{v.claim.id}](#{anchor(v.claim.id)})" for v in held)] if held else [])
        md.append("")
    if skipped:
        md += [f"{len(skipped)} claims of {', '.join(page.claim_files) or 'the claim files'} are about rows or stages "
               "this sweep does not have (untested, listed at the end of the claims).", ""]
    if not page.verdicts:
        md += ["No claim file judged this sweep.", ""]
    if shown or skipped:
        md += ["## Claims", "", page.verdict_rules, ""]
        for v in ordered(shown):
            md += _claim_md(v, varying)
        if skipped:
            md += ["### Claims no row of this sweep is about", "",
                   md_table(pd.DataFrame([(v.claim.id, v.detail) for v in skipped], columns=["claim", "why untested"])),
                   ""]
    if page.comparison:
        md += ["## Comparison", "", "```text", *page.comparison, "```", ""]
    if figure_name:
        md += ["## Outcomes at a glance", "", f"![outcomes]({figure_name})", ""]
    md += ["## Reproduce", "", "```bash", page.command, "```", "", page.column_reference, "",
           "## Environment", "", md_table(page.environment), "", "### Sweep", "", md_table(page.options), ""]
    if len(page.not_ok):
        md += ["Jobs that did not run to the end:", "", md_table(page.not_ok), ""]
    if page.matrices:
        md += ["## Outcomes per tensor", "", "Each table shows one outcome per (variant, tensor); columns are only "
               "the swept options that change it; `n/a`: not measured.", ""]
        for outcome, matrix in page.matrices.items():
            md += [f"### {outcome}", "", md_table(matrix), ""]
    return "\n".join(md) + "\n"
