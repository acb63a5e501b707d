"""`hydra/sweeper=tensorprobe` (tensorprobe's default): the cartesian product of the sweep's values, as
Hydra's basic sweeper makes it, planned before anything runs:

* every job is composed (runner.sweep.fastcompose, identical to Hydra's compose), named (key, config
  hash) and validated; the plan keeps only that, and configs are composed again when jobs launch, so
  memory stays flat however many jobs a sweep has;
* a bad config in any job stops the sweep before any job runs (one line, exit 2);
* a job repeated in the sweep (`export=none,torch_export,torch_export`) runs once;
* resume: jobs whose results.csv in the sweep directory holds this config's results are skipped; a
  directory that holds another sweep is refused (runner.sweep.sweepdir);
* `dry_run=true` lists every job with its key and config hash, and the table's size;
* with the in-process launcher on Linux, planning runs in a forked child while this process imports
  torch (runner.sweep.planahead; `hydra.sweeper.plan_ahead=false` turns it off).

Jobs are handed to whatever launcher is configured (tensorprobe, basic, joblib, submitit), in contiguous
runs of job numbers, so job numbers (and job directories) are those of the full sweep.
"""
from __future__ import annotations

import itertools
import logging
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from runner.errors import ConfigError, exception_text
from runner.schema import GROUPS
from runner.sweep import interrupt, progress
from runner.sweep.planning import PlannedJob, Planner, job_dir
from runner.sweep.fastcompose import FastSweepConfigLoader

log = logging.getLogger(__name__)


def expand(overrides: Sequence[Override]) -> List[List[str]]:
    """The cartesian product of the sweep overrides' values, in Hydra's basic sweeper's order."""
    lists: Dict[str, List[str]] = {}
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise HydraException(f"the tensorprobe sweeper sweeps lists and ranges, not {o.value_type.name} "
                                     f"({o.input_line})")
            lists[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            lists[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*lists.values())]


class TensorprobeSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 fast_compose: bool = True, resume: bool = True, plan_ahead: bool = True) -> None:
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.fast_compose = fast_compose
        self.resume = resume
        self.plan_ahead = plan_ahead
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        if self.fast_compose:
            hydra_context = HydraContext(config_loader=FastSweepConfigLoader(hydra_context.config_loader),
                                         callbacks=hydra_context.callbacks)
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    # -- planning --------------------------------------------------------------------------------
    def _plan(self, jobs: List[List[str]], sweep_dir: Path, count_rows: bool = False) -> List[PlannedJob]:
        from runner.table.jobstate import finished_hash
        if not all(group in self.config for group in GROUPS):  # another app's config (Hydra's test suites)
            return [PlannedJob(idx, list(overrides), key=" ".join(overrides), config_hash="")
                    for idx, overrides in enumerate(jobs)]
        planner = Planner(self.hydra_context.config_loader, self.config, count_rows=count_rows)
        plans = planner.plan(jobs, finished_hash if self.resume else None,
                             lambda idx: job_dir(sweep_dir, self.config, idx))
        if isinstance(self.hydra_context.config_loader, FastSweepConfigLoader):
            self.hydra_context.config_loader.log_counts()
        return plans

    def _plan_ahead(self, jobs: List[List[str]], sweep_dir: Path) -> Optional[List[PlannedJob]]:
        """Plan in a forked child while this process imports the job code (runner.sweep.planahead), for
        the in-process launcher, whose jobs run here; None where that does not apply or did not work."""
        from runner.sweep import planahead
        from runner.sweep.launcher import TensorprobeLauncher
        if not (self.plan_ahead and len(jobs) > 1 and isinstance(self.launcher, TensorprobeLauncher)
                and planahead.possible()):
            return None
        plans = planahead.run(lambda: self._plan(jobs, sweep_dir), warm=self.launcher.warm_up)
        if plans is not None:
            log.debug("planned %d jobs in a forked child while importing the job code", len(plans))
        return plans

    def plan(self, arguments: List[str]) -> List[PlannedJob]:
        """Every job of the sweep, named and validated; duplicates dropped (one line says which)."""
        params = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs = expand(parser.parse_overrides(params))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        dry_run = bool(OmegaConf.select(self.config, "dry_run", default=False))
        plans = (None if dry_run else self._plan_ahead(jobs, sweep_dir)) or self._plan(jobs, sweep_dir, dry_run)
        return drop_duplicates(plans)

    # -- running ---------------------------------------------------------------------------------
    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        plans = self.plan(arguments)
        invalid = [p for p in plans if p.error]
        if invalid:
            first = invalid[0]
            raise ConfigError(first.error.where, f"{first.error.message} (job #{first.idx}: "
                              f"{' '.join(first.overrides)}; {len(invalid)} of {len(plans)} jobs invalid; nothing was run)")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        if OmegaConf.select(self.config, "dry_run", default=False):
            from runner.sweep.dryrun import print_plan
            print_plan(plans)
            return []
        if all(group in self.config for group in GROUPS):  # tensorprobe's own config: one sweep per directory
            from runner.sweep.sweepdir import check_same_sweep, record_sweep
            check_same_sweep(sweep_dir, plans, lambda idx: job_dir(sweep_dir, self.config, idx))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            record_sweep(sweep_dir, plans, lambda idx: job_dir(sweep_dir, self.config, idx))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        todo = [p for p in plans if not p.done]
        if len(todo) < len(plans):
            print(f"resuming {sweep_dir}: {len(plans) - len(todo)} of {len(plans)} jobs already have results; "
                  f"running {len(todo)}", flush=True)
        progress.current = progress.Progress(total=len(todo))
        returns = []
        try:
            with interrupt.stop_after_current_job(str(sweep_dir)):
                interrupt.state.total = len(todo)
                for run in _contiguous(todo, self.max_batch_size):
                    if interrupt.state.requested:
                        break
                    try:
                        results = self.launcher.launch([p.overrides for p in run], initial_job_idx=run[0].idx)
                    except Exception as exc:  # noqa: BLE001 - a launcher that lost jobs: the others are kept
                        self._record_unfinished(run, sweep_dir, *launcher_failure(exc, run))
                        continue
                    for r in results:
                        _ = r.return_value  # re-raise a job's exception, as Hydra's basic sweeper does
                    returns.append(results)
        finally:
            progress.current = None
        return returns

    def _record_unfinished(self, run: List[PlannedJob], sweep_dir: Path, reason: str,
                           culprit: Optional[int] = None) -> None:
        """A `failed` row, with the launcher's reason, for each job of `run` that left no results. With
        `culprit` (the job number the launcher's error names), that job gets the reason and comes first in
        the final line; the others say that the launcher stopped waiting for them."""
        from runner.table.csvfile import RESULTS_FILE, write_rows_atomic
        from runner.table.jobstate import finished_hash
        order = sorted(run, key=lambda p: p.idx != culprit)
        for p in order:
            directory = job_dir(sweep_dir, self.config, p.idx)
            if finished_hash(directory) == p.config_hash:
                continue
            why = reason if culprit is None or p.idx == culprit else \
                f"the launcher stopped waiting after job #{culprit} ({reason}); this job may still be running"
            interrupt.state.unfinished.append(f"#{p.idx}: {why[:300]}")
            write_rows_atomic([{"job": p.key, **p.choices, "seed": p.seed, "status": "failed",
                                "reason": f"launcher: {why}", "config_hash": p.config_hash}],
                              directory / RESULTS_FILE)


