"""What tp.audit returns: the findings, the table they come from, the exit code, and a Jupyter view.

The findings are runner.analysis.audit's, from the measured cells of the table; `exit_code` is what
`python -m runner.audit` returns on the same table, so a notebook and a CI check agree.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import pandas as pd

COLOURS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


@dataclass
class Audit:
    """findings: the audit.csv frame (tensor, severity, finding, evidence, fix), worst first; table: the
    results frame; exit_code: 0 when no finding reaches fail_on, else 1; out_dir: where it was written."""
    findings: "pd.DataFrame"
    table: "pd.DataFrame"
    exit_code: int
    fail_on: str = "warning"
    out_dir: Optional[Path] = None

    @classmethod
    def of(cls, table: "pd.DataFrame", fail_on: str = "warning", out_dir: Optional[Path] = None) -> "Audit":
        import pandas as pd

        from runner.analysis.audit import AUDIT_COLUMNS, audit, fails
        found = audit(table)
        frame = pd.DataFrame([asdict(f) for f in found], columns=AUDIT_COLUMNS, dtype=str)
        return cls(frame, table, 1 if fails(found, fail_on) else 0, fail_on, out_dir)

    def __repr__(self) -> str:
        from runner.analysis.audit import SEVERITIES
        counts = self.findings["severity"].value_counts().to_dict()
        spelled = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if s in counts)
        head = (f"Audit: {len(self.findings)} findings ({spelled or 'none'}), "
                f"exit code {self.exit_code} (--fail-on {self.fail_on})")
        lines = [f"{r.severity:<7} {r.tensor or '(module)'}: {r.finding}. Fix: {r.fix}. [{r.evidence}]"
                 for r in self.findings.itertuples()]
        return "\n".join([head, *lines])

    def _repr_html_(self) -> str:
        """Findings worst first, severity coloured, with the evidence and the fix of each."""
        cells = []
        for r in self.findings.itertuples():
            colour = COLOURS.get(r.severity, "inherit")
            cells.append(f"<tr><td style='color:{colour};font-weight:bold'>{html.escape(r.severity)}</td>"
                         f"<td><code>{html.escape(r.tensor or '(module)')}</code></td><td>{html.escape(r.finding)}</td>"
                         f"<td>{html.escape(r.evidence)}</td><td>{html.escape(r.fix)}</td></tr>")
        head = html.escape(repr(self).splitlines()[0])
        if not cells:
            return f"<p>{head}</p>"
        return (f"<p>{head}</p><table><thead><tr><th>severity</th><th>tensor</th><th>finding</th><th>evidence</th>"
                f"<th>fix</th></tr></thead><tbody>{''.join(cells)}</tbody></table>")
