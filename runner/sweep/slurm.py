"""`hydra/launcher=tensorprobe_slurm` (what the `slurm` preset uses): hydra-submitit-launcher's SLURM
launcher (same options, same job side) that keeps watching every job it submitted until each one has
either brought back its result or is known to be gone, so that the sweep's table tells the truth:

* it waits for all the jobs of a batch, in whatever order they finish (the stock launcher waits in
  index order and gives up on the whole batch at the first job without output);
* a job the scheduler ends without results (CANCELLED, FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY,
  PREEMPTED, BOOT_FAIL, DEADLINE, ...) gets a `failed` row in its job directory, reason
  `cancelled by the scheduler (CANCELLED by 0), SLURM job 17_2` (the state as sacct says it), and an
  entry in runner.sweep.interrupt.state.unfinished: the app ends with one line and exit 1;
* a job the scheduler lost (SLURM 22.05 never accounts a cancelled *pending* array task: squeue
  drops it, sacct never lists it, submitit would wait for ever) gets a `failed` row
  `lost by the scheduler: not in squeue or sacct`, once two polls `min(watch_interval_s, 5)`
  seconds apart both miss it. A lost job is so detected within watch_interval_s + min(watch_interval_s, 5)
  seconds (plus the time squeue and sacct take); a job ended by the scheduler within
  watch_interval_s + result_wait_s seconds (plus up to 3 s for sacct to catch up with squeue);
* the first Ctrl-C cancels the batch's pending and running tasks (`scancel` of its arrays), waits
  (at most cancel_wait_s) until SLURM no longer runs any of them, and returns the jobs that finished:
  the sweep writes its table and the app exits 130 with the command that resumes. Jobs cancelled by
  Ctrl-C get no row: they did not finish, and the resumed sweep runs them.

The scheduler is polled with one `squeue` and one `sacct` call per poll for the whole batch (every
watch_interval_s seconds); result files are looked for every second.
"""
from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides, setup_globals
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

from runner.errors import one_line
from runner.sweep import interrupt

log = logging.getLogger(__name__)

# States in which SLURM will not run a task again (sacct's or squeue's spelling; sacct adds "by <uid>").
ENDED = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT")
LOST = "lost by the scheduler: not in squeue or sacct"
OWN_OPTIONS = ("watch_interval_s", "result_wait_s", "cancel_wait_s")  # not submitit's: kept out of sbatch


@dataclass
class TensorprobeSlurmConf(SlurmQueueConf):
    """hydra/launcher=tensorprobe_slurm: submitit_slurm's options, plus how the jobs are watched."""
    _target_: str = "hydra_plugins.tensorprobe_slurm_launcher.tensorprobe_slurm_launcher.TensorprobeSlurmLauncher"
    watch_interval_s: float = 15.0  # seconds between squeue/sacct polls (a lost job: found within this + 5 s)
    result_wait_s: float = 15.0     # how long a result file may lag behind the job's end (shared filesystems)
    cancel_wait_s: float = 60.0     # Ctrl-C: how long to wait for cancelled tasks to stop (SLURM's KillWait)


def ended(state: str) -> bool:
    return state.split(" ")[0].rstrip("+") in ENDED


def scheduler_reason(state: str, job_id: str) -> str:
    """The `reason` of a job that SLURM ended without results."""
    what = "cancelled by the scheduler" if state.startswith("CANCELLED") else "ended by the scheduler without results"
    return f"{what} ({state}), SLURM job {job_id}"


@dataclass
class Poll:
    """What squeue and sacct said about some tasks: {task id: state}; ok=False where squeue failed."""
    squeue: Dict[str, str]
    sacct: Dict[str, str]
    ok: bool


