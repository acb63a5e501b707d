"""`hydra/sweeper=tensorprobe` (tensorprobe's default): Hydra's basic sweeper, plus

* fast, identical composition of every job's config (runner.fastcompose), done once per job;
* resume: jobs whose results.csv in the sweep directory already holds this config's results are skipped;
* `dry_run=true`: list every job with its key and config hash, and the table's size, then stop;
* a progress line per finished job;
* with the in-process launcher, planning runs in a forked child while this process imports torch
  (runner.planahead; `hydra.sweeper.plan_ahead=false` turns it off).

Jobs are handed to whatever launcher is configured (basic, joblib, submitit), in contiguous runs,
so job numbers (and job directories) stay those of the full sweep.
"""
from __future__ import annotations

import importlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from runner.sweep import interrupt, progress
from runner.sweep.fastcompose import FastSweepConfigLoader

log = logging.getLogger(__name__)


@dataclass
class PlannedJob:
    idx: int
    overrides: List[str]
    key: str
    config_hash: str
    done: bool


class _ComposedOnce(FastSweepConfigLoader):
    """Hands the launcher the config the sweeper already composed for a job (in-process launchers)."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.ready: Dict[tuple, DictConfig] = {}

    def __setstate__(self, state):
        FastSweepConfigLoader.__setstate__(self, state)
        self.ready = {}

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        cfg = self.ready.pop(tuple(sweep_overrides), None)
        return cfg if cfg is not None else super().load_sweep_config(master_config, sweep_overrides)


class TensorprobeSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 fast_compose: bool = True, resume: bool = True, plan_ahead: bool = True) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.fast_compose = fast_compose
        self.resume = resume
        self.plan_ahead = plan_ahead

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        if self.fast_compose:
            hydra_context = HydraContext(config_loader=_ComposedOnce(hydra_context.config_loader),
                                         callbacks=hydra_context.callbacks)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def _plan(self, idx: int, overrides: Sequence[str], sweep_dir: Path) -> PlannedJob:
        from runner.table.jobstate import finished_hash
        from runner.job.task import KNOWN, identify
        loader = self.hydra_context.config_loader
        cfg = loader.load_sweep_config(self.config, list(overrides))  # composes, so errors surface now
        ident = identify(cfg, cfg.hydra.runtime.choices, cfg.hydra.overrides.task)
        if isinstance(loader, _ComposedOnce):  # the in-process launcher gets this very config and identity
            loader.ready[tuple(overrides)] = cfg
            KNOWN[tuple(cfg.hydra.overrides.task)] = ident
        subdir = _job_subdir(self.config, idx)
        done = self.resume and finished_hash(sweep_dir / subdir) == ident.config_hash
        return PlannedJob(idx, list(overrides), ident.key, ident.config_hash, done)

    def _plan_ahead(self, jobs: List[Sequence[str]], sweep_dir: Path) -> Optional[List[PlannedJob]]:
        """Plan in a forked child while this process imports the job code (runner.planahead), for the
        in-process launcher, whose jobs run here; None where that does not apply or did not work."""
        from runner.sweep import planahead
        from runner.sweep.launcher import TensorprobeLauncher
        from runner.job.task import KNOWN
        loader = self.hydra_context.config_loader
        if not (isinstance(loader, _ComposedOnce) and isinstance(self.launcher, TensorprobeLauncher)
                and planahead.possible() and _pickles(self.config)):
            return None

        def plan():
            plans = [self._plan(i, job, sweep_dir) for i, job in enumerate(jobs)]
            return plans, loader.ready, KNOWN

        got = planahead.run(plan, warm=lambda: importlib.import_module("runner.job.pipeline"))
        if got is None:
            return None
        plans, ready, known = got
        loader.ready.update(ready)
        KNOWN.update(known)
        log.debug("planned %d jobs in a forked child while importing the job code", len(plans))
        return plans

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        params = self._parse_config() + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        batches = self.split_arguments(parser.parse_overrides(params), self.max_batch_size)
        jobs = [job for batch in batches for job in batch]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        dry_run = bool(OmegaConf.select(self.config, "dry_run", default=False))
        if not dry_run:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        plans = self._plan_ahead(jobs, sweep_dir) if self.plan_ahead and not dry_run and len(jobs) > 1 else None
        if plans is None:
            plans = [self._plan(i, job, sweep_dir) for i, job in enumerate(jobs)]
        if dry_run:
            from runner.sweep.dryrun import print_plan
            print_plan(plans, self.hydra_context.config_loader, self.config)
            return []
        todo = [p for p in plans if not p.done]
        if len(todo) < len(plans):
            print(f"resuming {sweep_dir}: {len(plans) - len(todo)} of {len(plans)} jobs already have results; "
                  f"running {len(todo)}", flush=True)
        progress.current = progress.Progress(total=len(todo))
        returns = []
        try:
            with interrupt.stop_after_current_job(str(sweep_dir)):
                for run in _contiguous(todo, self.max_batch_size):
                    if interrupt.requested:
                        break
                    results = self.launcher.launch([p.overrides for p in run], initial_job_idx=run[0].idx)
                    for r in results:
                        _ = r.return_value  # re-raise a job's exception, as the basic sweeper does
                    returns.append(results)
        finally:
            progress.current = None
        return returns


def _pickles(config: DictConfig) -> bool:
    """Job configs can travel back from the planning child (a plugin's re-imported schema class cannot)."""
    try:
        pickle.dumps(config)
    except Exception:  # noqa: BLE001
        return False
    return True


def _job_subdir(config: DictConfig, idx: int) -> str:
    """hydra.sweep.subdir of job number idx (default `${hydra.job.num}`); resume needs no other kind."""
    raw = OmegaConf.to_container(config.hydra.sweep, resolve=False)["subdir"]
    if raw == "${hydra.job.num}":
        return str(idx)
    probe = OmegaConf.create({"hydra": {"job": {"num": idx, "id": idx}, "sweep": {"subdir": raw}}})
    try:
        return str(probe.hydra.sweep.subdir)
    except Exception:  # noqa: BLE001 - depends on what only the launcher knows: never counts as done
        return f".unresolvable-{idx}"


def _contiguous(jobs: List[PlannedJob], max_batch: Optional[int]) -> List[List[PlannedJob]]:
    runs: List[List[PlannedJob]] = []
    for job in jobs:
        if runs and runs[-1][-1].idx == job.idx - 1 and (not max_batch or len(runs[-1]) < max_batch):
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs
