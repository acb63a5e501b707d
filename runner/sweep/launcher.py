"""`hydra/launcher=tensorprobe` (tensorprobe's default): runs jobs one after another in this process,
like Hydra's basic launcher, with the per-job bookkeeping made cheap enough for 10 ms jobs.

What it keeps from hydra.core.utils.run_job: the job directory (`hydra.runtime.output_dir`),
`HydraConfig` for the task, `.hydra/config.yaml` and `.hydra/overrides.yaml`, a log file per job,
`hydra.job.env_set`, `hydra.job.chdir`, the callbacks and a JobReturn with the task's value or
exception. What it drops: two deep copies of the whole config per job, re-running logging's
dictConfig per job, and `.hydra/hydra.yaml` per job (the sweep's `multirun.yaml` holds the Hydra
config; set `hydra.launcher.save_hydra_yaml=true` to write it anyway).

With `hydra.launcher.n_jobs=N` (N > 1) the same per-job code runs in N worker processes forked once
torch and the exporters are warm (runner.sweep.pool).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, env_override, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict, read_write

from runner.sweep import interrupt, pool
from runner.sweep.configcopy import copy_config

log = logging.getLogger(__name__)
EXPORTERS = {"torch_export", "onnx_dynamo", "onnx_legacy"}  # export options whose name is their exporter


def _job_chdir(chdir: Optional[bool]) -> bool:
    """hydra.job.chdir as Hydra's run_job reads it: unset means False from version_base 1.2 on, else True."""
    if chdir is None:
        from hydra import version
        return not version.base_at_least("1.2")
    return bool(chdir)


def _subdir(config: DictConfig, idx: int) -> str:
    with open_dict(config):
        config.hydra.job.id = idx
        config.hydra.job.num = idx
    return str(config.hydra.sweep.subdir)


class TensorprobeLauncher(Launcher):
    def __init__(self, save_hydra_yaml: bool = False, n_jobs: int = 1) -> None:
        self.save_hydra_yaml = save_hydra_yaml
        self.n_jobs = n_jobs
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None
        self._log_file: Optional[JobLogFile] = None

    def warm_up(self) -> None:
        """Import the job code in this process (the sweeper plans in a forked child meanwhile)."""
        import runner.job.pipeline  # noqa: F401

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self._log_file = None
        jobs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        try:
            if self.n_jobs > 1 and len(jobs) > 1 and pool.possible():
                return self._launch_pool(jobs)
            return [self._run_numbered(job) for job in jobs if not interrupt.state.requested]
        finally:
            if self._log_file is not None:
                self._log_file.point_to(None)
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _run_numbered(self, job: Tuple[int, List[str]]) -> JobReturn:
        """Compose job number idx's config and run it here (in this process, or in a pool worker)."""
        idx, overrides = job
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = idx
            cfg.hydra.job.num = idx
        return self._run(cfg)

    # -- the pool ----------------------------------------------------------------------------------
    def _launch_pool(self, jobs: List[Tuple[int, List[str]]]) -> List[JobReturn]:
        """CPU jobs in forked workers; jobs on an accelerator here afterwards (never in a forked process)."""
        choices = {idx: self._choices(overrides) for idx, overrides in jobs}
        accelerator = pool.accelerator_present()
        here = {idx for idx, c in choices.items()  # a device other than cpu (or no device group: another app)
                if c.get("device") not in (None, "cpu", "auto") or (c.get("device") == "auto" and accelerator)}
        pool.warm_up(EXPORTERS & {c.get("export") for c in choices.values()} or EXPORTERS)
        if not pool.fork_safe():  # something initialised CUDA here: forked workers could not run torch
            log.warning("CUDA is initialised in this process; running the sweep's jobs here, not in a pool")
            here = {idx for idx, _ in jobs}
        returns: Dict[int, JobReturn] = {}

        def finished(idx: int, ret: JobReturn) -> None:
            from runner.sweep import progress
            returns[idx] = ret
            summary = ret.return_value if isinstance(ret._return_value, dict) else {"status": "error", "seconds": 0}
            if progress.current is not None:
                progress.current.job_done(" ".join(ret.overrides), summary.get("status", "?"), summary.get("seconds", 0))

        workers = pool.WarmPool(self.n_jobs, run=self._run_in_worker, died=self._worker_died)
        workers.map([(job[0], job) for job in jobs if job[0] not in here], lambda: interrupt.state.requested, finished)
        for job in jobs:
            if job[0] in here and not interrupt.state.requested:
                returns[job[0]] = self._run_numbered(job)
        return [returns[idx] for idx, _ in jobs if idx in returns]

    def _choices(self, overrides: List[str]) -> Dict[str, str]:
        loader = self.hydra_context.config_loader
        if hasattr(loader, "choices"):
            return loader.choices(self.config, overrides)
        return dict(loader.load_sweep_config(self.config, overrides).hydra.runtime.choices)

    def _run_in_worker(self, job: Tuple[int, List[str]]) -> JobReturn:
        """In a worker: run the job and send its JobReturn back (configs included, as Hydra's launchers do)."""
        return self._run_numbered(job)

    def _worker_died(self, job: Tuple[int, List[str]], reason: str) -> JobReturn:
        """The job whose worker died: a `failed` row in its directory, so the table says so."""
        idx, overrides = job
        return failed_job_return(self.hydra_context, self.config, idx, overrides, reason)

    def _run(self, config: DictConfig) -> JobReturn:
        callbacks = self.hydra_context.callbacks
        instance = HydraConfig.instance()
        previous, old_cwd = instance.cfg, os.getcwd()
        output_dir = os.path.abspath(os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir)))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = output_dir
        instance.set_config(config)  # keeps `config` as the parent its hydra node resolves against
        hydra_cfg = instance.cfg
        hydra_node = hydra_cfg.hydra
        task_cfg = copy_config(config)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        ret = JobReturn(cfg=task_cfg, hydra_cfg=hydra_cfg, overrides=list(hydra_node.overrides.task))
        chdir = _job_chdir(hydra_node.job.chdir)
        try:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            ret.working_dir = output_dir if chdir else old_cwd
            if chdir:
                os.chdir(output_dir)
            if self._log_file is not None:
                self._log_file.point_to(Path(output_dir) / f"{hydra_node.job.name}.log")
            else:  # Hydra's job logging, configured once per batch with the first job's config
                configure_log(hydra_cfg.hydra.job_logging, hydra_node.verbose)
                self._log_file = JobLogFile()
            log.info("#%s : %s", hydra_node.job.num, " ".join(hydra_node.overrides.task))
            if hydra_node.output_subdir is not None:
                meta = Path(output_dir) / str(hydra_node.output_subdir)
                meta.mkdir(parents=True, exist_ok=True)
                (meta / "config.yaml").write_text(OmegaConf.to_yaml(task_cfg))
                (meta / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra_node.overrides.task))
                if self.save_hydra_yaml:
                    (meta / "hydra.yaml").write_text(OmegaConf.to_yaml(hydra_cfg))
            # callbacks see the job config with its hydra node, as with Hydra's run_job
            full = OmegaConf.create({})
            with flag_override(full, "no_deepcopy_set_nodes", True):
                for key in task_cfg:
                    full[key] = task_cfg._get_node(key)
                full.hydra = hydra_node
            with env_override(hydra_node.job.env_set):
                callbacks.on_job_start(config=full, task_function=self.task_function)
                try:
                    ret.return_value = self.task_function(task_cfg)
                    ret.status = JobStatus.COMPLETED
                except Exception as exc:  # noqa: BLE001 - kept in the JobReturn, as Hydra does
                    ret.return_value = exc
                    ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            callbacks.on_job_end(config=full, job_return=ret)
            return ret
        finally:
            if previous is not None:
                instance.set_config(previous)
            if chdir:
                os.chdir(old_cwd)