def launcher_failure(exc: BaseException, run: List[PlannedJob]) -> Tuple[str, Optional[int]]:
    """(reason, job number it concerns or None) for an exception a launcher raised. submitit's
    UncompletedJobError (a job the scheduler ended without output; hydra-submitit-launcher gives up on
    the whole batch at the first one) becomes `cancelled by the scheduler (<state>), SLURM job <id>`."""
    import re
    text = str(exc)
    m = re.search(r"Job (\S+) \(task: \d+\) with path \S+\s+has not produced any output \(state: ([^)\n]*)\)", text)
    if type(exc).__name__ != "UncompletedJobError" or not m:
        return exception_text(exc), None
    from runner.sweep.slurm import scheduler_reason
    job_id, state = m.groups()
    index = int(job_id.split("_")[1]) if "_" in job_id else 0  # an array task's index: its place in the batch
    culprit = run[index].idx if index < len(run) else None
    return scheduler_reason(state, job_id), culprit


def drop_duplicates(plans: List[PlannedJob]) -> List[PlannedJob]:
    """Keep the first job of each key; print one line naming the dropped ones. Two different configs
    under one key would make (job, tensor) ambiguous: that stops the sweep."""
    first: Dict[str, PlannedJob] = {}
    kept, dropped = [], []
    for p in plans:
        seen = first.get(p.key)
        if seen is None:
            first[p.key] = p
            kept.append(p)
        elif seen.config_hash != p.config_hash and not (seen.error or p.error):
            raise ConfigError("sweep", f"jobs #{seen.idx} and #{p.idx} have different configs but the same key "
                              f"{p.key}; allowed: overrides that make each job distinct")
        else:
            dropped.append(f"#{p.idx} ({' '.join(p.overrides)}) = #{seen.idx}")
    if dropped:
        print(f"tensorprobe: dropped {len(dropped)} duplicate job(s) of this sweep: {'; '.join(dropped)}",
              file=sys.stderr, flush=True)
    return kept


def _contiguous(jobs: List[PlannedJob], max_batch: Optional[int]) -> Iterator[List[PlannedJob]]:
    run: List[PlannedJob] = []
    for job in jobs:
        if run and (run[-1].idx != job.idx - 1 or (max_batch and len(run) >= max_batch)):
            yield run
            run = []
        run.append(job)
    if run:
        yield run