def poll(arrays: Sequence[str]) -> Poll:
    """One squeue and one sacct call for the given SLURM job (array) ids, each task on its own line.

    squeue lists pending, running and recently ended tasks (MinJobAge); a job it has purged makes it fail
    with "Invalid job id" (an answer, not an error). sacct lines are only taken for single tasks:
    SLURM 22.05 keeps a range line (`10_[2-3%4]|PENDING`) for tasks that may never run.
    """
    ids = ",".join(arrays)
    squeue, ok = {}, False
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ids, "-o", "%i|%T"],
                             capture_output=True, text=True, timeout=60)
        ok = out.returncode == 0 or "Invalid job id" in out.stderr
        if out.returncode == 0:
            squeue = dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)
    except (OSError, subprocess.SubprocessError):
        pass
    sacct = {}
    try:
        out = subprocess.run(["sacct", "-X", "-P", "-n", "-o", "JobID,State", "-j", ids],
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0:
            sacct = dict(line.split("|", 1) for line in out.stdout.splitlines() if "|" in line and "[" not in line)
    except (OSError, subprocess.SubprocessError):
        pass
    return Poll(squeue, sacct, ok)


def scancel(arrays: Sequence[str]) -> None:
    """Cancel every task of these SLURM jobs (arrays), pending or running; errors are logged, not raised."""
    try:
        out = subprocess.run(["scancel", *arrays], capture_output=True, text=True, timeout=60)
        if out.returncode:
            log.warning("scancel %s: %s", " ".join(arrays), out.stderr.strip())
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("scancel %s: %s", " ".join(arrays), exc)


class TensorprobeSlurmLauncher(SlurmLauncher):
    def __init__(self, **params: Any) -> None:
        own = {k: float(params.pop(k)) for k in OWN_OPTIONS if k in params}
        super().__init__(**params)
        self.watch_interval_s = own.get("watch_interval_s", 15.0)
        self.result_wait_s = own.get("result_wait_s", 15.0)
        self.cancel_wait_s = own.get("cancel_wait_s", 60.0)

    # -- submitting (as hydra-submitit-launcher's launch, without its wait) ---------------------------
    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        import submitit
        assert self.config is not None
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": v for k, v in self.params.items() if k == "max_num_timeout"})
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        job_params = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        return executor.map_array(self, *zip(*job_params))

    # -- waiting ---------------------------------------------------------------------------------------
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        started = time.time()
        jobs = self._submit(job_overrides, initial_job_idx)
        watch = _Watch(self, [(initial_job_idx + i, list(o), job) for i, (o, job) in enumerate(zip(job_overrides, jobs))],
                       started)
        interrupt.state.on_interrupt.append(watch.cancel)
        try:
            if interrupt.state.requested:  # Ctrl-C while submitting: the jobs are queued now, cancel them
                watch.cancel()
            return watch.run()
        finally:
            interrupt.state.on_interrupt.remove(watch.cancel)

    def failed_return(self, idx: int, overrides: List[str], reason: str, since: float) -> JobReturn:
        """A `failed` row for job number idx (unless it wrote its finished results since `since`)."""
        from runner.sweep.launcher import failed_job_return
        return failed_job_return(self.hydra_context, self.config, idx, overrides, reason, written_since=since)


class _Watch:
    """The jobs of one launch, watched until each has a result, has ended without one, or is lost."""

    def __init__(self, launcher: TensorprobeSlurmLauncher, jobs: List[Tuple[int, List[str], Any]],
                 submitted: float) -> None:
        self.launcher = launcher
        self.jobs = jobs                                    # (job number, overrides, submitit Job)
        self.arrays = sorted({job.job_id.split("_")[0] for _, _, job in jobs})
        self.cancelled = False                              # by Ctrl-C
        self.submitted = submitted                          # a results.csv written after this: by these jobs
        self.returns: Dict[int, JobReturn] = {}
        self.ended_at: Dict[int, Tuple[float, str]] = {}    # job number -> (first seen ended, its state)
        self.missing_at: Dict[int, float] = {}              # job number -> first poll that did not find it
        self.accounted: Dict[str, str] = {}                 # task id -> its final state in sacct

    def cancel(self) -> None:
        """The Ctrl-C hook (runs in the signal handler): scancel every task of this launch."""
        self.cancelled = True
        scancel(self.arrays)

    def run(self) -> List[JobReturn]:
        interval = max(0.5, self.launcher.watch_interval_s)
        confirm = min(interval, 5.0)
        next_poll = time.monotonic() + interval
        next_scan = 0.0
        waiting = {idx: (overrides, job) for idx, overrides, job in self.jobs}
        while waiting and not self.cancelled:
            now = time.monotonic()
            if now >= next_scan:  # result files: every second (less often for big batches on shared filesystems)
                next_scan = now + max(1.0, len(waiting) / 100)
                for idx, (overrides, job) in list(waiting.items()):
                    if _has_result(job):
                        self._collect(idx, job)
                        self._forget(waiting, idx)
            for idx, (overrides, job) in list(waiting.items()):
                if idx in self.ended_at and now - self.ended_at[idx][0] >= self.launcher.result_wait_s \
                        and not _has_result(job):
                    self._fail(idx, overrides, scheduler_reason(self._final_state(idx, job.job_id), job.job_id))
                    self._forget(waiting, idx)
            if not waiting or self.cancelled:
                break
            if now >= next_poll:
                self._look(waiting, now, confirm)
                next_poll = time.monotonic() + (confirm if self.missing_at else interval)
            time.sleep(min(1.0, max(0.05, min(next_poll, next_scan) - time.monotonic())))
        if self.cancelled:
            self._stop(waiting)
        return [self.returns[idx] for idx, _, _ in self.jobs if idx in self.returns]

    def _final_state(self, idx: int, task: str) -> str:
        """The ended task's state as sacct says it (`CANCELLED by 0`); squeue's (`CANCELLED`) is only the
        fallback: accounting may lag behind squeue for a moment, so sacct is asked up to 3 more times."""
        state = self.ended_at[idx][1]
        for attempt in range(3):
            if task in self.accounted:
                return self.accounted[task]
            if attempt:
                time.sleep(1.0)
            self.accounted.update({t: s for t, s in poll(self.arrays).sacct.items() if ended(s)})
        return self.accounted.get(task, state)

    def _forget(self, waiting: Dict[int, Tuple[List[str], Any]], idx: int) -> None:
        del waiting[idx]
        self.ended_at.pop(idx, None)
        self.missing_at.pop(idx, None)

    def _look(self, waiting: Dict[int, Tuple[List[str], Any]], now: float, confirm: float) -> None:
        """One poll: which waiting jobs are alive, ended (without result so far) or missing."""
        seen = poll(self.arrays)
        self.accounted.update({t: s for t, s in seen.sacct.items() if ended(s)})
        for idx, (overrides, job) in list(waiting.items()):
            task = job.job_id
            queued, accounted = seen.squeue.get(task), seen.sacct.get(task)
            if queued is not None and not ended(queued):
                self.missing_at.pop(idx, None)
                self.ended_at.pop(idx, None)  # requeued
                self.accounted.pop(task, None)
            elif (accounted and ended(accounted)) or queued is not None:
                self.missing_at.pop(idx, None)
                since = self.ended_at.get(idx, (now, ""))[0]
                self.ended_at[idx] = (since, accounted if accounted and ended(accounted) else queued)
            elif seen.ok and idx not in self.ended_at:
                first = self.missing_at.setdefault(idx, now)
                if now - first >= confirm * 0.9 and not _has_result(job):
                    reason = LOST if not accounted else f"lost by the scheduler: not in squeue, sacct says {accounted}"
                    self._fail(idx, overrides, f"{reason}, SLURM job {task}")
                    self._forget(waiting, idx)

    def _stop(self, waiting: Dict[int, Tuple[List[str], Any]]) -> None:
        """After Ctrl-C: wait until SLURM runs none of the cancelled tasks, then keep those that finished."""
        deadline = time.monotonic() + self.launcher.cancel_wait_s
        while waiting:
            for idx, (_, job) in list(waiting.items()):
                if _has_result(job):
                    self._collect(idx, job)
                    del waiting[idx]
            seen = poll(self.arrays)
            active = [t for t, s in seen.squeue.items() if not ended(s)]
            if (seen.ok and not active) or time.monotonic() > deadline:
                if active:
                    log.warning("SLURM still lists %s after scancel", ", ".join(sorted(active)))
                break
            time.sleep(1.0)
        for idx, (_, job) in list(waiting.items()):
            if _has_result(job):
                self._collect(idx, job)

    def _collect(self, idx: int, job: Any) -> None:
        from runner.sweep import progress
        overrides = next(o for i, o, _ in self.jobs if i == idx)
        try:
            ret = job.results()[0]
        except Exception as exc:  # noqa: BLE001 - the job's process raised outside the task (submitit's pickle)
            self._fail(idx, overrides, f"the SLURM job failed: {job_error(exc)}, SLURM job {job.job_id}")
            return
        self.returns[idx] = ret
        value = getattr(ret, "_return_value", None)
        summary = value if isinstance(value, dict) else {"status": "error", "seconds": 0.0}
        if progress.current is not None:
            progress.current.job_done(" ".join(ret.overrides or overrides), summary.get("status", "?"),
                                      summary.get("seconds", 0.0))

    def _fail(self, idx: int, overrides: List[str], reason: str) -> None:
        from runner.sweep import progress
        log.warning("job #%d: %s", idx, reason)
        ret = self.launcher.failed_return(idx, overrides, reason, self.submitted)
        self.returns[idx] = ret
        if progress.current is not None:
            progress.current.job_done(" ".join(overrides), ret.return_value.get("status", "failed"), 0.0)


def job_error(exc: BaseException) -> str:
    """The line that says what went wrong in submitit's FailedJobError (the trace's last line, between its
    ---- rules), else the exception's first line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    inside = [line for line in lines[rules[0] + 1:rules[1]] if line] if len(rules) >= 2 else []
    return one_line(inside[-1] if inside else next((line for line in lines if line), type(exc).__name__))[:300]


def _has_result(job: Any) -> bool:
    """Whether submitit's result file of this task exists (refreshing a shared filesystem's cache as submitit does)."""
    folder = job.paths.folder
    try:
        folder.chmod(folder.stat().st_mode)
    except OSError:
        pass
    return job.paths.result_pickle.exists()


