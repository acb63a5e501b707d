"""The task function's body: a composed config in, results.csv out (the job-side code that reads Hydra's state).

The config is validated before torch is imported, so a bad command line fails in a fraction of
a second. In a sweep, an invalid config becomes the job's `config_error` row, and a job that raises
anyway becomes a `failed` row: one job never ends the others.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from runner.errors import ConfigError, exception_text
from runner.job.identity import JobIdentity, identify
from runner.job.validate import typed_config
from runner.table.csvfile import RESULTS_FILE, write_rows_atomic

log = logging.getLogger("tensorprobe")
SUMMARY_COLUMNS = ["tensor", "declared_as", "in_parameters", "in_buffers", "in_state_dict", "grad",
                   "updated", "follows_dtype", "follows_device", "restored", "export_role"]


def optimizer_factory(optimizer_cfg: DictConfig):
    """params -> optimizer. A partial, so the optimizer's own exception (not Hydra's wrapper) reaches the
    table; a _target_ that cannot even be imported raises when training sets the optimizer up."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    try:
        return instantiate(optimizer_cfg, _partial_=True)
    except InstantiationException as exc:
        error = exc.__cause__ or exc

        def fail(params):
            raise error
        return fail


def error_row(ident: JobIdentity, seed, status: str, reason: str) -> dict:
    """The one row of a job that never reached its tensors."""
    return {"job": ident.key, **ident.choices, "seed": seed, "status": status, "reason": reason,
            "config_hash": ident.config_hash}


def run_task(cfg: DictConfig) -> dict:
    """Run one job and write its results.csv; in a sweep, record even a config error as the job's row."""
    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    ident = identify(cfg, hc.runtime.choices, hc.overrides.task)
    if cfg.get("dry_run") and not multirun:
        print(f"dry run: 1 job, config hash {ident.config_hash}: {ident.key}; nothing was run")
        return {"key": ident.key, "status": "dry_run"}
    try:
        typed = typed_config(cfg, f"variant/{ident.choices['variant']}.yaml")
        if not multirun:  # a sweep checked every job's targets while planning
            from runner.job.targets import check_job_targets
            check_job_targets(cfg, f"variant/{ident.choices['variant']}.yaml")
    except ConfigError as exc:
        if not multirun:  # exit here: an exception would make Hydra print its own lines first
            print(f"tensorprobe: error: {exc}", file=sys.stderr)
            raise SystemExit(2)
        rows = [error_row(ident, cfg.seed, "config_error", str(exc))]
    else:
        from runner.job.pipeline import run_job  # torch, only once the config is known to be valid
        try:
            rows = run_job(typed, ident, output_dir, optimizer_factory(cfg.optimizer))
        except Exception as exc:  # noqa: BLE001 - a defect of ours must not end the other jobs
            log.exception("job %s raised", ident.key)
            rows = [error_row(ident, cfg.seed, "failed", f"tensorprobe: {exception_text(exc)}")]
    path = write_rows_atomic(rows, output_dir / RESULTS_FILE)
    status = rows[0]["status"]
    seconds = float(rows[0].get("job_seconds") or 0)
    if multirun:
        log.info("job %s: %s (%s s)", ident.key, status, seconds)
    else:
        _print_summary(rows, path)
        if status == "failed":  # the row is written; the exit status says the job did not run
            print(f"tensorprobe: error: the job failed ({rows[0].get('reason', '')[:300]}); its row is in {path}",
                  file=sys.stderr)
            raise SystemExit(1)
    return {"key": ident.key, "status": status, "rows": len(rows), "seconds": seconds}


def _print_summary(rows, path: Path) -> None:
    from runner.table.csvfile import to_frame
    frame = to_frame(rows)
    ran = frame["tensor"].iloc[0] != ""
    print(frame[SUMMARY_COLUMNS if ran else ["status", "reason"]].to_string(index=False))
    if ran and frame["status"].iloc[0] == "partial":
        print(f"status: partial: {frame['reason'].iloc[0]}")
    errors = {c: frame[c].iloc[0] for c in ("update_error", "export_error") if frame[c].iloc[0]}
    for column, error in errors.items():
        print(f"{column}: {error}")
    print(f"results: {path}")
