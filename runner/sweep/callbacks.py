"""Hydra callback: after the last job of a multirun, write the sweep table (from disk, any launcher)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepTable(Callback):
    """Collect the sweep directory and write its report; fail loudly (exit 2) if the table cannot be written.

    Turn the report off with `hydra.callbacks.sweep_table.report=false`; `audit=true` (set by
    `+experiment=audit`) also writes audit.md/audit.csv and prints the findings; `claims` names the
    claim files of conf/claims the report judges (a preset sets its own; default: every file).

    Hydra turns an exception in a callback into a warning and exits 0, so
    this callback raises SystemExit instead, which Hydra does not catch: 2 when a job's config was
    invalid, 1 when jobs failed (the table and report are written first).
    """

    def __init__(self, report: bool = True, audit: bool = False, claims: Any = None) -> None:
        self.report = report
        self.audit = audit
        self.claims = None if claims is None else [str(c) for c in claims]  # conf/claims/<name>.yaml; None: all

    def claim_files(self) -> Optional[List[Path]]:
        """The claim files the report judges: the named ones of conf/claims (a preset names its own), else all."""
        if self.claims is None:
            return None
        from runner.analysis.report import DEFAULT_CLAIMS
        return [DEFAULT_CLAIMS / f"{name}.yaml" for name in self.claims]

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from runner.sweep import progress
        if progress.current is None:  # not the sweeper's process (parallel workers) or not a sweep
            return
        value = getattr(job_return, "_return_value", None)  # the property re-raises a failed job's exception
        summary = value if isinstance(value, dict) else {"status": "error", "seconds": 0.0}
        label = " ".join(_as_in_key(o) for o in config.hydra.overrides.task)
        progress.current.job_done(label, summary.get("status", "?"), summary.get("seconds", 0.0))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from runner.table.collect import collect, summary
        if config.get("dry_run"):
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            collected = collect(sweep_dir)
        except Exception as exc:  # noqa: BLE001
            from runner.sweep import interrupt
            from runner.table.csvfile import TableError
            if interrupt.state.requested and isinstance(exc, TableError) and "no job results" in str(exc):
                print("sweep table not written: no job finished before Ctrl-C", file=sys.stderr)
                return  # the app exits 130 and says how to resume
            print(f"tensorprobe: error: sweep table not written: {exc}", file=sys.stderr)
            raise SystemExit(2)
        print(summary(collected))
        if self.report:
            from runner.analysis.report import write_report
            try:
                print(f"report: {write_report(sweep_dir, self.claim_files()).markdown}")
            except Exception as exc:  # noqa: BLE001 - the table is written; say why the report is not
                print(f"tensorprobe: error: report not written: {exc}", file=sys.stderr)
                raise SystemExit(2)
        if self.audit:
            from runner.analysis.audit import audit, render, write_audit
            findings = audit(collected.table)
            print(render(findings) if findings else "audit: no findings")
            print(f"audit: {write_audit(sweep_dir, findings)}")
        bad = dict.fromkeys(r["reason"] for r in collected.rows if r.get("status") == "config_error")  # job order
        for reason in bad:
            print(f"tensorprobe: error: {reason}", file=sys.stderr)
        if bad:
            raise SystemExit(2)
        from runner.sweep import interrupt
        if interrupt.state.requested or interrupt.state.unfinished:
            return  # the app says what did not finish, and how to resume
        failed = [r for r in _job_rows(collected.rows) if r.get("status") == "failed"]
        if failed:
            print(f"tensorprobe: error: {len(failed)} of {collected.jobs_with_results} jobs failed "
                  f"(first: {failed[0].get('reason', '')[:200]}); their rows are in {collected.path}",
                  file=sys.stderr)
            raise SystemExit(1)


def _as_in_key(override: str) -> str:
    """An override as the job key spells it: Hydra renders a parsed boolean as True/False, the key true/false."""
    import re
    return re.sub(r"(?<=[=,\[:])(True|False)(?=[,\]}]|$)", lambda m: m.group(1).lower(), override)


def _job_rows(rows):
    """The first row of each job (a job's status is the same on all its rows)."""
    first = {}
    for r in rows:
        first.setdefault(r.get("job"), r)
    return list(first.values())
