"""The task function's body: typed config in, results.csv out. The only job code that touches Hydra."""
from __future__ import annotations

import logging
import sys
from dataclasses import fields
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError, exception_text
from .jobkey import config_hash, job_key
from .schema import GROUPS, Config
from .table import RESULTS_FILE, to_frame, write_atomic
from .validate import check_config

log = logging.getLogger("tensorprobe")
SUMMARY_COLUMNS = ["tensor", "declared_as", "in_parameters", "in_buffers", "in_state_dict", "grad",
                   "updated", "follows_dtype", "follows_device", "restored", "export_role"]


_PARSER = None
NOT_IDENTITY = ("dry_run",)  # keys that change how a sweep runs, not what a job is


def _parser() -> OverridesParser:
    global _PARSER
    if _PARSER is None:  # building the override grammar's parser is slow: once per process
        _PARSER = OverridesParser.create()
    return _PARSER


def identify(cfg: DictConfig, choices, task_overrides):
    """JobIdentity (key, choices, config hash) from a job's config (without its hydra node) and overrides."""
    from .job import JobIdentity
    choices = {g: str(choices[g]) for g in GROUPS}
    nested = []
    for override in _parser().parse_overrides(list(task_overrides)):
        key = override.key_or_group
        if "." in key and key.split(".")[0] in GROUPS and not override.is_delete():
            nested.append((key, OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(cfg, key)}))["v"]))
    plain = {k: cfg[k] for k in ("seed", "steps", "lr", "move_to")}
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
    from .job import run_job
    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    ident = identify(cfg, hc.runtime.choices, hc.overrides.task)
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
    frame = to_frame(rows)
    path = write_atomic(frame, output_dir / RESULTS_FILE)
    status = frame["status"].iloc[0]
    seconds = float(frame["job_seconds"].iloc[0] or 0)
    if hc.mode == RunMode.MULTIRUN:
        log.info("job %s: %s (%s s)", ident.key, status, seconds)
    else:
        print(frame[SUMMARY_COLUMNS if status == "ok" else ["status", "reason"]].to_string(index=False))
        errors = {c: frame[c].iloc[0] for c in ("update_error", "export_error") if frame[c].iloc[0]}
        for column, error in errors.items():
            print(f"{column}: {error}")
        print(f"results: {path}")
    return {"key": ident.key, "status": status, "rows": len(frame), "seconds": seconds}
