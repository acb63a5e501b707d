"""`hydra/launcher=tensorprobe` (tensorprobe's default): runs jobs one after another in this process,
like Hydra's basic launcher, with the per-job bookkeeping made cheap enough for 10 ms jobs.

What it keeps from hydra.core.utils.run_job: the job directory (`hydra.runtime.output_dir`),
`HydraConfig` for the task, `.hydra/config.yaml` and `.hydra/overrides.yaml`, a log file per job,
`hydra.job.env_set`, `hydra.job.chdir`, the callbacks and a JobReturn with the task's value or
exception. What it drops: two deep copies of the whole config per job, re-running logging's
dictConfig per job, and `.hydra/hydra.yaml` per job (the sweep's `multirun.yaml` holds the Hydra
config; set `hydra.launcher.save_hydra_yaml=true` to write it anyway).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Optional, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, env_override, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict, read_write

from runner.sweep import interrupt
from runner.sweep.configcopy import copy_config

log = logging.getLogger(__name__)


class TensorprobeLauncher(Launcher):
    def __init__(self, save_hydra_yaml: bool = False) -> None:
        self.save_hydra_yaml = save_hydra_yaml
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def runs_in_this_process(self) -> bool:
        """Jobs run in this process (not in workers): the sweeper may plan ahead while torch imports."""
        return True

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self._log_file: Optional[JobLogFile] = None
        runs: List[JobReturn] = []
        try:
            for offset, overrides in enumerate(job_overrides):
                if interrupt.state.requested:
                    break
                idx = initial_job_idx + offset
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(cfg):
                    cfg.hydra.job.id = idx
                    cfg.hydra.job.num = idx
                runs.append(self._run(cfg))
        finally:
            if self._log_file is not None:
                self._log_file.point_to(None)
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs

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
        chdir = bool(hydra_node.job.chdir)
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
