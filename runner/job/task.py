"""The task function's body: typed config in, results.csv out. The only job code that touches Hydra."""
from __future__ import annotations

import logging
import re
import sys
from dataclasses import fields
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.errors import ConfigError, exception_text
from runner.job.identity import JobIdentity, config_hash, job_key
from runner.schema import GROUPS, PLAIN_KEYS, Config
from runner.table.csvfile import RESULTS_FILE, to_frame, write_rows_atomic
from runner.job.validate import check_config

log = logging.getLogger("tensorprobe")
SUMMARY_COLUMNS = ["tensor", "declared_as", "in_parameters", "in_buffers", "in_state_dict", "grad",
                   "updated", "follows_dtype", "follows_device", "restored", "export_role"]


NOT_IDENTITY = ("dry_run",)  # keys that change how a sweep runs, not what a job is
# `[+|++|~]key[@package]=value`: the key of a command-line override (Hydra's grammar, keys only)
_OVERRIDE_KEY = re.compile(r"^(?P<op>\+\+|\+|~)?(?P<key>[\w$./\-]+)(?:@[\w$.\-]*)?(?:=|$)")
# Identities the sweeper already computed for jobs it hands to an in-process launcher.
KNOWN: dict = {}


def identify(cfg: DictConfig, choices, task_overrides):
    """JobIdentity (key, choices, config hash) from a job's config (without its hydra node) and overrides."""
    choices = {g: str(choices[g]) for g in GROUPS}
    nested = []
    for line in task_overrides:
        match = _OVERRIDE_KEY.match(line)
        key = match.group("key") if match else ""
        if "." in key and key.split(".")[0] in GROUPS and match.group("op") != "~":
            nested.append((key, OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(cfg, key)}))["v"]))
    plain = {k: cfg[k] for k in PLAIN_KEYS}
    resolved = {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                for k in cfg if k != "hydra" and k not in NOT_IDENTITY}  # same with or without the hydra node
    return JobIdentity(job_key(choices, plain, nested), choices, config_hash(resolved))


def typed_config(cfg: DictConfig, variant_choice: str) -> Config:
    """Reject unknown top-level keys (Hydra accepts `+typo=1`), convert once, run cross-field checks."""
    allowed = [f.name for f in fields(Config)]
    unknown = [k for k in cfg.keys() if k not in allowed]
    if unknown:
        raise ConfigError(f"+{unknown[0]}", f"unknown top-level key '{unknown[0]}'; allowed: {', '.join(allowed)}")
    try:
        typed = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"variant/{variant_choice}.yaml", exception_text(exc)) from None
    check_config(typed, f"variant/{variant_choice}.yaml")
    return typed


def run_task(cfg: DictConfig) -> dict:
    """Run one job and write its results.csv; in a sweep, record even a config error as the job's row."""
    from runner.job.pipeline import run_job
    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    ident = KNOWN.pop(tuple(hc.overrides.task), None) or identify(cfg, hc.runtime.choices, hc.overrides.task)
    if cfg.get("dry_run") and hc.mode != RunMode.MULTIRUN:
        print(f"dry run: 1 job, config hash {ident.config_hash}: {ident.key}; nothing was run")
        return {"key": ident.key, "status": "dry_run"}
    try:
        typed = typed_config(cfg, ident.choices["variant"])
    except ConfigError as exc:
        if hc.mode != RunMode.MULTIRUN:  # exit here: an exception would make Hydra print its own lines first
            print(f"tensorprobe: error: {exc}", file=sys.stderr)
            raise SystemExit(2)
        rows = [{"job": ident.key, **ident.choices, "seed": cfg.seed, "status": "failed",
                 "reason": exception_text(exc), "config_hash": ident.config_hash}]
    else:
        # A partial, so the optimizer's own exception (not Hydra's wrapper) reaches the table.
        rows = run_job(typed, ident, output_dir, instantiate(cfg.optimizer, _partial_=True))
    path = write_rows_atomic(rows, output_dir / RESULTS_FILE)
    status = rows[0]["status"]
    seconds = float(rows[0].get("job_seconds") or 0)
    if hc.mode == RunMode.MULTIRUN:
        log.info("job %s: %s (%s s)", ident.key, status, seconds)
    else:
        frame = to_frame(rows)
        print(frame[SUMMARY_COLUMNS if status == "ok" else ["status", "reason"]].to_string(index=False))
        errors = {c: frame[c].iloc[0] for c in ("update_error", "export_error") if frame[c].iloc[0]}
        for column, error in errors.items():
            print(f"{column}: {error}")
        print(f"results: {path}")
    return {"key": ident.key, "status": status, "rows": len(rows), "seconds": seconds}