def failed_job_return(hydra_context: HydraContext, config: DictConfig, idx: int, overrides: List[str],
                      reason: str, written_since: Optional[float] = None) -> JobReturn:
    """A job that a launcher could not bring back (its worker died, the scheduler cancelled or lost it):
    a `failed` row with `reason` in its job directory and an entry in interrupt.state.unfinished; with
    written_since (a time.time()), unless the job wrote this config's finished results since then (a job
    cancelled between writing its results.csv and handing back its return value)."""
    from runner.job.identity import identify
    from runner.job.task import error_row
    from runner.sweep.fastcompose import split_task_config
    from runner.table.csvfile import RESULTS_FILE, write_rows_atomic
    from runner.table.jobstate import finished_hash
    full = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    output_dir = Path(str(config.hydra.sweep.dir)) / str(_subdir(full, idx))
    cfg, choices, lines = split_task_config(full)
    ident = identify(cfg, choices, lines)
    ret = JobReturn(overrides=lines, status=JobStatus.COMPLETED)
    results = output_dir / RESULTS_FILE
    if (written_since is not None and results.is_file() and results.stat().st_mtime >= written_since
            and finished_hash(output_dir) == ident.config_hash):
        ret.return_value = {"key": ident.key, "status": "ok", "rows": 0, "seconds": 0.0}
        return ret
    write_rows_atomic([error_row(ident, cfg.seed, "failed", reason)], results)
    interrupt.state.unfinished.append(f"#{idx}: {reason}")
    ret.return_value = {"key": ident.key, "status": "failed", "rows": 1, "seconds": 0.0}
    return ret


class JobLogFile:
    """The job log file of Hydra's job_logging (its handler named `file`), re-pointed at each job's log,
    so logging's dictConfig runs once per batch instead of once per job."""

    def __init__(self) -> None:
        root = logging.getLogger()
        self.handler: Optional[logging.Handler] = next(
            (h for h in root.handlers if isinstance(h, logging.FileHandler) and h.get_name() == "file"), None)

    def point_to(self, path: Optional[Path]) -> None:
        """Log to `path` from now on (None: close the job log, log no more to a file)."""
        root = logging.getLogger()
        old = self.handler
        if old is not None and old in root.handlers:
            root.removeHandler(old)
            old.close()
        if path is None:
            self.handler = None
            return
        handler = logging.FileHandler(path, mode="a", delay=True)
        handler.set_name("file")
        if old is not None:
            handler.setFormatter(old.formatter)
            handler.setLevel(old.level)
        root.addHandler(handler)
        self.handler = handler
